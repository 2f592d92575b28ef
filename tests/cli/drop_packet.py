#!/usr/bin/env python3
"""drop_packet.py IN OUT N - copies a classic pcap without its N-th packet (1-based)."""
import sys

src, dst, drop = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
out, off, n = bytearray(data[:24]), 24, 0
while off + 16 <= len(data):
    cap = int.from_bytes(data[off + 8:off + 12], "little" if e == "<" else "big")
    n += 1
    if n != drop:
        out += data[off:off + 16 + cap]
    off += 16 + cap
open(dst, "wb").write(out)
