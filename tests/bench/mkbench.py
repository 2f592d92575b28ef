#!/usr/bin/env python3
"""mkbench.py IN.pcap SERVER_PORT COPIES OUT.pcap - a large capture for the benchmark.

Repeats a real capture COPIES times, each copy a new connection (the client port
changes, timestamps move on), so the benchmark exercises the whole pipeline
including flow creation and HPACK state per connection. Classic pcap, Ethernet or
Linux loopback (DLT 1) with IPv4 only: what tcpdump writes on lo.
"""
import struct
import sys


def main():
    src, server_port, copies, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    data = open(src, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, "mkbench wants DLT_EN10MB"
    recs, off = [], 24
    while off + 16 <= len(data):
        ts, us, cap, wire = struct.unpack(endian + "IIII", data[off:off + 16])
        recs.append((ts, us, wire, bytearray(data[off + 16:off + 16 + cap])))
        off += 16 + cap
    span = recs[-1][0] - recs[0][0] + 1
    with open(dst, "wb") as out:
        out.write(data[:24])
        for k in range(copies):
            for ts, us, wire, pkt in recs:
                p = bytearray(pkt)
                if len(p) >= 34 and p[12:14] == b"\x08\x00":
                    ihl = (p[14] & 0x0F) * 4
                    t = 14 + ihl
                    if len(p) >= t + 4 and p[23] == 6:
                        sp, dp = struct.unpack("!HH", p[t:t + 4])
                        if sp != server_port:
                            sp = 1024 + (sp + k) % 60000
                        if dp != server_port:
                            dp = 1024 + (dp + k) % 60000
                        p[t:t + 4] = struct.pack("!HH", sp, dp)
                out.write(struct.pack(endian + "IIII", ts + k * span // 50, us, len(p), wire))
                out.write(p)


if __name__ == "__main__":
    main()
