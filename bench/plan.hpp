// Which figures a run measures, in order.
#pragma once

#include "figure.hpp"
#include "options.hpp"

#include <vector>

namespace bench {

/// Full handshakes for every certificate, group and thread count; the concurrency sweep for
/// the chart; resumed handshakes; bulk with 16 KiB and 1 KiB writes over 1 and N
/// connections; idle connections; DTLS full handshakes and echo (not with --role). --quick keeps
/// one certificate and group, and leaves the informational asio-ssl-tls13 rows out where they cost
/// most.
std::vector<figure_spec> make_plan(const options &o);

} // namespace bench
