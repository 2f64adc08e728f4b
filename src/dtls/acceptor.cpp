#include <tlsio/dtls/acceptor.hpp>

#include "../mbedtls/dtls_hello_screen.hpp"
#include "association.hpp"
#include "cookie_exchange.hpp"
#include "spawn_operation.hpp"

#include <tlsio/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/strand.hpp>
#include <asio/system_executor.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <tlsio/compat.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <map>

namespace tlsio::dtls {

namespace detail {

namespace {

constexpr auto wait_tuple = tlsio::compat::as_tuple(asio::use_awaitable);

/// The bytes a cookie is bound to: the address, then the port.
std::vector<std::byte> client_id(const asio::ip::udp::endpoint &e) {
  std::vector<std::byte> id;
  auto add = [&](const auto &bytes) {
    for (auto b : bytes)
      id.push_back(std::byte(b));
  };
  if (e.address().is_v4())
    add(e.address().to_v4().to_bytes());
  else
    add(e.address().to_v6().to_bytes());
  id.push_back(std::byte(e.port() >> 8));
  id.push_back(std::byte(e.port() & 0xff));
  return id;
}

} // namespace

struct acceptor_state : std::enable_shared_from_this<acceptor_state> {
  acceptor_state(asio::any_io_executor s, context c, acceptor_options o)
      : strand(std::move(s)), socket(std::make_shared<asio::ip::udp::socket>(strand)),
        ctx(std::move(c)), options(std::move(o)),
        changed(strand, asio::steady_timer::time_point::max()) {}

  asio::any_io_executor strand;
  std::shared_ptr<asio::ip::udp::socket> socket;
  context ctx;
  acceptor_options options;
  asio::steady_timer changed; // cancelled to wake the accepts waiting on it
  std::map<asio::ip::udp::endpoint, std::shared_ptr<association>> peers;
  std::deque<std::shared_ptr<association>> ready;
  std::size_t handshaking = 0;
  bool accepting = true, closed = false, abandoned = false;
  std::atomic<std::size_t> association_count{0}, failure_count{0};
  asio::ip::udp::endpoint bound; // fixed at construction: local_endpoint() from any thread

  void start() { asio::co_spawn(strand, receive_loop(shared_from_this()), asio::detached); }

  static asio::awaitable<void> receive_loop(std::shared_ptr<acceptor_state> self) {
    std::vector<std::byte> buffer(65536);
    asio::ip::udp::endpoint from;
    while (!self->closed) {
      auto [ec, n] =
          co_await self->socket->async_receive_from(asio::buffer(buffer), from, wait_tuple);
      if (self->closed || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
        break;
      if (ec)
        continue;
      try {
        self->on_datagram(from, std::span(buffer.data(), n));
      } catch (const std::exception &) {
        // The datagram is lost (an engine that could not be made, memory): the loop, and
        // every association it serves, goes on.
      }
    }
  }

  void on_datagram(const asio::ip::udp::endpoint &from, std::span<const std::byte> d) {
    auto known = peers.find(from);
    if (known == peers.end()) {
      // From a new address only a ClientHello counts (cookie_exchange.hpp), and only while
      // there is room.
      if (accepting && peers.size() < options.max_associations &&
          handshaking + ready.size() < options.max_pending)
        if (auto hello = parse_client_hello(d))
          on_client_hello(from, d, *hello);
      return;
    }
    auto a = known->second; // on_datagram may end it, and the map let go of it
    // Mbed TLS looks for a reconnecting client only once the handshake is over; before
    // that, a ClientHello with a new random from the same address (the client restarted)
    // takes the stateless path, and replaces the old handshake once its cookie verifies.
    if (!a->established())
      if (auto hello = parse_client_hello(d);
          hello &&
          !std::equal(hello->random.begin(), hello->random.end(), a->hello_random.begin())) {
        on_client_hello(from, d, *hello);
        return;
      }
    a->on_datagram(d);
    // The ClientHello that ended an established association (a verified reconnect) starts
    // the new one now rather than at the client's retransmission.
    if (a->why() == error::peer_reconnected && accepting)
      if (auto hello = parse_client_hello(d))
        on_client_hello(from, d, *hello);
  }

  void on_client_hello(const asio::ip::udp::endpoint &from, std::span<const std::byte> d,
                       const client_hello_view &hello) {
    auto id = client_id(from);
    // Until its cookie verifies, a ClientHello costs no engine: it may come from a forged
    // address, by the thousand.
    auto screened =
        screen_client_hello(*tlsio::detail::context_access::of(ctx), hello, d.size(),
                            {reinterpret_cast<const unsigned char *>(id.data()), id.size()});
    if (!screened.verified) {
      std::error_code ignored;
      if (!screened.answer.empty())
        socket->send_to(asio::buffer(screened.answer), from, 0, ignored);
      return;
    }
    dtls::engine engine(ctx);
    engine.set_mtu(options.mtu);
    engine.set_client_id(id);
    engine.put_datagram(d);
    engine.handshake();
    if (!engine.cookie_verified()) { // Mbed TLS found the cookie stale a moment later (the
                                     // context was checked when it came: it is not broken)
      for (; engine.queued_output() > 0; engine.pop_datagram()) {
        std::error_code ignored;
        socket->send_to(
            asio::buffer(engine.pending_datagram().data(), engine.pending_datagram().size()), from,
            0, ignored);
      }
      return;
    }
    if (auto old = peers.find(from); old != peers.end()) {
      auto replaced = old->second;
      replaced->end(error::peer_reconnected);
    }
    auto a = std::make_shared<association>(strand, std::move(engine), socket, from,
                                           options.idle_timeout);
    std::copy(hello.random.begin(), hello.random.end(), a->hello_random.begin());
    peers[from] = a;
    ++handshaking;
    association_count = peers.size();
    std::weak_ptr<acceptor_state> weak = shared_from_this();
    std::weak_ptr<association> weak_a = a;
    a->on_established = [weak, weak_a] {
      if (auto self = weak.lock(); self && !self->abandoned) {
        --self->handshaking;
        self->ready.push_back(weak_a.lock());
        self->changed.cancel();
      }
    };
    a->on_end = [weak, weak_a, from](std::error_code why, const std::string &detail) {
      if (auto self = weak.lock())
        self->on_association_end(from, weak_a.lock(), why, detail);
    };
    a->advance();
  }

  void on_association_end(const asio::ip::udp::endpoint &from,
                          const std::shared_ptr<association> &a, std::error_code why,
                          const std::string &detail) {
    if (auto it = peers.find(from); it != peers.end() && it->second == a)
      peers.erase(it);
    association_count = peers.size();
    // An unaccepted stream with nothing to deliver holds no place in the queue.
    if (a && !a->worth_handing_out())
      std::erase(ready, a);
    changed.cancel(); // accepts waiting after stop_accepting() may now be done
    if (a && !a->established()) {
      --handshaking;
      if (why != asio::error::operation_aborted) {
        ++failure_count;
        if (options.on_failure)
          options.on_failure({why, detail.empty() ? why.message() : detail, from});
      }
    }
    if (abandoned && peers.empty())
      shut();
  }

  void shut() {
    closed = true;
    std::error_code ignored;
    socket->close(ignored);
    changed.cancel();
  }

  /// The acceptor object is gone: nothing more is accepted, unaccepted associations end,
  /// and the socket stays open for the streams handed out.
  void abandon() {
    abandoned = true;
    accepting = false;
    changed.cancel(); // pending accepts end now, not when the last stream does
    for (auto a : snapshot())
      if (!a->established() || std::find(ready.begin(), ready.end(), a) != ready.end())
        a->end(asio::error::operation_aborted);
    ready.clear();
    if (peers.empty())
      shut();
  }

  void close_all() {
    accepting = false;
    for (auto a : snapshot())
      a->end(asio::error::operation_aborted);
    ready.clear();
    shut();
  }

  std::vector<std::shared_ptr<association>> snapshot() const {
    std::vector<std::shared_ptr<association>> all;
    for (auto &[from, a] : peers)
      all.push_back(a);
    return all;
  }

  asio::awaitable<std::tuple<std::error_code, stream>> accept() {
    auto self = shared_from_this();
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
    for (;;) {
      while (!ready.empty()) {
        auto a = std::move(ready.front());
        ready.pop_front();
        if (a && a->worth_handing_out())
          co_return std::tuple(std::error_code(), stream_access::make(std::move(a)));
      }
      // After stop_accepting(), the handshakes under way may still bring streams.
      if (closed || abandoned || (!accepting && handshaking == 0))
        co_return std::tuple(std::error_code(asio::error::operation_aborted), stream());
      co_await changed.async_wait(wait_tuple);
      auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none)
        co_return std::tuple(std::error_code(asio::error::operation_aborted), stream());
    }
  }
};

namespace {
asio::awaitable<std::tuple<std::error_code, stream>>
accept_operation(std::shared_ptr<acceptor_state> a) {
  co_return co_await a->accept();
}
asio::awaitable<std::tuple<std::error_code, stream>> no_acceptor() {
  co_return std::tuple(std::error_code(asio::error::bad_descriptor), stream());
}
} // namespace

void start_accept(std::shared_ptr<acceptor_state> a, asio::cancellation_slot slot,
                  std::unique_ptr<completion<std::error_code, stream>> done) {
  auto ex = executor_of(a);
  spawn_operation(ex, slot, a ? accept_operation(std::move(a)) : no_acceptor(), std::move(done));
}

asio::any_io_executor executor_of(const std::shared_ptr<acceptor_state> &a) {
  if (a)
    return a->strand;
  return asio::system_executor();
}

} // namespace detail

namespace {

void check_context(const context &ctx) {
  if (ctx.get_role() != role::server)
    throw std::system_error(error::wrong_role, "tlsio::dtls::acceptor needs a server's context");
  // A context every handshake would refuse is refused here, as by tlsio::acceptor: else
  // clients would get cookies, then silence.
  if (auto ec = ctx.finalize())
    throw std::system_error(ec, "tlsio::dtls::acceptor: the server context cannot accept "
                                "connections");
  dtls::engine probe(ctx); // throws error::dtls_unavailable on a backend without DTLS
  if (auto ec = probe.failure())
    throw std::system_error(ec, "tlsio::dtls::acceptor: " + probe.failure_detail());
}

asio::ip::udp::endpoint bind_endpoint(const asio::any_io_executor &ex, std::string_view host,
                                      std::string_view port) {
  asio::ip::udp::resolver resolver(ex);
  if (host.empty() || host == "*") {
    auto any = resolver.resolve(asio::ip::udp::v6(), "::", std::string(port),
                                asio::ip::resolver_base::passive);
    return any.begin()->endpoint();
  }
  std::string name(host);
  if (name.size() > 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  auto found = resolver.resolve(name, std::string(port));
  return found.begin()->endpoint();
}

} // namespace

acceptor::acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, acceptor_options options) {
  check_context(ctx);
  auto strand = asio::any_io_executor(asio::make_strand(executor));
  auto st = std::make_shared<detail::acceptor_state>(strand, ctx, std::move(options));
  auto at = bind_endpoint(strand, host, port);
  auto &socket = *st->socket;
  socket.open(at.protocol());
  if (at.address().is_v6() && at.address().is_unspecified()) {
    std::error_code ignored; // dual stack where the system allows it
    socket.set_option(asio::ip::v6_only(false), ignored);
  }
  socket.bind(at);
  socket.non_blocking(true);
  st->bound = socket.local_endpoint();
  st->start();
  state_ = std::move(st);
}

acceptor::~acceptor() {
  if (auto st = std::move(state_))
    asio::dispatch(st->strand, [st] { st->abandon(); });
}

acceptor::acceptor(acceptor &&other) noexcept = default;

acceptor &acceptor::operator=(acceptor &&other) noexcept {
  if (this != &other) {
    if (auto st = std::move(state_))
      asio::dispatch(st->strand, [st] { st->abandon(); });
    state_ = std::move(other.state_);
  }
  return *this;
}

asio::any_io_executor acceptor::get_executor() const { return state_->strand; }

asio::ip::udp::endpoint acceptor::local_endpoint() const {
  if (!state_)
    throw std::system_error(asio::error::bad_descriptor, "tlsio::dtls::acceptor");
  return state_->bound;
}

std::size_t acceptor::associations() const noexcept {
  return state_ ? state_->association_count.load() : 0;
}

std::size_t acceptor::failures() const noexcept {
  return state_ ? state_->failure_count.load() : 0;
}

void acceptor::set_context(const context &ctx) {
  check_context(ctx);
  if (!state_)
    return;
  asio::dispatch(state_->strand, [st = state_, ctx] { st->ctx = ctx; });
}

void acceptor::stop_accepting() {
  if (!state_)
    return;
  asio::dispatch(state_->strand, [st = state_] {
    st->accepting = false;
    st->changed.cancel();
  });
}

void acceptor::close() {
  if (!state_)
    return;
  asio::dispatch(state_->strand, [st = state_] { st->close_all(); });
}

} // namespace tlsio::dtls
