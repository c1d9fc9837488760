#!/usr/bin/env python3
"""load.py PORT ACKED_FILE PREFIX - submit messages to 127.0.0.1:PORT until killed.

Each message carries "token PREFIX-N"; after tern's 250 the token is appended
(and flushed) to ACKED_FILE, so ACKED_FILE lists exactly what tern promised."""
import smtplib, sys, time

port, acked, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = 0
with open(acked, "a") as out:
    while True:
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=20)
            while True:
                n += 1
                tok = "%s-%d" % (prefix, n)
                s.sendmail("load@example.org", ["rcpt@example.net"],
                           "Subject: power cut %s\r\n\r\ntoken %s\r\n" % (tok, tok))
                out.write(tok + "\n")
                out.flush()
        except Exception:
            time.sleep(0.2)
