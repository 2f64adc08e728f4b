# Installs the tools component of the build in BUILD into PREFIX, then runs each installed
# tool's --version: what `cmake --install` promises in the README.
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD}" --prefix "${PREFIX}"
                        --component tools
                RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "cmake --install --component tools failed")
endif()
foreach(tool tlsio-client tlsio-server)
  execute_process(COMMAND "${PREFIX}/${BINDIR}/${tool}" --version
                  OUTPUT_VARIABLE version RESULT_VARIABLE failed TIMEOUT 30)
  if(failed OR NOT version MATCHES "^${tool} \\(tlsio ")
    message(FATAL_ERROR "${PREFIX}/${BINDIR}/${tool} --version: '${version}' (${failed})")
  endif()
  message(STATUS "installed: ${version}")
endforeach()
