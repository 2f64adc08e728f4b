#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>

namespace bench {
namespace {

constexpr const char *usage =
    R"(tlsio-bench: tlsio beside raw Mbed TLS engines and asio::ssl (OpenSSL 3)

  --quick               short run (about 1 s per figure, fewer combinations, no DTLS
                        unless --mode names it), < 60 s
  --json FILE           one JSON object per figure
  --chart FILE.png      handshakes/s against concurrency (gnuplot)
  --duration S          measured seconds per figure (default 3, --quick 1)
  --warmup S            warm-up seconds before each figure (default 0.5, --quick 0.2)
  --rounds R            split each figure's time into R slices, taken in turn with its
                        baselines' (default 3, --quick 1): noise from other processes
                        then falls on all of them alike
  --concurrency N       client loops (default 16)
  --threads LIST        threads for the handshake figures (default 1,2)
  --sweep LIST          concurrencies for the chart (default 1,4,16,64)
  --write-bytes LIST    bytes per write in the bulk figures (default 16384,1024)
  --write-coalescing    tlsio streams use stream::set_write_coalescing(true) (off:
                        each write completes once the socket has its records)
  --idle N              idle connections to open (default 2000, --quick 250)
  --impl LIST           raw,tlsio,asio-ssl,asio-ssl-tls13,raw-openssl,tlsio-openssl,
                        tlsio-openssl-tls13,raw-dtls,tlsio-dtls (default: the first four
                        and the two DTLS ones; raw and tlsio run on Mbed TLS, the
                        -openssl ones on tlsio's OpenSSL engine; raw-dtls and tlsio-dtls,
                        on Mbed TLS, run the DTLS modes and only those)
  --mode LIST           handshake-full,handshake-resumed,bulk,idle,dtls-handshake,dtls-echo
                        (default all; --quick leaves the DTLS ones out)
                        dtls-handshake: DTLS 1.2 full handshakes/s (cookie exchange,
                        handshake, client's close_notify), up to 4 loops, 1 thread
                        dtls-echo: 1 KiB messages echoed over one association, 8 in
                        flight; a message not back within 200 ms counts as lost
                        (raw-dtls: two tlsio::dtls::engine's in memory, the limit;
                        tlsio-dtls: dtls::acceptor and dtls::async_connect over loopback
                        UDP, in one thread; left out with --role client)
  --cert LIST           ecdsa-p256,rsa-2048 (default both; --quick ecdsa-p256)
  --group LIST          x25519,secp256r1 (default both; --quick x25519)
Two processes:
  --role server --port P [--impl I] [--cert C] [--threads T] [--ca FILE]
                        serve (until Ctrl-C); writes the CA certificate to FILE
  --role client --port P [--host H] --ca FILE --impl raw,I --cert C ...
                        measure I (and the in-memory raw baseline) against that server;
                        --cert must name the server's certificate (default ecdsa-p256)
)";

std::vector<std::string> split(const std::string &list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty())
      items.push_back(item);
  return items;
}

template <class E> E lookup(const std::string &text, std::initializer_list<E> all) {
  for (E e : all)
    if (text == name(e))
      return e;
  throw std::invalid_argument("unknown value '" + text + "'");
}

template <class E> std::vector<E> enum_list(const std::string &list, std::initializer_list<E> all) {
  std::vector<E> out;
  for (const auto &item : split(list))
    out.push_back(lookup(item, all));
  return out;
}

std::vector<int> int_list(const std::string &list) {
  std::vector<int> out;
  for (const auto &item : split(list))
    if (int n = std::stoi(item); n > 0)
      out.push_back(n);
    else
      throw std::invalid_argument("not a positive number: " + item);
  return out;
}

using setter = std::function<void(options &, const std::string &)>;

const std::map<std::string, setter> &setters() {
  static const std::map<std::string, setter> table{
      {"--json", [](options &o, const std::string &v) { o.json_file = v; }},
      {"--chart", [](options &o, const std::string &v) { o.chart_file = v; }},
      {"--duration", [](options &o, const std::string &v) { o.measure_s = std::stod(v); }},
      {"--warmup", [](options &o, const std::string &v) { o.warmup_s = std::stod(v); }},
      {"--rounds", [](options &o, const std::string &v) { o.rounds = int_list(v).at(0); }},
      {"--concurrency",
       [](options &o, const std::string &v) { o.concurrency = int_list(v).at(0); }},
      {"--threads", [](options &o, const std::string &v) { o.threads = int_list(v); }},
      {"--sweep", [](options &o, const std::string &v) { o.sweep = int_list(v); }},
      {"--write-bytes", [](options &o, const std::string &v) { o.write_bytes = int_list(v); }},
      {"--idle", [](options &o, const std::string &v) { o.idle_connections = int_list(v).at(0); }},
      {"--impl",
       [](options &o, const std::string &v) {
         o.impls = enum_list(v, {impl::raw, impl::tlsio, impl::asio_ssl, impl::asio_ssl_tls13,
                                 impl::raw_openssl, impl::tlsio_openssl, impl::tlsio_openssl_tls13,
                                 impl::raw_dtls, impl::tlsio_dtls});
       }},
      {"--mode",
       [](options &o, const std::string &v) {
         o.modes = enum_list(v, {mode::handshake_full, mode::handshake_resumed, mode::bulk,
                                 mode::idle, mode::dtls_handshake, mode::dtls_echo});
       }},
      {"--cert",
       [](options &o, const std::string &v) {
         o.certs = enum_list(v, {cert::ecdsa_p256, cert::rsa_2048});
       }},
      {"--group",
       [](options &o, const std::string &v) {
         o.groups = enum_list(v, {group::x25519, group::secp256r1});
       }},
      {"--role", [](options &o, const std::string &v) { o.role = v; }},
      {"--host", [](options &o, const std::string &v) { o.host = v; }},
      {"--port",
       [](options &o, const std::string &v) {
         o.port = static_cast<unsigned short>(int_list(v).at(0));
       }},
      {"--ca", [](options &o, const std::string &v) { o.ca_file = v; }},
  };
  return table;
}

void check(const options &o) {
  if (!o.role.empty() && o.role != "server" && o.role != "client")
    throw std::invalid_argument("--role is server or client");
  if (!o.role.empty() && o.port == 0)
    throw std::invalid_argument("--role needs --port");
  if (o.threads.empty() || o.sweep.empty() || o.write_bytes.empty() || o.impls.empty() ||
      o.modes.empty())
    throw std::invalid_argument("an empty list");
}

} // namespace

options parse_options(int argc, char **argv) {
  options o;
  bool modes_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    modes_given = modes_given || arg == "--mode";
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (arg == "--quick") {
      o.quick = true;
      continue;
    }
    if (arg == "--write-coalescing") {
      o.write_coalescing = true;
      continue;
    }
    auto it = setters().find(arg);
    if (it == setters().end())
      throw std::invalid_argument("unknown option " + arg + " (see --help)");
    if (i + 1 >= argc)
      throw std::invalid_argument(arg + " needs a value");
    it->second(o, argv[++i]);
  }
  bool one_cert = o.quick || !o.role.empty(); // a server has one certificate
  if (o.certs.empty())
    o.certs =
        one_cert ? std::vector{cert::ecdsa_p256} : std::vector{cert::ecdsa_p256, cert::rsa_2048};
  if (o.idle_connections == 0)
    o.idle_connections = o.quick ? 250 : 2000;
  if (o.rounds == 0)
    o.rounds = o.quick ? 1 : 3;
  if (o.quick && !modes_given) // the quick run stays as short as it was
    std::erase_if(o.modes, [](mode m) { return is_dtls(m); });
  if (o.groups.empty())
    o.groups = o.quick ? std::vector{group::x25519} : std::vector{group::x25519, group::secp256r1};
  check(o);
  return o;
}

} // namespace bench
