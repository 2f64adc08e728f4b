// The tools' exit statuses: one number for each kind of failure, so that a script can tell
// "nothing listens there" from "the certificate is wrong" without reading the message.
#pragma once

#include <tlsio/error.hpp>

#include <stdexcept>
#include <string_view>
#include <system_error>

namespace tool {

enum class exit_status : int {
  ok = 0,
  failure = 1,      ///< anything else: a file that cannot be read, standard input or output
  usage = 2,        ///< a command line the tool cannot understand
  unreachable = 3,  ///< cannot resolve the host or connect to it; the server cannot listen
  verification = 4, ///< the peer's certificate failed verification
  tls = 5,          ///< any other TLS failure: handshake, alert, a cut connection
};

inline int to_int(exit_status s) { return static_cast<int>(s); }

/// What tlsio-client's --help says about its exit statuses.
inline constexpr std::string_view client_exit_help =
    "\nexit status:\n"
    "  0  success\n"
    "  1  any other failure (a file that cannot be read, standard input or output)\n"
    "  2  a command line it cannot understand\n"
    "  3  cannot resolve the host or connect to it\n"
    "  4  the server's certificate failed verification\n"
    "  5  any other TLS failure (handshake, alert, a connection closed without close_notify)\n";

/// What tlsio-server's --help says about its exit statuses.
inline constexpr std::string_view server_exit_help =
    "\nexit status:\n"
    "  0  stopped by SIGINT or SIGTERM\n"
    "  1  any other failure (a certificate, key or CA file that cannot be loaded)\n"
    "  2  a command line it cannot understand\n"
    "  3  cannot listen on the host and port\n";

/// The server cannot listen on its host and port (exit status 3).
struct listen_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A handshake failure: verification (4) or anything else TLS (5).
inline exit_status handshake_status(const std::error_code &ec,
                                    const std::error_code &verification_result) {
  using tlsio::error;
  bool verification = ec.category() == tlsio::error_category() &&
                      ec.value() >= static_cast<int>(error::certificate_expired) &&
                      ec.value() <= static_cast<int>(error::no_peer_certificate);
  return verification || verification_result ? exit_status::verification : exit_status::tls;
}

} // namespace tool
