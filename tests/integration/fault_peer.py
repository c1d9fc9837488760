#!/usr/bin/env python3
"""NAME
	fault_peer.py - an SMTP next hop that fails on purpose, one script step per connection
SYNOPSIS
	fault_peer.py PORT DIR STEP[,STEP...] [smtputf8]
DESCRIPTION
	Listens on 127.0.0.1:PORT. Connection N follows step N of the list; once
	the list is used up every connection is "ok". Steps:
	  ok         accept the message, store it as DIR/msg-N.eml (250 at end of data)
	  421-mail   answer MAIL with 421 4.3.2 and close
	  421-rcpt   answer RCPT with 421 4.3.2 and close
	  421-data   answer DATA with 421 4.3.2 and close (no 354)
	  421-dot    take the content, answer its end with 421 4.3.2 and close
	  rst-data   after the 354, read some content, then reset the connection (RST)
	EHLO offers PIPELINING and 8BITMIME (and SMTPUTF8 with the word
	smtputf8 after the steps); commands are read line by line, so a
	pipelined client works. Every connection is logged to DIR/peer.log as
	"conn N STEP: COMMAND..." lines; DIR/ready appears once it listens (wait
	for that: a probe connection would use up a step). The peer stops after 60 connections or
	300 seconds, whichever comes first, so a broken test cannot leave it
	running.
"""
import os
import socket
import struct
import sys
import time

MAX_CONN = 60
MAX_SECONDS = 300


def log(d, text):
    with open(os.path.join(d, "peer.log"), "a") as f:
        f.write(text + "\n")


def reset(conn):
    """Close with RST: SO_LINGER on, timeout 0."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def session(conn, d, n, step, utf8):
    f = conn.makefile("rb")
    out = lambda s: conn.sendall(s.encode() + b"\r\n")  # noqa: E731
    out("220 fault-peer.test ESMTP")
    while True:
        line = f.readline(4096)
        if not line:
            return
        cmd = line.decode("latin-1").strip()
        log(d, "conn %d %s: %s" % (n, step, cmd[:200]))
        verb = cmd.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            out("250-fault-peer.test\r\n250-PIPELINING\r\n"
                + ("250-SMTPUTF8\r\n" if utf8 else "") + "250 8BITMIME")
        elif verb == "MAIL":
            if step == "421-mail":
                out("421 4.3.2 fault-peer: shutting down (after MAIL)")
                conn.close()
                return
            out("250 2.1.0 Ok")
        elif verb == "RCPT":
            if step == "421-rcpt":
                out("421 4.3.2 fault-peer: shutting down (after RCPT)")
                conn.close()
                return
            out("250 2.1.5 Ok")
        elif verb == "DATA":
            if step == "421-data":
                out("421 4.3.2 fault-peer: shutting down (at DATA)")
                conn.close()
                return
            out("354 End data with <CR><LF>.<CR><LF>")
            if step == "rst-data":
                f.read(200)  # some of the content, then the plug is pulled
                log(d, "conn %d %s: reset in the middle of DATA" % (n, step))
                reset(conn)
                return
            body = []
            while True:
                l = f.readline(65536)
                if not l:
                    return
                if l == b".\r\n":
                    break
                body.append(l[1:] if l.startswith(b"..") else l)
            if step == "421-dot":
                out("421 4.3.2 fault-peer: shutting down (at end of data)")
                conn.close()
                return
            with open(os.path.join(d, "msg-%d.eml" % n), "wb") as m:
                m.write(b"".join(body))
            out("250 2.0.0 Ok: stored as msg-%d" % n)
        elif verb == "RSET" or verb == "NOOP":
            out("250 2.0.0 Ok")
        elif verb == "QUIT":
            out("221 2.0.0 Bye")
            conn.close()
            return
        else:
            out("502 5.5.2 Error: command not recognized")


def main():
    port, d, script = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
    utf8 = sys.argv[4:5] == ["smtputf8"]
    os.makedirs(d, exist_ok=True)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    open(os.path.join(d, "ready"), "w").close()  # no probe connection: it would use a step
    srv.settimeout(1.0)
    deadline = time.monotonic() + MAX_SECONDS
    n = 0
    while n < MAX_CONN and time.monotonic() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        n += 1
        step = script[n - 1] if n <= len(script) else "ok"
        conn.settimeout(30)
        try:
            session(conn, d, n, step, utf8)
        except OSError as e:
            log(d, "conn %d %s: %s" % (n, step, e))
        finally:
            try:
                conn.close()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
