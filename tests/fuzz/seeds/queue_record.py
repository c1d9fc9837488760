#!/usr/bin/env python3
# NAME
#	queue_record.py - write the seed inputs of fuzz_queue_record
# SYNOPSIS
#	python3 tests/fuzz/seeds/queue_record.py tests/fuzz/corpus/queue_record
# DESCRIPTION
#	Envelope records are binary (queue_store.c: u8 version, u8 flags, u8 ret,
#	u8 body_type, f64 arrival, f64 queued, u64 size, str sender, str envid,
#	str client, u32 nrcpt, then per recipient str addr, str orcpt, u32 notify,
#	u8 done, u32 tries, f64 next_try, str dsn, str reason; str = u32 length
#	or 0xffffffff for NULL; native = little-endian here), so their seeds are
#	made by this script rather than by hand. The harness reads keys and values
#	from the front and its decisions from the back: per record a key-length
#	choice (0: 16 octets) and the value length (two octets, high one first
#	from the end), and last of all the number of records minus one.
import os
import struct
import sys


def s(x):
    """one length-prefixed string, None for NULL"""
    if x is None:
        return struct.pack("<I", 0xFFFFFFFF)
    b = x.encode()
    return struct.pack("<I", len(b)) + b


def rec(sender, rcpts, envid=None, client="client.test[192.0.2.1]", flags=0, ret=0, body=0,
        arrival=1.7e9, queued=1.7e9 + 1, size=1234):
    """one envelope record; rcpts: (addr, orcpt, notify, done, tries, next_try, dsn, reason)"""
    b = struct.pack("<BBBBddQ", 1, flags, ret, body, arrival, queued, size)
    b += s(sender) + s(envid) + s(client) + struct.pack("<I", len(rcpts))
    for addr, orcpt, notify, done, tries, next_try, dsn, reason in rcpts:
        b += s(addr) + s(orcpt) + struct.pack("<IBId", notify, done, tries, next_try)
        b += s(dsn) + s(reason)
    return b


def seed(path, records):
    """records: (16-octet key, value) pairs, with the decisions that read them back"""
    front, back = b"", b""
    for key, val in records:
        front += key + val
        back = bytes([len(val) & 0xFF, len(val) >> 8, 0]) + back
    with open(path, "wb") as f:
        f.write(front + back + bytes([len(records) - 1]))


def main():
    d = sys.argv[1]
    r1 = rec("alice@snd.test", [("bob@rcpt.test", None, 0, 0, 0, 0.0, "", None)])
    r2 = rec("", [("x@y.test", "rfc822;X@Y.test", 4 | 8, 0, 3, 1.7e9 + 600, "4.3.0",
                   "host mx[192.0.2.9] said: 451 4.3.0 later (in reply to RCPT TO command)"),
                  ("z@y.test", None, 1, 1, 1, 0.0, "2.0.0", "250 2.0.0 Ok")],
             envid="ENV+2D1", flags=3, ret=2, body=1)
    r3 = rec("s@x", [("r1@a.test", "", 0, 1, 0, 0.0, "5.1.1", ""),
                     ("r2@b.test", None, 2, 0, 7, 1.7e9, "", None),
                     ("r3@a.test", None, 0, 0, 0, 0.0, "", None)],
             envid="", client="", flags=2, ret=1)
    seed(os.path.join(d, "one-message"), [(b"0123456789ABCDEF", r1)])
    seed(os.path.join(d, "dsn-and-done"), [(b"65A1B2C300001000", r2)])
    seed(os.path.join(d, "three-messages"),
         [(b"65A1B2C300001000", r1), (b"65A1B2C300001001", r3), (b"65A1B2C300001002", r2)])
    seed(os.path.join(d, "truncated"), [(b"65A1B2C300001003", r2[:-9])])


if __name__ == "__main__":
    main()
