#!/usr/bin/env python3
"""
NAME
    anvil_it.py - python3 clients for test_anvil.sh (connection and rate limits)

SYNOPSIS
    anvil_it.py at-limit HOST PORT LIMIT REPLY LABEL
                                                    LIMIT greeted, one more a 421 matching
                                                    REPLY (a regex), a freed slot is reused
    anvil_it.py flood HOST PORT N GREETED REPLY     N held connections: GREETED get 220, the
                                                    rest a 421 matching REPLY (a regex)
    anvil_it.py conn-rate HOST PORT LIMIT UNIT      LIMIT connections, one more 421, UNIT s later 220
    anvil_it.py msg-rate HOST PORT LIMIT            LIMIT MAIL commands, one more 450 4.7.1
    anvil_it.py rcpt-rate HOST PORT LIMIT RCPT      LIMIT RCPT commands, one more 450 4.7.1
    anvil_it.py auth-rate HOST PORT LIMIT USER PASS LIMIT AUTH commands, one more 450 4.7.1
    anvil_it.py exempt HOST PORT N RCPT             N connections and N MAIL/RCPT: never refused
    anvil_it.py smtps-limit HOST PORT CAFILE        limit 1 on smtps: the second 421 inside TLS
    anvil_it.py hold HOST PORT N STOPFILE [SECS]    open N connections (reading nothing), print
                                                    "held N", keep them until STOPFILE exists
    anvil_it.py greet HOST PORT                     one connection is greeted with 220

DESCRIPTION
    Each check prints "ok ..." or "FAIL ..." (tern_it.py's report()), which
    lib.sh's py_checks counts. Every wait is bounded; everything talks to
    127.0.0.0/8 only.
"""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tern_it  # noqa: E402
from tern_it import Raw, code, report  # noqa: E402

TOO_MANY_FROM = r"^421 4\.7\.0 \S+ Error: too many connections from 127\.0\.0\.1$"


def greet(host, port, timeout=10):
    """-> (Raw or None, greeting or None)"""
    try:
        c = Raw(host, port, timeout=timeout)
    except OSError as e:
        return None, "connect: %s" % e
    return c, c.reply()


def refused_then_closed(c, g, pattern):
    """the greeting matches pattern and the server closes right after it"""
    if not g or not re.match(pattern, g):
        return False
    c.sock.settimeout(5)
    return c.reply() is None


def wait_greeted(host, port, secs=10):
    """a new connection is greeted with 220 within secs (the server notices closes
    asynchronously); -> the last reply seen"""
    deadline = time.time() + secs
    g = None
    while time.time() < deadline:
        c, g = greet(host, port)
        if c:
            c.close()
        if code(g) == "220":
            return g
        time.sleep(0.2)
    return g


def cmd_at_limit(host, port, limit, pattern, label):
    """limit connections are greeted, one more gets a 421 matching pattern and is closed,
    the held ones still work, and after one of them closes a new one is greeted"""
    limit = int(limit)
    held = []
    for i in range(limit):
        c, g = greet(host, port)
        held.append(c)
        report(code(g) == "220", "%s: connection %d of %d is greeted (got %s)" % (label, i + 1, limit, g))
    c, g = greet(host, port)
    report(refused_then_closed(c, g, pattern),
           "%s: connection %d gets a 421 matching %s and is closed (got %s)"
           % (label, limit + 1, pattern, g))
    if c:
        c.close()
    for i, c in enumerate(held):
        r = c.cmd("EHLO client.test") if c else None
        report(code(r) == "250", "%s: connection %d still works (EHLO: %s)" % (label, i + 1, code(r)))
    if held and held[0]:
        held[0].cmd("QUIT")
        held[0].close()
    g = wait_greeted(host, port)
    report(code(g) == "220", "%s: after one connection closed a new one is greeted (got %s)"
           % (label, g))
    for c in held[1:]:
        if c:
            c.close()
    return 1 if tern_it.FAILED else 0


def cmd_flood(host, port, n, greeted, pattern):
    n, greeted = int(n), int(greeted)
    held, ok, refused, other = [], 0, 0, []
    for _ in range(n):
        c, g = greet(host, port)
        if code(g) == "220":
            ok += 1
        elif refused_then_closed(c, g, pattern):
            refused += 1
        else:
            other.append(g)
        held.append(c)
    report(ok == greeted and refused == n - greeted,
           "of %d connections %d greeted, %d refused with 421 (want %d and %d; other: %s)"
           % (n, ok, refused, greeted, n - greeted, other[:3]))
    for c in held:
        if c:
            c.close()
    return 1 if tern_it.FAILED else 0


def cmd_conn_rate(host, port, limit, unit):
    limit, unit = int(limit), float(unit)
    t0 = time.time()
    for i in range(limit):
        c, g = greet(host, port)
        report(code(g) == "220", "rate: connection %d of %d is greeted (got %s)" % (i + 1, limit, g))
        if c:
            c.cmd("QUIT")
            c.close()
    c, g = greet(host, port)
    report(refused_then_closed(c, g, TOO_MANY_FROM),
           "rate: connection %d within the time unit gets 421 4.7.0 and is closed (got %s)"
           % (limit + 1, g))
    if c:
        c.close()
    if time.time() - t0 >= unit:
        print("warning: the connections took %.1fs, longer than the time unit" % (time.time() - t0))
    time.sleep(max(0.0, t0 + unit + 1.5 - time.time()))
    c, g = greet(host, port)
    report(code(g) == "220", "rate: after anvil_rate_time_unit a connection is greeted (got %s)" % g)
    if c:
        c.close()
    return 1 if tern_it.FAILED else 0


def session(host, port):
    c, g = greet(host, port)
    if code(g) != "220":
        raise RuntimeError("greeting: %r" % g)
    e = c.cmd("EHLO client.test")
    if code(e) != "250":
        raise RuntimeError("EHLO: %r" % e)
    return c


def cmd_msg_rate(host, port, limit):
    limit = int(limit)
    c = session(host, port)
    for i in range(limit):
        r = c.cmd("MAIL FROM:<s%d@snd.test>" % i)
        report(code(r) == "250", "MAIL %d of %d accepted (got %s)" % (i + 1, limit, r))
        c.cmd("RSET")
    r = c.cmd("MAIL FROM:<over@snd.test>")
    report(r == "450 4.7.1 Error: too much mail from 127.0.0.1",
           "MAIL %d gets '450 4.7.1 Error: too much mail from 127.0.0.1' (got %s)" % (limit + 1, r))
    r = c.cmd("NOOP")
    report(code(r) == "250", "the session goes on after the 450 (NOOP: %s)" % r)
    c.cmd("QUIT")
    c.close()
    c = session(host, port)
    r = c.cmd("MAIL FROM:<again@snd.test>")
    report(code(r) == "450", "the rate is per client, not per connection: a new session's MAIL "
           "gets 450 (got %s)" % r)
    c.close()
    return 1 if tern_it.FAILED else 0


def cmd_rcpt_rate(host, port, limit, rcpt):
    limit = int(limit)
    c = session(host, port)
    r = c.cmd("MAIL FROM:<s@snd.test>")
    report(code(r) == "250", "MAIL accepted (got %s)" % r)
    user, dom = rcpt.split("@", 1)
    for i in range(limit):
        r = c.cmd("RCPT TO:<%s%d@%s>" % (user, i, dom))
        report(code(r) == "250", "RCPT %d of %d accepted (got %s)" % (i + 1, limit, r))
    r = c.cmd("RCPT TO:<%s-over@%s>" % (user, dom))
    report(r == "450 4.7.1 Error: too many recipients from 127.0.0.1",
           "RCPT %d gets '450 4.7.1 Error: too many recipients from 127.0.0.1' (got %s)"
           % (limit + 1, r))
    c.cmd("QUIT")
    c.close()
    return 1 if tern_it.FAILED else 0


def cmd_auth_rate(host, port, limit, user, password):
    limit = int(limit)
    plain = tern_it._b64("\0%s\0%s" % (user, password))
    for i in range(limit):
        c = session(host, port)
        r = c.cmd("AUTH PLAIN " + plain)
        report(code(r) == "235", "AUTH %d of %d succeeds (got %s)" % (i + 1, limit, r))
        c.cmd("QUIT")
        c.close()
    c = session(host, port)
    r = c.cmd("AUTH PLAIN " + plain)
    report(r == "450 4.7.1 Error: too many AUTH commands from 127.0.0.1",
           "AUTH %d gets '450 4.7.1 Error: too many AUTH commands from 127.0.0.1' (got %s)"
           % (limit + 1, r))
    c.close()
    return 1 if tern_it.FAILED else 0


def cmd_exempt(host, port, n, rcpt):
    n = int(n)
    held, greeted = [], 0
    for _ in range(n):
        c, g = greet(host, port)
        greeted += code(g) == "220"
        held.append(c)
    report(greeted == n, "exempt: all %d simultaneous connections greeted (%d)" % (n, greeted))
    c = held[0]
    c.cmd("EHLO client.test")
    codes = []
    for i in range(n):
        codes.append(code(c.cmd("MAIL FROM:<s%d@snd.test>" % i)))
        codes.append(code(c.cmd("RCPT TO:<%s>" % rcpt)))
        c.cmd("RSET")
    report(set(codes) == {"250"}, "exempt: %d MAIL and RCPT commands accepted (%s)"
           % (n, " ".join(sorted(set(codes)))))
    for c in held:
        if c:
            c.close()
    return 1 if tern_it.FAILED else 0


def cmd_smtps_limit(host, port, cafile):
    """smtps with smtpd_client_connection_count_limit = 1: the second connection gets its
    421 inside TLS, after the handshake (as Postfix)"""
    def tls_greet():
        c = Raw(host, port)
        c.sock = tern_it.client_ctx(cafile).wrap_socket(c.sock, server_hostname="localhost")
        return c, c.reply()
    deadline = time.time() + 5
    c1, g1 = tls_greet()
    while code(g1) == "421" and time.time() < deadline:
        # wait_listen's probe of the port may not have been counted out yet
        c1.close()
        time.sleep(0.2)
        c1, g1 = tls_greet()
    report(code(g1) == "220", "smtps: the first connection is greeted inside TLS (got %s)" % g1)
    try:
        c2, g2 = tls_greet()
    except (OSError, ValueError) as e:
        c2, g2 = None, "handshake: %s" % e
    report(refused_then_closed(c2, g2, TOO_MANY_FROM),
           "smtps: the second gets 421 4.7.0 inside TLS and is closed (got %s)" % g2)
    for c in (c1, c2):
        if c:
            c.close()
    return 1 if tern_it.FAILED else 0


def cmd_hold(host, port, n, stopfile, secs="120"):
    """open N connections and read nothing; keep them until stopfile exists (or secs pass)"""
    socks = []
    for _ in range(int(n)):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=10))
        except OSError as e:
            print("connect failed after %d: %s" % (len(socks), e), flush=True)
            break
    print("held %d" % len(socks), flush=True)
    deadline = time.time() + float(secs)
    while not os.path.exists(stopfile) and time.time() < deadline:
        time.sleep(0.1)
    for s in socks:
        s.close()
    print("closed", flush=True)
    return 0


def cmd_greet(host, port):
    g = wait_greeted(host, port, 15)
    report(code(g) == "220", "a new client is greeted (got %s)" % g)
    return 1 if tern_it.FAILED else 0


COMMANDS = {
    "at-limit": cmd_at_limit,
    "flood": cmd_flood,
    "conn-rate": cmd_conn_rate,
    "msg-rate": cmd_msg_rate,
    "rcpt-rate": cmd_rcpt_rate,
    "auth-rate": cmd_auth_rate,
    "exempt": cmd_exempt,
    "smtps-limit": cmd_smtps_limit,
    "hold": cmd_hold,
    "greet": cmd_greet,
}

if __name__ == "__main__":
    tern_it.run_commands(COMMANDS, __doc__)
