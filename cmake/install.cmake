# Install rules and package metadata (issue 8). Included by the top-level CMakeLists.txt
# once the tlsio target exists. Installs:
#   include/tlsio/...                      the public headers (detail/ too: they are included)
#   <libdir>/libtlsio.a (or .so)           static by default; BUILD_SHARED_LIBS=ON for shared
#   <libdir>/libtlsio_testing.a (or .so)   the throwaway identities (tlsio/testing/)
#   <libdir>/cmake/tlsio/                  find_package(tlsio) -> tlsio::tlsio, tlsio::testing
#   <libdir>/pkgconfig/tlsio.pc            pkg-config --cflags --libs tlsio
#   <libdir>/pkgconfig/tlsio-testing.pc    pkg-config --cflags --libs tlsio-testing
# Everything is relative to the install prefix, so `cmake --install --prefix` and moving the
# tree later both work.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# A project that vendors tlsio (add_subdirectory, FetchContent) usually does not want our
# files in its own install tree; it can turn this on if it does.
option(TLSIO_INSTALL "Generate tlsio's install rules" ${PROJECT_IS_TOP_LEVEL})

# For a shared build only: the soname changes with the minor version while tlsio is 0.x,
# where a minor release may break the ABI.
set_target_properties(tlsio tlsio_testing PROPERTIES
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})

if(NOT TLSIO_INSTALL)
  return()
endif()

set(TLSIO_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/tlsio")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tlsio"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
install(FILES "${PROJECT_BINARY_DIR}/generated/include/tlsio/build_config.hpp"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tlsio")

# The target itself names <prefix>/include ($<INSTALL_INTERFACE:include>); only another
# CMAKE_INSTALL_INCLUDEDIR needs adding.
set(_tlsio_includes "")
if(NOT CMAKE_INSTALL_INCLUDEDIR STREQUAL "include")
  set(_tlsio_includes INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
endif()
install(TARGETS tlsio tlsio_testing
  EXPORT tlsioTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  ${_tlsio_includes})
# tlsio_asio goes into the export because tlsio links it PUBLIC: consumers need its defines
# (ASIO_STANDALONE ...) and Threads exactly as tlsio was compiled with them. The build-only
# warning flags (tlsio_build_flags) are linked through $<BUILD_INTERFACE:...> and so stay out.
install(TARGETS tlsio_asio EXPORT tlsioTargets)
install(EXPORT tlsioTargets
  NAMESPACE tlsio::
  FILE tlsioTargets.cmake
  DESTINATION "${TLSIO_INSTALL_CMAKEDIR}")

# The config re-finds what the exported targets name but do not carry: Threads, Mbed TLS
# (a static libtlsio's link interface holds $<LINK_ONLY:MbedTLS::mbedtls>) and Asio's
# include directory (a path on the build machine, so not exported). It records what it was
# built with, to refuse a different Asio or Mbed TLS rather than mislink.
get_target_property(_tlsio_type tlsio TYPE)
if(_tlsio_type STREQUAL "STATIC_LIBRARY")
  set(TLSIO_STATIC ON)
else()
  set(TLSIO_STATIC OFF)
endif()
file(STRINGS "${ASIO_INCLUDE_DIR}/asio/version.hpp" _tlsio_asio_version_line
     REGEX "^#define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
string(REGEX REPLACE ".*ASIO_VERSION[ \t]+([0-9]+).*" "\\1" TLSIO_ASIO_VERSION
       "${_tlsio_asio_version_line}")
math(EXPR _tlsio_asio_major "${TLSIO_ASIO_VERSION} / 100000")
math(EXPR _tlsio_asio_minor "${TLSIO_ASIO_VERSION} / 100 % 1000")
math(EXPR _tlsio_asio_patch "${TLSIO_ASIO_VERSION} % 100")
set(TLSIO_ASIO_VERSION_TEXT "${_tlsio_asio_major}.${_tlsio_asio_minor}.${_tlsio_asio_patch}")
# Mbed TLS 2.x changes its ABI (and soname) between minor versions, so the config accepts the
# major.minor tlsio was built against: 2.28.x for 2.28.3.
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _tlsio_mbedtls_mm "${MbedTLS_VERSION}")
math(EXPR _tlsio_mbedtls_next_minor "${CMAKE_MATCH_2} + 1")
set(TLSIO_MBEDTLS_SERIES "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
set(TLSIO_MBEDTLS_NEXT_SERIES "${CMAKE_MATCH_1}.${_tlsio_mbedtls_next_minor}")
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/tlsioConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/tlsioConfig.cmake"
  INSTALL_DESTINATION "${TLSIO_INSTALL_CMAKEDIR}")
# SameMajorVersion: a request for 0.1 accepts 0.1.x and later 0.y, never 1.x; AnyNewerVersion
# would let a future 1.x (which may break the API) satisfy a request for 0.1.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/tlsioConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/tlsioConfig.cmake"
  "${PROJECT_BINARY_DIR}/tlsioConfigVersion.cmake"
  # Debian's Mbed TLS 2.28 has no CMake config of its own; ship the module we build with.
  "${CMAKE_CURRENT_LIST_DIR}/FindMbedTLS.cmake"
  DESTINATION "${TLSIO_INSTALL_CMAKEDIR}")

# pkg-config. Paths are relative to the .pc file's own directory (${pcfiledir}), so the file
# stays right under `cmake --install --prefix` and after the tree is moved; an absolute
# CMAKE_INSTALL_LIBDIR/INCLUDEDIR is used as given.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TLSIO_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
  set(TLSIO_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _tlsio_pc_up "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
  string(REGEX REPLACE "/$" "" _tlsio_pc_up "${_tlsio_pc_up}") # "../../" -> "../.."
  set(TLSIO_PC_PREFIX "\${pcfiledir}/${_tlsio_pc_up}")
  set(TLSIO_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(TLSIO_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(TLSIO_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# Asio and Mbed TLS have no .pc files on Debian, so they cannot go under Requires: name their
# directories when the compiler would not search them anyway.
set(TLSIO_PC_ASIO_CFLAGS "")
if(NOT ASIO_INCLUDE_DIR IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
  set(TLSIO_PC_ASIO_CFLAGS " -I${ASIO_INCLUDE_DIR}")
endif()
# The defines are tlsio_asio's plain ones, so the two cannot drift apart. Its Clang-only
# coroutine switches cannot be conditional here; they are what GCC's C++20 mode gives
# Asio 1.22 anyway, so they are passed to every compiler.
get_target_property(_tlsio_pc_defines tlsio_asio INTERFACE_COMPILE_DEFINITIONS)
list(FILTER _tlsio_pc_defines EXCLUDE REGEX "[$<>]")
list(APPEND _tlsio_pc_defines ASIO_HAS_CO_AWAIT=1 ASIO_HAS_STD_COROUTINE=1)
list(TRANSFORM _tlsio_pc_defines PREPEND "-D")
list(JOIN _tlsio_pc_defines " " TLSIO_PC_DEFINES)
set(_tlsio_pc_mbedtls "-lmbedtls -lmbedx509 -lmbedcrypto")
get_filename_component(_tlsio_mbedtls_libdir "${MbedTLS_TLS_LIBRARY}" DIRECTORY)
if(NOT _tlsio_mbedtls_libdir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
  set(_tlsio_pc_mbedtls "-L${_tlsio_mbedtls_libdir} ${_tlsio_pc_mbedtls}")
endif()
# A static libtlsio cannot carry its dependencies, and `pkg-config --libs` (without --static)
# leaves out Libs.private, so they go under Libs; a shared one links them itself.
if(TLSIO_HAS_OPENSSL_VALUE)
  string(APPEND _tlsio_pc_mbedtls " -lssl -lcrypto")
endif()
if(TLSIO_STATIC)
  set(TLSIO_PC_LIBS " ${_tlsio_pc_mbedtls} -pthread")
  set(TLSIO_PC_LIBS_PRIVATE "")
else()
  set(TLSIO_PC_LIBS " -pthread")
  set(TLSIO_PC_LIBS_PRIVATE "${_tlsio_pc_mbedtls}")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/tlsio.pc.in" "${PROJECT_BINARY_DIR}/tlsio.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/tlsio.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
configure_file("${CMAKE_CURRENT_LIST_DIR}/tlsio-testing.pc.in" "${PROJECT_BINARY_DIR}/tlsio-testing.pc"
               @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/tlsio-testing.pc"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
