// Two DTLS engines back to back in memory, on a fake clock, with a datagram path that can
// drop, duplicate and reorder (test helper).
#pragma once

#include "engine_pair.hpp"

#include <tlsio/dtls/engine.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace tlsio_test {

using dtls_clock = tlsio::dtls::clock;
using namespace std::chrono_literals;

/// A clock the test moves by hand.
struct fake_clock {
  dtls_clock::time_point now{std::chrono::hours(1)};
  std::function<dtls_clock::time_point()> source() {
    return [this] { return now; };
  }
};

/// Which side queued a datagram.
enum class side { client, server };

/// A datagram an engine queued, in the order of all of both sides' datagrams.
struct sent_datagram {
  side from;
  std::size_t index;            // 0 for the first datagram either side queued
  dtls_clock::time_point at;    // when it was taken from the engine
  std::vector<std::byte> bytes; // as queued
};

/// Contexts of the Mbed TLS backend (the only one with DTLS) from the shared test PKI.
tlsio::context dtls_client_context();
tlsio::context dtls_server_context();

/// A client and a server engine on one fake clock, and the path between them.
struct dtls_pair {
  fake_clock clock; // first: the engines read it
  tlsio::dtls::engine client;
  tlsio::dtls::engine server;
  std::deque<std::vector<std::byte>> to_server, to_client;
  /// Every datagram queued by either engine, in order, whatever its fate.
  std::vector<sent_datagram> log;
  /// How many copies of a datagram arrive: 1 by default, 0 drops it, 2 duplicates it.
  std::function<int(const sent_datagram &)> copies = [](const sent_datagram &) { return 1; };
  /// Deliver each batch of datagrams in the reverse of the order they were sent.
  bool reorder = false;
  /// Messages each side received after its handshake.
  std::vector<std::string> client_got, server_got;
  /// Results of the last receive on each side (after its handshake).
  tlsio::step_result client_last, server_last;
  /// The client's transport address, as the server engine is told it.
  static constexpr char client_address[] = "192.0.2.1:40000";

  dtls_pair(const tlsio::context &client_ctx, const tlsio::context &server_ctx,
            const std::string &server_name = "localhost");

  struct outcome {
    tlsio::step_result client, server;
    dtls_clock::time_point at; // the clock when the run ended
  };
  /// Runs both sides until both handshakes are done, one fails, or nothing is in flight and
  /// no timer runs; whenever nothing is in flight, moves the clock to the next timeout.
  /// Never runs past `limit` of fake time, nor past a bounded number of rounds.
  outcome handshake(std::chrono::milliseconds limit = 120s);
  /// Delivers what is in flight, both ways, until nothing is; the clock stays.
  void settle();
  /// Sends a message from one side; false if send did not take it whole.
  bool send(side from, const std::string &message);

  /// The time the pair started at.
  dtls_clock::time_point start = clock.now;

  /// Takes e's queued datagrams onto the path (through `copies`).
  void collect(tlsio::dtls::engine &e, side from);
  /// Hands the datagrams in flight to e, then runs its step: the handshake until it is
  /// done, then receive until no message is left. false if nothing was in flight.
  bool deliver(tlsio::dtls::engine &e, side to);
  tlsio::step_result step(tlsio::dtls::engine &e, side s);
  /// Moves the clock to the earlier timeout of the two and fires it; false if none.
  bool fire_next_timeout(std::chrono::milliseconds limit);
};

/// The times (after the start) at which one side queued datagrams, each time once.
inline std::vector<std::chrono::milliseconds> send_times(const dtls_pair &p, side from) {
  std::vector<std::chrono::milliseconds> times;
  for (const auto &d : p.log)
    if (d.from == from)
      times.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(d.at - p.start));
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  return times;
}

/// Bytes of a string.
inline std::span<const std::byte> as_bytes(const std::string &s) {
  return {reinterpret_cast<const std::byte *>(s.data()), s.size()};
}

} // namespace tlsio_test
