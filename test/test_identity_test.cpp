#include "tlsio/testing/test_identity.hpp"

#include <doctest/doctest.h>

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ti = tlsio::test_identity;

namespace {

using namespace std::chrono_literals;

// A parsed certificate chain that frees itself.
class cert_chain {
public:
  cert_chain() { mbedtls_x509_crt_init(&crt_); }
  explicit cert_chain(const std::string &pem) : cert_chain() { REQUIRE(add(pem) == 0); }
  ~cert_chain() { mbedtls_x509_crt_free(&crt_); }
  cert_chain(const cert_chain &) = delete;
  cert_chain &operator=(const cert_chain &) = delete;

  // The PEM parser wants the terminating NUL counted in the length.
  int add(const std::string &pem) {
    return mbedtls_x509_crt_parse(&crt_, reinterpret_cast<const unsigned char *>(pem.c_str()),
                                  pem.size() + 1);
  }
  mbedtls_x509_crt *get() { return &crt_; }

private:
  mbedtls_x509_crt crt_;
};

class private_key {
public:
  private_key() { mbedtls_pk_init(&pk_); }
  ~private_key() { mbedtls_pk_free(&pk_); }
  private_key(const private_key &) = delete;
  private_key &operator=(const private_key &) = delete;

  int parse(const std::string &pem, const char *password = nullptr) {
    auto pwd = reinterpret_cast<const unsigned char *>(password);
    return mbedtls_pk_parse_key(&pk_, reinterpret_cast<const unsigned char *>(pem.c_str()),
                                pem.size() + 1, pwd, password ? std::strlen(password) : 0);
  }
  mbedtls_pk_context *get() { return &pk_; }

private:
  mbedtls_pk_context pk_;
};

uint32_t verify_flags(const std::string &chain_pem, const std::string &root_pem, const char *name) {
  cert_chain chain(chain_pem);
  cert_chain root(root_pem);
  uint32_t flags = 0;
  int ret =
      mbedtls_x509_crt_verify(chain.get(), root.get(), nullptr, name, &flags, nullptr, nullptr);
  CHECK((ret == 0) == (flags == 0));
  return flags;
}

bool key_matches(const std::string &cert_pem, const std::string &key_pem,
                 const char *password = nullptr) {
  cert_chain cert(cert_pem);
  private_key key;
  REQUIRE(key.parse(key_pem, password) == 0);
  return mbedtls_pk_check_pair(&cert.get()->pk, key.get()) == 0;
}

std::string dn_text(const mbedtls_x509_name *name) {
  std::array<char, 512> buf{};
  REQUIRE(mbedtls_x509_dn_gets(buf.data(), buf.size(), name) > 0);
  return buf.data();
}

ti::certificate_options localhost(ti::key_type key = ti::key_type::ecdsa_p256) {
  return {.common_name = "localhost",
          .dns_names = {"localhost"},
          .ip_addresses = {"127.0.0.1", "::1"},
          .key = key};
}

bool has_eku(const std::string &cert_pem, const char *oid, size_t oid_len) {
  cert_chain cert(cert_pem);
  return mbedtls_x509_crt_check_extended_key_usage(cert.get(), oid, oid_len) == 0;
}

#define EKU(oid) oid, MBEDTLS_OID_SIZE(oid)

} // namespace

TEST_CASE("an ECDSA leaf verifies against its root by DNS name") {
  auto ca = ti::authority::create("tlsio test CA");
  auto leaf = ca.issue(localhost());
  CHECK(verify_flags(leaf.chain_pem, ca.certificate_pem(), "localhost") == 0);
  CHECK(leaf.chain_pem == leaf.certificate_pem);
  CHECK(ca.chain_pem().empty());
  CHECK(key_matches(leaf.certificate_pem, leaf.private_key_pem));
  CHECK(key_matches(ca.certificate_pem(), ca.private_key_pem()));
  cert_chain cert(leaf.certificate_pem);
  CHECK(mbedtls_pk_get_type(&cert.get()->pk) == MBEDTLS_PK_ECKEY);
  CHECK(leaf.private_key_pem.find("-----BEGIN EC PRIVATE KEY-----") == 0);
}

TEST_CASE("RSA-2048 authorities and leaves verify") {
  auto ca = ti::authority::create("tlsio RSA CA", ti::key_type::rsa_2048);
  auto rsa_leaf = ca.issue(localhost(ti::key_type::rsa_2048));
  auto ec_leaf = ca.issue(localhost(ti::key_type::ecdsa_p256));
  CHECK(verify_flags(rsa_leaf.chain_pem, ca.certificate_pem(), "localhost") == 0);
  CHECK(verify_flags(ec_leaf.chain_pem, ca.certificate_pem(), "localhost") == 0);
  CHECK(key_matches(rsa_leaf.certificate_pem, rsa_leaf.private_key_pem));
  cert_chain cert(rsa_leaf.certificate_pem);
  CHECK(mbedtls_pk_get_type(&cert.get()->pk) == MBEDTLS_PK_RSA);
  CHECK(mbedtls_pk_get_bitlen(&cert.get()->pk) == 2048);
  CHECK(cert.get()->sig_pk == MBEDTLS_PK_RSA);
  CHECK(rsa_leaf.private_key_pem.find("-----BEGIN RSA PRIVATE KEY-----") == 0);
}

TEST_CASE("certificate fields") {
  auto ca = ti::authority::create("tlsio test CA");
  auto leaf = ca.issue(localhost());
  cert_chain root(ca.certificate_pem());
  cert_chain cert(leaf.certificate_pem);
  auto *crt = cert.get();

  CHECK(crt->version == 3);
  CHECK(crt->sig_md == MBEDTLS_MD_SHA256);
  REQUIRE(crt->serial.len == 16);
  CHECK(crt->serial.p[0] < 0x80);
  CHECK(dn_text(&crt->subject) == "CN=localhost, O=tlsio test");
  CHECK(dn_text(&crt->issuer) == "CN=tlsio test CA, O=tlsio test");
  CHECK(dn_text(&root.get()->issuer) == dn_text(&root.get()->subject));

  CHECK(crt->ca_istrue == 0);
  CHECK(mbedtls_x509_crt_check_key_usage(crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
                                                  MBEDTLS_X509_KU_KEY_ENCIPHERMENT) == 0);
  CHECK(mbedtls_x509_crt_check_key_usage(crt, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0);

  CHECK(root.get()->ca_istrue == 1);
  CHECK(root.get()->max_pathlen == 0); // Mbed TLS stores pathlen + 1; 0 means unlimited
  CHECK(mbedtls_x509_crt_check_key_usage(root.get(), MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                         MBEDTLS_X509_KU_CRL_SIGN) == 0);
}

TEST_CASE("a comma in a common name survives") {
  auto ca = ti::authority::create("Test, Inc. CA");
  auto leaf = ca.issue({.common_name = "a, b"});
  cert_chain cert(leaf.certificate_pem);
  // dn_gets escapes the comma on output; the matching below shows the value holds none.
  CHECK(dn_text(&cert.get()->subject) == "CN=a\\, b, O=tlsio test");
  CHECK(verify_flags(leaf.chain_pem, ca.certificate_pem(), "a, b") == 0);
}

TEST_CASE("Mbed TLS 2.28 lists iPAddress entries but matches names by dNSName only") {
  auto ca = ti::authority::create("tlsio test CA");
  auto leaf = ca.issue(localhost());
  cert_chain cert(leaf.certificate_pem);

  std::vector<std::pair<int, size_t>> entries;
  std::string listing;
  for (const auto *san = &cert.get()->subject_alt_names; san != nullptr; san = san->next) {
    std::array<char, 64> line{};
    std::snprintf(line.data(), line.size(), "tag 0x%02x len %zu; ",
                  static_cast<unsigned>(san->buf.tag), san->buf.len);
    listing += line.data();
    entries.emplace_back(san->buf.tag, san->buf.len);
  }
  INFO("subject_alt_names: ", listing);
  std::vector<std::pair<int, size_t>> expected = {{0x82, 9}, {0x87, 4}, {0x87, 16}};
  CHECK(entries == expected);
  const auto *ipv4 = cert.get()->subject_alt_names.next;
  CHECK(std::vector<unsigned char>(ipv4->buf.p, ipv4->buf.p + 4) ==
        std::vector<unsigned char>{127, 0, 0, 1});

  // Only dNSName entries are compared with the expected name, so an IP never matches.
  CHECK(verify_flags(leaf.chain_pem, ca.certificate_pem(), "127.0.0.1") ==
        MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

TEST_CASE("a wildcard DNS name matches one label") {
  auto ca = ti::authority::create("tlsio test CA");
  auto leaf = ca.issue({.common_name = "wild", .dns_names = {"*.example.test"}});
  CHECK(verify_flags(leaf.chain_pem, ca.certificate_pem(), "a.example.test") == 0);
  CHECK(verify_flags(leaf.chain_pem, ca.certificate_pem(), "example.test") ==
        MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

TEST_CASE("a wrong name is a CN mismatch") {
  auto ca = ti::authority::create("tlsio test CA");
  auto leaf = ca.issue(localhost());
  CHECK(verify_flags(leaf.chain_pem, ca.certificate_pem(), "example.com") ==
        MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

TEST_CASE("validity") {
  auto ca = ti::authority::create("tlsio test CA");
  auto now = std::chrono::system_clock::now();

  SUBCASE("expired") {
    auto options = localhost();
    options.not_before = now - 48h;
    options.not_after = now - 24h;
    CHECK(verify_flags(ca.issue(options).chain_pem, ca.certificate_pem(), "localhost") ==
          MBEDTLS_X509_BADCERT_EXPIRED);
  }
  SUBCASE("not yet valid") {
    auto options = localhost();
    options.not_before = now + 24h;
    options.not_after = now + 48h;
    CHECK(verify_flags(ca.issue(options).chain_pem, ca.certificate_pem(), "localhost") ==
          MBEDTLS_X509_BADCERT_FUTURE);
  }
  SUBCASE("exact times in UTC") {
    using namespace std::chrono;
    auto options = localhost();
    options.not_before = sys_days{2021y / March / 4} + 5h + 6min + 7s;
    options.not_after = sys_days{2055y / December / 31} + 23h + 59min + 58s;
    cert_chain cert(ca.issue(options).certificate_pem);
    const auto &from = cert.get()->valid_from;
    const auto &to = cert.get()->valid_to;
    CHECK(std::array{from.year, from.mon, from.day, from.hour, from.min, from.sec} ==
          std::array{2021, 3, 4, 5, 6, 7});
    CHECK(std::array{to.year, to.mon, to.day, to.hour, to.min, to.sec} ==
          std::array{2055, 12, 31, 23, 59, 58});
  }
}

TEST_CASE("intermediate authorities") {
  auto root = ti::authority::create("tlsio root");
  auto inter = root.issue_intermediate({.common_name = "tlsio intermediate"});
  auto leaf = inter.issue(localhost());

  CHECK(inter.chain_pem() == inter.certificate_pem());
  CHECK(leaf.chain_pem == leaf.certificate_pem + inter.certificate_pem());
  CHECK(verify_flags(leaf.chain_pem, root.certificate_pem(), "localhost") == 0);
  // Without the intermediate the root cannot be reached.
  CHECK(verify_flags(leaf.certificate_pem, root.certificate_pem(), "localhost") ==
        MBEDTLS_X509_BADCERT_NOT_TRUSTED);

  cert_chain inter_cert(inter.certificate_pem());
  CHECK(inter_cert.get()->ca_istrue == 1);

  SUBCASE("two levels, mixed key types") {
    auto second = inter.issue_intermediate(
        {.common_name = "tlsio second intermediate", .key = ti::key_type::rsa_2048});
    auto deep = second.issue(localhost());
    CHECK(second.chain_pem() == second.certificate_pem() + inter.certificate_pem());
    CHECK(verify_flags(deep.chain_pem, root.certificate_pem(), "localhost") == 0);
  }
}

TEST_CASE("a CA:FALSE intermediate can sign but is refused") {
  auto root = ti::authority::create("tlsio root");
  auto fake = root.issue_non_ca_intermediate({.common_name = "not a CA"});
  auto leaf = fake.issue(localhost());

  cert_chain fake_cert(fake.certificate_pem());
  CHECK(fake_cert.get()->ca_istrue == 0);
  CHECK(mbedtls_x509_crt_check_key_usage(fake_cert.get(), MBEDTLS_X509_KU_KEY_CERT_SIGN) == 0);
  CHECK(leaf.chain_pem == leaf.certificate_pem + fake.certificate_pem());
  CHECK((verify_flags(leaf.chain_pem, root.certificate_pem(), "localhost") &
         MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0);
  // The fake itself is fine as a leaf: only its use as an issuer is refused.
  CHECK(verify_flags(fake.certificate_pem(), root.certificate_pem(), "not a CA") == 0);
}

TEST_CASE("extended key usage") {
  auto ca = ti::authority::create("tlsio test CA");
  auto with = [&](ti::usage use) {
    auto options = localhost();
    options.extended_usage = use;
    return ca.issue(options).certificate_pem;
  };
  auto both = with(ti::usage::server_and_client);
  auto server = with(ti::usage::server_only);
  auto client = with(ti::usage::client_only);
  auto none = with(ti::usage::none);

  CHECK(has_eku(both, EKU(MBEDTLS_OID_SERVER_AUTH)));
  CHECK(has_eku(both, EKU(MBEDTLS_OID_CLIENT_AUTH)));
  CHECK(has_eku(server, EKU(MBEDTLS_OID_SERVER_AUTH)));
  CHECK_FALSE(has_eku(server, EKU(MBEDTLS_OID_CLIENT_AUTH)));
  CHECK_FALSE(has_eku(client, EKU(MBEDTLS_OID_SERVER_AUTH)));
  CHECK(has_eku(client, EKU(MBEDTLS_OID_CLIENT_AUTH)));
  CHECK_FALSE(has_eku(none, EKU(MBEDTLS_OID_SERVER_AUTH)));
  CHECK_FALSE(has_eku(none, EKU(MBEDTLS_OID_CLIENT_AUTH)));
  CHECK(has_eku(none, EKU(MBEDTLS_OID_CODE_SIGNING)));
}

TEST_CASE("password-protected keys") {
  auto ca = ti::authority::create("tlsio test CA");
  for (auto type : {ti::key_type::ecdsa_p256, ti::key_type::rsa_2048}) {
    CAPTURE(static_cast<int>(type));
    auto options = localhost(type);
    options.key_password = "secret";
    auto leaf = ca.issue(options);
    const auto &pem = leaf.private_key_pem;

    std::string label = type == ti::key_type::rsa_2048 ? "RSA PRIVATE KEY" : "EC PRIVATE KEY";
    CHECK(pem.find("-----BEGIN " + label +
                   "-----\nProc-Type: 4,ENCRYPTED\n"
                   "DEK-Info: AES-128-CBC,") == 0);
    CHECK(pem.find("-----END " + label + "-----\n") == pem.size() - label.size() - 15);

    CHECK(key_matches(leaf.certificate_pem, pem, "secret"));
    private_key unlocked;
    CHECK(unlocked.parse(pem, "secret") == 0);

    private_key locked;
    CHECK(locked.parse(pem) == MBEDTLS_ERR_PK_PASSWORD_REQUIRED);

    // Mbed TLS spots a wrong password by a heuristic on the first decrypted bytes, which a
    // wrong key passes about once in 500 tries; then DER parsing fails instead.
    int mismatches = 0;
    for (const char *wrong : {"Secret", "secret ", "", "hunter2"}) {
      private_key key;
      int ret = key.parse(pem, wrong);
      CHECK(ret != 0);
      mismatches += ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH;
    }
    CHECK(mismatches >= 3);
  }
}

TEST_CASE("the encrypted PEM body is 64-column base64 after a blank line") {
  auto ca = ti::authority::create("tlsio test CA");
  auto options = localhost(ti::key_type::rsa_2048);
  options.key_password = "pw";
  auto pem = ca.issue(options).private_key_pem;
  auto dek = pem.find("DEK-Info: AES-128-CBC,");
  REQUIRE(dek != std::string::npos);
  auto iv = pem.substr(dek + 22, 32);
  CHECK(iv.find_first_not_of("0123456789ABCDEF") == std::string::npos);
  CHECK(pem.substr(dek + 22 + 32, 2) == "\n\n");

  auto body = pem.substr(dek + 22 + 34, pem.find("-----END") - (dek + 22 + 34));
  size_t lines = 0;
  for (size_t at = 0; at < body.size(); ++lines) {
    auto end = body.find('\n', at);
    REQUIRE(end != std::string::npos);
    CHECK(end - at <= 64);
    if (end + 1 < body.size())
      CHECK(end - at == 64);
    at = end + 1;
  }
  CHECK(lines > 1);
}

TEST_CASE("copies and moves of an authority keep working") {
  auto original = ti::authority::create("tlsio test CA");
  ti::authority copy = original;
  CHECK(copy.certificate_pem() == original.certificate_pem());
  auto leaf = copy.issue(localhost());
  CHECK(verify_flags(leaf.chain_pem, original.certificate_pem(), "localhost") == 0);

  ti::authority moved = std::move(copy);
  auto other = ti::authority::create("another CA");
  other = moved;
  CHECK(other.certificate_pem() == original.certificate_pem());
  other = std::move(moved);
  CHECK(verify_flags(other.issue(localhost()).chain_pem, original.certificate_pem(), "localhost") ==
        0);
}

TEST_CASE("bad input throws std::runtime_error") {
  auto ca = ti::authority::create("tlsio test CA");
  auto message_of = [&](const ti::certificate_options &options) -> std::string {
    try {
      ca.issue(options);
    } catch (const std::runtime_error &e) {
      return e.what();
    }
    return "";
  };
  CHECK(message_of({.ip_addresses = {"localhost"}}).find("not an IP address") != std::string::npos);
  CHECK(message_of({.ip_addresses = {"256.0.0.1"}}).find("not an IP address") != std::string::npos);
  // Mbed TLS caps a name at 256 bytes; the message carries its own description.
  auto long_name = message_of({.common_name = std::string(300, 'x')});
  CHECK(long_name.find("mbedtls_x509write_crt_set_subject_name") != std::string::npos);
  CHECK(long_name.find("X509 - ") != std::string::npos);
}

TEST_CASE("issuing from several threads at once") {
  const auto ca = ti::authority::create("tlsio test CA");
  std::vector<ti::identity> leaves(8);
  std::vector<std::exception_ptr> errors(leaves.size());
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < leaves.size(); ++i)
      threads.emplace_back([&, i] {
        try {
          leaves[i] = ca.issue(localhost());
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
  }
  for (size_t i = 0; i < leaves.size(); ++i) {
    CHECK(errors[i] == nullptr);
    CHECK(verify_flags(leaves[i].chain_pem, ca.certificate_pem(), "localhost") == 0);
    if (i > 0)
      CHECK(leaves[i].private_key_pem != leaves[i - 1].private_key_pem);
  }
}

// ---- interoperability with the openssl command line tool ----

namespace {

bool openssl_available() { return std::system("command -v openssl >/dev/null 2>&1") == 0; }

struct command_result {
  int status;
  std::string output;
};

command_result run(const std::string &command) {
  command_result result{-1, ""};
  FILE *pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr)
    result.output += buf.data();
  result.status = pclose(pipe);
  return result;
}

// A fresh directory under the system temp directory, removed with everything in it.
class temp_dir {
public:
  temp_dir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("tlsio_test_identity_" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directory(path_);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir &) = delete;
  temp_dir &operator=(const temp_dir &) = delete;

  std::string write(const std::string &name, const std::string &content) const {
    auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    // Appended, not a chain of operator+: GCC 12 warns falsely (-Wrestrict) on that at -O3.
    std::string quoted = "'";
    quoted += file.string();
    quoted += "'";
    return quoted;
  }

private:
  std::filesystem::path path_;
};

} // namespace

TEST_CASE("openssl reads the certificates and keys") {
  if (!openssl_available()) {
    MESSAGE("openssl is not on PATH; skipping");
    return;
  }
  temp_dir dir;
  auto root = ti::authority::create("tlsio root", ti::key_type::rsa_2048);
  auto inter = root.issue_intermediate({.common_name = "tlsio intermediate"});
  auto options = localhost();
  options.key_password = "secret";
  auto leaf = inter.issue(options);
  auto root_pem = dir.write("root.pem", root.certificate_pem());
  auto inter_pem = dir.write("inter.pem", inter.certificate_pem());
  auto leaf_pem = dir.write("leaf.pem", leaf.certificate_pem);

  auto text = run("openssl x509 -noout -text -in " + leaf_pem);
  CHECK(text.status == 0);
  CHECK(text.output.find("IP Address:127.0.0.1") != std::string::npos);
  CHECK(text.output.find("IP Address:0:0:0:0:0:0:0:1") != std::string::npos);
  CHECK(text.output.find("DNS:localhost") != std::string::npos);
  CHECK(text.output.find("X509v3 Subject Key Identifier") != std::string::npos);
  CHECK(text.output.find("X509v3 Authority Key Identifier") != std::string::npos);
  CHECK(text.output.find("TLS Web Server Authentication") != std::string::npos);

  auto verify = "openssl verify -CAfile " + root_pem + " -untrusted " + inter_pem + " ";
  auto verified = run(verify + leaf_pem);
  CHECK(verified.status == 0);
  CHECK(verified.output.find(": OK") != std::string::npos);
  CHECK(run(verify + "-purpose sslserver -verify_hostname localhost -verify_ip ::1 " + leaf_pem)
            .status == 0);

  SUBCASE("keys") {
    auto key = dir.write("key.pem", leaf.private_key_pem);
    CHECK(run("openssl pkey -noout -passin pass:secret -in " + key).status == 0);
    CHECK(run("openssl pkey -noout -passin pass:wrong -in " + key).status != 0);
    auto rsa_options = localhost(ti::key_type::rsa_2048);
    rsa_options.key_password = "secret";
    auto rsa_key = dir.write("rsa_key.pem", root.issue(rsa_options).private_key_pem);
    CHECK(run("openssl pkey -noout -passin pass:secret -in " + rsa_key).status == 0);
    auto plain = dir.write("plain.pem", root.private_key_pem());
    CHECK(run("openssl pkey -noout -passin pass:unused -in " + plain).status == 0);
  }
  SUBCASE("refusals") {
    auto no_tls = options;
    no_tls.extended_usage = ti::usage::none;
    auto code_signing = dir.write("none.pem", inter.issue(no_tls).certificate_pem);
    CHECK(run(verify + "-purpose sslserver " + code_signing).status != 0);

    auto fake = root.issue_non_ca_intermediate({.common_name = "not a CA"});
    auto fake_pem = dir.write("fake.pem", fake.certificate_pem());
    auto fake_leaf = dir.write("fake_leaf.pem", fake.issue(localhost()).certificate_pem);
    CHECK(run("openssl verify -CAfile " + root_pem + " -untrusted " + fake_pem + " " + fake_leaf)
              .status != 0);
  }
}
