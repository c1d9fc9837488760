#!/usr/bin/env python3
"""
NAME
    tern_it.py - python3 side of tern's integration tests

SYNOPSIS
    tern_it.py count DIR                      complete smtp-sink dumps in DIR
    tern_it.py gen-message OUT ID [KIB]       a tricky test message (CRLF)
    tern_it.py send HOST PORT FROM RCPTS FILE submit FILE with smtplib (RCPTS: a,b,c)
    tern_it.py body-check DUMP EXPECTED [LABEL] sink dump == tern Received + EXPECTED
    tern_it.py envelope DUMP                  "MAIL\\tRCPT1 RCPT2 ..." of a dump
    tern_it.py ids DIR                        "X-Test-Id count" of every dump
    tern_it.py crash-submit HOST PORT N CONC PID ACKED [KILL_AFTER]
    tern_it.py acked-check ACKED DIR          every acked X-Test-Id is in DIR
    tern_it.py smuggle HOST PORT RCPT_DOMAIN  the end-of-data smuggling variants
    tern_it.py limits HOST PORT RCPT_DOMAIN RCPT_LIMIT SIZE_LIMIT
    tern_it.py relay-forms HOST PORT RELAY_DOMAIN
    tern_it.py dsn-check DUMP SENDER FAILED_RCPT
    tern_it.py dns-query SERVER PORT NAME A|MX|AAAA
    tern_it.py tls-sink --listen H:P --dir DIR [--cert F --key F] [--ca F]
               [--mode tls|notls|hangup|garbage|hello] [--max-tls 1.2]
                                              python SMTP peer with STARTTLS, logs
                                              JSON events (session_reused) to DIR/log
    tern_it.py sink-query DIR WHAT [SINCE]    count events of a tls-sink log
    tern_it.py tls-send HOST PORT FROM RCPTS FILE CAFILE [starttls|smtps]
    tern_it.py tls-inject HOST PORT CAFILE RCPT_DOMAIN   STARTTLS injection checks
    tern_it.py tls-encrypt-required HOST PORT CAFILE RCPT
    tern_it.py sserver-sink DIR PORT INNER CERT KEY [S_SERVER_OPTION...]
                                              SMTP peer whose TLS is openssl s_server
    tern_it.py hello-check DIR LABEL          the ClientHellos a tls-sink --mode hello saw
                                              offer nothing weak (testssl.sh's cipher names)
    tern_it.py tls-hello-refused HOST PORT LABEL SUITES [VERSION]
                                              STARTTLS, then a hand-made ClientHello offering
                                              only SUITES (hex, comma-separated): refused?
    tern_it.py tls-load HOST PORT N CONC [--cafile F] [--per-conn K] [--size L]
                                              load source, STARTTLS when --cafile given

DESCRIPTION
    Check commands print one line per check, "ok DESCRIPTION" or
    "FAIL DESCRIPTION", which lib.sh's py_checks counts; they exit 1 when a
    check failed. Everything talks to 127.0.0.0/8 only.

    smtp-sink dump format (Postfix 3.7): X-Client-Addr, X-Client-Proto,
    X-Helo-Args, X-Mail-Args, one X-Rcpt-Args per RCPT, a three-line
    Received header, then the message as received with CR removed and dots
    unstuffed, then one empty line.
"""
import email
import email.policy
import os
import re
import signal
import smtplib
import socket
import sys
import threading
import time

FAILED = False


def report(ok, desc):
    global FAILED
    print(("ok " if ok else "FAIL ") + desc, flush=True)
    if not ok:
        FAILED = True
    return ok


# ---------------------------------------------------------------- sink dumps

def dump_complete(path, min_age=0.3):
    """A dump is complete when smtp-sink closed it: ends with an empty line and
    has not been written to for min_age seconds."""
    try:
        st = os.stat(path)
        if time.time() - st.st_mtime < min_age or st.st_size < 2:
            return False
        with open(path, "rb") as f:
            f.seek(-2, os.SEEK_END)
            return f.read(2) == b"\n\n"
    except OSError:
        return False


def dumps(directory):
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in names
            if dump_complete(os.path.join(directory, n))]


def parse_dump(path):
    """-> dict(mail=str, rcpts=[str], message=bytes): the message as tern sent
    it (LF line ends, dots unstuffed), without smtp-sink's own headers."""
    data = open(path, "rb").read()
    lines = data.split(b"\n")
    mail, rcpts = None, []
    i = 0
    while i < len(lines) and not lines[i].startswith(b"Received: "):
        line = lines[i]
        if line.startswith(b"X-Mail-Args: "):
            mail = line[len(b"X-Mail-Args: "):].decode("latin-1")
        elif line.startswith(b"X-Rcpt-Args: "):
            rcpts.append(line[len(b"X-Rcpt-Args: "):].decode("latin-1"))
        i += 1
    # smtp-sink's Received header: the "Received:" line and two continuations
    i += 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    message = b"\n".join(lines[i:])
    if message.endswith(b"\n\n"):
        message = message[:-1]      # the empty line smtp-sink appends
    return {"mail": mail, "rcpts": rcpts, "message": message}


def strip_first_received(message):
    """-> (received header bytes or None, rest of the message)."""
    if not message.startswith(b"Received:"):
        return None, message
    lines = message.split(b"\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"\n".join(lines[:i]), b"\n".join(lines[i:])


def header_value(message, name):
    m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*)$",
                  message.split(b"\n\n", 1)[0])
    return m.group(1).decode("latin-1").strip() if m else None


def cmd_count(directory):
    print(len(dumps(directory)))
    return 0


def cmd_envelope(path):
    d = parse_dump(path)
    print("%s\t%s" % (d["mail"], " ".join(d["rcpts"])))
    return 0


def cmd_ids(directory):
    counts = {}
    for p in dumps(directory):
        tid = header_value(parse_dump(p)["message"], "X-Test-Id")
        counts[tid] = counts.get(tid, 0) + 1
    for tid, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        print(tid, n)
    return 0


# ---------------------------------------------------------------- messages

def gen_message(test_id, kib=0):
    """A message that catches a relay that rewrites: dot lines, a lone dot,
    998-octet lines, 8-bit text, trailing blanks, tabs, empty lines, long
    header continuation. CRLF line ends; no '%' (swaks tokens) and no
    backslash-n sequences."""
    lines = [
        b"Date: Tue, 24 Nov 2026 12:00:00 +0000",
        b"From: Sender <sender@snd.test>",
        b"To: rcpt@example.test",
        b"Subject: tern integration " + test_id.encode() + b" =?utf-8?q?caf=C3=A9?=",
        b"Message-ID: <" + test_id.encode() + b"@tern-it.test>",
        b"X-Test-Id: " + test_id.encode(),
        b"X-Folded: first part",
        b"\tsecond part after a tab",
        b"  third part after spaces",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        b"First line of the body.",
        b".",
        b"..",
        b".leading dot",
        b"...three dots",
        b" . space dot",
        b"trailing spaces   ",
        b"trailing tab\t",
        b"\ttab first",
        b"",
        b"",
        "8-bit: caf\u00e9 \u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9 \u2713 \u65e5\u672c".encode("utf-8"),
        b"From the start of a line (mbox would mangle this)",
        b">From quoted",
        b"Q" * 998,
        b"." + b"D" * 996,
        b"=3D not decoded =",
        b"MAIL FROM:<not-a-command@snd.test>",
        b"",
    ]
    body = b"\r\n".join(lines) + b"\r\n"
    filler = []
    n = 0
    while sum(len(x) + 2 for x in filler) < kib * 1024:
        n += 1
        filler.append(b"%06d " % n + b"abcdefghijklmnopqrstuvwxyz0123456789" * 2
                      + (b"." if n % 7 == 0 else b""))
        if n % 13 == 0:
            filler.append(b".starts with a dot %d" % n)
    if filler:
        body += b"\r\n".join(filler) + b"\r\n"
    body += b"Last line."  # no final CRLF: the submitter adds it
    return body


def cmd_gen_message(out, test_id, kib="0"):
    with open(out, "wb") as f:
        f.write(gen_message(test_id, int(kib)))
    return 0


def expected_from_file(raw):
    """What a sink should hold for a message file submitted by swaks or
    smtplib: LF line ends and a final line end (both clients add CRLF)."""
    exp = raw.replace(b"\r\n", b"\n")
    if not exp.endswith(b"\n"):
        exp += b"\n"
    return exp


def cmd_body_check(dump, expected_file, label=None):
    label = label or os.path.basename(dump)
    d = parse_dump(dump)
    received, rest = strip_first_received(d["message"])
    exp = expected_from_file(open(expected_file, "rb").read())
    report(received is not None and b"tern" in received,
           "%s: first header is tern's Received" % label)
    same = rest == exp
    if not same:
        # say where it differs
        n = next((i for i in range(min(len(rest), len(exp))) if rest[i] != exp[i]),
                 min(len(rest), len(exp)))
        print("  differs at octet %d of %d/%d: got %r want %r" % (
            n, len(rest), len(exp), rest[max(0, n - 40):n + 40], exp[max(0, n - 40):n + 40]))
    report(same, "%s: message after the Received header is unchanged (%d octets)"
           % (label, len(exp)))
    return 1 if FAILED else 0


def cmd_send(host, port, sender, rcpts, path, *opts):
    """Submit with smtplib; print the final reply (e.g. '250 2.0.0 Ok: queued as X')."""
    msg = open(path, "rb").read()
    mail_opts = ["BODY=8BITMIME"] if "8bit" in opts else []
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("python-client.test")
        code, resp = s.mail(sender, mail_opts)
        if code != 250:
            print(code, resp.decode())
            return 1
        for r in rcpts.split(","):
            code, resp = s.rcpt(r)
            if code not in (250, 251):
                print(code, resp.decode())
                return 1
        # smtplib.data() dot-stuffs and converts bare LF to CRLF; the file is CRLF already
        code, resp = s.data(msg)
        print(code, resp.decode())
        return 0 if code == 250 else 1


# ---------------------------------------------------------------- crash

def cmd_crash_submit(host, port, n, conc, pid, acked_file, kill_after=None):
    """Submit N messages over CONC concurrent connections; record each 250
    (X-Test-Id and queue ID) in ACKED; kill -9 PID right after the last 250
    (or after KILL_AFTER acks, while the others are in flight)."""
    n, conc, pid = int(n), int(conc), int(pid)
    kill_after = int(kill_after) if kill_after else None
    lock = threading.Lock()
    acked, errors = [], []
    done = [0]
    killed = [False]
    run_id = "%d-%d" % (os.getpid(), int(time.time()))

    def maybe_kill():
        # called with lock held
        if killed[0]:
            return
        if (kill_after is not None and len(acked) >= kill_after) or \
           (kill_after is None and done[0] >= n):
            os.kill(pid, signal.SIGKILL)
            killed[0] = True

    def worker(k):
        idx = list(range(k, n, conc))
        s = None
        for i in idx:
            tid = "crash-%s-%04d" % (run_id, i)
            msg = (b"From: crash@snd.test\r\nTo: sink@crash.test\r\n"
                   b"Subject: crash " + tid.encode() + b"\r\nMessage-ID: <" + tid.encode()
                   + b"@tern-it.test>\r\nX-Test-Id: " + tid.encode() + b"\r\n\r\n"
                   + b"body of " + tid.encode() + b"\r\n" + (b"x" * 98 + b"\r\n") * 20)
            try:
                with lock:
                    if killed[0]:
                        raise RuntimeError("daemon already killed")
                if s is None:
                    s = smtplib.SMTP(host, port, timeout=30)
                    s.ehlo("crash-client.test")
                code, resp = s.mail("crash@snd.test")
                if code == 250:
                    code, resp = s.rcpt("sink-%d@crash.test" % i)
                if code == 250:
                    code, resp = s.data(msg)
                with lock:
                    done[0] += 1
                    if code == 250:
                        m = re.search(rb"queued as (\S+)", resp)
                        acked.append((tid, m.group(1).decode() if m else "?"))
                    else:
                        errors.append((tid, code, resp))
                    maybe_kill()
                if code != 250:
                    try:
                        s.rset()
                    except Exception:
                        s = None
            except Exception as e:  # daemon killed under us, connection reset, ...
                with lock:
                    done[0] += 1
                    errors.append((tid, None, repr(e)))
                    maybe_kill()
                s = None
        if s is not None:
            try:
                s.quit()
            except Exception:
                pass

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conc)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with lock:
        if not killed[0]:
            os.kill(pid, signal.SIGKILL)
            killed[0] = True
    with open(acked_file, "w") as f:
        for tid, qid in acked:
            f.write("%s %s\n" % (tid, qid))
    print("submitted %d, acknowledged %d, not acknowledged %d in %.1fs"
          % (n, len(acked), len(errors), time.time() - t0))
    for e in errors[:5]:
        print("  not acknowledged:", e)
    return 0


def cmd_acked_check(acked_file, directory):
    want = [l.split()[0] for l in open(acked_file) if l.strip()]
    wanted = set(want)
    counts = {}
    for p in dumps(directory):
        tid = header_value(parse_dump(p)["message"], "X-Test-Id")
        counts[tid] = counts.get(tid, 0) + 1
    missing = [t for t in want if t not in counts]
    dups = sum(c - 1 for c in counts.values() if c > 1)
    extra = [t for t in counts if t not in wanted]
    print("acknowledged %d, delivered %d distinct, missing %d, duplicates %d, "
          "delivered but not acknowledged %d"
          % (len(want), len(wanted & set(counts)), len(missing), dups, len(extra)))
    if missing:
        print("  missing:", " ".join(missing[:10]))
    return 1 if missing else 0


# ---------------------------------------------------------------- raw SMTP

class Raw:
    """A line-level SMTP client that sends exactly the octets it is given."""

    def __init__(self, host, port, timeout=10, sock=None):
        """sock: a connected socket to use instead of connecting to host:port."""
        self.sock = sock or socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.closed = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, OSError):
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def reply(self):
        """-> 'CODE text' of one (possibly multi-line) reply, or None at EOF."""
        text = []
        while True:
            line = self._line()
            if line is None:
                return None
            text.append(line)
            if len(line) < 4 or line[3] != "-":
                return " | ".join(text) if len(text) > 1 else text[0]

    def cmd(self, line):
        self.send(line.encode("latin-1") + b"\r\n")
        return self.reply()

    def replies_until_eof(self, limit_s=5):
        out = []
        self.sock.settimeout(limit_s)
        while True:
            r = self.reply()
            if r is None:
                return out
            out.append(r)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def code(r):
    return r[:3] if r else "EOF"


def start_session(host, port):
    c = Raw(host, port)
    g = c.reply()
    if code(g) != "220":
        raise RuntimeError("greeting: %r" % g)
    e = c.cmd("EHLO client.test")
    if code(e) != "250":
        raise RuntimeError("EHLO: %r" % e)
    return c


SMUGGLE_VARIANTS = [
    ("LF.LF", b"\n.\n"),
    ("LF.CRLF", b"\n.\r\n"),
    ("CR.CR", b"\r.\r"),
    ("CRLF.LF", b"\r\n.\n"),
    ("CRLF.CR", b"\r\n.\r"),
    ("LF.CR", b"\n.\r"),
    ("CR.LF", b"\r.\n"),
    ("CR.CRLF", b"\r.\r\n"),
    ("CRLF.CRCRLF", b"\r\n.\r\r\n"),
]


def cmd_smuggle(host, port, domain):
    """Each variant: a message whose body holds VARIANT + a second envelope.
    Prints 'VARIANT<TAB>replies' lines for the shell, and checks the replies:
    the daemon answers 521 5.5.2 (bare CR/LF) and never acknowledges a second
    message."""
    for name, seq in SMUGGLE_VARIANTS:
        tag = name.replace(".", "_")
        c = start_session(host, port)
        r1 = c.cmd("MAIL FROM:<smuggler@snd.test>")
        r2 = c.cmd("RCPT TO:<victim-%s@%s>" % (tag, domain))
        r3 = c.cmd("DATA")
        if code(r3) != "354":
            report(False, "%s: session set-up (%s / %s / %s)" % (name, r1, r2, r3))
            c.close()
            continue
        body = (b"From: smuggler@snd.test\r\nSubject: smuggle " + tag.encode()
                + b"\r\nX-Test-Id: smuggle-" + tag.encode() + b"\r\n\r\nhello" + seq
                + b"MAIL FROM:<evil@snd.test>\r\nRCPT TO:<smuggled-" + tag.encode()
                + b"@" + domain.encode() + b">\r\nDATA\r\nSubject: injected\r\n"
                + b"X-Test-Id: injected-" + tag.encode() + b"\r\n\r\nevil\r\n.\r\n")
        c.send(body)
        c.send(b"QUIT\r\n")
        replies = c.replies_until_eof(5)
        c.close()
        print("  %s: %s" % (name, " / ".join(replies)))
        acks = [r for r in replies if r.startswith("250")]
        report(len(acks) <= 1, "%s: at most one message acknowledged (%d)" % (name, len(acks)))
        report(not any(r.startswith("354") for r in replies),
               "%s: the injected DATA got no 354" % name)
        report(bool(replies) and re.match(r"521 5\.5\.2 ", replies[0]) is not None
               and "bare" in replies[0],
               "%s: answered 521 5.5.2 bare <CR> or <LF> (got %s)"
               % (name, replies[0] if replies else "EOF"))

    # a bare LF in the command phase
    c = start_session(host, port)
    c.send(b"MAIL FROM:<smuggler@snd.test>\nRCPT TO:<cmd-smuggled@" + domain.encode() + b">\r\n")
    replies = c.replies_until_eof(5)
    c.close()
    report(bool(replies) and replies[0].startswith("521"),
           "bare LF in a command line: 521 and close (got %s)" % " / ".join(replies or ["EOF"]))
    c = start_session(host, port)
    c.send(b"NOOP\rRSET\r\n")
    replies = c.replies_until_eof(5)
    c.close()
    report(bool(replies) and replies[0].startswith("521"),
           "bare CR in a command line: 521 and close (got %s)" % " / ".join(replies or ["EOF"]))
    return 1 if FAILED else 0


def cmd_limits(host, port, domain, rcpt_limit, size_limit):
    rcpt_limit, size_limit = int(rcpt_limit), int(size_limit)

    # command line longer than 512 octets
    c = start_session(host, port)
    r = c.cmd("MAIL FROM:<" + "a" * 600 + "@snd.test>")
    report(re.match(r"500 5\.5\.2", r or "") is not None,
           "command line of 620 octets: 500 5.5.2 (got %s)" % r)
    r = c.cmd("NOOP")
    report(code(r) == "250", "session still usable after the long command (got %s)" % r)
    c.cmd("QUIT")
    c.close()

    # a command of exactly 512 octets including CRLF is fine
    c = start_session(host, port)
    local = "b" * (512 - len("MAIL FROM:<@snd.test>\r\n"))
    r = c.cmd("MAIL FROM:<%s@snd.test>" % local)
    report(code(r) != "500", "command line of exactly 512 octets is not 'too long' (got %s)" % r)
    c.cmd("QUIT")
    c.close()

    # text line longer than 1000 octets
    c = start_session(host, port)
    c.cmd("MAIL FROM:<limits@snd.test>")
    c.cmd("RCPT TO:<longline@%s>" % domain)
    r = c.cmd("DATA")
    if code(r) == "354":
        c.send(b"Subject: long line\r\nX-Test-Id: limits-longline\r\n\r\n" + b"L" * 1500
               + b"\r\nafter\r\n.\r\n")
        r = c.reply()
        report(re.match(r"500 5\.5\.2", r or "") is not None,
               "text line of 1502 octets: 500 5.5.2 at end of data (got %s)" % r)
    else:
        report(False, "text line test: DATA got %s" % r)
    c.close()

    # a text line of exactly 1000 octets including CRLF is fine
    c = start_session(host, port)
    c.cmd("MAIL FROM:<limits@snd.test>")
    c.cmd("RCPT TO:<line1000@%s>" % domain)
    r = c.cmd("DATA")
    if code(r) == "354":
        c.send(b"Subject: 998\r\nX-Test-Id: limits-line1000\r\n\r\n" + b"M" * 998 + b"\r\n.\r\n")
        r = c.reply()
        report(code(r) == "250", "text line of exactly 1000 octets is accepted (got %s)" % r)
    else:
        report(False, "1000-octet line test: DATA got %s" % r)
    c.cmd("QUIT")
    c.close()

    # a 998-octet content line that starts with a dot is 999 octets + CRLF
    # once dot-stuffed: the limit applies to the line, not to the stuffing
    c = start_session(host, port)
    c.cmd("MAIL FROM:<limits@snd.test>")
    c.cmd("RCPT TO:<dotline@%s>" % domain)
    r = c.cmd("DATA")
    if code(r) == "354":
        c.send(b"Subject: dot 998\r\nX-Test-Id: limits-dotline\r\n\r\n.." + b"N" * 997
               + b"\r\n.\r\n")
        r = c.reply()
        report(code(r) == "250",
               "998-octet line starting with a dot (1001 octets stuffed) is accepted (got %s)" % r)
    else:
        report(False, "dot line test: DATA got %s" % r)
    c.cmd("QUIT")
    c.close()

    # too many recipients
    c = start_session(host, port)
    c.cmd("MAIL FROM:<limits@snd.test>")
    codes = [c.cmd("RCPT TO:<many%d@%s>" % (i, domain)) for i in range(rcpt_limit + 2)]
    report(all(code(r) == "250" for r in codes[:rcpt_limit]),
           "the first %d recipients are accepted" % rcpt_limit)
    over = codes[rcpt_limit]
    report(re.match(r"452 4\.5\.3", over or "") is not None,
           "recipient %d: 452 4.5.3 (got %s)" % (rcpt_limit + 1, over))
    c.cmd("QUIT")
    c.close()

    # oversize, announced with SIZE=
    c = start_session(host, port)
    r = c.cmd("MAIL FROM:<limits@snd.test> SIZE=%d" % (size_limit * 2))
    report(re.match(r"552 5\.3\.4", r or "") is not None,
           "MAIL SIZE=%d over message_size_limit: 552 5.3.4 (got %s)" % (size_limit * 2, r))
    c.cmd("QUIT")
    c.close()

    # oversize, not announced
    c = start_session(host, port)
    c.cmd("MAIL FROM:<limits@snd.test>")
    c.cmd("RCPT TO:<big@%s>" % domain)
    r = c.cmd("DATA")
    if code(r) == "354":
        line = b"B" * 78 + b"\r\n"
        c.send(b"Subject: big\r\nX-Test-Id: limits-big\r\n\r\n"
               + line * (size_limit * 2 // len(line)) + b".\r\n")
        r = c.reply()
        report(re.match(r"552 5\.3\.4", r or "") is not None,
               "message of %d octets over message_size_limit: 552 5.3.4 (got %s)"
               % (size_limit * 2, r))
    else:
        report(False, "oversize test: DATA got %s" % r)
    c.close()
    return 1 if FAILED else 0


# (form, strict): strict forms are those the issue names, and must get
# exactly 554 5.7.1; the others must be refused with some 5xx.
RELAY_FORMS = [
    ("<u@ext.test>", True),
    ("<\"u@ext.test\">", True),
    ("<u%ext.test@{relay}>", True),
    ("<@{relay}:u@ext.test>", True),
    ("<u!ext.test@{relay}>", True),
    ("<\"u@ext.test\"@{relay}>", True),
    ("<u@ext.test@{relay}>", False),
    ("<@{relay},@other.test:u@ext.test>", False),
    ("<U%EXT.TEST@{relay_upper}>", True),
]


def cmd_relay_forms(host, port, relay):
    for form, strict in RELAY_FORMS:
        addr = form.format(relay=relay, relay_upper=relay.upper())
        c = start_session(host, port)
        c.cmd("MAIL FROM:<outsider@snd.test>")
        r = c.cmd("RCPT TO:" + addr)
        c.cmd("QUIT")
        c.close()
        if strict:
            report(re.match(r"554 5\.7\.1 .*Relay access denied", r or "") is not None,
                   "RCPT TO:%s from outside mynetworks: 554 5.7.1 Relay access denied (got %s)"
                   % (addr, r))
        else:
            report((r or "").startswith("5"),
                   "RCPT TO:%s from outside mynetworks: refused with 5xx (got %s)" % (addr, r))
    c = start_session(host, port)
    c.cmd("MAIL FROM:<outsider@snd.test>")
    r = c.cmd("RCPT TO:<u@%s>" % relay)
    c.cmd("QUIT")
    c.close()
    report(code(r) == "250", "RCPT TO:<u@%s> (a relay_domains member) is accepted (got %s)"
           % (relay, r))
    return 1 if FAILED else 0


# ---------------------------------------------------------------- DSN

def cmd_dsn_check(path, sender, failed_rcpt):
    d = parse_dump(path)
    report(d["mail"] is not None and d["mail"].split()[0] == "<>",
           "bounce has the null sender MAIL FROM:<> (got %s)" % d["mail"])
    report(any(r.split()[0].lower() == "<%s>" % sender.lower() for r in d["rcpts"]),
           "bounce goes to the sender <%s> (got %s)" % (sender, d["rcpts"]))
    _, rest = strip_first_received(d["message"])
    msg = email.message_from_bytes(rest, policy=email.policy.compat32)
    ct = " ".join(msg.get("Content-Type", "").split())
    report(msg.get_content_type() == "multipart/report"
           and msg.get_param("report-type") == "delivery-status",
           "Content-Type multipart/report; report-type=delivery-status (got %s)" % ct)
    parts = msg.get_payload() if msg.is_multipart() else []
    types = [p.get_content_type() for p in parts]
    report("message/delivery-status" in types,
           "has a message/delivery-status part (parts: %s)" % types)
    status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    text = b""
    if status is not None:
        text = status.as_bytes() if hasattr(status, "as_bytes") else str(status).encode()
    report(re.search(rb"(?im)^Final-Recipient:\s*rfc822;\s*<?" + re.escape(failed_rcpt.encode())
                     + rb">?\s*$", text) is not None,
           "delivery-status names Final-Recipient: rfc822; %s" % failed_rcpt)
    report(re.search(rb"(?im)^Action:\s*failed", text) is not None, "Action: failed")
    report(re.search(rb"(?im)^Status:\s*5\.\d+\.\d+", text) is not None, "Status: 5.x.x")
    if not msg.get("Auto-Submitted", "").startswith("auto-replied"):
        print("note: no Auto-Submitted: auto-replied header (RFC 3834 recommends it)")
    return 1 if FAILED else 0


# ---------------------------------------------------------------- DNS

def _dns_name(msg, off):
    labels, jumped, end = [], False, None
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("latin-1"))
        off += n
    return ".".join(labels) + ".", (end if jumped else off)


def cmd_dns_query(server, port, name, qtype):
    """Ask SERVER:PORT over UDP; print 'rcode=N' and one line per answer
    ('MX 10 mx.dom1.test.', 'A 127.0.0.2'). Proves the DNS peer works."""
    types = {"A": 1, "MX": 15, "AAAA": 28}
    qid = os.getpid() & 0xFFFF
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + types[qtype].to_bytes(2, "big") + b"\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(q, (server, int(port)))
    msg, _ = s.recvfrom(4096)
    rcode = msg[3] & 0x0F
    an = int.from_bytes(msg[6:8], "big")
    print("rcode=%d" % rcode)
    off = 12
    _, off = _dns_name(msg, off)
    off += 4
    for _ in range(an):
        _, off = _dns_name(msg, off)
        rtype = int.from_bytes(msg[off:off + 2], "big")
        rdlen = int.from_bytes(msg[off + 8:off + 10], "big")
        rdata = msg[off + 10:off + 10 + rdlen]
        if rtype == 1:
            print("A " + socket.inet_ntoa(rdata))
        elif rtype == 15:
            print("MX %d %s" % (int.from_bytes(rdata[:2], "big"), _dns_name(msg, off + 12)[0]))
        else:
            print("TYPE%d %s" % (rtype, rdata.hex()))
        off += 10 + rdlen
    return 0


# ---------------------------------------------------------------- TLS peers
# (added for the TLS tests, test_tls_*.sh)

import json
import ssl
import subprocess


def _opts(args, spec):
    """Tiny option parser: spec {"--name": default}; flags have default False."""
    out = dict((k.lstrip("-").replace("-", "_"), v) for k, v in spec.items())
    rest = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in spec:
            key = a.lstrip("-").replace("-", "_")
            if spec[a] is False:
                out[key] = True
            else:
                out[key] = args[i + 1]
                i += 1
        else:
            rest.append(a)
        i += 1
    return out, rest


class SinkLog:
    """JSON lines, one per event, flushed at once (the shell polls the file)."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, **ev):
        ev["t"] = round(time.time(), 3)
        with self.lock:
            self.f.write(json.dumps(ev, sort_keys=True) + "\n")
            self.f.flush()


class SinkConn:
    """One SMTP server session of the python sink. Modes: tls (offers and
    does STARTTLS), notls (no STARTTLS; the command gets 502), hangup (offers
    STARTTLS, closes the socket right after its 220), garbage (offers
    STARTTLS, answers the ClientHello with octets that are not TLS), hello
    (offers STARTTLS, logs what the ClientHello offers as a "hello" event,
    answers with a handshake_failure alert)."""

    def __init__(self, srv, sock, n):
        self.srv, self.sock, self.n = srv, sock, n
        self.buf = b""
        self.tls = False
        self.sni = None

    def log(self, **ev):
        self.srv.log(c=self.n, **ev)

    def send(self, text):
        self.sock.sendall(text.encode("latin-1") + b"\r\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def starttls(self):
        mode = self.srv.mode
        if mode == "notls" or self.tls:
            self.send("502 5.5.2 Error: command not recognized" if not self.tls
                      else "503 5.5.1 Error: TLS already active")
            return True
        if self.buf:
            self.log(ev="plaintext-after-starttls", octets=len(self.buf))
        self.buf = b""
        self.send("220 2.0.0 Ready to start TLS")
        if mode == "hangup":
            self.log(ev="tls-fail", why="hangup after 220")
            return False
        if mode == "garbage":
            try:
                self.sock.recv(4096)
                self.sock.sendall(b"this is not TLS at all\r\n" * 4)
            except OSError:
                pass
            self.log(ev="tls-fail", why="garbage after 220")
            return False
        if mode == "hello":
            hello = read_client_hello(self.sock)
            if hello:
                self.log(ev="hello", suites=["%04x" % x for x in hello["suites"]],
                         legacy_version="%04x" % hello["legacy_version"],
                         versions=["%04x" % x for x in hello["versions"]])
            try:
                self.sock.sendall(b"\x15\x03\x03\x00\x02\x02\x28")   # fatal handshake_failure
            except OSError:
                pass
            self.log(ev="tls-fail", why="hello mode: refused with handshake_failure")
            return False
        try:
            s = self.srv.ctx.wrap_socket(self.sock, server_side=True,
                                         do_handshake_on_connect=False)
            s.settimeout(30)
            s.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.log(ev="tls-fail", why=str(e))
            return False
        self.sock = s
        self.tls = True
        self.sni = getattr(s, "sni_name", None)
        peer = s.getpeercert()
        self.log(ev="tls", version=s.version(), cipher=s.cipher()[0], reused=s.session_reused,
                 sni=self.sni, peer_cert=bool(peer),
                 peer_cn=dict(x[0] for x in peer.get("subject", ())).get("commonName")
                 if peer else None)
        return True

    def ehlo_reply(self, arg):
        ext = ["PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES"]
        if self.srv.mode != "notls" and not self.tls:
            ext.append("STARTTLS")
        lines = [self.srv.name] + ext
        return "\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                           for i, l in enumerate(lines))

    def run(self):
        self.log(ev="connect", peer="%s:%d" % self.sock.getpeername()[:2])
        self.send("220 %s ESMTP tern-it sink" % self.srv.name)
        mail, rcpts = None, []
        while True:
            raw = self.line()
            if raw is None:
                self.log(ev="eof")
                return
            text = raw.decode("latin-1")
            verb = text.split(" ", 1)[0].upper()
            self.log(ev="cmd", line=text, tls=self.tls, verb=verb)
            if verb in ("EHLO", "HELO"):
                mail, rcpts = None, []
                self.send(self.ehlo_reply(text) if verb == "EHLO" else "250 " + self.srv.name)
            elif verb == "STARTTLS":
                if not self.starttls():
                    return
                mail, rcpts = None, []
            elif verb == "MAIL":
                mail, rcpts = text[5:].strip(), []
                self.send("250 2.1.0 Ok")
            elif verb == "RCPT":
                if mail is None:
                    self.send("503 5.5.1 Error: need MAIL command")
                else:
                    rcpts.append(text[5:].strip())
                    self.send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self.send("503 5.5.1 Error: need RCPT command")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    l = self.line()
                    if l is None:
                        self.log(ev="eof-in-data")
                        return
                    if l == b".":
                        break
                    data.append(l[1:] if l.startswith(b".") else l)
                name = self.srv.store(b"\n".join(data) + b"\n")
                self.log(ev="message", file=name, tls=self.tls, mail=mail, rcpts=rcpts,
                         octets=sum(len(x) + 1 for x in data))
                self.send("250 2.0.0 Ok: queued as %s" % os.path.basename(name))
                mail, rcpts = None, []
            elif verb == "RSET":
                mail, rcpts = None, []
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                self.log(ev="quit")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")


class Sink:
    def __init__(self, o):
        self.dir = o["dir"]
        self.mode = o["mode"]
        self.name = o["name"]
        self.log = SinkLog(os.path.join(self.dir, "log"))
        self.lock = threading.Lock()
        self.nconn = 0
        self.nmsg = len([n for n in os.listdir(self.dir) if n.startswith("msg-")])
        self.ctx = None
        if o["cert"]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(o["cert"], o["key"])
            if o["ca"]:
                ctx.load_verify_locations(o["ca"])
                ctx.verify_mode = ssl.CERT_OPTIONAL
            def sni_cb(sslsock, name, _ctx):
                sslsock.sni_name = name   # read back after the handshake
            ctx.sni_callback = sni_cb
            if o["max_tls"] == "1.2":
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            self.ctx = ctx
        elif self.mode not in ("notls", "hangup", "garbage", "hello"):
            raise SystemExit("tls-sink: --mode %s needs --cert and --key" % self.mode)

    def store(self, data):
        with self.lock:
            self.nmsg += 1
            name = os.path.join(self.dir, "msg-%05d" % self.nmsg)
        with open(name + ".tmp", "wb") as f:
            f.write(data)
        os.rename(name + ".tmp", name)
        return name

    def serve(self, host, port):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(64)
        self.log(ev="listen", addr="%s:%d" % (host, port), mode=self.mode)
        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
        while True:
            s, _ = ls.accept()
            s.settimeout(120)
            with self.lock:
                self.nconn += 1
                n = self.nconn
            threading.Thread(target=self._conn, args=(s, n), daemon=True).start()

    def _conn(self, s, n):
        c = SinkConn(self, s, n)
        try:
            c.run()
        except (OSError, ssl.SSLError) as e:
            c.log(ev="error", why=str(e))
        finally:
            try:
                c.sock.close()
            except OSError:
                pass


def cmd_tls_sink(*args):
    """tls-sink --listen HOST:PORT --dir DIR [--cert F --key F] [--ca F]
    [--mode tls|notls|hangup|garbage] [--name NAME] [--max-tls 1.2]"""
    o, _ = _opts(list(args), {"--listen": None, "--dir": None, "--cert": None, "--key": None,
                              "--ca": None, "--mode": "tls", "--name": "sink.tern-it.test",
                              "--max-tls": None})
    host, port = o["listen"].rsplit(":", 1)
    os.makedirs(o["dir"], exist_ok=True)
    Sink(o).serve(host, int(port))
    return 0


def sink_events(directory):
    evs = []
    try:
        with open(os.path.join(directory, "log")) as f:
            for l in f:
                try:
                    evs.append(json.loads(l))
                except ValueError:
                    pass   # a line being written
    except FileNotFoundError:
        pass
    return evs


SINK_QUERIES = {
    "connects": lambda e: e["ev"] == "connect",
    "messages": lambda e: e["ev"] == "message",
    "tls-messages": lambda e: e["ev"] == "message" and e["tls"],
    "plain-messages": lambda e: e["ev"] == "message" and not e["tls"],
    "mail-cmds": lambda e: e["ev"] == "cmd" and e["verb"] == "MAIL",
    "plain-mail-cmds": lambda e: e["ev"] == "cmd" and e["verb"] == "MAIL" and not e["tls"],
    "plain-data-cmds": lambda e: e["ev"] == "cmd" and e["verb"] in ("RCPT", "DATA")
    and not e["tls"],
    "starttls-cmds": lambda e: e["ev"] == "cmd" and e["verb"] == "STARTTLS",
    "quits": lambda e: e["ev"] == "cmd" and e["verb"] == "QUIT",
    "tls": lambda e: e["ev"] == "tls",
    "tls-full": lambda e: e["ev"] == "tls" and not e["reused"],
    "tls-resumed": lambda e: e["ev"] == "tls" and e["reused"],
    "tls-fail": lambda e: e["ev"] == "tls-fail",
    "tls-client-cert": lambda e: e["ev"] == "tls" and e["peer_cert"],
}


def cmd_sink_query(directory, what, since=None):
    """Print a count of events in the sink's log (SINK_QUERIES), counting only
    events after line SINCE when given; 'lines' prints the number of log
    lines; 'show' prints the log; 'sni' prints the SNI names seen."""
    evs = sink_events(directory)
    if what == "lines":
        print(len(evs))
        return 0
    if since:
        evs = evs[int(since):]
    if what == "show":
        for e in evs:
            print(json.dumps(e, sort_keys=True))
        return 0
    if what == "sni":
        print(" ".join(sorted(set(str(e.get("sni")) for e in evs if e["ev"] == "tls"))))
        return 0
    if what not in SINK_QUERIES:
        print("sink-query: unknown query %s" % what, file=sys.stderr)
        return 2
    print(sum(1 for e in evs if SINK_QUERIES[what](e)))
    return 0


# ---------------------------------------------------------------- TLS clients

def client_ctx(cafile, cert=None, key=None, hostname_check=True):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = hostname_check
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def cmd_tls_send(host, port, sender, rcpts, path, cafile, mode="starttls", *opts):
    """Submit FILE with smtplib over STARTTLS (mode starttls) or implicit TLS
    (mode smtps), verifying the server against CAFILE; print the final reply
    and the negotiated protocol."""
    msg = open(path, "rb").read()
    ctx = client_ctx(cafile)
    if "cert" in opts:
        i = opts.index("cert")
        ctx.load_cert_chain(opts[i + 1], opts[i + 2])
    if mode == "smtps":
        s = smtplib.SMTP_SSL(host, int(port), timeout=30, context=ctx)
    else:
        s = smtplib.SMTP(host, int(port), timeout=30)
    with s:
        s.ehlo("python-tls-client.test")
        if mode != "smtps":
            if not s.has_extn("starttls"):
                print("no STARTTLS in the EHLO reply")
                return 1
            code_, resp = s.starttls(context=ctx)
            if code_ != 220:
                print(code_, resp.decode())
                return 1
            s.ehlo("python-tls-client.test")
            if s.has_extn("starttls"):
                print("STARTTLS offered again inside TLS")
                return 1
        print("tls", s.sock.version(), s.sock.cipher()[0])
        code_, resp = s.mail(sender, ["BODY=8BITMIME"])
        if code_ != 250:
            print(code_, resp.decode())
            return 1
        for r in rcpts.split(","):
            code_, resp = s.rcpt(r)
            if code_ not in (250, 251):
                print(code_, resp.decode())
                return 1
        code_, resp = s.data(msg)
        print(code_, resp.decode())
        return 0 if code_ == 250 else 1


class TlsRaw(Raw):
    """Raw, switched to TLS on the same socket (CA-verified, SNI localhost)."""

    def wrap(self, cafile, server_hostname="localhost"):
        ctx = client_ctx(cafile)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock


def cmd_tls_inject(host, port, cafile, rcpt_domain):
    """Check 2, first half: STARTTLS command injection (CVE-2011-0411) and
    the SMTP state after STARTTLS."""
    c = TlsRaw(host, port)
    g = c.reply()
    report(code(g) == "220", "greeting 220 (got %s)" % g)
    # all three commands in one write
    c.send(b"EHLO x\r\nSTARTTLS\r\nNOOP\r\n")
    e = c.reply()
    report(code(e) == "250" and "STARTTLS" in (e or "").upper(),
           "EHLO reply offers STARTTLS (got %s)" % e)
    r = c.reply()
    report(code(r) == "220", "STARTTLS gets 220 (got %s)" % r)
    # nothing else may follow in the clear: no reply to the NOOP before the handshake
    c.sock.settimeout(1.0)
    leftover = c.buf
    if not leftover:
        try:
            c.sock.setblocking(False)
            leftover = c.sock.recv(4096)
        except (BlockingIOError, OSError):
            leftover = b""
        finally:
            c.sock.setblocking(True)
    report(leftover == b"", "no plaintext reply after the 220 (got %r)" % leftover)
    c.buf = b""
    try:
        c.wrap(cafile)
    except (ssl.SSLError, OSError) as ex:
        report(False, "TLS handshake after the injected STARTTLS: %s" % ex)
        return 1
    report(True, "TLS handshake completes (%s)" % c.sock.version())
    # inside TLS, before we say anything: no 250 for the injected NOOP may arrive
    c.sock.settimeout(1.5)
    try:
        early = c.sock.recv(4096)
        early = early if early else b"<EOF>"
    except (socket.timeout, ssl.SSLError, OSError) as ex:
        early = b"" if isinstance(ex, (socket.timeout, TimeoutError)) else \
            ("<%s>" % ex).encode()
    report(early == b"", "no reply to the injected NOOP inside TLS (got %r)" % early)
    c.sock.settimeout(10)
    r = c.cmd("MAIL FROM:<inject@snd.test>")
    report(code(r) == "503", "MAIL right after the handshake: 503, a new EHLO is required (got %s)"
           % r)
    e = c.cmd("EHLO x")
    report(code(e) == "250", "EHLO inside TLS: 250 (got %s)" % e)
    report("STARTTLS" not in (e or "").upper(), "STARTTLS no longer offered inside TLS (got %s)" % e)
    r = c.cmd("STARTTLS")
    report(code(r) == "503", "second STARTTLS inside TLS: 503 (got %s)" % r)
    r = c.cmd("NOOP")
    report(code(r) == "250", "the session goes on after the 503: NOOP 250 (got %s)" % r)
    r = c.cmd("MAIL FROM:<inject@snd.test>")
    report(code(r) == "250", "MAIL after the new EHLO: 250 (got %s)" % r)
    c.cmd("QUIT")
    c.close()

    # the same with a whole transaction injected behind STARTTLS
    c = TlsRaw(host, port)
    c.reply()
    c.send(b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@snd.test>\r\nRCPT TO:<evil@"
           + rcpt_domain.encode() + b">\r\n")
    c.reply()
    r = c.reply()
    report(code(r) == "220", "second session: STARTTLS gets 220 (got %s)" % r)
    c.buf = b""
    try:
        c.wrap(cafile)
        c.sock.settimeout(1.5)
        try:
            early = c.sock.recv(4096) or b"<EOF>"
        except (socket.timeout, TimeoutError):
            early = b""
        report(early == b"", "injected MAIL/RCPT get no reply inside TLS (got %r)" % early)
        c.sock.settimeout(10)
        c.cmd("EHLO x")
        r = c.cmd("DATA")
        report(code(r) == "503", "DATA inside TLS: 503, the injected MAIL/RCPT were dropped (got %s)"
               % r)
        c.cmd("QUIT")
    except (ssl.SSLError, OSError) as ex:
        report(False, "second session TLS: %s" % ex)
    c.close()
    return 1 if FAILED else 0


def cmd_tls_encrypt_required(host, port, cafile, rcpt):
    """Check 2, second half: with smtpd_tls_security_level = encrypt, MAIL
    before STARTTLS gets 530; after STARTTLS it is accepted."""
    c = TlsRaw(host, port)
    c.reply()
    e = c.cmd("EHLO x")
    report("STARTTLS" in (e or "").upper(), "encrypt: EHLO offers STARTTLS (got %s)" % e)
    r = c.cmd("MAIL FROM:<plain@snd.test>")
    report(re.match(r"530 5\.7\.0", r or "") is not None,
           "encrypt: MAIL before STARTTLS gets 530 5.7.0 (got %s)" % r)
    r = c.cmd("RCPT TO:<%s>" % rcpt)
    report((r or "5")[0] in "5", "encrypt: RCPT before STARTTLS is refused (got %s)" % r)
    r = c.cmd("STARTTLS")
    report(code(r) == "220", "encrypt: STARTTLS 220 (got %s)" % r)
    c.buf = b""
    try:
        c.wrap(cafile)
    except (ssl.SSLError, OSError) as ex:
        report(False, "encrypt: handshake: %s" % ex)
        return 1
    c.sock.settimeout(10)
    c.cmd("EHLO x")
    r = c.cmd("MAIL FROM:<tls@snd.test>")
    report(code(r) == "250", "encrypt: MAIL after STARTTLS gets 250 (got %s)" % r)
    c.cmd("QUIT")
    c.close()
    return 1 if FAILED else 0


# ---------------------------------------------------------------- openssl s_server peer

def _die_with_parent():
    """In a child: SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG), so
    no s_server outlives a bridge that was killed with SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class SServerBridge:
    """An SMTP peer whose TLS is done by `openssl s_server`: a plaintext SMTP
    front on PORT offers STARTTLS; after its 220 the TCP stream is spliced to
    a private `openssl s_server` (one process, serving connections one after
    another, so its session cache and ticket keys live across connections),
    and the SMTP dialogue inside TLS is driven through s_server's stdin and
    stdout. s_server's own output (CIPHER is ..., Reused session-ID) goes to
    DIR/s_server.log: that is the peer's log the tests read."""

    VERBS = ("EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "STARTTLS")

    def __init__(self, directory, cert, key, inner, s_server_opts=()):
        self.dir = directory
        self.log = SinkLog(os.path.join(directory, "log"))
        self.slog = open(os.path.join(directory, "s_server.log"), "ab", buffering=0)
        self.inner = inner
        self.lock = threading.Lock()   # one TLS connection at a time
        self.nmsg = 0
        self.proc = subprocess.Popen(
            # stdbuf: s_server's own lines (DONE, ACCEPT) go through stdio,
            # block-buffered on a pipe; the bridge needs them as they happen
            ["stdbuf", "-oL", "openssl", "s_server", "-accept", "127.0.0.1:%d" % self.inner, "-cert", cert,
             "-key", key, "-ign_eof"] + list(s_server_opts),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
            preexec_fn=_die_with_parent)
        self.out = self.proc.stdout

    def readline(self):
        line = b""
        while not line.endswith(b"\n"):
            ch = self.out.read(1)
            if not ch:
                return None
            line += ch
        self.slog.write(line)
        return line.rstrip(b"\r\n")

    def until_accept(self):
        """Read s_server's output up to its ACCEPT line (printed once, when it listens)."""
        while True:
            l = self.readline()
            if l is None or l.startswith(b"ACCEPT"):
                return

    def reply(self, text):
        self.proc.stdin.write(text.encode() + b"\r\n")
        self.proc.stdin.flush()

    def splice(self, a, b, done):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            done.set()
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def tls_session(self, front, n):
        """Splice FRONT to s_server and speak SMTP through it until QUIT/EOF."""
        back = socket.create_connection(("127.0.0.1", self.inner), timeout=10)
        done = threading.Event()
        threading.Thread(target=self.splice, args=(front, back, done), daemon=True).start()
        threading.Thread(target=self.splice, args=(back, front, done), daemon=True).start()
        info = {"reused": False, "cipher": None, "protocol": None}
        mail, rcpts, data, indata = None, [], [], False
        while True:
            l = self.readline()
            if l is None:
                return
            text = l.decode("latin-1")
            if indata:
                if text == ".":
                    self.nmsg += 1
                    name = os.path.join(self.dir, "msg-%05d" % self.nmsg)
                    with open(name, "wb") as f:
                        f.write("\n".join(data).encode("latin-1") + b"\n")
                    self.log(c=n, ev="message", file=name, tls=True, mail=mail, rcpts=rcpts)
                    self.reply("250 2.0.0 Ok: queued as s_server-%d" % self.nmsg)
                    mail, rcpts, data, indata = None, [], [], False
                else:
                    data.append(text[1:] if text.startswith(".") else text)
                continue
            if text.startswith("CIPHER is "):
                info["cipher"] = text[10:]
            elif text.lower().startswith("reused session-id"):
                info["reused"] = True
            elif text.startswith("Secure Renegotiation"):
                self.log(c=n, ev="tls", version=None, cipher=info["cipher"],
                         reused=info["reused"], sni=None, peer_cert=False, peer_cn=None)
            elif text.startswith("CONNECTION CLOSED"):
                # s_server's last line for a connection (after DONE or ERROR
                # and "shutting down SSL"); it then accepts the next one
                self.log(c=n, ev="eof")
                done.wait(5)
                return
            elif text.startswith("ERROR"):
                self.log(c=n, ev="tls-fail" if info["cipher"] is None else "error", why=text)
            verb = text.split(" ", 1)[0].upper()
            if verb not in self.VERBS:
                continue
            self.log(c=n, ev="cmd", line=text, tls=True, verb=verb)
            if verb == "EHLO":
                self.reply("250-s-server.tern-it.test\r\n250-PIPELINING\r\n250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 s-server.tern-it.test")
            elif verb == "MAIL":
                mail, rcpts = text[5:].strip(), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(text[5:].strip())
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                indata = True
                self.reply("354 go ahead")
            elif verb in ("RSET", "NOOP"):
                mail, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "STARTTLS":
                self.reply("503 5.5.1 TLS already active")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")   # the session ends at CONNECTION CLOSED

    def front(self, s, n):
        c = SinkConn(self, s, n)   # for line() and send() only
        c.srv = self
        self.log(c=n, ev="connect", peer="%s:%d" % s.getpeername()[:2])
        c.send("220 s-server-front.tern-it.test ESMTP")
        while True:
            raw = c.line()
            if raw is None:
                return
            text = raw.decode("latin-1")
            verb = text.split(" ", 1)[0].upper()
            self.log(c=n, ev="cmd", line=text, tls=False, verb=verb)
            if verb == "EHLO":
                c.send("250-s-server-front.tern-it.test\r\n250-PIPELINING\r\n250 STARTTLS")
            elif verb == "STARTTLS":
                c.send("220 2.0.0 Ready to start TLS")
                with self.lock:
                    self.tls_session(s, n)
                return
            elif verb == "QUIT":
                c.send("221 2.0.0 Bye")
                return
            elif verb == "NOOP" or verb == "RSET":
                c.send("250 2.0.0 Ok")
            else:
                c.send("530 5.7.0 Must issue a STARTTLS command first")

    def serve(self, port):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(16)

        def bye(*a):
            self.proc.kill()
            os._exit(0)
        signal.signal(signal.SIGTERM, bye)
        self.until_accept()
        n = 0
        while True:
            s, _ = ls.accept()
            s.settimeout(60)
            n += 1
            threading.Thread(target=self._front, args=(s, n), daemon=True).start()

    def _front(self, s, n):
        try:
            self.front(s, n)
        except OSError as e:
            self.log(c=n, ev="error", why=str(e))
        finally:
            try:
                s.close()
            except OSError:
                pass


def cmd_sserver_sink(directory, port, inner, cert, key, *s_server_opts):
    """sserver-sink DIR PORT INNER CERT KEY [S_SERVER_OPTION...]: the openssl
    s_server peer (SServerBridge): SMTP front on PORT, s_server itself on
    INNER; further arguments go to s_server (e.g. -tls1_1, -cipher LIST)."""
    os.makedirs(directory, exist_ok=True)
    SServerBridge(directory, cert, key, int(inner), list(s_server_opts)).serve(int(port))
    return 0


# ---------------------------------------------------------------- hand-made ClientHello

TLS_VERSIONS = {"1.0": 0x0301, "1.1": 0x0302, "1.2": 0x0303}


def client_hello(suites, version):
    """A TLS ClientHello record offering exactly SUITES (a list of ints) at
    VERSION, with the extensions an ECDHE suite needs (groups, point formats,
    signature algorithms) and nothing that would let a server pick TLS 1.3."""
    def ext(kind, body):
        return kind.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body

    groups = b"".join(g.to_bytes(2, "big") for g in (0x001d, 0x0017, 0x0018))
    sigalgs = b"".join(a.to_bytes(2, "big") for a in (0x0403, 0x0804, 0x0401, 0x0203, 0x0201))
    exts = (ext(0x000a, len(groups).to_bytes(2, "big") + groups) + ext(0x000b, b"\x01\x00")
            + ext(0x000d, len(sigalgs).to_bytes(2, "big") + sigalgs)
            + ext(0xff01, b"\x00"))
    cs = b"".join(x.to_bytes(2, "big") for x in suites)
    body = (version.to_bytes(2, "big") + os.urandom(32) + b"\x00" + len(cs).to_bytes(2, "big")
            + cs + b"\x01\x00" + len(exts).to_bytes(2, "big") + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def server_answer(sock, limit_s=10):
    """-> ("hello", suite), ("alert", description) or ("closed", None) for the
    first thing the server says after a ClientHello."""
    sock.settimeout(limit_s)
    buf = b""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        if len(buf) >= 5:
            kind, n = buf[0], int.from_bytes(buf[3:5], "big")
            if len(buf) >= 5 + n:
                rec = buf[5:5 + n]
                if kind == 21 and n >= 2:
                    return ("alert", rec[1])
                if kind == 22 and n >= 4 and rec[0] == 2:
                    # ServerHello: version(2) random(32) session_id(1+len) suite(2)
                    sid = rec[4 + 34]
                    at = 4 + 35 + sid
                    return ("hello", int.from_bytes(rec[at:at + 2], "big"))
                return ("other", kind)
        try:
            chunk = sock.recv(4096)
        except (socket.timeout, OSError):
            chunk = b""
        if not chunk:
            return ("closed", None)
        buf += chunk
    return ("timeout", None)


def read_client_hello(sock, limit_s=10):
    """-> {"legacy_version", "suites", "versions"} of the ClientHello that
    arrives on SOCK (one record), or None."""
    sock.settimeout(limit_s)
    buf = b""
    while len(buf) < 5 or len(buf) < 5 + int.from_bytes(buf[3:5], "big"):
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
    rec = buf[5:5 + int.from_bytes(buf[3:5], "big")]
    if buf[0] != 22 or len(rec) < 4 + 35 or rec[0] != 1:
        return None
    p = 4
    legacy = int.from_bytes(rec[p:p + 2], "big")
    p += 34
    p += 1 + rec[p]
    n = int.from_bytes(rec[p:p + 2], "big")
    p += 2
    suites = [int.from_bytes(rec[p + i:p + i + 2], "big") for i in range(0, n, 2)]
    p += n
    p += 1 + rec[p]
    versions = []
    if p + 2 <= len(rec):
        end = min(len(rec), p + 2 + int.from_bytes(rec[p:p + 2], "big"))
        p += 2
        while p + 4 <= end:
            kind, ln = int.from_bytes(rec[p:p + 2], "big"), int.from_bytes(rec[p + 2:p + 4], "big")
            body = rec[p + 4:p + 4 + ln]
            if kind == 0x002b and body:
                versions = [int.from_bytes(body[1 + i:3 + i], "big") for i in range(0, body[0], 2)]
            p += 4 + ln
    return {"legacy_version": legacy, "suites": suites, "versions": versions or [legacy]}


def suite_names(mapping="/etc/testssl/cipher-mapping.txt"):
    """{code point: IANA name} from testssl.sh's cipher mapping."""
    names = {}
    with open(mapping) as f:
        for line in f:
            m = re.match(r"\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - \S+\s+(\S+)", line)
            if m:
                names[int(m.group(1) + m.group(2), 16)] = m.group(3)
    return names


# what tern must never offer: by IANA name (RFC 7465 RC4, SWEET32 3DES, DES, NULL, EXPORT, MD5,
# IDEA, anonymous, PSK, SRP)
NEVER_OFFER = re.compile(r"_RC4_|_DES_|_3DES_|DES40|_IDEA_|_NULL_|NULL_WITH|_EXPORT|_MD5$|_anon_|PSK|SRP_")
SCSV = {0x00ff: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV"}


def cmd_hello_check(directory, label):
    """hello-check DIR LABEL: the ClientHellos a tls-sink in --mode hello
    logged offer no suite tern must never offer, nothing below TLS 1.2, and
    no code point testssl.sh does not know."""
    names = suite_names()
    hellos = [e for e in sink_events(directory) if e["ev"] == "hello"]
    report(len(hellos) > 0, "%s: the peer saw a ClientHello (%d)" % (label, len(hellos)))
    bad, unknown, old = set(), set(), set()
    for h in hellos:
        for x in (int(v, 16) for v in h["suites"]):
            name = SCSV.get(x) or names.get(x)
            if name is None:
                unknown.add("0x%04x" % x)
            elif NEVER_OFFER.search(name):
                bad.add(name)
        old.update(v for v in h["versions"] if int(v, 16) < 0x0303)
    report(not bad, "%s: no NULL, RC4, DES, 3DES, EXPORT, MD5, anonymous or PSK suite offered%s"
           % (label, " (offered: %s)" % ", ".join(sorted(bad)) if bad else ""))
    report(not unknown, "%s: no unknown code point offered%s"
           % (label, " (%s)" % ", ".join(sorted(unknown)) if unknown else ""))
    report(not old, "%s: no protocol below TLS 1.2 offered%s"
           % (label, " (%s)" % ", ".join(sorted(old)) if old else ""))
    return 1 if FAILED else 0


def cmd_tls_hello_refused(host, port, label, suites, version="1.2"):
    """tls-hello-refused HOST PORT LABEL SUITES [VERSION]: EHLO, STARTTLS,
    then a ClientHello offering only SUITES (hex code points, comma-separated,
    e.g. c007,c011 for the ECDHE RC4 suites) at TLS VERSION. The check
    passes when the server does not answer with a ServerHello (a fatal
    alert such as handshake_failure, or a close)."""
    c = start_session(host, port)
    r = c.cmd("STARTTLS")
    if code(r) != "220":
        report(False, "%s: STARTTLS got %s" % (label, r))
        return 1
    offered = [int(x, 16) for x in suites.split(",")]
    c.send(client_hello(offered, TLS_VERSIONS[version]))
    what, value = server_answer(c.sock)
    c.close()
    if what == "hello":
        report(False, "%s: the server accepted suite 0x%04x" % (label, value))
    elif what == "alert":
        report(True, "%s: refused with alert %d%s" % (label, value,
                                                     " (handshake_failure)" if value == 40 else ""))
    elif what == "closed":
        report(True, "%s: refused (connection closed)" % label)
    else:
        report(False, "%s: unexpected answer %s %r" % (label, what, value))
    return 1 if FAILED else 0


def cmd_tls_load(host, port, n, conc, *args):
    """tls-load HOST PORT N CONC [--cafile F] [--per-conn K] [--size OCTETS]
    [--rcpt ADDR]: submit N messages over CONC parallel sessions, K messages
    per connection (default 1, as smtp-source), with STARTTLS when --cafile
    is given. Prints 'submitted N ok M failed F seconds S'."""
    o, _ = _opts(list(args), {"--cafile": None, "--per-conn": "1", "--size": "1024",
                              "--rcpt": "sink@bench.test"})
    n, conc, per = int(n), int(conc), max(1, int(o["per_conn"]))
    ctx = client_ctx(o["cafile"]) if o["cafile"] else None
    body = (b"From: bench@bench.test\r\nTo: " + o["rcpt"].encode()
            + b"\r\nSubject: tls bench\r\n\r\n")
    line = b"x" * 76 + b"\r\n"
    body += line * max(1, (int(o["size"]) - len(body)) // len(line))
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "failed": 0}

    def take():
        with lock:
            if state["next"] >= n:
                return False
            state["next"] += 1
            return True

    def worker():
        while True:
            if not take():
                return
            try:
                s = smtplib.SMTP(host, int(port), timeout=60)
                s.ehlo("tls-load.test")
                if ctx:
                    s.starttls(context=ctx)
                    s.ehlo("tls-load.test")
                k = 0
                while True:
                    s.sendmail("bench@bench.test", [o["rcpt"]], body)
                    with lock:
                        state["ok"] += 1
                    k += 1
                    if k >= per or not take():
                        break
                s.quit()
            except (smtplib.SMTPException, OSError) as e:
                with lock:
                    state["failed"] += 1
                print("  error:", e, file=sys.stderr)

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(int(conc))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("submitted %d ok %d failed %d seconds %.2f"
          % (n, state["ok"], state["failed"], time.time() - t0))
    return 0 if state["failed"] == 0 else 1


# ---------------------------------------------------------------- SASL (AUTH) server checks

def _b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def cmd_sasl_server(host, port, cafile, user, password, rcpt, approach):
    """Issue 4 check 5, server side. approach "tls_only": smtpd_tls_auth_only =
    yes (no AUTH before STARTTLS); "noplaintext": the talk's specific approach
    (before TLS only non-plaintext mechanisms, CRAM-MD5 here)."""
    c = TlsRaw(host, port)
    c.reply()
    e = c.cmd("EHLO client.test") or ""
    auth_lines = [l for l in e.split(" | ") if l[4:].upper().startswith("AUTH")]
    if approach == "tls_only":
        report(not auth_lines, "%s: no AUTH offered before STARTTLS (got %s)" % (approach, auth_lines))
        r = c.cmd("AUTH PLAIN " + _b64("\0%s\0%s" % (user, password)))
        report(re.match(r"503 5\.5\.1", r or "") is not None,
               "%s: AUTH before STARTTLS gets 503 5.5.1 (got %s)" % (approach, r))
    else:
        mechs = " ".join(auth_lines).upper().split()
        report("CRAM-MD5" in mechs and "PLAIN" not in mechs and "LOGIN" not in mechs,
               "%s: before TLS only CRAM-MD5 is offered (got %s)" % (approach, auth_lines))
        r = c.cmd("AUTH PLAIN " + _b64("\0%s\0%s" % (user, password)))
        report(re.match(r"504 5\.5\.4", r or "") is not None,
               "%s: AUTH PLAIN before TLS gets 504 (got %s)" % (approach, r))
    r = c.cmd("MAIL FROM:<s@snd.test>")
    r = c.cmd("RCPT TO:<%s>" % rcpt)
    report(re.match(r"554 5\.7\.1", r or "") is not None,
           "%s: relaying without AUTH is refused 554 5.7.1 (got %s)" % (approach, r))
    r = c.cmd("AUTH LOGIN")
    report(re.match(r"503 5\.5\.1", r or "") is not None,
           "%s: AUTH inside a transaction gets 503 5.5.1 (got %s)" % (approach, r))
    c.cmd("RSET")
    r = c.cmd("STARTTLS")
    c.buf = b""
    c.wrap(cafile)
    c.sock.settimeout(20)
    e = c.cmd("EHLO client.test") or ""
    auth_lines = [l for l in e.split(" | ") if l[4:].upper().startswith("AUTH")]
    mechs = " ".join(auth_lines).upper().split()
    report("PLAIN" in mechs and "LOGIN" in mechs,
           "%s: AUTH PLAIN LOGIN offered inside TLS (got %s)" % (approach, auth_lines))
    # two failures: 535, the second one held longer than the first
    t0 = time.time()
    r = c.cmd("AUTH PLAIN " + _b64("\0%s\0%s" % (user, "wrong" + password)))
    d1 = time.time() - t0
    report(re.match(r"535 5\.7\.8", r or "") is not None,
           "%s: a wrong password gets 535 5.7.8 (got %s)" % (approach, r))
    t0 = time.time()
    r = c.cmd("AUTH LOGIN")
    report(code(r) == "334", "%s: AUTH LOGIN asks for the username (got %s)" % (approach, r))
    r = c.cmd(_b64(user))
    report(code(r) == "334", "%s: then for the password (got %s)" % (approach, r))
    r = c.cmd(_b64("bad"))
    d2 = time.time() - t0
    report(code(r) == "535", "%s: second wrong password gets 535 (got %s)" % (approach, r))
    report(d1 >= 0.9 and d2 >= 1.9,
           "%s: failures are answered after a growing delay (%.2fs, %.2fs)" % (approach, d1, d2))
    # a cancelled exchange leaves nothing behind
    r = c.cmd("AUTH LOGIN")
    r = c.cmd("*")
    report(re.match(r"501 5\.7\.0", r or "") is not None,
           "%s: '*' cancels the exchange with 501 5.7.0 (got %s)" % (approach, r))
    r = c.cmd("AUTH PLAIN !!!notbase64")
    report(re.match(r"501 5\.5\.2", r or "") is not None,
           "%s: undecodable initial response gets 501 5.5.2 (got %s)" % (approach, r))
    r = c.cmd("AUTH PLAIN")
    report(r == "334 " or code(r) == "334", "%s: AUTH PLAIN without initial response gets an "
           "empty 334 (got %r)" % (approach, r))
    r = c.cmd(_b64("\0%s\0%s" % (user, password)))
    report(re.match(r"235 2\.7\.0", r or "") is not None,
           "%s: the right password gets 235 2.7.0 (got %s)" % (approach, r))
    r = c.cmd("AUTH PLAIN " + _b64("\0%s\0%s" % (user, password)))
    report(re.match(r"503 5\.5\.1", r or "") is not None,
           "%s: AUTH twice gets 503 5.5.1 (got %s)" % (approach, r))
    r = c.cmd("MAIL FROM:<%s@snd.test> AUTH=<>" % user)
    report(code(r) == "250", "%s: MAIL with AUTH=<> accepted (got %s)" % (approach, r))
    r = c.cmd("RCPT TO:<%s>" % rcpt)
    report(code(r) == "250", "%s: authenticated client relays (got %s)" % (approach, r))
    r = c.cmd("DATA")
    c.send(b"Subject: sasl " + approach.encode() + b"\r\n\r\nauthenticated\r\n.\r\n")
    r = c.reply()
    report(code(r) == "250", "%s: message queued (got %s)" % (approach, r))
    c.cmd("QUIT")
    c.close()
    return 1 if FAILED else 0


COMMANDS = {
    "dns-query": cmd_dns_query,
    "count": cmd_count,
    "envelope": cmd_envelope,
    "ids": cmd_ids,
    "gen-message": cmd_gen_message,
    "send": cmd_send,
    "body-check": cmd_body_check,
    "crash-submit": cmd_crash_submit,
    "acked-check": cmd_acked_check,
    "smuggle": cmd_smuggle,
    "limits": cmd_limits,
    "relay-forms": cmd_relay_forms,
    "dsn-check": cmd_dsn_check,
    "tls-sink": cmd_tls_sink,
    "sink-query": cmd_sink_query,
    "tls-send": cmd_tls_send,
    "tls-inject": cmd_tls_inject,
    "tls-encrypt-required": cmd_tls_encrypt_required,
    "sserver-sink": cmd_sserver_sink,
    "tls-hello-refused": cmd_tls_hello_refused,
    "hello-check": cmd_hello_check,
    "tls-load": cmd_tls_load,
    "sasl-server": cmd_sasl_server,
}

def run_commands(commands, doc):
    """The command line of a test helper module: COMMAND ARGS... runs commands[COMMAND]. The
    exit status is the command's, or 1 when a check it reported failed."""
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(doc, file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]](*sys.argv[2:]) or (1 if FAILED else 0))


if __name__ == "__main__":
    run_commands(COMMANDS, __doc__)
