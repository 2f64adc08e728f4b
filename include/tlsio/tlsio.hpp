/// \file
/// tlsio: asynchronous TLS over standalone Asio, with a sans-I/O Mbed TLS engine.
/// This header brings in the whole public API except tlsio/testing/test_identity.hpp (throwaway
/// certificates for tests and demos, which a program includes on its own).
#pragma once

#include <tlsio/acceptor.hpp>
#include <tlsio/compat.hpp>
#include <tlsio/connect.hpp>
#include <tlsio/context.hpp>
#include <tlsio/dtls/acceptor.hpp>
#include <tlsio/dtls/connect.hpp>
#include <tlsio/dtls/engine.hpp>
#include <tlsio/dtls/poll.hpp>
#include <tlsio/dtls/stream.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/error.hpp>
#include <tlsio/poll.hpp>
#include <tlsio/stream.hpp>
#include <tlsio/version.hpp>
