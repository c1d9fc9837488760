#!/usr/bin/env python3
"""sink.py PORT DIR - a minimal SMTP sink on 127.0.0.1:PORT for the image tests.

Every message accepted (250 after the final dot) is first written to DIR as
<n>-<pid>.eml (write, fsync, rename), so a test sees exactly what arrived.
No TLS (tern's outbound TLS is opportunistic). Runs until killed."""
import os, socketserver, sys, itertools

PORT, DIR = int(sys.argv[1]), sys.argv[2]
counter = itertools.count()


class H(socketserver.StreamRequestHandler):
    def reply(self, s):
        self.wfile.write(s.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").strip().upper()
            if cmd.startswith(("EHLO", "HELO")):
                self.reply("250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000000")
            elif cmd.startswith("DATA"):
                self.reply("354 go")
                data = []
                while True:
                    l = self.rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data.append(l[1:] if l.startswith(b"..") else l)
                if not l:
                    return
                name = os.path.join(DIR, "%d-%d.eml" % (next(counter), os.getpid()))
                with open(name + ".tmp", "wb") as f:
                    f.write(b"".join(data))
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(name + ".tmp", name)
                self.reply("250 ok")
            elif cmd.startswith("QUIT"):
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


os.makedirs(DIR, exist_ok=True)
S(("127.0.0.1", PORT), H).serve_forever()
