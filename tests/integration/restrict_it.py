#!/usr/bin/env python3
"""restrict_it.py - SMTP dialogues for test_restrictions.sh: send this, expect that.

usage: restrict_it.py HOST PORT SCRIPT
       restrict_it.py dns-servfail|dns-silent PORT
SCRIPT is a file of lines "SRC>" (source address for the next connection),
"C: command" (send a line), "S: NNN text" (the next reply must start with
it; "S: 250" matches any 250), "." (send the message body and dot), "--"
(close, next connection). The first reply of a connection is the greeting,
checked by the first S: line after "--". Prints one line per mismatch and
exits 1 if there was any. Every socket operation has a 20 s timeout.

dns-servfail answers every DNS query on 127.0.0.1:PORT (UDP) with SERVFAIL,
dns-silent never answers: the upstreams dnsmasq forwards a zone to, to make
a resolver fail now or time out (reject_unknown_sender_domain).
"""
import socket
import struct
import sys


def dns_responder(port, servfail):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        if not servfail or len(msg) < 12:
            continue
        i = 12
        while i < len(msg) and msg[i] != 0:
            i += 1 + msg[i]
        question = msg[12 : i + 5]
        flags = 0x8000 | (struct.unpack(">H", msg[2:4])[0] & 0x7900) | 0x0080 | 2
        s.sendto(msg[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + question, peer)


def read_reply(f):
    lines = []
    while True:
        line = f.readline(4096).decode("utf-8", "replace")
        if not line:
            return " ".join(lines) if lines else "(connection closed)"
        lines.append(line.rstrip("\r\n"))
        if len(line) < 4 or line[3] != "-":
            return lines[-1] if len(lines) == 1 else lines[0][:4] + " ".join(l[4:] for l in lines)


def run(host, port, script):
    bad = 0
    src = "127.0.0.1"
    sock = f = None
    step = 0
    for raw in open(script, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        step += 1
        if line.startswith("SRC>"):
            src = line[4:].strip()
            continue
        if line == "--":
            if sock:
                sock.close()
            sock = f = None
            continue
        if sock is None:
            sock = socket.create_connection((host, port), timeout=20, source_address=(src, 0))
            f = sock.makefile("rb")
        if line.startswith("C: "):
            sock.sendall(line[3:].encode() + b"\r\n")
        elif line == ".":
            sock.sendall(b"Subject: restrictions test\r\n\r\nbody\r\n.\r\n")
        elif line.startswith("S: "):
            want = line[3:]
            got = read_reply(f)
            if not got.startswith(want):
                print(f"step {step}: expected '{want}', got '{got}'")
                bad += 1
    if sock:
        sock.close()
    return bad


if __name__ == "__main__":
    if sys.argv[1] in ("dns-servfail", "dns-silent"):
        dns_responder(int(sys.argv[2]), sys.argv[1] == "dns-servfail")
    sys.exit(1 if run(sys.argv[1], int(sys.argv[2]), sys.argv[3]) else 0)
