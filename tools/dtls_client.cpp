// tlsio-client --dtls (dtls_client.hpp).
#include "dtls_client.hpp"

#include "engine_option.hpp"
#include "host_port.hpp"
#include "report.hpp"
#include "standard_io.hpp"

#include <tlsio/compat.hpp>
#include <tlsio/dtls/connect.hpp>

#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>

namespace tool {
namespace {

using asio::awaitable;
using clock_type = std::chrono::steady_clock;
constexpr auto as_tuple = tlsio::compat::as_tuple(asio::use_awaitable);
constexpr auto quiet_period = std::chrono::seconds(1);

struct session {
  tlsio::dtls::stream &stream;
  asio::steady_timer &waiting; // for the last replies, once the input has ended
  std::size_t sent = 0, received = 0;
  bool input_ended = false;
  clock_type::time_point last_data = clock_type::now();
  std::error_code error{};
};

// A connect that failed: the status of its kind, and the library's sentence without the
// "DTLS connecting to HOST port PORT: " that the tool's own prefix replaces.
client_outcome connect_failure(const tlsio::tls_error &e, const dtls_target &t) {
  auto ec = e.code();
  std::string reason = e.what();
  auto prefix = "DTLS connecting to " + t.host + " port " + t.port + ": ";
  if (reason.starts_with(prefix))
    reason.erase(0, prefix.size());
  if (ec.category() == asio::error::get_netdb_category() ||
      ec.category() == asio::error::get_addrinfo_category())
    return {exit_status::unreachable, "cannot resolve: " + reason};
  if (ec == asio::error::connection_refused)
    return {exit_status::unreachable, "cannot connect: " + reason};
  return {handshake_status(ec, {}), reason};
}

// Each message from the server to standard output, until its close_notify.
awaitable<void> receive(session &s) {
  std::array<char, 65536> buffer; // more than a record can hold: no message is truncated
  for (;;) {
    auto [ec, n] = co_await s.stream.async_receive(asio::buffer(buffer), as_tuple);
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted)
        s.error = ec;
      co_return;
    }
    write_stdout({buffer.data(), n});
    ++s.received;
    s.last_data = clock_type::now();
    if (s.input_ended && s.received >= s.sent)
      s.waiting.cancel();
  }
}

// One line as one message; a line longer than a message can be goes in several.
awaitable<bool> send_line(session &s, std::string_view line) {
  do {
    auto part = line.substr(0, std::max<std::size_t>(s.stream.max_message_size(), 1));
    auto [ec, n] = co_await s.stream.async_send(asio::buffer(part), as_tuple);
    if (ec) {
      if (ec != asio::error::operation_aborted)
        s.error = ec;
      co_return false;
    }
    ++s.sent;
    line.remove_prefix(part.size());
  } while (!line.empty());
  co_return true;
}

// Standard input to the server, a line a message (an unterminated last line too).
awaitable<bool> send_lines(session &s, stdin_reader &input) {
  std::array<char, 16384> buffer;
  std::string pending;
  while (std::size_t n = co_await input.read_some(asio::buffer(buffer))) {
    pending.append(buffer.data(), n);
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      bool sent = co_await send_line(s, std::string_view(pending).substr(0, end + 1));
      if (!sent)
        co_return false;
      pending.erase(0, end + 1);
    }
  }
  if (pending.empty())
    co_return true;
  co_return co_await send_line(s, pending);
}

// Sends the input; then waits for a reply to each message, or for the server to be quiet.
awaitable<void> send(session &s, stdin_reader &input) {
  // Not `if (!co_await ...)`: GCC 12's code for it traps (SIGILL) when it resumes.
  bool sent = co_await send_lines(s, input);
  if (!sent)
    co_return;
  s.input_ended = true;
  s.last_data = clock_type::now();
  while (s.received < s.sent && clock_type::now() < s.last_data + quiet_period) {
    s.waiting.expires_at(s.last_data + quiet_period);
    co_await s.waiting.async_wait(as_tuple);
  }
}

awaitable<client_outcome> exchange(tlsio::dtls::stream &stream) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer waiting(executor);
  session s{stream, waiting};
  stdin_reader input(executor);
  using namespace tlsio::compat::awaitable_operators;
  co_await (receive(s) || send(s, input));
  if (s.error)
    co_return client_outcome{exit_status::tls, s.error.message()};
  // Errors ignored: everything has arrived, and over datagrams nobody waits for an answer.
  co_await stream.async_shutdown(as_tuple);
  co_return client_outcome{};
}

} // namespace

awaitable<client_outcome> run_dtls_client(const tlsio::context &ctx, const dtls_target &target) {
  tlsio::dtls::stream stream;
  std::optional<client_outcome> failed; // no co_return inside a handler
  try {
    tlsio::dtls::connect_options options{};
    if (target.server_name)
      options.server_name = *target.server_name;
    stream = co_await tlsio::dtls::async_connect(ctx, target.host, target.port, options);
  } catch (const tlsio::tls_error &e) {
    failed = connect_failure(e, target);
  }
  if (failed)
    co_return *failed;
  if (target.verbose) {
    std::cerr << "* connected to " << to_string(stream.remote_endpoint()) << "\n";
    print_negotiated(std::cerr, stream, engine_description(ctx.get_backend()));
  }
  co_return co_await exchange(stream);
}

} // namespace tool
