#!/usr/bin/env python3
"""A TLS peer built on Python's ssl module (OpenSSL), for tlsio's interop tests.

server: listens on 127.0.0.1 (port 0 picks one), prints "PORT <n>", then serves connections
        one after another. Each is echoed until the client's close_notify, answered with
        our own close_notify; with --close-after N the server sends close_notify first once
        it has echoed N bytes. One line per connection on stdout: "CLEAN n" or "ERROR why".
client: connects, sends the test payload, reads its echo, then ends the session: by
        close_notify first (unwrap), or with --server-closes by reading until the server's
        close_notify. Exit status 0 only if the echo matched and the end was clean.

The payload is the one interop.hpp makes: lowercase letters, a newline every 1040 bytes
and at the end (line-based peers such as gnutls-serv --echo need it).
"""
import argparse
import socket
import ssl
import sys


def payload(n):
    block = bytearray((ord("a") + (i * 7) % 26) for i in range(1040))
    block[-1] = ord("\n")
    data = (block * (n // 1040 + 1))[:n]
    if n:
        data[-1] = ord("\n")
    return bytes(data)


def configure(ctx, args):
    if args.seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if args.max_version:
        ctx.maximum_version = getattr(ssl.TLSVersion, args.max_version)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)


def serve_one(conn, args):
    n = 0
    while args.close_after is None or n < args.close_after:
        data = conn.recv(65536)
        if not data:  # the client's close_notify (SSLEOFError if it had none)
            break
        conn.sendall(data)
        n += len(data)
    conn.unwrap()
    return n


def server(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    configure(ctx, args)
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", args.port))
    print("PORT", listener.getsockname()[1], flush=True)
    while True:
        raw, _ = listener.accept()
        raw.settimeout(20)
        try:
            with ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False) as conn:
                print("CLEAN", serve_one(conn, args), flush=True)
        except (OSError, ssl.SSLError) as e:
            print("ERROR", repr(e), flush=True)


def client(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    configure(ctx, args)
    ctx.load_verify_locations(args.ca)
    raw = socket.create_connection((args.host, args.port), timeout=20)
    conn = ctx.wrap_socket(raw, server_hostname=args.server_name, suppress_ragged_eofs=False)
    print("CONNECTED", conn.version(), conn.cipher()[0], flush=True)
    data = payload(args.size)
    got = bytearray()
    # One record at a time, each echo read before the next: an SSLSocket must not be used
    # from two threads at once, and one record's echo always fits in the socket buffers.
    for start in range(0, len(data), 16384):
        conn.sendall(data[start:start + 16384])
        while len(got) < min(start + 16384, len(data)):
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
    if got != data:
        print("MISMATCH", len(got), "of", len(data), flush=True)
        return 2
    if args.server_closes:
        if conn.recv(1) != b"":  # raises SSLEOFError if the server had no close_notify
            print("EXTRA DATA", flush=True)
            return 2
    conn.unwrap()  # raises if the server does not answer with close_notify
    print("CLEAN", len(got), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--server-name")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--close-after", type=int)
    p.add_argument("--server-closes", action="store_true")
    p.add_argument("--max-version")
    p.add_argument("--seclevel0", action="store_true")
    args = p.parse_args()
    try:
        return server(args) if args.role == "server" else client(args)
    except (OSError, ssl.SSLError) as e:
        print("ERROR", repr(e), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
