#!/usr/bin/env python3
"""
NAME
    proxy_it.py - python3 clients for test_haproxy.sh (the PROXY protocol header)

SYNOPSIS
    proxy_it.py refused PORT LABEL HEX [SECS]   HEX (then nothing) to 127.0.0.1:PORT: the
                                                node closes within SECS (15) without a
                                                single octet of SMTP
    proxy_it.py refused-after-greeting PORT LABEL HEX
                                                the same to a listener without
                                                smtpd_upstream_proxy_protocol: the node
                                                greets, then closes on the header
    proxy_it.py local PORT SRC                  a v2 LOCAL header (HAProxy's health check)
                                                from SRC: the session is the socket's own,
                                                greeted, EHLO answered
    proxy_it.py relay-refused HOST PORT SRC     smtplib from SRC: RCPT to a far domain gets
                                                554 5.7.1 Relay access denied
    proxy_it.py smtps PORT SRC CAFILE           a v2 header for SRC to an smtps listener,
                                                the TLS handshake right behind it in the
                                                same segment: greeted inside TLS

DESCRIPTION
    Each check prints "ok ..." or "FAIL ..." (tern_it.py's report()), which
    lib.sh's py_checks counts. Every wait is bounded; everything talks to
    127.0.0.0/8 only.
"""
import os
import smtplib
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tern_it  # noqa: E402
from tern_it import Raw, report  # noqa: E402

SIG = bytes.fromhex("0d0a0d0a000d0a515549540a")


def v2(src, dst, sport, dport, cmd=1):
    """A v2 PROXY (or LOCAL) header for TCP over IPv4."""
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return SIG + bytes([0x20 | cmd, 0x11]) + struct.pack(">H", len(body)) + body


def read_to_eof(sock, secs):
    """-> (octets read, closed?) within secs."""
    got, deadline = b"", time.monotonic() + secs
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return got, True
        if not chunk:
            return got, True
        got += chunk
    return got, False


def refused(port, label, hexdata, secs="15"):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s.sendall(bytes.fromhex(hexdata))
    got, closed = read_to_eof(s, float(secs))
    s.close()
    report(closed and got == b"",
           "%s: the node closes the connection without a word of SMTP (got %r, %s)"
           % (label, got[:80], "closed" if closed else "still open"))


def refused_after_greeting(port, label, hexdata):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    greeting = b""
    while b"\n" not in greeting:
        chunk = s.recv(4096)
        if not chunk:
            break
        greeting += chunk
    s.sendall(bytes.fromhex(hexdata))
    got, closed = read_to_eof(s, 15)
    s.close()
    report(greeting.startswith(b"220 ") and closed,
           "%s: greeted, then the connection is closed (%r; after it: %r)"
           % (label, greeting[:40], got[:120]))


def local(port, src):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10, source_address=(src, 0))
    s.sendall(v2("0.0.0.0", "0.0.0.0", 0, 0, cmd=0))
    r = Raw(None, None, sock=s)
    greeting = r.reply()
    ehlo = r.cmd("EHLO local.test")
    r.cmd("QUIT")
    s.close()
    report(greeting is not None and greeting.startswith("220 ") and ehlo is not None
           and ehlo.startswith("250"),
           "v2 LOCAL from %s: greeted and EHLO answered (%s / %s)" % (src, greeting, ehlo))


def smtps(port, src, cafile):
    """The header and the ClientHello leave together: the node must not read past the header."""
    raw = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    hello_in, hello_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(hello_in, hello_out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    raw.sendall(v2(src, "127.0.0.1", 40000, int(port)) + hello_out.read())
    ok, greeting = False, None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = raw.recv(65536)
            if not data:
                break
            hello_in.write(data)
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pending = hello_out.read()
                if pending:
                    raw.sendall(pending)
                continue
            pending = hello_out.read()
            if pending:
                raw.sendall(pending)
            buf = b""
            while b"\n" not in buf and time.monotonic() < deadline:
                try:
                    buf += obj.read(4096)
                except ssl.SSLWantReadError:
                    data = raw.recv(65536)
                    if not data:
                        break
                    hello_in.write(data)
            greeting = buf.decode("latin-1").strip()
            ok = greeting.startswith("220 ")
            break
    except OSError as e:
        greeting = str(e)
    raw.close()
    report(ok, "smtps behind a v2 header sent with the ClientHello: greeted inside TLS (%s)"
           % greeting)


def relay_refused(host, port, src):
    with smtplib.SMTP(host, int(port), timeout=20, source_address=(src, 0)) as c:
        c.ehlo("client-v6.test")
        c.mail("alice@snd.test")
        code, msg = c.rcpt("eve6@far.test")
    report(code == 554 and b"Relay access denied" in msg,
           "client %s through %s:%s: RCPT %d %s" % (src, host, port, code, msg.decode()))


COMMANDS = {
    "relay-refused": relay_refused,
    "refused": refused,
    "refused-after-greeting": refused_after_greeting,
    "local": local,
    "smtps": smtps,
}

if __name__ == "__main__":
    tern_it.run_commands(COMMANDS, __doc__)
