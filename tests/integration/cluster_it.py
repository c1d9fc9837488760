#!/usr/bin/env python3
"""
NAME
    cluster_it.py - python3 clients for test_redis.sh (TLS resumption across nodes)

SYNOPSIS
    cluster_it.py resume HOST PORT CAFILE N SECS OUT
        N submissions, each over a new connection with STARTTLS, spread over at
        least SECS seconds; every connection offers the session (ticket) the
        one before it got. Writes to OUT one line per submission: "INDEX
        reused|full CODE TIME" (CODE: the reply to the end of DATA; TIME: when
        the connection began, seconds since the epoch). Prints a summary
        and "ok"/"FAIL" for: every submission got 250, the first was full and
        every other one resumed.
    cluster_it.py submit HOST PORT N PREFIX [mixed]
        N messages over one connection, to PREFIX0@far.test .. PREFIX<N-1>@far.test;
        "ok" when every one got 250. mixed: every other one says
        "TLS-Required: No" (RFC 8689)
    cluster_it.py metric URL NAME LABELS
        prints the value of metric NAME{LABELS} at URL (0 if absent)

DESCRIPTION
    Everything talks to 127.0.0.0/8 only; every wait is bounded (20 s per
    connection).
"""
import os
import smtplib
import ssl
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tern_it  # noqa: E402
from tern_it import report  # noqa: E402


class ResumingSMTP(smtplib.SMTP):
    """smtplib.SMTP whose STARTTLS offers a saved session."""

    def starttls_with(self, ctx, session):
        self.ehlo_or_helo_if_needed()
        code, resp = self.docmd("STARTTLS")
        if code != 220:
            raise smtplib.SMTPResponseException(code, resp)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost", session=session)
        self.file = None
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        self.ehlo()  # reads past the handshake: the server's new ticket arrives with it
        return self.sock


def resume(host, port, cafile, n, secs, out):
    n, secs = int(n), float(secs)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    session, results = None, []
    start = time.monotonic()
    for i in range(n):
        due = start + secs * i / n
        if time.monotonic() < due:
            time.sleep(due - time.monotonic())
        began = time.time()
        try:
            with ResumingSMTP(host, int(port), timeout=20) as c:
                sock = c.starttls_with(ctx, session)
                reused = sock.session_reused
                c.mail("alice@snd.test")
                c.rcpt("bob%d@far.test" % i)
                code, _ = c.data(b"Subject: resume %d\r\nX-Test-Id: r%d\r\n\r\nbody\r\n" % (i, i))
                session = sock.session
        except (OSError, smtplib.SMTPException) as e:
            reused, code = False, "error:%s" % e.__class__.__name__
        results.append((i, reused, code, began))
    with open(out, "w") as f:
        for i, reused, code, began in results:
            f.write("%d %s %s %.3f\n" % (i, "reused" if reused else "full", code, began))
    full = [i for i, r, _, _ in results if not r]
    bad = [(i, c) for i, _, c, _ in results if c != 250]
    print("%d submissions in %.1f s: %d full handshakes (at %s), %d not 250"
          % (n, time.monotonic() - start, len(full), full[:10], len(bad)))
    report(not bad, "every one of the %d submissions got 250 (%s)" % (n, bad[:5]))
    report(full == [0], "the first handshake was full, every other one resumed (full: %s)"
           % full[:10])


def submit(host, port, n, prefix, mixed=""):
    bad = []
    with smtplib.SMTP(host, int(port), timeout=20) as c:
        for i in range(int(n)):
            head = b"TLS-Required: No\r\n" if mixed == "mixed" and i % 2 else b""
            try:
                c.sendmail("alice@snd.test", ["%s%d@far.test" % (prefix, i)],
                           head + b"Subject: lease %d\r\n\r\nbody\r\n" % i)
            except smtplib.SMTPException as e:
                bad.append((i, str(e)))
    report(not bad, "%s messages to %s0..%d@far.test through port %s: every one 250 (%s)"
           % (n, prefix, int(n) - 1, port, bad[:3]))


def metric(url, name, labels):
    want = "%s{%s}" % (name, labels) if labels else name
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(want + " "):
                print(line.split()[-1])
                return
    print(0)


COMMANDS = {"resume": resume, "submit": submit, "metric": metric}

if __name__ == "__main__":
    tern_it.run_commands(COMMANDS, __doc__)
