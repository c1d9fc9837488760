#!/usr/bin/env python3
"""
NAME
    queue_it.py - queue damage and crash helpers for test_queue_damage.sh and test_crash_loop.sh

SYNOPSIS
    queue_it.py submit HOST PORT N PREFIX ACKED      N messages (one of every three 20 KiB, the
                                                     rest 1 KiB), X-Test-Id PREFIX-NNNN; each 250
                                                     appended to ACKED as "TID QID"
    queue_it.py deliveries ACKED SINKDIR             prints "D delivered, I intact, X damaged,
                                                     U duplicates, M missing" (distinct IDs)
    queue_it.py flip FILE N SEED FROM                N random bit flips at offsets >= FROM
    queue_it.py leaf-headers FILE                    flip mp_lower/mp_upper of every leaf page
    queue_it.py overwrite FILE NEEDLE                overwrite the 8 octets after NEEDLE (once)
    queue_it.py fill HOST PORT KIB MAX ACKED         submit KIB KiB messages until one is refused
                                                     (at most MAX); print the refusal
    queue_it.py mail-reply HOST PORT                 print the reply to one MAIL FROM
    queue_it.py load HOST PORT SECONDS ACKED         submit in a loop over 4 connections for
                                                     SECONDS (or until the daemon is gone),
                                                     appending every 250 to ACKED

DESCRIPTION
    A message's body is a function of its X-Test-Id, so a delivered copy
    can be checked octet for octet (`deliveries`). Every wait is bounded;
    everything talks to 127.0.0.0/8 only.
"""
import os
import random
import re
import smtplib
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tern_it  # noqa: E402


def body_of(tid):
    """The content after the headers, LF line ends as the sink dumps it."""
    kib = 20 if int(tid.rsplit("-", 1)[1]) % 3 == 0 else 1
    lines = ["body of %s" % tid]
    for i in range(kib * 1024 // 64):
        lines.append(("%s line %05d " % (tid, i)).ljust(63, "x"))
    return "\n".join(lines) + "\n"


def message_of(tid):
    hdr = ("From: q@snd.test\r\nTo: q@dmg.test\r\nSubject: %s\r\nMessage-ID: <%s@tern-it.test>\r\n"
           "X-Test-Id: %s\r\n\r\n" % (tid, tid, tid))
    return (hdr + body_of(tid).replace("\n", "\r\n")).encode()


def send_one(s, tid, i):
    code, resp = s.mail("q@snd.test")
    if code == 250:
        code, resp = s.rcpt("rcpt-%d@dmg.test" % i)
    if code == 250:
        code, resp = s.data(message_of(tid))
    m = re.search(rb"queued as (\S+)", resp or b"")
    return code, (m.group(1).decode() if m else "?")


def cmd_submit(host, port, n, prefix, acked):
    ok = 0
    with smtplib.SMTP(host, int(port), timeout=30) as s, open(acked, "a") as f:
        s.ehlo("queue-it.test")
        for i in range(int(n)):
            tid = "%s-%04d" % (prefix, i)
            code, qid = send_one(s, tid, i)
            if code == 250:
                f.write("%s %s\n" % (tid, qid))
                ok += 1
    print("submitted %s, acknowledged %d" % (n, ok))
    return 0 if ok == int(n) else 1


def cmd_deliveries(acked, sinkdir):
    want = {l.split()[0] for l in open(acked) if l.strip()}
    counts, intact, damaged = {}, set(), set()
    for p in tern_it.dumps(sinkdir):
        msg = tern_it.parse_dump(p)["message"]
        tid = tern_it.header_value(msg, "X-Test-Id")
        if tid is None:
            continue
        counts[tid] = counts.get(tid, 0) + 1
        body = msg.split(b"\n\n", 1)[1] if b"\n\n" in msg else b""
        (intact if body.decode("latin-1") == body_of(tid) else damaged).add(tid)
    dups = sum(c - 1 for c in counts.values() if c > 1)
    print("%d delivered, %d intact, %d damaged, %d duplicates, %d missing"
          % (len(set(counts) & want), len(intact & want), len(damaged & want), dups,
             len(want - set(counts))))
    return 0


def cmd_flip(path, n, seed, start):
    rnd = random.Random(int(seed))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(int(n)):
            off = rnd.randrange(int(start), size)
            f.seek(off)
            b = f.read(1)[0]
            f.seek(off)
            f.write(bytes([b ^ (1 << rnd.randrange(8))]))
    return 0


def cmd_leaf_headers(path):
    """Flip the free-space bounds of every leaf page (LMDB: flags at 10, lower/upper at 12)."""
    psize = 4096
    n = 0
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        for pg in range(2, size // psize):
            f.seek(pg * psize + 10)
            flags, lower, upper = struct.unpack("<HHH", f.read(6))
            if flags & 0x02 and not flags & 0x04:   # P_LEAF, not P_OVERFLOW
                f.seek(pg * psize + 12)
                f.write(struct.pack("<HH", lower ^ 0x7ff0, upper ^ 0x7ff0))
                n += 1
    print("leaf pages damaged: %d" % n)
    return 0 if n else 1


def cmd_overwrite(path, needle):
    data = open(path, "rb").read()
    at = data.find(needle.encode())
    if at < 0:
        print("not found: %s" % needle)
        return 1
    with open(path, "r+b") as f:
        f.seek(at + len(needle))
        f.write(b"DAMAGED!")
    print("overwritten at %d" % (at + len(needle)))
    return 0


def cmd_fill(host, port, kib, nmax, acked):
    body = ("x" * 62 + "\r\n") * (16 * int(kib))
    with smtplib.SMTP(host, int(port), timeout=30) as s, open(acked, "a") as f:
        s.ehlo("queue-it.test")
        for i in range(int(nmax)):
            tid = "fill-%d-%04d" % (os.getpid(), i)
            msg = ("From: q@snd.test\r\nSubject: %s\r\nX-Test-Id: %s\r\n\r\n%s" % (tid, tid, body)).encode()
            stage = "MAIL"
            code, resp = s.mail("q@snd.test")
            if code == 250:
                stage = "RCPT"
                code, resp = s.rcpt("fill-%d@dmg.test" % i)
            if code == 250:
                stage = "DATA"
                code, resp = s.data(msg)
            if code != 250:
                print("accepted %d, then at %s: %d %s" % (i, stage, code, resp.decode()))
                return 0
            f.write("%s -\n" % tid)
            f.flush()
    print("accepted %s, never refused" % nmax)
    return 1


def cmd_mail_reply(host, port):
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("queue-it.test")
        code, resp = s.mail("q@snd.test")
        print(code, resp.decode())
    return 0


def cmd_load(host, port, seconds, acked):
    deadline = time.time() + float(seconds)
    lock = threading.Lock()
    f = open(acked, "a")
    run = "%d-%d" % (os.getpid(), int(time.time() * 1000))
    counter = [0]

    def worker(k):
        s = None
        while time.time() < deadline:
            with lock:
                i = counter[0]
                counter[0] += 1
            tid = "load-%s-%d" % (run, i)
            try:
                if s is None:
                    s = smtplib.SMTP(host, int(port), timeout=10)
                    s.ehlo("queue-it.test")
                code, qid = send_one(s, tid, i)
                if code == 250:
                    with lock:
                        f.write("%s %s\n" % (tid, qid))
                        f.flush()
            except Exception:
                s = None
                time.sleep(0.05)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(float(seconds) + 60)
    f.close()
    return 0


COMMANDS = {
    "submit": cmd_submit,
    "deliveries": cmd_deliveries,
    "flip": cmd_flip,
    "leaf-headers": cmd_leaf_headers,
    "overwrite": cmd_overwrite,
    "load": cmd_load,
    "fill": cmd_fill,
    "mail-reply": cmd_mail_reply,
}

if __name__ == "__main__":
    tern_it.run_commands(COMMANDS, __doc__)
