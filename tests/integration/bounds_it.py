#!/usr/bin/env python3
"""
NAME
    bounds_it.py - hostile and normal SMTP clients for test_bounds.sh

SYNOPSIS
    bounds_it.py flood HOST PORT PID KIND NCLIENTS SECONDS MAXBYTES BOUND_KB
    bounds_it.py many HOST PORT PID NCLIENTS BURST BOUND_KB [CAFILE]
    bounds_it.py answered HOST PORT N
    bounds_it.py write-timeout HOST PORT TIMEOUT MARGIN
    bounds_it.py slowloris HOST PORT TIMEOUT MARGIN cmd|data RCPT
    bounds_it.py data-rate HOST PORT TIMEOUT RCPT
    bounds_it.py junk HOST PORT junk|mailrset|help LIMIT_S
    bounds_it.py messages HOST PORT N RCPT BAD_RCPT

DESCRIPTION
    Every command prints "ok DESCRIPTION" / "FAIL DESCRIPTION" lines that
    lib.sh's py_checks counts, and exits 1 when a check failed.

    flood: NCLIENTS clients with a 4 KiB receive buffer send KIND ("ehlo":
    "EHLO x"; "pipeline": RSET/MAIL/RCPT/NOOP/VRFY/HELP) for SECONDS or
    until MAXBYTES, and never read. ternd's VmRSS (process PID) is sampled
    the whole time; its growth over the value before the flood must stay
    under BOUND_KB.

    many: NCLIENTS clients connect, each pushes up to BURST octets of
    pipelined "EHLO x" and never reads; after 3 s the growth of VmRSS must
    stay under BOUND_KB. With CAFILE each client first starts TLS (and
    reads until the handshake is done).

    answered: N pipelined NOOPs while not reading for 2 s, then reading
    everything: exactly N replies and the 221 to QUIT (backpressure loses
    nothing).

    write-timeout: flood "EHLO x" with a 4 KiB receive buffer for 1.5 s,
    then neither send nor read. ternd's side of the connection (from
    /proc/net/tcp) must leave ESTABLISHED within TIMEOUT + MARGIN seconds.

    slowloris: one octet a second, of a command line (cmd) or of DATA
    content (data); the session must end with 421 4.4.2 within TIMEOUT +
    MARGIN seconds, and not before TIMEOUT - 1.

    data-rate: DATA content at about 2000 octets a second for 1.5 x TIMEOUT
    seconds (above smtpd_min_data_rate): the message is accepted.

    junk: a pipelined loop of RSET/NOOP/VRFY/HELP (junk), MAIL/RSET
    (mailrset) or HELP alone (help), read as it is answered: the session
    must end with "421 4.7.0 ... Error: too many errors" and EOF within
    LIMIT_S seconds.

    messages: N messages on one connection, each with RSET, NOOP, two
    refused recipients (BAD_RCPT) and one good one (RCPT): every message
    is queued and the session is still open at the end.
"""
import os
import re
import select
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_it import Raw, code, report  # noqa: E402
import tern_it  # noqa: E402


def rss_kb(pid):
    """VmRSS of pid in KiB, or 0 if it is gone."""
    try:
        with open("/proc/%d/status" % int(pid)) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# error-free, so that only backpressure can stop it (RCPT to the test's relay domain)
class RssPeak:
    """The peak VmRSS of a process since it was made, sampled by tick()."""

    def __init__(self, pid):
        self.pid = pid
        self.base = self.peak = rss_kb(pid)

    def tick(self):
        self.peak = max(self.peak, rss_kb(self.pid))

    def settle(self, seconds):
        """Sample while ternd works through what it has read."""
        for _ in range(int(seconds * 5)):
            time.sleep(0.2)
            self.tick()
        return rss_kb(self.pid) > 0

    def grow(self):
        return self.peak - self.base


PIPELINE = (b"RSET\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@relay.test>\r\nNOOP\r\nVRFY x\r\n"
            b"HELP\r\n")
KINDS = {"ehlo": b"EHLO x\r\n", "pipeline": PIPELINE}


def small_rcvbuf_socket(host, port):
    """A connected socket with a 4 KiB receive buffer (set before connect, so the window is small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((host, int(port)))
    s.setblocking(False)
    return s


def push(socks, unit, seconds, maxbytes, on_tick=None):
    """Send `unit` repeatedly on every socket without reading, for `seconds` or until each
    sent maxbytes. Returns the octets sent per socket."""
    chunk = unit * (65536 // len(unit))
    sent = [0] * len(socks)
    live = set(range(len(socks)))
    end = time.monotonic() + seconds
    while live and time.monotonic() < end:
        _, w, _ = select.select([], [socks[i] for i in live], [], 0.2)
        for s in w:
            i = socks.index(s)
            try:
                n = s.send(chunk[: max(0, min(len(chunk), maxbytes - sent[i]))])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                continue
            except OSError:
                live.discard(i)
                continue
            sent[i] += n
            if sent[i] >= maxbytes:
                live.discard(i)
        if on_tick:
            on_tick()
    return sent


def cmd_flood(host, port, pid, kind, nclients, seconds, maxbytes, bound_kb):
    pid, nclients, seconds = int(pid), int(nclients), float(seconds)
    maxbytes, bound_kb = int(maxbytes), int(bound_kb)
    rss = RssPeak(pid)
    socks = [small_rcvbuf_socket(host, port) for _ in range(nclients)]
    for s in socks:
        s.send(b"EHLO x\r\n")
    sent = push(socks, KINDS[kind], seconds, maxbytes, rss.tick)
    alive = rss.settle(2)
    for s in socks:
        s.close()
    grow = rss.grow()
    print("%s flood: %d clients sent %s octets; VmRSS %d KiB before, peak %d KiB (+%d KiB)"
          % (kind, nclients, "/".join(str(n) for n in sent), rss.base, rss.peak, grow))
    report(alive, "%s flood: ternd is alive" % kind)
    report(grow < bound_kb, "%s flood: VmRSS grew by %d KiB, bound %d KiB" % (kind, grow, bound_kb))
    return 1 if tern_it.FAILED else 0


def starttls_socket(host, port, ctx):
    """A small-window socket that has said EHLO and STARTTLS and finished the handshake."""
    s = small_rcvbuf_socket(host, port)
    s.setblocking(True)
    s.settimeout(10)
    f = s.makefile("rb")
    greeting = f.readline()
    if not greeting.startswith(b"220 "):
        raise SystemExit("no greeting: %r" % greeting)
    s.sendall(b"EHLO x\r\n")
    for _ in range(64):
        line = f.readline()
        if not line.startswith(b"250-"):
            break
    if not line.startswith(b"250 "):
        raise SystemExit("EHLO: %r" % line)
    s.sendall(b"STARTTLS\r\n")
    line = f.readline()
    if not line.startswith(b"220 "):
        raise SystemExit("STARTTLS: %r" % line)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.setblocking(False)
    return t


def cmd_many(host, port, pid, nclients, burst, bound_kb, cafile=None):
    pid, nclients, burst, bound_kb = int(pid), int(nclients), int(burst), int(bound_kb)
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    rss = RssPeak(pid)
    socks = []
    for _ in range(nclients):
        socks.append(starttls_socket(host, port, ctx) if ctx else small_rcvbuf_socket(host, port))
        rss.tick()
    sent = push(socks, b"EHLO x\r\n", 5.0, burst, rss.tick)
    alive = rss.settle(3)
    for s in socks:
        s.close()
    grow = rss.grow()
    what = "%d%s clients that never read" % (nclients, " TLS" if ctx else "")
    print("%s sent %d octets in all (min %d, max %d); VmRSS %d KiB before, peak %d KiB "
          "(+%d KiB)" % (what, sum(sent), min(sent), max(sent), rss.base, rss.peak, grow))
    report(alive, "%s: ternd is alive" % what)
    report(grow < bound_kb, "%s: VmRSS grew by %d KiB, bound %d KiB" % (what, grow, bound_kb))
    return 1 if tern_it.FAILED else 0


def cmd_answered(host, port, n):
    n = int(n)
    s = small_rcvbuf_socket(host, port)
    data = b"EHLO x\r\n" + b"NOOP\r\n" * n + b"QUIT\r\n"
    got = bytearray()
    off = 0
    t_read = time.monotonic() + 2.0
    end = time.monotonic() + 120
    eof = False
    while not eof and time.monotonic() < end:
        want_r = [s] if time.monotonic() >= t_read else []
        want_w = [s] if off < len(data) else []
        r, w, _ = select.select(want_r, want_w, [], 0.2)
        if w:
            try:
                off += s.send(data[off:off + 65536])
            except BlockingIOError:
                pass
        if r:
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not chunk:
                eof = True
            got += chunk
    s.close()
    lines = bytes(got).split(b"\r\n")
    noops = sum(1 for line in lines if line.startswith(b"250 2.0.0 Ok"))
    bye = any(line.startswith(b"221 ") for line in lines)
    report(off == len(data), "pipelined: all %d NOOPs were sent (%d of %d octets)"
           % (n, off, len(data)))
    report(noops == n, "pipelined: every NOOP answered once the client reads (%d of %d)"
           % (noops, n))
    report(bye and eof, "pipelined: QUIT answered with 221 and the session closed")
    return 1 if tern_it.FAILED else 0


def server_side_state(port, client_port):
    """TCP state (hex string) of ternd's end of the connection to client_port, None if gone."""
    want_local, want_remote = "%04X" % int(port), "%04X" % int(client_port)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, remote, st = fields[1], fields[2], fields[3]
                    if local.endswith(":" + want_local) and remote.endswith(":" + want_remote):
                        return st
        except OSError:
            continue
    return None


ESTABLISHED = "01"


def cmd_write_timeout(host, port, timeout, margin):
    timeout, margin = float(timeout), float(margin)
    s = small_rcvbuf_socket(host, port)
    cport = s.getsockname()[1]
    push([s], b"EHLO x\r\n", 1.5, 64 << 20)
    stopped = time.monotonic()
    gone_after = None
    while time.monotonic() - stopped < timeout + margin:
        if server_side_state(port, cport) != ESTABLISHED:
            gone_after = time.monotonic() - stopped
            break
        time.sleep(0.2)
    s.close()
    report(gone_after is not None,
           "write timeout: ternd dropped the client that stopped reading within %.0f s "
           "(after %s s)" % (timeout + margin, "%.1f" % gone_after if gone_after else "never"))
    return 1 if tern_it.FAILED else 0


def _wait_reply_or_eof(c, seconds):
    c.sock.settimeout(seconds)
    return c.reply()


def cmd_slowloris(host, port, timeout, margin, mode, rcpt):
    timeout, margin = float(timeout), float(margin)
    c = Raw(host, port)
    c.reply()
    if mode == "data":
        c.cmd("EHLO slow.test")
        r1 = c.cmd("MAIL FROM:<slow@snd.test>")
        r2 = c.cmd("RCPT TO:<%s>" % rcpt)
        r3 = c.cmd("DATA")
        if code(r3) != "354":
            report(False, "slowloris data: session set-up (%s / %s / %s)" % (r1, r2, r3))
            return 1
        text = b"Subject: slow\r\n\r\n" + b"x" * 200
    else:
        text = b"NOOP" + b" " * 200
    c.sock.setblocking(False)
    start = time.monotonic()
    got = b""
    ended = None
    i = 0
    while time.monotonic() - start < timeout + margin and ended is None:
        try:
            c.sock.send(text[i:i + 1])
            i += 1
        except (BlockingIOError, OSError):
            pass
        t_next = time.monotonic() + 1.0
        while ended is None and time.monotonic() < t_next:
            r, _, _ = select.select([c.sock], [], [], max(0.0, t_next - time.monotonic()))
            if not r:
                continue
            try:
                chunk = c.sock.recv(4096)
            except (BlockingIOError, ConnectionResetError, OSError):
                chunk = b""
            got += chunk
            if not chunk:
                ended = time.monotonic() - start
    c.close()
    text_got = got.decode("latin-1").strip()
    report(ended is not None and re.search(r"421 4\.4\.2 .*timeout exceeded", text_got) is not None,
           "slowloris %s: one octet a second is dropped with 421 4.4.2 (got %r after %s s)"
           % (mode, text_got[:80], "%.1f" % ended if ended else "never"))
    report(ended is None or ended >= timeout - 1,
           "slowloris %s: not dropped before smtpd_timeout (%s s)"
           % (mode, "%.1f" % ended if ended else "-"))
    return 1 if tern_it.FAILED else 0


def cmd_data_rate(host, port, timeout, rcpt):
    timeout = float(timeout)
    c = Raw(host, port, timeout=timeout * 3)
    c.reply()
    c.cmd("EHLO steady.test")
    c.cmd("MAIL FROM:<steady@snd.test>")
    c.cmd("RCPT TO:<%s>" % rcpt)
    r = c.cmd("DATA")
    if code(r) != "354":
        report(False, "data rate: DATA accepted (%s)" % r)
        return 1
    c.send(b"Subject: steady\r\n\r\n")
    line = b"y" * 198 + b"\r\n"
    end = time.monotonic() + timeout * 1.5
    n = 0
    while time.monotonic() < end and not c.closed:
        c.send(line * 5)  # 1000 octets every half second
        n += 1000
        time.sleep(0.5)
    c.send(b".\r\n")
    r = c.reply()
    report(code(r) == "250", "data rate: %d octets at 2000 octets/s over %.0f s are accepted (%s)"
           % (n, timeout * 1.5, r))
    c.cmd("QUIT")
    c.close()
    return 1 if tern_it.FAILED else 0


JUNK = {
    "junk": b"RSET\r\nNOOP\r\nVRFY x\r\nHELP\r\n",
    "mailrset": b"MAIL FROM:<loop@snd.test>\r\nRSET\r\n",
    "help": b"HELP\r\n",
}


def cmd_junk(host, port, kind, limit_s):
    limit_s = float(limit_s)
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO junk.test")
    unit = JUNK[kind]
    data = unit * 20000
    stop = threading.Event()

    def writer():
        off = 0
        while off < len(data) and not stop.is_set():
            try:
                off += c.sock.send(data[off:off + 4096])
            except OSError:
                return

    t = threading.Thread(target=writer, daemon=True)
    start = time.monotonic()
    t.start()
    replies = c.replies_until_eof(limit_s)
    took = time.monotonic() - start
    stop.set()
    c.close()
    last = replies[-1] if replies else "EOF"
    report(re.match(r"421 4\.7\.0 \S+ Error: too many errors", last) is not None,
           "%s loop: ends with 421 4.7.0 too many errors (last of %d replies: %s)"
           % (kind, len(replies), last))
    report(took < limit_s, "%s loop: ended within %.0f s (%.1f s)" % (kind, limit_s, took))
    report(len(replies) < 1000, "%s loop: %d replies before the end" % (kind, len(replies)))
    print("%s loop: %d replies in %.1f s" % (kind, len(replies), took))
    return 1 if tern_it.FAILED else 0


def cmd_messages(host, port, n, rcpt, bad_rcpt):
    n = int(n)
    c = Raw(host, port, timeout=30)
    c.reply()
    c.cmd("EHLO normal.test")
    queued = 0
    bad = None
    for i in range(n):
        for line, want in (("RSET", "250"), ("NOOP", "250"), ("MAIL FROM:<n@snd.test>", "250"),
                           ("RCPT TO:<%s>" % bad_rcpt, "5"), ("RCPT TO:<%s>" % bad_rcpt, "5"),
                           ("RCPT TO:<%s>" % rcpt, "250"), ("DATA", "354")):
            r = c.cmd(line)
            if not r or not r.startswith(want):
                bad = "message %d: %s -> %s" % (i + 1, line, r)
                break
        if bad:
            break
        c.send(b"Subject: normal %d\r\n\r\nbody\r\n.\r\n" % (i + 1))
        r = c.reply()
        if code(r) != "250":
            bad = "message %d: end of data -> %s" % (i + 1, r)
            break
        queued += 1
    r = c.cmd("QUIT") if not bad else None
    c.close()
    report(queued == n, "normal client: %d of %d messages queued on one connection%s"
           % (queued, n, " (%s)" % bad if bad else ""))
    report(code(r) == "221", "normal client: the session is still open after %d messages (%s)"
           % (n, r))
    return 1 if tern_it.FAILED else 0


COMMANDS = {
    "flood": cmd_flood,
    "many": cmd_many,
    "answered": cmd_answered,
    "write-timeout": cmd_write_timeout,
    "slowloris": cmd_slowloris,
    "data-rate": cmd_data_rate,
    "junk": cmd_junk,
    "messages": cmd_messages,
}

if __name__ == "__main__":
    tern_it.run_commands(COMMANDS, __doc__)
