#!/usr/bin/env python3
# NAME
#	smtp.py - write the seed conversations of fuzz_smtpd and fuzz_smtpc
# SYNOPSIS
#	python3 tests/fuzz/seeds/smtp.py tests/fuzz/corpus
# DESCRIPTION
#	Both targets take the peer's bytes from the front of the input and their
#	decisions from the back (tests/fuzz/fuzz_input.h: one octet per decision
#	of up to 256 values, two for larger ones, the first one read being the
#	last octet). A seed is a conversation followed by the decisions that play
#	it the way it is meant: the session options, where each read ends (a
#	STARTTLS must end its read, or the rest is discarded as it should be),
#	what the hooks answer. The decisions are listed here in the order the
#	harness reads them; Seed.bytes() lays them out back to front.
import os
import sys


class Seed:
    def __init__(self):
        self.front = b""
        self.decisions = []  # (value, octets) in reading order

    def pick(self, value, n):
        """one fuzz_input_pick(in, n) that must come out as value"""
        assert 0 <= value < n
        self.decisions.append((value, 2 if n > 256 else 1))
        return self

    def read(self, data, whole=False):
        """the peer's next read: data (bytes); whole = let it be 'everything left'"""
        self.front += data
        self.pick(0 if whole else len(data), 257)
        return self

    def bytes(self):
        tail = b""
        for value, octets in self.decisions:
            if octets == 1:
                tail = bytes([value]) + tail
            else:
                tail = bytes([value & 0xFF, value >> 8]) + tail
        return self.front + tail


def smtpd_seeds():
    """name -> bytes for fuzz_smtpd (options, then per step: event, read length, ...)"""
    out = {}
    TLS_AVAILABLE, TLS_REQUIRED, SMTPS, SASL = 16, 32, 64, 128

    def session(opt):
        return Seed().pick(opt, 1 << 12)

    def feed(s, data, whole=False, rcpts=0, submit=False):
        """one read; then the decisions the hooks take during it: relay checks, submission"""
        s.pick(0, 64)  # event: a read (not a timeout, not a shutdown)
        s.read(data, whole)
        for _ in range(rcpts):
            s.pick(0, 8)  # permitted
        if submit:
            s.pick(0, 8)  # the queue takes the message
        return s

    def commit(s, status=0):
        s.pick(0, 4)  # no more input meanwhile: the queue answers
        s.pick(status, 8)  # 0: ok, 5: -ENOSPC, 6: -EIO
        return s

    def tls_up(s, cn=0, handshake=True):
        if handshake:
            s.pick(0, 8)  # the handshake succeeds
        for v, n in ((1, 2), (1, 2), (1, 2), (1, 2), (cn, 5), (0, 5), (1, 2), (0, 2)):
            s.pick(v, n)  # received text, ask, cert, trusted, CN, issuer, fingerprints
        return s

    s = session(0)
    feed(s, b"EHLO client.example\r\nMAIL FROM:<alice@example.org> SIZE=120\r\n"
            b"RCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net> NOTIFY=SUCCESS,FAILURE "
            b"ORCPT=rfc822;carol@example.net\r\nDATA\r\nSubject: hello\r\n\r\n..a stuffed dot\r\n"
            b"last line\r\n.\r\nQUIT\r\n", whole=True)
    out["pipelined-relay"] = s.bytes()

    s = session(0)
    for line in (b"HELO old.example\r\n", b"MAIL FROM:<>\r\n"):
        feed(s, line)
    feed(s, b"RCPT TO:<postmaster>\r\n", rcpts=1)
    feed(s, b"DATA\r\n")
    feed(s, b"bounce text\r\n.\r\n", submit=True)
    commit(s)
    for line in (b"RSET\r\n", b"VRFY x\r\n", b"HELP\r\n", b"NOOP\r\n"):
        feed(s, line)
    feed(s, b"QUIT\r\n", whole=True)
    out["lockstep-helo"] = s.bytes()

    s = session(0)
    feed(s, b"EHLO c\r\nMAIL FROM:<\"john smith\"@example.org> BODY=8BITMIME RET=HDRS "
            b"ENVID=QQ+2B1\r\nRCPT TO:<@relay.example:u%ext@example.net>\r\n"
            b"RCPT TO:<x@[192.0.2.1]>\r\nRCPT TO:<y@[IPv6:2001:db8::1]>\r\nRCPT TO:<z@e.net>\r\n"
            b"DATA\r\n" + b"A" * 1100 + b"\r\n.\r\nBDAT 1\r\nQUIT\r\n", whole=True)
    out["limits-and-forms"] = s.bytes()

    s = session(0)
    feed(s, b"EHLO c\r\nMAIL FROM:<\xc3\xa9l\xc3\xa8ve@example.org> SMTPUTF8\r\n"
            b"RCPT TO:<\xe2\x80\xaeuser@example.net>\r\nDATA\r\n\xff\xfe bytes\r\n.\r\nQUIT\r\n",
         whole=True)
    out["smtputf8"] = s.bytes()

    s = session(TLS_AVAILABLE)
    feed(s, b"EHLO client.example\r\nSTARTTLS\r\n")
    tls_up(s, cn=3)
    feed(s, b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
            b"DATA\r\nSubject: over TLS\r\n\r\nhi\r\n.\r\nSTARTTLS\r\nQUIT\r\n", whole=True)
    out["starttls"] = s.bytes()

    s = session(TLS_AVAILABLE)
    feed(s, b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
    tls_up(s)
    feed(s, b"RCPT TO:<b@example.net>\r\nQUIT\r\n", whole=True)
    out["starttls-injection"] = s.bytes()

    s = session(TLS_AVAILABLE | TLS_REQUIRED)
    feed(s, b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nSTARTTLS\r\n")
    tls_up(s)
    feed(s, b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nQUIT\r\n", whole=True)
    out["tls-required"] = s.bytes()

    s = session(SASL)  # offered before TLS: "PLAIN LOGIN"
    feed(s, b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHdvbmRlciBsYW5k\r\n")
    s.pick(1, 4)  # the step succeeds
    for _ in range(63):
        s.pick(ord("a") - 1, 255)
    s.pick(5, 64).pick(1, 2)  # username "aaaaa"
    feed(s, b"MAIL FROM:<alice@example.org> AUTH=<>\r\nRCPT TO:<x@far.example>\r\nQUIT\r\n",
         whole=True)
    out["auth-plain"] = s.bytes()

    s = session(SASL)
    feed(s, b"EHLO c\r\nAUTH LOGIN\r\n")
    s.pick(0, 4)  # a challenge
    for c in b"Username:" + bytes(64 - 9):
        s.pick(c, 256)
    s.pick(9, 65)
    feed(s, b"YWxpY2U=\r\n")
    s.pick(2, 4).pick(1, 2)  # refused
    feed(s, b"AUTH LOGIN =\r\n*\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\nQUIT\r\n", whole=True)
    out["auth-login-refused"] = s.bytes()

    s = session(SMTPS | SASL | (3 << 8))  # smtps, AUTH only inside TLS
    tls_up(s, handshake=False)
    feed(s, b"EHLO c\r\nAUTH PLAIN\r\n")
    s.pick(3, 4)  # temporary failure
    feed(s, b"QUIT\r\n", whole=True)
    out["smtps-auth-tempfail"] = s.bytes()

    s = session(0)
    feed(s, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n",
         rcpts=1, submit=True)
    commit(s, status=5)  # -ENOSPC
    feed(s, b"MAIL FROM:<a@b.example>\r\nbare\nLF\r\n", whole=True)
    out["commit-fails-bare-lf"] = s.bytes()

    s = session(0)
    feed(s, b"EHLO c\r\n" + b"NOOP " + b"x" * 600 + b"\r\n" + b"\r\n" + b"\x00\r\n" +
         b"MAIL FROM:<a@b>\r\nbare\rCR\r\n", whole=True)
    out["long-line-bare-cr"] = s.bytes()
    return out


def smtpc_seeds():
    """name -> bytes for fuzz_smtpc (options, auth on, then reads and the messages to send)"""
    out = {}

    def client(opt):
        return Seed().pick(opt, 16).pick(0, 2)  # options; AUTH hooks present

    def message(s, body=0, nrcpt=2):
        s.pick(0, 4)  # send, not QUIT
        s.pick(body, 5)
        s.pick(0, 3).pick(1, 3).pick(2, 3).pick(1, 2).pick(0, 2)  # sender, envid, ret, body, utf8
        s.pick(nrcpt - 1, 4)
        for i in range(nrcpt):
            s.pick(i % 2, 4).pick(i % 2, 4).pick(6, 16)  # addr, orcpt, notify
        return s

    ehlo = (b"250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
            b"250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n")
    s = client(2)  # PIPELINING, no STARTTLS
    s.read(b"220 mx.example ESMTP\r\n").read(ehlo)
    message(s)
    s.read(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <b@rcpt.test>: unknown\r\n354 go\r\n")
    s.read(b"250 2.0.0 Ok: queued as ABC\r\n")
    s.pick(3, 4)  # QUIT
    s.read(b"221 2.0.0 Bye\r\n", whole=True)
    out["pipelined"] = s.bytes()

    s = client(3)  # no PIPELINING, no STARTTLS
    s.read(b"220-mx.example\r\n220 ESMTP\r\n").read(b"502 5.5.2 EHLO not here\r\n")
    s.read(b"250 mx.example\r\n")
    message(s, body=1, nrcpt=1)
    s.read(b"250 ok\r\n").read(b"451 4.3.0 try later\r\n")
    message(s, body=2, nrcpt=1)
    s.read(b"250 reset\r\n").read(b"250 ok\r\n").read(b"250 ok\r\n").read(b"354 go\r\n")
    s.read(b"421 4.4.2 closing\r\n", whole=True)
    out["lockstep-helo-421"] = s.bytes()

    s = client(0)  # STARTTLS wanted
    s.read(b"220 mx.example ESMTP\r\n")
    s.read(b"250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")
    s.read(b"220 2.0.0 Ready to start TLS\r\n")
    s.pick(0, 8)  # the handshake succeeds
    s.read(b"250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")
    s.pick(1, 5).pick(0, 2)  # LOGIN, no initial response
    s.read(b"334 VXNlcm5hbWU6\r\n")
    s.pick(0, 8)
    for c in b"alice" + bytes(48 - 5):
        s.pick(c, 256)
    s.pick(5, 49)
    s.read(b"334 UGFzc3dvcmQ6\r\n").pick(0, 8)
    for _ in range(48):
        s.pick(0, 256)
    s.pick(0, 49)
    s.read(b"235 2.7.0 Authentication successful\r\n")
    message(s, nrcpt=1)
    s.read(b"250 ok\r\n250 ok\r\n354 go\r\n").read(b"250 2.0.0 queued\r\n")
    s.pick(3, 4).read(b"221 bye\r\n", whole=True)
    out["starttls-auth-login"] = s.bytes()

    s = client(4 | 2)  # require TLS, none offered
    s.read(b"220 mx.example ESMTP\r\n").read(b"250-mx.example\r\n250 SIZE\r\n")
    s.pick(3, 4).read(b"221 bye\r\n", whole=True)
    out["tls-required-not-offered"] = s.bytes()

    s = client(0)
    s.read(b"220 mx.example ESMTP\r\n").read(b"250-mx.example\r\n250 STARTTLS\r\n")
    s.read(b"454 4.7.0 TLS not available\r\n")
    message(s, nrcpt=1)
    s.read(b"250 ok\r\n250 extra unasked reply\r\n", whole=True)
    out["starttls-refused-garbage"] = s.bytes()
    return out


def main():
    base = sys.argv[1]
    for target, seeds in (("smtpd", smtpd_seeds()), ("smtpc", smtpc_seeds())):
        os.makedirs(os.path.join(base, target), exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(base, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
