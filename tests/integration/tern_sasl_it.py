#!/usr/bin/env python3
"""
NAME
    tern_sasl_it.py - SMTP AUTH checks against a fake saslauthd (issue 9 part 4)

SYNOPSIS
    tern_sasl_it.py enforce HOST PORT CAFILE SASLAUTHD_PATH USER PASSWORD
    tern_sasl_it.py slow HOST PORT SASLAUTHD_PATH SMARTHOST_PORT USER PASSWORD RELAYUSER RELAYPASS
                         TERND_PID
    tern_sasl_it.py hung HOST PORT SASLAUTHD_PATH USER PASSWORD
    tern_sasl_it.py saslauthd SASLAUTHD_PATH USER PASSWORD    answer at once, until killed

DESCRIPTION
    The fake saslauthd listens on a unix socket and speaks saslauthd's
    protocol as Cyrus SASL 2.1.28 (pwcheck_method: saslauthd) sends it: a
    request is four strings (login, password, service, realm), each a
    2-byte big-endian length and its octets; the reply is a 2-byte length
    and "OK" or "NO reason". It records every request, how many were in
    its hands at once (max_in_flight), and when it answered. It answers a
    request once min_delay seconds have passed AND the checks released it,
    or after cap seconds whatever happens: so a daemon that stalls while it
    waits for saslauthd shows as an ordering failure (the other sessions
    complete only after the answer), never as a hang.

    Events (requests, replies, 250s, messages at the smarthost) go into one
    sequence in this process, so "A happened before B" is a comparison of
    sequence numbers, not of times.

    enforce: ternd with smtpd_tls_security_level = encrypt (or the talk's
    smtpd_enforce_tls = yes) and SASL through the fake saslauthd. Before
    STARTTLS: no AUTH in EHLO, AUTH PLAIN with the right password gets 530
    5.7.0 and saslauthd never sees the password; VRFY/HELP/MAIL get 530,
    NOOP and RSET 250. After STARTTLS: AUTH PLAIN LOGIN offered, 235, one request.

    slow: ternd with worker_threads = 1, relayhost = the fake smarthost
    started here (it requires AUTH PLAIN from tern), saslauthd answering
    after 3 s:
      1. one client starts AUTH PLAIN; while saslauthd holds it, 100 other
         sessions each send a message and all get their 250, and tern
         authenticates to the smarthost and delivers there, all before
         saslauthd answers; then the slow AUTH completes with 235;
      2. two AUTHs at once are both in saslauthd's hands at the same time;
         the right password gets 235, a wrong one 535 5.7.8;
      3. a client that leaves while its AUTH is in saslauthd's hands: the
         next session still authenticates;
      4. more AUTHs at once than the pool and its queue take: the excess
         is answered at once with 454 4.7.0, the others get 235;
      5. SIGTERM to ternd while an AUTH waits for saslauthd: the AUTH is
         answered (235), then 421 4.3.2, and ternd exits.

    hung: ternd with a short smtpd_timeout; saslauthd holds an AUTH past
    it: the client gets 421 4.4.2 (the wait is bounded), other sessions are
    served meanwhile, and AUTH works again once saslauthd answers.
"""
import base64
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_it import Raw, TlsRaw, code, report  # noqa: E402
import tern_it  # noqa: E402

EVENTS = []
EV_LOCK = threading.Lock()


def ev(name, detail=""):
    """Record an event; returns its sequence number."""
    with EV_LOCK:
        EVENTS.append((len(EVENTS), name, detail, time.monotonic()))
        return len(EVENTS) - 1


def events(name):
    with EV_LOCK:
        return [e for e in EVENTS if e[1] == name]


def wait_for(pred, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def plain(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def serve_in_threads(sock, handler):
    """Accept on a listening sock; handler(conn) for each connection, in a thread of its own."""
    def accept_loop():
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=accept_loop, daemon=True).start()


# ---------------------------------------------------------------- fake saslauthd

class FakeSaslauthd:
    def __init__(self, path, users, min_delay=3.0, cap=20.0):
        self.path = path
        self.users = users
        self.min_delay = min_delay
        self.cap = cap
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.sock.listen(256)
        serve_in_threads(self.sock, self._serve)

    def hold(self, min_delay=None):
        """From now on hold every answer until release() (and min_delay)."""
        if min_delay is not None:
            self.min_delay = min_delay
        with self.lock:
            self.max_in_flight = self.in_flight
        self.released.clear()

    def release(self, min_delay=None):
        if min_delay is not None:
            self.min_delay = min_delay
        self.released.set()

    @staticmethod
    def _read(c, n):
        data = b""
        while len(data) < n:
            chunk = c.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _string(self, c):
        (n,) = struct.unpack(">H", self._read(c, 2))
        return self._read(c, n).decode("utf-8", "replace")

    def _serve(self, c):
        c.settimeout(60)
        try:
            login, password, service, realm = (self._string(c) for _ in range(4))
        except (EOFError, OSError):
            c.close()
            return
        t0 = time.monotonic()
        user = login.split("@")[0]
        with self.lock:
            self.in_flight += 1
            self.requests += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        ev("saslauthd-request", user)
        while True:
            waited = time.monotonic() - t0
            if waited >= self.cap or (waited >= self.min_delay and self.released.is_set()):
                break
            time.sleep(0.02)
        ok = self.users.get(user) == password
        answer = b"OK" if ok else b"NO authentication failed"
        ev("saslauthd-reply", user)
        with self.lock:
            self.in_flight -= 1
        try:
            c.sendall(struct.pack(">H", len(answer)) + answer)
        except OSError:
            pass
        c.close()


# ---------------------------------------------------------------- fake smarthost (needs AUTH)

class FakeSmarthost:
    """An SMTP server on 127.0.0.1:PORT that offers AUTH PLAIN LOGIN, accepts
    USER/PASSWORD, refuses MAIL before AUTH (530) and records each message."""

    def __init__(self, port, user, password):
        self.user, self.password = user, password
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", int(port)))
        self.sock.listen(64)
        self.messages = 0
        serve_in_threads(self.sock, self._serve)

    def _serve(self, c):
        c.settimeout(60)
        f = c.makefile("rb")
        w = lambda line: c.sendall(line.encode() + b"\r\n")  # noqa: E731
        authed = None
        try:
            w("220 smarthost.test ESMTP fake")
            while True:
                line = f.readline()
                if not line:
                    return
                line = line.rstrip(b"\r\n").decode("latin-1")
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    w("250-smarthost.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME")
                elif verb == "AUTH":
                    parts = line.split()
                    resp = parts[2] if len(parts) > 2 else None
                    if resp is None:
                        w("334 ")
                        resp = f.readline().strip().decode()
                    try:
                        _, u, p = base64.b64decode(resp).decode().split("\0")
                    except ValueError:
                        u = p = None
                    if parts[1].upper() == "PLAIN" and u == self.user and p == self.password:
                        authed = u
                        w("235 2.7.0 Authentication successful")
                    else:
                        w("535 5.7.8 Error: authentication failed")
                elif verb == "MAIL":
                    w("250 2.1.0 Ok" if authed else "530 5.7.0 Authentication required")
                elif verb == "RCPT":
                    w("250 2.1.5 Ok")
                elif verb == "DATA":
                    w("354 End data with <CR><LF>.<CR><LF>")
                    while True:
                        d = f.readline()
                        if not d or d == b".\r\n":
                            break
                    self.messages += 1
                    ev("smarthost-message", authed or "")
                    w("250 2.0.0 Ok: queued")
                elif verb in ("RSET", "NOOP"):
                    w("250 2.0.0 Ok")
                elif verb == "QUIT":
                    w("221 2.0.0 Bye")
                    return
                else:
                    w("502 5.5.2 Error: command not recognized")
        except (OSError, ValueError):
            return
        finally:
            c.close()


# ---------------------------------------------------------------- clients

def ehlo(host, port, timeout=40):
    c = Raw(host, port, timeout=timeout)
    g = c.reply()
    e = c.cmd("EHLO client.test")
    if code(g) != "220" or code(e) != "250":
        raise RuntimeError("greeting %r, EHLO %r" % (g, e))
    return c, e


def auth_lines(ehlo_reply):
    return [l for l in (ehlo_reply or "").split(" | ") if l[4:].upper().startswith("AUTH")]


def send_message(host, port, i, results):
    """One session, one message; records msg-250 when the 250 arrives."""
    try:
        c, _ = ehlo(host, port)
        r = c.cmd("MAIL FROM:<s%d@snd.test>" % i)
        r2 = c.cmd("RCPT TO:<r%d@far.test>" % i)
        r3 = c.cmd("DATA")
        if code(r) != "250" or code(r2) != "250" or code(r3) != "354":
            results[i] = "envelope: %s / %s / %s" % (r, r2, r3)
            return
        c.send(b"Subject: slow auth test %d\r\n\r\nmessage %d\r\n.\r\n" % (i, i))
        r = c.reply()
        if code(r) == "250":
            ev("msg-250", i)
        results[i] = r
        c.cmd("QUIT")
        c.close()
    except (OSError, RuntimeError) as ex:
        results[i] = "error: %s" % ex


class AuthClient:
    """A session that sends AUTH PLAIN and waits for the answer in a thread."""

    def __init__(self, host, port, name, user, password):
        self.name = name
        self.c, self.ehlo = ehlo(host, port, timeout=60)
        self.reply = None
        self.c.send(("AUTH PLAIN %s\r\n" % plain(user, password)).encode())
        self.t = threading.Thread(target=self._wait, daemon=True)
        self.t.start()

    def _wait(self):
        self.reply = self.c.reply()
        ev("auth-reply", self.name)

    def join(self, secs=60):
        self.t.join(secs)
        return self.reply


def auth_reply(host, port, name, user, password):
    """A new session's answer to AUTH PLAIN (or "error: ...")."""
    try:
        a = AuthClient(host, port, name, user, password)
        r = a.join(30)
        a.c.close()
        return r
    except (OSError, RuntimeError) as ex:
        return "error: %s" % ex


# ---------------------------------------------------------------- enforce

def cmd_enforce(host, port, cafile, sock_path, user, password):
    fake = FakeSaslauthd(sock_path, {user: password}, min_delay=0, cap=10)
    fake.release()
    c = TlsRaw(host, port)
    c.reply()
    e = c.cmd("EHLO client.test")
    report("STARTTLS" in (e or "").upper() and not auth_lines(e),
           "enforce: EHLO before STARTTLS offers STARTTLS and no AUTH (got %s)" % e)
    r = c.cmd("AUTH PLAIN " + plain(user, password))
    report(re.match(r"530 5\.7\.0 Must issue a STARTTLS command first", r or "") is not None,
           "enforce: AUTH PLAIN before STARTTLS gets 530 5.7.0 (got %s)" % r)
    r = c.cmd("AUTH LOGIN")
    report(code(r) == "530", "enforce: AUTH LOGIN before STARTTLS gets 530 (got %s)" % r)
    for cmd in ("HELP", "VRFY %s" % user, "MAIL FROM:<a@snd.test>", "RCPT TO:<b@far.test>", "DATA"):
        r = c.cmd(cmd)
        report(re.match(r"530 5\.7\.0", r or "") is not None,
               "enforce: %s before STARTTLS gets 530 5.7.0 (got %s)" % (cmd.split()[0], r))
    for cmd in ("NOOP", "RSET"):
        r = c.cmd(cmd)
        report(code(r) == "250", "enforce: %s before STARTTLS gets 250 (got %s)" % (cmd, r))
    time.sleep(0.5)
    report(fake.requests == 0,
           "enforce: saslauthd never saw a password before STARTTLS (%d requests)" % fake.requests)
    r = c.cmd("STARTTLS")
    report(code(r) == "220", "enforce: STARTTLS 220 (got %s)" % r)
    c.buf = b""
    try:
        c.wrap(cafile)
    except OSError as ex:
        report(False, "enforce: handshake: %s" % ex)
        return 1
    c.sock.settimeout(20)
    e = c.cmd("EHLO client.test")
    mechs = " ".join(auth_lines(e)).upper().split()
    report("PLAIN" in mechs and "LOGIN" in mechs,
           "enforce: AUTH PLAIN LOGIN offered inside TLS (got %s)" % auth_lines(e))
    r = c.cmd("AUTH PLAIN " + plain(user, password))
    report(re.match(r"235 2\.7\.0", r or "") is not None,
           "enforce: AUTH PLAIN inside TLS gets 235 2.7.0 (got %s)" % r)
    report(fake.requests == 1, "enforce: saslauthd checked the password once, inside TLS "
           "(%d requests)" % fake.requests)
    r = c.cmd("MAIL FROM:<%s@snd.test>" % user)
    report(code(r) == "250", "enforce: MAIL after STARTTLS and AUTH gets 250 (got %s)" % r)
    c.cmd("QUIT")
    c.close()
    return 1 if tern_it.FAILED else 0


# ---------------------------------------------------------------- slow

def seqs(name, detail=None):
    return [e[0] for e in events(name) if detail is None or e[2] == detail]


def slow_part1(host, port, fake, hub, user, password):
    fake.hold(min_delay=3.0)
    a = AuthClient(host, port, "A", user, password)
    if not report(wait_for(lambda: fake.requests >= 1, 15),
                  "slow: the first AUTH PLAIN reached saslauthd"):
        fake.release()
        return
    report("PLAIN" in " ".join(auth_lines(a.ehlo)).upper(),
           "slow: AUTH PLAIN offered (got %s)" % auth_lines(a.ehlo))
    t0 = time.monotonic()
    n = 100
    results = {}
    threads = [threading.Thread(target=send_message, args=(host, port, i, results), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    took = time.monotonic() - t0
    ok = [i for i in range(n) if code(results.get(i)) == "250"]
    report(len(ok) == n, "slow: %d other sessions each sent a message and got 250 (%d did; "
           "e.g. %s)" % (n, len(ok), next((results.get(i) for i in range(n) if i not in ok), "-")))
    print("100 sessions took %.2f s while saslauthd held the AUTH" % took)
    # tern's own client side: it authenticates to the smarthost meanwhile
    wait_for(lambda: any(e[2] == hub.user for e in events("smarthost-message")), 20)
    fake.release()
    r = a.join(60)
    report(re.match(r"235 2\.7\.0", r or "") is not None,
           "slow: the slow AUTH completes with 235 2.7.0 (got %s)" % r)
    answered = seqs("saslauthd-reply", user)
    answered = answered[0] if answered else -1
    done = seqs("msg-250")
    report(done and answered > max(done),
           "slow: all %d 250s came before saslauthd answered the AUTH (%d of them before)"
           % (n, sum(1 for s in done if s < answered)))
    delivered = [e[0] for e in events("smarthost-message") if e[2] == hub.user]
    report(delivered and delivered[0] < answered,
           "slow: tern authenticated to the smarthost and delivered there before saslauthd "
           "answered (%d message(s) before)" % sum(1 for s in delivered if s < answered))
    a.c.cmd("QUIT")
    a.c.close()


def slow_part2(host, port, fake, user, password):
    fake.hold(min_delay=3.0)
    b1 = AuthClient(host, port, "B1", user, password)
    b2 = AuthClient(host, port, "B2", user, "not " + password)
    both = wait_for(lambda: fake.max_in_flight >= 2, 10)
    fake.release()
    report(both, "slow: two AUTHs were in saslauthd's hands at the same time (max %d)"
           % fake.max_in_flight)
    r1, r2 = b1.join(60), b2.join(60)
    report(re.match(r"235 2\.7\.0", r1 or "") is not None, "slow: the right password: 235 (got %s)"
           % r1)
    report(re.match(r"535 5\.7\.8", r2 or "") is not None,
           "slow: a wrong password (saslauthd says NO): 535 5.7.8 (got %s)" % r2)
    for b in (b1, b2):
        b.c.close()


def slow_part3(host, port, fake, user, password):
    fake.hold(min_delay=1.0)
    before = fake.requests
    gone = AuthClient(host, port, "gone", user, password)
    wait_for(lambda: fake.requests > before, 10)
    gone.c.close()
    fake.release()
    wait_for(lambda: len(seqs("saslauthd-reply")) >= before + 1, 25)
    r = auth_reply(host, port, "after", user, password)
    report(re.match(r"235 2\.7\.0", r or "") is not None,
           "slow: after a client left mid-AUTH the next session authenticates (got %s)" % r)


def slow_part4(host, port, fake, user, password):
    fake.hold(min_delay=0)
    clients = []
    early = {}
    for i in range(160):
        try:
            c, _ = ehlo(host, port, timeout=10)
        except (OSError, RuntimeError) as ex:
            report(False, "slow: session %d for the pool bound: %s" % (i, ex))
            break
        c.send(("AUTH PLAIN %s\r\n" % plain(user, password)).encode())
        clients.append(c)
    # the excess is answered at once; the rest waits for saslauthd
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        socks = [c.sock for i, c in enumerate(clients) if i not in early]
        rd, _, _ = select.select(socks, [], [], 0.2)
        for s in rd:
            i = next(k for k, c in enumerate(clients) if c.sock is s)
            early[i] = clients[i].reply()
    held = fake.max_in_flight
    fake.release(min_delay=0)
    late = {}
    for i, c in enumerate(clients):
        if i not in early:
            late[i] = c.reply()
    n454 = sum(1 for r in early.values() if re.match(r"454 4\.7\.0", r or ""))
    n235 = sum(1 for r in late.values() if re.match(r"235 2\.7\.0", r or ""))
    print("pool bound: %d sessions, %d answered 454 at once, %d held (saslauthd had %d at once), "
          "%d got 235 later" % (len(clients), n454, len(late), held, n235))
    report(n454 > 0 and n454 == len(early),
           "slow: AUTHs beyond the pool's queue are answered at once with 454 4.7.0 (%d of %d; "
           "e.g. %s)" % (n454, len(clients), next(iter(early.values()), "-")))
    report(n235 == len(late) and n235 > 0,
           "slow: every AUTH the pool took completes with 235 once saslauthd answers (%d of %d)"
           % (n235, len(late)))
    for c in clients:
        c.close()


def slow_part5(host, port, fake, user, password, pid):
    fake.hold(min_delay=1.0)
    before = fake.requests
    a = AuthClient(host, port, "drain", user, password)
    wait_for(lambda: fake.requests > before, 10)
    os.kill(int(pid), signal.SIGTERM)
    time.sleep(0.5)
    fake.release()
    r = a.join(30)
    rest = a.c.replies_until_eof(10)
    report(re.match(r"235 2\.7\.0", r or "") is not None and
           any(re.match(r"421 4\.3\.2 .*Service shutting down", x) for x in rest),
           "slow: SIGTERM while an AUTH waits: the AUTH is answered (235), then 421 4.3.2 "
           "(got %s, then %s)" % (r, rest))
    a.c.close()


def cmd_slow(host, port, sock_path, hub_port, user, password, relay_user, relay_pass, pid):
    fake = FakeSaslauthd(sock_path, {user: password}, min_delay=3.0, cap=20)
    hub = FakeSmarthost(hub_port, relay_user, relay_pass)
    slow_part1(host, port, fake, hub, user, password)
    slow_part2(host, port, fake, user, password)
    slow_part3(host, port, fake, user, password)
    slow_part4(host, port, fake, user, password)
    slow_part5(host, port, fake, user, password, pid)
    return 1 if tern_it.FAILED else 0


def cmd_hung(host, port, sock_path, user, password):
    """saslauthd does not answer within smtpd_timeout: the client gets 421 4.4.2 and tern
    goes on serving others meanwhile."""
    fake = FakeSaslauthd(sock_path, {user: password}, min_delay=0, cap=30)
    fake.hold()
    a = AuthClient(host, port, "hung", user, password)
    report(wait_for(lambda: fake.requests >= 1, 10), "hung: the AUTH reached saslauthd")
    try:
        c, _ = ehlo(host, port, timeout=10)
        r = c.cmd("NOOP")
        c.close()
    except (OSError, RuntimeError) as ex:
        r = "error: %s" % ex
    report(code(r) == "250", "hung: another session is served meanwhile (got %s)" % r)
    r = a.join(40)
    report(re.match(r"421 4\.4\.2 .*timeout exceeded", r or "") is not None,
           "hung: smtpd_timeout bounds the wait for saslauthd: 421 4.4.2 (got %s)" % r)
    report(not events("saslauthd-reply"), "hung: ... while saslauthd still held the request")
    fake.release()
    wait_for(lambda: len(events("saslauthd-reply")) >= 1, 10)
    r = auth_reply(host, port, "after", user, password)
    report(re.match(r"235 2\.7\.0", r or "") is not None,
           "hung: once saslauthd answers again, AUTH works (got %s)" % r)
    return 1 if tern_it.FAILED else 0


def cmd_saslauthd(sock_path, user, password):
    fake = FakeSaslauthd(sock_path, {user: password}, min_delay=0, cap=10)
    fake.release()
    print("listening on", sock_path, flush=True)
    time.sleep(1800)  # the test ends it long before; never outlives a forgotten run


COMMANDS = {"enforce": cmd_enforce, "slow": cmd_slow, "hung": cmd_hung, "saslauthd": cmd_saslauthd}

if __name__ == "__main__":
    tern_it.run_commands(COMMANDS, __doc__)
