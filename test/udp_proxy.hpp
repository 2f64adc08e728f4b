// A UDP relay between DTLS clients and a server on loopback that drops, duplicates and
// delays datagrams as a test tells it to (test helper). Each client gets an upstream socket
// of its own, unless `shared_upstream`: then every client reaches the server from one
// address, and every reply goes to every client (for reconnection and forgery tests).
#pragma once

#include <tlsio/compat.hpp>

#include <asio.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace tlsio_test {

enum class fate { forward, drop, duplicate, delay };
enum class direction { to_server, to_client };

class udp_proxy {
public:
  /// What becomes of the n-th datagram (from 0) of client number `client` (from 0, in the
  /// order clients first spoke) going in direction d; `first_byte` is its first byte (the
  /// record's content type: 20 change_cipher_spec, 22 handshake, 23 application data).
  using policy =
      std::function<fate(std::size_t client, direction d, std::size_t n, int first_byte)>;

  udp_proxy(asio::io_context &io, asio::ip::udp::endpoint server, policy p,
            bool shared_upstream = false)
      : io_(io), front_(io, {asio::ip::make_address("127.0.0.1"), 0}), server_(server),
        policy_(std::move(p)), shared_(shared_upstream) {
    asio::co_spawn(io, front_loop(), asio::detached);
  }
  ~udp_proxy() { close(); }

  unsigned short port() const { return front_.local_endpoint().port(); }
  std::size_t dropped() const { return dropped_; }
  void close() {
    std::error_code ignored;
    front_.close(ignored);
    for (auto &[from, f] : flows_)
      f->up.close(ignored);
  }

private:
  struct flow {
    flow(asio::io_context &io, std::size_t i) : up(io), index(i) {}
    asio::ip::udp::socket up;
    asio::ip::udp::endpoint client;
    std::size_t index, to_server = 0, to_client = 0;
  };

  asio::awaitable<void> front_loop() {
    std::vector<char> buffer(65536);
    asio::ip::udp::endpoint from;
    for (;;) {
      auto [ec, n] = co_await front_.async_receive_from(
          asio::buffer(buffer), from, tlsio::compat::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
        co_return;
      if (ec)
        continue;
      auto f = flow_for(from);
      f->client = from;
      relay(*f, direction::to_server, f->to_server++, {buffer.begin(), buffer.begin() + n});
    }
  }

  asio::awaitable<void> back_loop(std::shared_ptr<flow> f) {
    std::vector<char> buffer(65536);
    for (;;) {
      auto [ec, n] = co_await f->up.async_receive(asio::buffer(buffer),
                                                  tlsio::compat::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
        co_return;
      if (ec)
        continue;
      std::vector<char> datagram(buffer.begin(), buffer.begin() + n);
      if (!shared_)
        relay(*f, direction::to_client, f->to_client++, datagram);
      else
        for (auto &[from, to] : flows_)
          relay(*to, direction::to_client, to->to_client++, datagram);
    }
  }

  std::shared_ptr<flow> flow_for(const asio::ip::udp::endpoint &from) {
    if (auto it = flows_.find(from); it != flows_.end())
      return it->second;
    auto f = std::make_shared<flow>(io_, flows_.size());
    if (!shared_ || !shared_flow_) { // else the first flow's socket carries every client's
      f->up.open(asio::ip::udp::v4());
      f->up.connect(server_);
      asio::co_spawn(io_, back_loop(f), asio::detached);
      if (shared_)
        shared_flow_ = f;
    }
    flows_[from] = f;
    return f;
  }

  void relay(flow &f, direction d, std::size_t n, std::vector<char> datagram) {
    auto what =
        policy_(f.index, d, n, datagram.empty() ? -1 : static_cast<unsigned char>(datagram[0]));
    if (what == fate::drop) {
      ++dropped_;
      return;
    }
    auto send = [this, &f, d](const std::vector<char> &bytes) {
      std::error_code ignored;
      if (d == direction::to_client)
        front_.send_to(asio::buffer(bytes), f.client, 0, ignored);
      else
        upstream(f).send(asio::buffer(bytes), 0, ignored);
    };
    if (what == fate::delay) {
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(30));
      timer->async_wait([timer, send, bytes = std::move(datagram)](std::error_code ec) {
        if (!ec)
          send(bytes);
      });
      return;
    }
    send(datagram);
    if (what == fate::duplicate)
      send(datagram);
  }

  asio::ip::udp::socket &upstream(flow &f) { return shared_ ? shared_flow_->up : f.up; }

  asio::io_context &io_;
  asio::ip::udp::socket front_;
  asio::ip::udp::endpoint server_;
  policy policy_;
  bool shared_;
  std::map<asio::ip::udp::endpoint, std::shared_ptr<flow>> flows_;
  std::shared_ptr<flow> shared_flow_;
  std::size_t dropped_ = 0;
};

} // namespace tlsio_test
