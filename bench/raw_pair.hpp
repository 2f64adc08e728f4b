// A client and a server tlsio::engine wired back to back in memory (the raw baseline).
#pragma once

#include "measure.hpp"
#include "pki.hpp"

#include <tlsio/engine.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace bench {

/// A TLS named group's name ("x25519", "secp256r1", ...) from its IANA number.
std::string group_name(unsigned id);

class raw_pair {
public:
  enum class state { running, done, failed };

  explicit raw_pair(tlsio_contexts &ctx);

  /// One round of the connection's life: each side takes one step and hands its records
  /// over. The life: handshake, one byte each way (after which the client's session goes to
  /// *keep, if given), close_notify both ways. done when it is over.
  state round(std::optional<tlsio::session> *keep);

  /// The handshake and one byte each way, all at once. false if it failed.
  bool open();

  /// Writes data on the client, hands the record(s) over, and reads them all on the server
  /// into sink, adding the bytes read to `bytes`.
  bool transfer(std::span<const std::byte> data, std::span<std::byte> sink,
                std::atomic<std::uint64_t> &bytes);

  std::string failure() const;
  std::string negotiated() const;

  tlsio::engine client, server;
  /// Read the key exchange group from the server's ServerKeyExchange (for negotiated()).
  bool inspect = false;

private:
  enum class phase { handshake, exchange, shutdown, closed };

  bool fail(const char *what);
  std::optional<bool> handshake_round(); // true: both done; false: more rounds; nullopt: failed
  bool exchange(std::optional<tlsio::session> *keep);
  bool shutdown();

  phase phase_ = phase::handshake;
  std::string failure_;
  std::string group_; // as the server's ServerKeyExchange names it
};

} // namespace bench
