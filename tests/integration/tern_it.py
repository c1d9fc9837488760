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
    counts = {}
    for p in dumps(directory):
        tid = header_value(parse_dump(p)["message"], "X-Test-Id")
        counts[tid] = counts.get(tid, 0) + 1
    missing = [t for t in want if t not in counts]
    dups = sum(c - 1 for c in counts.values() if c > 1)
    extra = [t for t in counts if t not in set(want)]
    print("acknowledged %d, delivered %d distinct, missing %d, duplicates %d, "
          "delivered but not acknowledged %d"
          % (len(want), len(set(want) & set(counts)), len(missing), dups, len(extra)))
    if missing:
        print("  missing:", " ".join(missing[:10]))
    return 1 if missing else 0


# ---------------------------------------------------------------- raw SMTP

class Raw:
    """A line-level SMTP client that sends exactly the octets it is given."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
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
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]) or 0)
