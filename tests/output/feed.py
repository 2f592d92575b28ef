#!/usr/bin/env python3
"""feed.py PCAP [-n N] [--shift S] [--gap G] [--hook K CMD]... - writes PCAP to
standard output N times as one classic pcap stream, each copy's timestamps
moved S seconds after the previous one (so the sensor sees N rounds of the
same connections, each round's flows long closed or timed out). --gap sleeps
G seconds of wall time between copies; --hook K CMD runs the shell command
CMD after copy K (1-based) has been written and flushed, before the gap.
Only the classic pcap format (either byte order, us or ns) is read."""
import argparse
import struct
import subprocess
import sys
import time

MAGICS = {0xA1B2C3D4: 1_000_000, 0xA1B23C4D: 1_000_000_000}


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    for endian in "<>":
        magic = struct.unpack(endian + "I", data[:4])[0]
        if magic in MAGICS:
            break
    else:
        sys.exit("feed.py: %s is not a classic pcap" % path)
    records, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        records.append((sec, frac, orig, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return endian, data[:24], records


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--shift", type=int, default=1000)
    ap.add_argument("--gap", type=float, default=0.0)
    ap.add_argument("--hook", nargs=2, action="append", default=[], metavar=("K", "CMD"))
    a = ap.parse_args()
    endian, header, records = read_pcap(a.pcap)
    hooks = {}
    for k, cmd in a.hook:
        hooks.setdefault(int(k), []).append(cmd)
    out = sys.stdout.buffer
    out.write(header)
    try:
        for r in range(a.n):
            for sec, frac, orig, body in records:
                out.write(struct.pack(endian + "IIII", sec + r * a.shift, frac, len(body), orig))
                out.write(body)
            out.flush()
            for cmd in hooks.get(r + 1, []):
                subprocess.run(cmd, shell=True, check=False)
            if a.gap and r + 1 < a.n:
                time.sleep(a.gap)
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
