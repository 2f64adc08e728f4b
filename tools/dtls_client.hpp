// tlsio-client --dtls: standard input to a DTLS server one line a message, and its messages
// to standard output.
#pragma once

#include "exit_status.hpp"

#include <tlsio/context.hpp>

#include <asio/awaitable.hpp>

#include <optional>
#include <string>

namespace tool {

/// How a client's run ended: the exit status, and the sentence to print after the server's
/// name (empty on success).
struct client_outcome {
  exit_status status = exit_status::ok;
  std::string reason;
};

/// Where --dtls connects and what it says.
struct dtls_target {
  std::string host, port;
  std::optional<std::string> server_name; // none: verify host
  bool verbose = false;
};

/// Connects over DTLS, sends each line of standard input (its newline included) as one
/// message (a line longer than max_message_size() in several), writes each message received
/// to standard output, and once the input has ended waits for as many messages as it sent,
/// or until the server has been quiet for a second; then sends close_notify. `ctx`: a client's
/// context on an engine with DTLS.
asio::awaitable<client_outcome> run_dtls_client(const tlsio::context &ctx,
                                                const dtls_target &target);

} // namespace tool
