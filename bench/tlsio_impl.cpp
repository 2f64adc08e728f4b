// tlsio::stream over loopback TCP: the adapter that lets the shared loops drive it.
#include "environment.hpp"
#include "loop_run.hpp"
#include "loop_serve.hpp"

#include <tlsio/stream.hpp>

namespace bench {
namespace {

struct tlsio_adapter {
  using stream_type = tlsio::stream<>;
  using session_type = std::optional<tlsio::session>;
  using contexts = tlsio_contexts;

  static stream_type client(contexts &c, const asio::any_io_executor &ex) {
    stream_type s(c.client, ex);
    s.set_server_name(server_name);
    s.set_write_coalescing(c.write_coalescing);
    return s;
  }
  static stream_type server(contexts &c, tcp::socket &&socket) {
    stream_type s(c.server, std::move(socket));
    s.set_write_coalescing(c.write_coalescing);
    return s;
  }
  template <class Token> static auto handshake(stream_type &s, bool, Token &&token) {
    return s.async_handshake(std::forward<Token>(token));
  }
  static void set_session(stream_type &s, const session_type &session) {
    s.engine().set_session(*session);
  }
  static session_type get_session(stream_type &s) { return s.engine().get_session(); }
  static bool resumed(const stream_type &s) { return s.engine().resumed(); }
  static std::string negotiated(const stream_type &s) {
    return s.protocol_version() + " " + s.cipher_suite();
  }
  static std::string describe(const stream_type &s, const std::error_code &ec) {
    auto detail = s.failure_detail();
    return ec.message() + (detail.empty() || detail == ec.message() ? "" : " (" + detail + ")");
  }
};

} // namespace

figure_result run_tlsio(environment &env, const figure_spec &spec) {
  auto ctx = make_tlsio_contexts(env.identities(spec.cert), spec.group,
                                 spec.mode == mode::handshake_resumed, spec.impl);
  ctx.write_coalescing = env.write_coalescing;
  return loopback_run<tlsio_adapter>(env, spec, ctx).run();
}

void serve_tlsio(environment &env, cert c, impl i, int threads, unsigned short port) {
  auto ctx = make_tlsio_contexts(env.identities(c), std::nullopt, true, i);
  ctx.write_coalescing = env.write_coalescing;
  serve_forever<tlsio_adapter>(ctx, threads, port);
}

} // namespace bench
