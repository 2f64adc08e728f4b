// What the DTLS figures share, so that the in-memory limit (raw-dtls) and tlsio over UDP
// (tlsio-dtls) measure the same thing.
//
//   dtls-handshake: a client and a server association, the full handshake (with the
//                   HelloVerifyRequest cookie exchange), and the client's close_notify
//                   taken by the server; N of them in turn, one thread.
//   dtls-echo:      one association; the client sends `echo_window` messages of
//                   spec.write_bytes, the server returns each, and the client waits for
//                   them, up to `echo_timeout` for each next one, before it sends the next
//                   batch. MB/s counts the bytes of messages that came back (once, not per
//                   direction); a message not back within the timeout counts as lost (UDP
//                   may drop), and a late one still counts its bytes when it comes.
#pragma once

#include <chrono>

namespace bench {

inline constexpr int echo_window = 8;
inline constexpr std::chrono::milliseconds echo_timeout{200};

} // namespace bench
