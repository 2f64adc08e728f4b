// Configuration errors show when configuring, not later.
#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/error.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

namespace ti = tlsio::test_identity;

namespace {

struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string &contents) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("tlsio-context-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::ofstream(path) << contents;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

const ti::authority &ca() {
  static const auto authority = ti::authority::create("context test CA");
  return authority;
}

} // namespace

TEST_CASE("a password-protected key loads with its password only") {
  auto id = ca().issue({.dns_names = {"localhost"}, .key_password = "s3cret"});
  temp_file key(id.private_key_pem);
  tlsio::context ctx{tlsio::role::server};
  ctx.load_certificate_chain_pem(id.chain_pem);

  std::error_code ec;
  ctx.load_private_key(key.path, "wrong", ec);
  CHECK(ec == tlsio::error::private_key_wrong_password);
  CHECK(ec.message() == "wrong password for the private key");
  ctx.load_private_key(key.path, std::nullopt, ec);
  CHECK(ec == tlsio::error::private_key_password_required);
  CHECK_THROWS_WITH_AS(ctx.load_private_key(key.path, "wrong"), doctest::Contains("wrong password"),
                       std::system_error);
  ctx.load_private_key(key.path, "s3cret", ec);
  CHECK(!ec);
}

TEST_CASE("a key that does not match the certificate is refused, in either order") {
  auto a = ca().issue({.dns_names = {"a"}});
  auto b = ca().issue({.dns_names = {"b"}});
  std::error_code ec;

  tlsio::context chain_first{tlsio::role::server};
  chain_first.load_certificate_chain_pem(a.chain_pem);
  chain_first.load_private_key_pem(b.private_key_pem, std::nullopt, ec);
  CHECK(ec == tlsio::error::private_key_mismatch);

  tlsio::context key_first{tlsio::role::server};
  key_first.load_private_key_pem(b.private_key_pem);
  key_first.load_certificate_chain_pem(a.chain_pem, ec);
  CHECK(ec == tlsio::error::private_key_mismatch);
}

TEST_CASE("missing files name the file and the reason") {
  tlsio::context ctx{tlsio::role::server};
  std::error_code ec;
  ctx.load_certificate_chain("/nonexistent/server.pem", ec);
  CHECK(ec == std::errc::no_such_file_or_directory);
  CHECK_THROWS_WITH_AS(ctx.load_certificate_chain("/nonexistent/server.pem"),
                       doctest::Contains("'/nonexistent/server.pem'"), std::system_error);
  CHECK_THROWS_AS(ctx.load_private_key("/nonexistent/server.key"), std::system_error);
  CHECK_THROWS_AS(ctx.set_ca_bundle("/nonexistent/ca.pem"), std::system_error);
}

TEST_CASE("text that holds no certificate is refused") {
  tlsio::context ctx{tlsio::role::client};
  std::error_code ec;
  ctx.add_certificate_authority("hello", ec);
  CHECK(ec);
  ctx.load_certificate_chain_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                 ec);
  CHECK(ec);
}

TEST_CASE("a CA bundle file and several certificates per file") {
  auto other = ti::authority::create("second CA");
  temp_file bundle(ca().certificate_pem() + other.certificate_pem());
  tlsio::context ctx{tlsio::role::client};
  ctx.set_ca_bundle(bundle.path);
  CHECK(ctx.get_ca_source() == tlsio::ca_source::bundle);
}

TEST_CASE("the configuration is frozen once a connection uses it") {
  tlsio::context ctx{tlsio::role::client};
  tlsio::engine e(ctx);
  CHECK_THROWS_AS(ctx.set_verify(tlsio::verify::insecure_skip), std::logic_error);
}

TEST_CASE("a server without a certificate fails at its first handshake step") {
  tlsio::context ctx{tlsio::role::server};
  tlsio::engine e(ctx);
  CHECK(e.handshake().error == tlsio::error::no_certificate);
}

TEST_CASE("defaults: the client verifies, against the system store") {
  tlsio::context ctx{tlsio::role::client};
  CHECK(ctx.get_verify() == tlsio::verify::peer);
  CHECK(ctx.get_ca_source() == tlsio::ca_source::system);
  if (auto location = tlsio::context::system_ca_location())
    CHECK(std::filesystem::exists(*location));
}
