#!/usr/bin/python3
"""mkflood.py MODE N OUT.pcap [--grpc CAPTURE] [--seed S] [--rate PPS]

Writes a flood capture with a real gRPC connection hidden in it, to show
that the sensor's memory stays under its configured caps and that no record
of the gRPC connection is lost while the flood makes the flow table evict.

MODE syn:  N TCP SYNs from random sources (random address, port and
           sequence number; 0/8, 10/8, 127/8 and 224/3 left out) to 4096
           destinations in 10.200.0.0/16 on a few service ports. Each SYN
           is a new flow that never answers.
MODE idle: N idle connections: SYN, SYN+ACK, ACK, then one data segment
           from the client, never closed. The data, by flow index mod 8:
           0-3 a few bytes of some other protocol (SSH banner, HTTP/1.1,
           SMTP, Redis), decided "not HTTP/2" at once; 4-5 the first 16
           bytes of the HTTP/2 preface and never the rest (the sensor holds
           them while it waits); 6 TLS-looking bytes cut short (held
           too); 7 1024 bytes after a 1024-byte hole (held by TCP
           reassembly, against its memcap).

The packets of CAPTURE (default pcaps/python-many-calls.pcap: one cleartext
gRPC connection, classic pcap, Ethernet) are copied in unchanged, spread
evenly through the flood (in idle mode between connections, never inside a
handshake), in their own order. Flood packets are PPS apart (default
100000/s) starting at the capture's first timestamp; a gRPC packet takes the
timestamp of the flood packet it precedes, so time never goes backwards.

Output: classic pcap, microsecond, little-endian, Ethernet. IPv4 and TCP
checksums are correct (tshark shows no errors). Deterministic for a given
seed. Only the standard library: /usr/bin/python3 writes 1M SYNs in a few
seconds.
"""
import argparse
import random
import struct
import sys

PCAP_HDR = struct.Struct("<IHHiIII")
REC_HDR = struct.Struct("<IIII")
# IPv4 header (20) + TCP header (20), network order
IP_TCP = struct.Struct("!BBHHHBBHIIHHIIBBHHH")
ETH_C2S = bytes.fromhex("020000000002" "020000000001" "0800")
ETH_S2C = bytes.fromhex("020000000001" "020000000002" "0800")

SYN, ACK, PSH = 0x02, 0x10, 0x08
WINDOW = 64240
SERVICE_PORTS = (22, 25, 80, 443, 3306, 5432, 6379, 8080, 50051)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PAYLOADS = (
    b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
    b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
    b"EHLO flood.example\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    PREFACE[:16],
    PREFACE[:16],
    b"\x16\x03",  # could still become a ClientHello: held
    None,         # out of order: see OOO_*
)
OOO_HOLE = 1024
OOO_BYTES = bytes(range(256)) * 4


def fold(s):
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def word_sum(b):
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


# Checksum parts that never change: IPv4 version/ihl, DF, ttl/proto; the
# TCP data offset is added per packet with the flags.
IP_CONST = 0x4500 + 0x4000 + ((64 << 8) | 6)
PAYLOAD_SUMS = {p: word_sum(p) for p in PAYLOADS if p is not None}
PAYLOAD_SUMS[OOO_BYTES] = word_sum(OOO_BYTES)


class Writer:
    """Buffered pcap records with computed checksums."""

    def __init__(self, out, t0_us, rate):
        self.out = out
        self.buf = []
        self.t0 = t0_us
        self.step = 1e6 / rate
        self.ipid = 0

    def ts(self, j):
        u = self.t0 + int(j * self.step)
        return u // 1000000, u % 1000000

    def tcp(self, j, eth, src, dst, sport, dport, seq, ack, flags, payload=b"", psum=0):
        tlen = 20 + len(payload)
        total = 20 + tlen
        self.ipid = (self.ipid + 1) & 0xFFFF
        addr = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
        ipsum = fold(IP_CONST + total + self.ipid + addr)
        off_flags = (5 << 12) | flags
        tsum = fold(addr + 6 + tlen + sport + dport + (seq >> 16) + (seq & 0xFFFF) +
                    (ack >> 16) + (ack & 0xFFFF) + off_flags + WINDOW + psum)
        sec, usec = self.ts(j)
        caplen = 14 + total
        self.buf.append(REC_HDR.pack(sec, usec, caplen, caplen) + eth +
                        IP_TCP.pack(0x45, 0, total, self.ipid, 0x4000, 64, 6, ipsum, src, dst,
                                    sport, dport, seq, ack, 0x50, flags, WINDOW, tsum, 0) +
                        payload)
        if len(self.buf) >= 65536:
            self.flush()

    def raw(self, j, data):
        sec, usec = self.ts(j)
        self.buf.append(REC_HDR.pack(sec, usec, len(data), len(data)) + data)

    def flush(self):
        self.out.write(b"".join(self.buf))
        self.buf.clear()


def read_capture(path):
    """Packets (bytes) and first timestamp (us) of a classic Ethernet pcap."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nano = "<", False
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, nano = ">", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nano = "<", True
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, nano = ">", True
    else:
        sys.exit("mkflood: %s: not a classic pcap" % path)
    if struct.unpack(endian + "I", data[20:24])[0] != 1:
        sys.exit("mkflood: %s: want linktype 1 (Ethernet)" % path)
    pkts, off, first = [], 24, None
    while off + 16 <= len(data):
        sec, frac, cap, _wire = struct.unpack(endian + "IIII", data[off:off + 16])
        if first is None:
            first = sec * 1000000 + (frac // 1000 if nano else frac)
        pkts.append(data[off + 16:off + 16 + cap])
        off += 16 + cap
    if not pkts:
        sys.exit("mkflood: %s: no packets" % path)
    return pkts, first


def random_source(rng):
    a = rng.getrandbits(32)
    first = a >> 24
    if first in (0, 10, 127) or first >= 224:
        a = (a & 0x00FFFFFF) | ((1 + first % 223) << 24)
        if (a >> 24) in (10, 127):
            a += 1 << 24
    return a


def destinations(rng, n=4096):
    return [(0x0AC80000 | rng.getrandbits(16), SERVICE_PORTS[rng.randrange(len(SERVICE_PORTS))])
            for _ in range(n)]


def syn_flood(w, rng, n, grpc):
    dsts = destinations(rng)
    k, nk = 0, len(grpc)
    at = [(i + 1) * n // (nk + 1) for i in range(nk)]
    for j in range(n):
        while k < nk and at[k] == j:
            w.raw(j, grpc[k])
            k += 1
        dst, dport = dsts[rng.getrandbits(12)]
        w.tcp(j, ETH_C2S, random_source(rng), dst, 1024 + rng.getrandbits(16) % 64512, dport,
              rng.getrandbits(32), 0, SYN)
    for pkt in grpc[k:]:
        w.raw(n, pkt)


def idle_flows(w, rng, n, grpc):
    dsts = destinations(rng)
    k, nk = 0, len(grpc)
    at = [(i + 1) * n // (nk + 1) for i in range(nk)]
    for i in range(n):
        j = 4 * i
        while k < nk and at[k] == i:
            w.raw(j, grpc[k])
            k += 1
        c = random_source(rng)
        s, dport = dsts[rng.getrandbits(12)]
        sport = 1024 + rng.getrandbits(16) % 64512
        isn_c, isn_s = rng.getrandbits(32), rng.getrandbits(32)
        c1, s1 = (isn_c + 1) & 0xFFFFFFFF, (isn_s + 1) & 0xFFFFFFFF
        w.tcp(j, ETH_C2S, c, s, sport, dport, isn_c, 0, SYN)
        w.tcp(j + 1, ETH_S2C, s, c, dport, sport, isn_s, c1, SYN | ACK)
        w.tcp(j + 2, ETH_C2S, c, s, sport, dport, c1, s1, ACK)
        payload = PAYLOADS[i % 8]
        if payload is None:
            w.tcp(j + 3, ETH_C2S, c, s, sport, dport, (c1 + OOO_HOLE) & 0xFFFFFFFF, s1, PSH | ACK,
                  OOO_BYTES, PAYLOAD_SUMS[OOO_BYTES])
        else:
            w.tcp(j + 3, ETH_C2S, c, s, sport, dport, c1, s1, PSH | ACK, payload,
                  PAYLOAD_SUMS[payload])
    for pkt in grpc[k:]:
        w.raw(4 * n, pkt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("syn", "idle"))
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--grpc", default="pcaps/python-many-calls.pcap")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100000.0, help="flood packets per second")
    a = ap.parse_args()
    if a.n < 0 or a.rate <= 0:
        sys.exit("mkflood: N >= 0 and PPS > 0")
    grpc, t0 = read_capture(a.grpc)
    rng = random.Random(a.seed)
    with open(a.out, "wb") as out:
        out.write(PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        w = Writer(out, t0, a.rate)
        (syn_flood if a.mode == "syn" else idle_flows)(w, rng, a.n, grpc)
        w.flush()


if __name__ == "__main__":
    main()
