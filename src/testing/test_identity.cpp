#include "tlsio/testing/test_identity.hpp"

#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace tlsio::test_identity {

namespace {

using bytes = std::vector<unsigned char>;

[[noreturn]] void fail(std::string_view what, int ret) {
  std::array<char, 256> text{};
  mbedtls_strerror(ret, text.data(), text.size());
  std::array<char, 16> code{};
  std::snprintf(code.data(), code.size(), "-0x%04X", static_cast<unsigned>(-ret));
  throw std::runtime_error("tlsio::test_identity: " + std::string(what) +
                           " failed: " + text.data() + " (" + code.data() + ")");
}

// Many Mbed TLS calls return a length on success, so only negative values are errors.
int check(int ret, std::string_view what) {
  if (ret < 0)
    fail(what, ret);
  return ret;
}

// Owns one Mbed TLS context: init in the constructor, free in the destructor, so every
// early return or exception releases it.
template <class T, void (*Init)(T *), void (*Free)(T *)> class owned {
public:
  owned() { Init(&value_); }
  ~owned() { Free(&value_); }
  owned(const owned &) = delete;
  owned &operator=(const owned &) = delete;
  T *get() { return &value_; }

private:
  T value_;
};

using pk_key = owned<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using big_number = owned<mbedtls_mpi, mbedtls_mpi_init, mbedtls_mpi_free>;
using cert_writer =
    owned<mbedtls_x509write_cert, mbedtls_x509write_crt_init, mbedtls_x509write_crt_free>;
using aes_cipher = owned<mbedtls_aes_context, mbedtls_aes_init, mbedtls_aes_free>;
using entropy_source = owned<mbedtls_entropy_context, mbedtls_entropy_init, mbedtls_entropy_free>;
using drbg = owned<mbedtls_ctr_drbg_context, mbedtls_ctr_drbg_init, mbedtls_ctr_drbg_free>;

// One generator per public call: nothing is shared between threads, so no locking.
class random_source {
public:
  random_source() {
    static constexpr std::string_view personalization = "tlsio test_identity";
    check(mbedtls_ctr_drbg_seed(drbg_.get(), mbedtls_entropy_func, entropy_.get(),
                                reinterpret_cast<const unsigned char *>(personalization.data()),
                                personalization.size()),
          "mbedtls_ctr_drbg_seed");
  }
  static int generate(void *self, unsigned char *out, size_t len) {
    return mbedtls_ctr_drbg_random(static_cast<random_source *>(self)->drbg_.get(), out, len);
  }
  bytes take(size_t len) {
    bytes out(len);
    check(generate(this, out.data(), out.size()), "mbedtls_ctr_drbg_random");
    return out;
  }

private:
  entropy_source entropy_; // declared first: the generator refers to it until freed
  drbg drbg_;
};

// ---- keys ----

void generate_key(mbedtls_pk_context *pk, key_type type, random_source &rng) {
  if (type == key_type::rsa_2048) {
    check(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), "mbedtls_pk_setup");
    check(mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), random_source::generate, &rng, 2048, 65537),
          "mbedtls_rsa_gen_key");
  } else {
    check(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "mbedtls_pk_setup");
    check(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), random_source::generate,
                              &rng),
          "mbedtls_ecp_gen_key");
  }
}

void parse_key(mbedtls_pk_context *pk, const std::string &pem) {
  // The PEM parser wants the terminating NUL counted in the length.
  check(mbedtls_pk_parse_key(pk, reinterpret_cast<const unsigned char *>(pem.c_str()),
                             pem.size() + 1, nullptr, 0),
        "mbedtls_pk_parse_key");
}

std::string plain_key_pem(mbedtls_pk_context *pk) {
  std::array<unsigned char, 8192> buf{};
  check(mbedtls_pk_write_key_pem(pk, buf.data(), buf.size()), "mbedtls_pk_write_key_pem");
  std::string pem(reinterpret_cast<const char *>(buf.data()));
  mbedtls_platform_zeroize(buf.data(), buf.size());
  return pem;
}

// ---- legacy ("traditional") encrypted PEM, as OpenSSL's PEM_write_*PrivateKey writes ----

bytes traditional_key_der(mbedtls_pk_context *pk) {
  std::array<unsigned char, 8192> buf{};
  // The DER is written at the end of the buffer.
  auto len = static_cast<size_t>(
      check(mbedtls_pk_write_key_der(pk, buf.data(), buf.size()), "mbedtls_pk_write_key_der"));
  bytes der(buf.end() - static_cast<std::ptrdiff_t>(len), buf.end());
  mbedtls_platform_zeroize(buf.data(), buf.size());
  return der;
}

// EVP_BytesToKey(MD5, one iteration): a 16-byte AES key is exactly one MD5 block.
bytes legacy_pem_key(const std::string &password, const bytes &iv) {
  bytes input(password.begin(), password.end());
  input.insert(input.end(), iv.begin(), iv.begin() + 8);
  bytes key(16);
  check(
      mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_MD5), input.data(), input.size(), key.data()),
      "mbedtls_md(MD5)");
  return key;
}

bytes aes128_cbc_encrypt(const bytes &key, bytes iv, bytes data) {
  auto pad = static_cast<unsigned char>(16 - data.size() % 16);
  data.insert(data.end(), pad, pad);
  aes_cipher aes;
  check(mbedtls_aes_setkey_enc(aes.get(), key.data(), 128), "mbedtls_aes_setkey_enc");
  bytes out(data.size());
  // mbedtls_aes_crypt_cbc updates the IV in place, hence the copy taken by value.
  check(mbedtls_aes_crypt_cbc(aes.get(), MBEDTLS_AES_ENCRYPT, data.size(), iv.data(), data.data(),
                              out.data()),
        "mbedtls_aes_crypt_cbc");
  mbedtls_platform_zeroize(data.data(), data.size());
  return out;
}

std::string base64_lines(const bytes &data) {
  size_t len = 0;
  std::string text(4 * (data.size() / 3 + 1) + 1, '\0');
  check(mbedtls_base64_encode(reinterpret_cast<unsigned char *>(text.data()), text.size(), &len,
                              data.data(), data.size()),
        "mbedtls_base64_encode");
  std::string out;
  for (size_t at = 0; at < len; at += 64)
    out += text.substr(at, std::min<size_t>(64, len - at)) + "\n";
  return out;
}

std::string upper_hex(const bytes &data) {
  static constexpr std::string_view digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char byte : data) {
    out += digits[byte >> 4];
    out += digits[byte & 0x0f];
  }
  return out;
}

std::string encrypted_key_pem(mbedtls_pk_context *pk, const std::string &password,
                              random_source &rng) {
  std::string label =
      mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA ? "RSA PRIVATE KEY" : "EC PRIVATE KEY";
  bytes iv = rng.take(16);
  bytes der = traditional_key_der(pk);
  bytes sealed = aes128_cbc_encrypt(legacy_pem_key(password, iv), iv, der);
  mbedtls_platform_zeroize(der.data(), der.size());
  return "-----BEGIN " + label + "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC," +
         upper_hex(iv) + "\n\n" + base64_lines(sealed) + "-----END " + label + "-----\n";
}

std::string key_pem(mbedtls_pk_context *pk, const certificate_options &options,
                    random_source &rng) {
  return options.key_password ? encrypted_key_pem(pk, *options.key_password, rng)
                              : plain_key_pem(pk);
}

// ---- DER for the extensions Mbed TLS 2.28 cannot write itself ----

void append_der(bytes &out, unsigned char tag, const bytes &content) {
  out.push_back(tag);
  size_t len = content.size();
  if (len < 0x80) {
    out.push_back(static_cast<unsigned char>(len));
  } else {
    bytes digits;
    for (; len != 0; len >>= 8)
      digits.insert(digits.begin(), static_cast<unsigned char>(len & 0xff));
    out.push_back(static_cast<unsigned char>(0x80 | digits.size()));
    out.insert(out.end(), digits.begin(), digits.end());
  }
  out.insert(out.end(), content.begin(), content.end());
}

bytes sequence_of(const bytes &content) {
  bytes out;
  append_der(out, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE, content);
  return out;
}

bytes ip_address_bytes(const std::string &text) {
  std::array<unsigned char, 16> buf{};
  if (inet_pton(AF_INET, text.c_str(), buf.data()) == 1)
    return bytes(buf.begin(), buf.begin() + 4);
  if (inet_pton(AF_INET6, text.c_str(), buf.data()) == 1)
    return bytes(buf.begin(), buf.end());
  throw std::runtime_error("tlsio::test_identity: not an IP address: \"" + text + "\"");
}

// GeneralNames: dNSName is [2] IA5String and iPAddress is [7] OCTET STRING, both IMPLICIT.
bytes subject_alt_names(const certificate_options &options) {
  bytes names;
  for (const auto &dns : options.dns_names) {
    for (char c : dns)
      if (static_cast<unsigned char>(c) >= 0x80)
        throw std::runtime_error("tlsio::test_identity: DNS name is not ASCII: \"" + dns + "\"");
    append_der(names, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, bytes(dns.begin(), dns.end()));
  }
  for (const auto &ip : options.ip_addresses)
    append_der(names, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, ip_address_bytes(ip));
  return sequence_of(names);
}

bytes oid_bytes(std::string_view oid) { return bytes(oid.begin(), oid.end()); }

#define TLSIO_OID(name) std::string_view(name, MBEDTLS_OID_SIZE(name))

bytes extended_key_usage(usage use) {
  std::vector<std::string_view> purposes;
  if (use == usage::server_and_client || use == usage::server_only)
    purposes.push_back(TLSIO_OID(MBEDTLS_OID_SERVER_AUTH));
  if (use == usage::server_and_client || use == usage::client_only)
    purposes.push_back(TLSIO_OID(MBEDTLS_OID_CLIENT_AUTH));
  // An absent extension would allow every purpose; codeSigning alone allows no TLS use.
  if (use == usage::none)
    purposes.push_back(TLSIO_OID(MBEDTLS_OID_CODE_SIGNING));
  bytes oids;
  for (auto oid : purposes)
    append_der(oids, MBEDTLS_ASN1_OID, oid_bytes(oid));
  return sequence_of(oids);
}

void add_extension(mbedtls_x509write_cert *crt, std::string_view oid, const bytes &value) {
  check(mbedtls_x509write_crt_set_extension(crt, oid.data(), oid.size(), 0, value.data(),
                                            value.size()),
        "mbedtls_x509write_crt_set_extension");
}

// ---- certificates ----

enum class role { root, intermediate, non_ca_intermediate, leaf };

bool is_authority(role r) { return r == role::root || r == role::intermediate; }

// mbedtls_x509_string_to_names in 2.28 only understands "\," as an escape.
std::string distinguished_name(const std::string &common_name) {
  std::string escaped;
  for (char c : common_name) {
    if (c == ',')
      escaped += '\\';
    escaped += c;
  }
  return "CN=" + escaped + ",O=tlsio test";
}

std::string x509_time(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  auto secs = floor<seconds>(when);
  auto day = floor<days>(secs);
  year_month_day date{day};
  hh_mm_ss time{secs - day};
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%04d%02u%02u%02d%02d%02d", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()));
  return text.data();
}

void set_validity(mbedtls_x509write_cert *crt, const certificate_options &options) {
  auto now = std::chrono::system_clock::now();
  auto from = options.not_before.value_or(now - std::chrono::hours(1));
  auto until = options.not_after.value_or(now + std::chrono::days(30));
  check(mbedtls_x509write_crt_set_validity(crt, x509_time(from).c_str(), x509_time(until).c_str()),
        "mbedtls_x509write_crt_set_validity");
}

void set_serial(mbedtls_x509write_cert *crt, random_source &rng) {
  bytes raw = rng.take(16);
  // Top bit clear keeps the INTEGER positive; the next bit set keeps all 16 bytes.
  raw[0] = static_cast<unsigned char>((raw[0] & 0x7f) | 0x40);
  big_number serial;
  check(mbedtls_mpi_read_binary(serial.get(), raw.data(), raw.size()), "mbedtls_mpi_read_binary");
  check(mbedtls_x509write_crt_set_serial(crt, serial.get()), "mbedtls_x509write_crt_set_serial");
}

unsigned key_usage_for(role r) {
  if (r == role::leaf)
    return MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
  if (r == role::non_ca_intermediate)
    return MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN;
  return MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
}

void set_extensions(mbedtls_x509write_cert *crt, const certificate_options &options, role r) {
  check(mbedtls_x509write_crt_set_basic_constraints(crt, is_authority(r) ? 1 : 0, -1),
        "mbedtls_x509write_crt_set_basic_constraints");
  check(mbedtls_x509write_crt_set_subject_key_identifier(crt),
        "mbedtls_x509write_crt_set_subject_key_identifier");
  check(mbedtls_x509write_crt_set_authority_key_identifier(crt),
        "mbedtls_x509write_crt_set_authority_key_identifier");
  check(mbedtls_x509write_crt_set_key_usage(crt, key_usage_for(r)),
        "mbedtls_x509write_crt_set_key_usage");
  add_extension(crt, TLSIO_OID(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                extended_key_usage(options.extended_usage));
  if (r != role::root && (!options.dns_names.empty() || !options.ip_addresses.empty()))
    add_extension(crt, TLSIO_OID(MBEDTLS_OID_SUBJECT_ALT_NAME), subject_alt_names(options));
}

std::string write_pem(mbedtls_x509write_cert *crt, random_source &rng) {
  // Grow on "buffer too small" so that long SAN lists still fit.
  for (size_t size = 8192;; size *= 2) {
    bytes buf(size);
    int ret = mbedtls_x509write_crt_pem(crt, buf.data(), buf.size(), random_source::generate, &rng);
    bool too_small =
        ret == MBEDTLS_ERR_ASN1_BUF_TOO_SMALL || ret == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL;
    if (!too_small || size >= (1u << 20)) {
      check(ret, "mbedtls_x509write_crt_pem");
      return reinterpret_cast<const char *>(buf.data());
    }
  }
}

struct signer {
  std::string name;
  mbedtls_pk_context *key;
};

std::string make_certificate(const certificate_options &options, role r,
                             mbedtls_pk_context *subject_key, const signer &issuer,
                             random_source &rng) {
  cert_writer crt;
  mbedtls_x509write_crt_set_version(crt.get(), MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(crt.get(), MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(crt.get(), subject_key);
  mbedtls_x509write_crt_set_issuer_key(crt.get(), issuer.key);
  check(mbedtls_x509write_crt_set_subject_name(crt.get(),
                                               distinguished_name(options.common_name).c_str()),
        "mbedtls_x509write_crt_set_subject_name");
  check(mbedtls_x509write_crt_set_issuer_name(crt.get(), issuer.name.c_str()),
        "mbedtls_x509write_crt_set_issuer_name");
  set_serial(crt.get(), rng);
  set_validity(crt.get(), options);
  set_extensions(crt.get(), options, r);
  return write_pem(crt.get(), rng);
}

// What an authority is made of; authority::state adds nothing but hides it from the header.
struct authority_parts {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string chain_pem;
  std::string subject_name; // as given to Mbed TLS, reused as the issuer name of what it signs
};

// Signs a certificate for a fresh key with options.key; a null issuer means self-signed.
std::string sign_fresh(const certificate_options &options, role r, const authority_parts *issuer,
                       mbedtls_pk_context *key, random_source &rng) {
  generate_key(key, options.key, rng);
  if (issuer == nullptr)
    return make_certificate(options, r, key, {distinguished_name(options.common_name), key}, rng);
  pk_key issuer_key;
  parse_key(issuer_key.get(), issuer->private_key_pem);
  return make_certificate(options, r, key, {issuer->subject_name, issuer_key.get()}, rng);
}

authority_parts make_authority(const certificate_options &options, role r,
                               const authority_parts *issuer) {
  random_source rng;
  pk_key key;
  authority_parts out;
  out.certificate_pem = sign_fresh(options, r, issuer, key.get(), rng);
  out.private_key_pem = plain_key_pem(key.get());
  out.subject_name = distinguished_name(options.common_name);
  // The root is what peers trust, so it is never part of a chain that is sent.
  if (issuer != nullptr)
    out.chain_pem = out.certificate_pem + issuer->chain_pem;
  return out;
}

} // namespace

struct authority::state : authority_parts {
  explicit state(authority_parts parts) : authority_parts(std::move(parts)) {}
};

authority authority::create(const std::string &name, key_type key) {
  certificate_options options;
  options.common_name = name;
  options.key = key;
  return create(options);
}

authority authority::create(const certificate_options &options) {
  return authority(std::make_unique<state>(make_authority(options, role::root, nullptr)));
}

identity authority::issue(const certificate_options &options) const {
  random_source rng;
  pk_key key;
  identity out;
  out.certificate_pem = sign_fresh(options, role::leaf, state_.get(), key.get(), rng);
  out.private_key_pem = key_pem(key.get(), options, rng);
  out.chain_pem = out.certificate_pem + state_->chain_pem;
  return out;
}

authority authority::issue_intermediate(const certificate_options &options) const {
  return authority(
      std::make_unique<state>(make_authority(options, role::intermediate, state_.get())));
}

authority authority::issue_non_ca_intermediate(const certificate_options &options) const {
  return authority(
      std::make_unique<state>(make_authority(options, role::non_ca_intermediate, state_.get())));
}

const std::string &authority::certificate_pem() const { return state_->certificate_pem; }
const std::string &authority::private_key_pem() const { return state_->private_key_pem; }
const std::string &authority::chain_pem() const { return state_->chain_pem; }

authority::authority(std::unique_ptr<state> s) : state_(std::move(s)) {}
authority::authority(authority &&) noexcept = default;
authority &authority::operator=(authority &&) noexcept = default;
authority::authority(const authority &other)
    : state_(other.state_ ? std::make_unique<state>(*other.state_) : nullptr) {}
authority &authority::operator=(const authority &other) {
  if (this != &other)
    state_ = other.state_ ? std::make_unique<state>(*other.state_) : nullptr;
  return *this;
}
authority::~authority() = default;

} // namespace tlsio::test_identity
