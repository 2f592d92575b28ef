#!/usr/bin/env python3
"""sink_server.py MODE SOCK OUT - a unix-socket reader for tests/output/run.sh.

  flaky: listens on SOCK, accepts one connection, reads until it has FIRST
         whole lines, then closes the connection and the listener (the
         reader "crashes"), stays away DOWN seconds, listens again, accepts
         one connection and reads it to its end. OUT.first and OUT get what
         each connection delivered.
  stuck: listens, accepts, and never reads (until killed).

SOCK appears only once the listener is ready."""
import os
import socket
import sys
import time


def listen(path):
    tmp = path + ".tmp"
    for p in (path, tmp):
        if os.path.exists(p):
            os.unlink(p)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(tmp)
    s.listen(4)
    os.rename(tmp, path)  # ready: the test waits for this name
    s.settimeout(60)
    return s


def flaky(path, out, first, down):
    ls = listen(path)
    conn, _ = ls.accept()
    data = b""
    while data.count(b"\n") < first:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.close()
    ls.close()
    os.unlink(path)
    with open(out + ".first", "wb") as f:
        f.write(data)
    time.sleep(down)
    ls = listen(path)
    conn, _ = ls.accept()
    conn.settimeout(60)
    with open(out, "wb") as f:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            f.write(chunk)
    conn.close()
    ls.close()


def stuck(path):
    ls = listen(path)
    conn, _ = ls.accept()
    time.sleep(120)
    conn.close()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "flaky":
        flaky(path, sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif mode == "stuck":
        stuck(path)
    else:
        sys.exit("sink_server.py: unknown mode " + mode)


if __name__ == "__main__":
    main()
