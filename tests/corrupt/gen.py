#!/usr/bin/env python3
"""gen.py SOURCE.pcap OUTDIR - writes corrupt and unusual captures made from SOURCE (a pcap of
Ethernet/IP/TCP packets carrying cleartext gRPC over HTTP/2, e.g. pcaps/python-unary-metadata.pcap)
into OUTDIR, and OUTDIR/cases.tsv saying what grpcwatch must do with each of them.

Standard library only. The expectations are derived here, from the bytes written and from the
HTTP/2 frames of SOURCE, never from grpcwatch's output:
  - a call has started once the packet carrying its request HEADERS (client -> server) was read;
    grpcwatch writes a grpc record for every started call (at the end of input at the latest);
  - a call is complete once the packet carrying the server's HEADERS with END_STREAM (the
    trailers) was read; its record then says "ended_by":"end_stream".
A fault inside packet K (1-based) means packets 1..K-1 were read, so the expected counts are those
of packets 1..K-1 and the error line says "after packet K-1".

cases.tsv columns (tab-separated, "-" for none):
  name file input(file|stdin) filter exit grpc_records completed snapped same_as_source stderr_text
snapped: the stats record's decoder.snapped value; same_as_source: 1 when the grpc records must
equal those of SOURCE (flow_id aside: it is random per run); stderr_text: a fixed string the
single stderr line must contain (exit 0 cases must leave stderr empty).
"""
import os
import struct
import sys

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
PCAPNG_BLOCK_CAP = 16 * 1024 * 1024  # include/grpcwatch/pcapng.h GW_PCAPNG_MAX_BLOCK
LIBPCAP_MAX_SNAPLEN = 262144


# ---- reading the source ---------------------------------------------------------------------

def read_pcap(path):
    """Returns (linktype, snaplen, [(sec, usec, data, origlen)]) of a microsecond pcap."""
    raw = open(path, "rb").read()
    magic = raw[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        end = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        end = ">"
    else:
        raise SystemExit("%s: not a microsecond pcap" % path)
    _, _, _, _, snaplen, linktype = struct.unpack(end + "HHiIII", raw[4:24])
    recs, off = [], 24
    while off < len(raw):
        sec, usec, caplen, origlen = struct.unpack(end + "IIII", raw[off:off + 16])
        recs.append((sec, usec, raw[off + 16:off + 16 + caplen], origlen))
        off += 16 + caplen
    if off != len(raw):
        raise SystemExit("%s: trailing bytes" % path)
    return linktype, snaplen, recs


def tcp_of(frame):
    """(sport, dport, flags, payload) of an Ethernet/IPv4|IPv6/TCP frame, or None."""
    ethertype = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and ip[9] == 6:
        tcp = ip[(ip[0] & 15) * 4:struct.unpack(">H", ip[2:4])[0]]
    elif ethertype == 0x86DD and ip[6] == 6:
        tcp = ip[40:40 + struct.unpack(">H", ip[4:6])[0]]
    else:
        return None
    sport, dport = struct.unpack(">HH", tcp[:4])
    return sport, dport, tcp[13], tcp[(tcp[12] >> 4) * 4:]


def h2_frames(payload):
    """HTTP/2 frames (type, flags, stream) of a segment that starts at a frame boundary."""
    if payload.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
        payload = payload[24:]
    frames = []
    while payload:
        if len(payload) < 9:
            raise SystemExit("source: a segment does not end at an HTTP/2 frame boundary")
        length = int.from_bytes(payload[:3], "big")
        frames.append((payload[3], payload[4], int.from_bytes(payload[5:9], "big") & 0x7FFFFFFF))
        payload = payload[9 + length:]
    return frames


def call_events(recs):
    """Per packet (0-based): (calls started in it, calls completed in it), and the server port."""
    client = None
    for _, _, data, _ in recs:
        t = tcp_of(data)
        if t and t[2] & 0x12 == 0x02:  # SYN without ACK: the client's
            client = t[0]
            break
    if client is None:
        raise SystemExit("source: no connection start (SYN)")
    server, events = None, []
    for _, _, data, _ in recs:
        started = completed = 0
        t = tcp_of(data)
        if t and t[3]:
            for ftype, flags, _ in h2_frames(t[3]):
                if ftype == 1 and t[0] == client:
                    started += 1
                elif ftype == 1 and flags & 0x1:
                    completed += 1
        if t and t[0] == client:
            server = t[1]
        events.append((started, completed))
    return events, server


# ---- writing pcap ---------------------------------------------------------------------------

def pcap_header(snaplen, linktype, magic=0xA1B2C3D4):
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(sec, usec, data, origlen, caplen=None):
    return struct.pack("<IIII", sec, usec, len(data) if caplen is None else caplen, origlen) + data


def ipv4_checksum(hdr):
    s = sum(struct.unpack(">10H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def unrelated_tcp_frame(payload_len):
    """An Ethernet/IPv4/TCP segment of a flow the source does not have (10.9.9.9:40000 ->
    10.9.9.8:40001, ACK), payload_len bytes of 'z'."""
    tcp = struct.pack(">HHIIBBHHH", 40000, 40001, 1000, 1, 5 << 4, 0x10, 65535, 0, 0)
    total = 20 + len(tcp) + payload_len
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 6, 0,
                     bytes([10, 9, 9, 9]), bytes([10, 9, 9, 8]))
    ip = ip[:10] + struct.pack(">H", ipv4_checksum(ip)) + ip[12:]
    eth = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + b"\x08\x00"
    return eth + ip + tcp + b"z" * payload_len


# ---- writing pcapng -------------------------------------------------------------------------

def ng_block(btype, body, end="<"):
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(end + "II", btype, total) + body + struct.pack(end + "I", total)


def ng_shb(end="<"):
    return ng_block(0x0A0D0D0A, struct.pack(end + "IHHq", 0x1A2B3C4D, 1, 0, -1), end)


def ng_idb(linktype, tsresol=None, end="<"):
    opts = b""
    if tsresol is not None:
        opts += struct.pack(end + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
    opts += struct.pack(end + "HH", 0, 0)
    return ng_block(1, struct.pack(end + "HHI", linktype, 0, LIBPCAP_MAX_SNAPLEN) + opts, end)


def ng_epb(ifid, units, data, origlen, end="<"):
    body = struct.pack(end + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(data), origlen)
    return ng_block(6, body + data, end)


class NgFile:
    """A pcapng file being built; remembers where each packet's block starts."""

    def __init__(self):
        self.data = b""
        self.packet_blocks = []  # (offset, length) of packet k's block, 0-based

    def add(self, block):
        self.data += block

    def add_packet(self, block):
        self.packet_blocks.append((len(self.data), len(block)))
        self.data += block


def strip_ethernet(frame):
    if struct.unpack(">H", frame[12:14])[0] not in (0x0800, 0x86DD):
        raise SystemExit("source: only untagged IPv4/IPv6 Ethernet frames can become raw IP")
    return frame[14:]


def multi_linktype(recs):
    """Interface 0 Ethernet (nanosecond timestamps), interface 1 raw IP (microseconds, the
    default); packets alternate, odd ones lose their Ethernet header."""
    f = NgFile()
    f.add(ng_shb())
    f.add(ng_idb(LINKTYPE_ETHERNET, tsresol=9))
    f.add(ng_idb(LINKTYPE_RAW))
    for i, (sec, usec, data, origlen) in enumerate(recs):
        if i % 2 == 0:
            f.add_packet(ng_epb(0, (sec * 1000000 + usec) * 1000, data, origlen))
        else:
            d = strip_ethernet(data)
            f.add_packet(ng_epb(1, sec * 1000000 + usec, d, origlen - 14))
    return f


def two_sections(recs, split):
    """Section 1 little-endian, Ethernet, packets [0, split); section 2 big-endian, whose only
    interface (id 0 again: a section resets them) is raw IP counting 10^-7 s, the rest."""
    f = NgFile()
    f.add(ng_shb("<"))
    f.add(ng_idb(LINKTYPE_ETHERNET))
    for sec, usec, data, origlen in recs[:split]:
        f.add_packet(ng_epb(0, sec * 1000000 + usec, data, origlen))
    f.add(ng_shb(">"))
    f.add(ng_idb(LINKTYPE_RAW, tsresol=7, end=">"))
    for sec, usec, data, origlen in recs[split:]:
        units = (sec * 1000000 + usec) * 10
        f.add_packet(ng_epb(0, units, strip_ethernet(data), origlen - 14, ">"))
    return f


# ---- the cases ------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    linktype, snaplen, recs = read_pcap(src)
    if linktype != LINKTYPE_ETHERNET:
        raise SystemExit("source: Ethernet captures only")
    events, server_port = call_events(recs)
    calls = sum(s for s, _ in events)
    if calls < 2 or sum(c for _, c in events) != calls:
        raise SystemExit("source: want at least 2 complete calls, found %d" % calls)

    def before(k):
        """(started, completed) after packets 1..k-1 (k 1-based: the packet with the fault)."""
        return (sum(s for s, _ in events[:k - 1]), sum(c for _, c in events[:k - 1]))

    # The packet after which call 1 is complete and call 2 not started: faults go right after.
    done1 = next(i for i in range(1, len(recs) + 1) if before(i + 1) == (1, 1))
    mid = done1 + 1                           # 1-based: first packet after call 1
    last_start = max(i for i, (s, _) in enumerate(events) if s) + 1
    body_fault = next(k for k in range(last_start + 1, len(recs) + 1)
                      if before(k)[0] == calls and before(k)[1] < calls)

    head = pcap_header(snaplen, linktype)
    rec_bytes = [pcap_record(*r) for r in recs]
    offsets = [len(head) + sum(len(b) for b in rec_bytes[:i]) for i in range(len(recs))]
    whole = head + b"".join(rec_bytes)
    cases = []

    def case(name, data, exit_status, counts, stderr="-", snapped="-", same=0, filt="-",
             mode="file"):
        path = os.path.join(out, name)
        with open(path, "wb") as fh:
            fh.write(data)
        cases.append((name, path, mode, filt, exit_status, counts[0], counts[1], snapped, same,
                      stderr))

    everything = (calls, calls)
    case("bad-magic.pcap", b"\xde\xad\xbe\xef" + whole[4:], 2, (0, 0),
         "not a readable pcap or pcapng capture")
    # libpcap cannot open it: "not a capture" (2), like an empty file (tests/cli)
    case("trunc-global-header.pcap", whole[:10], 2, (0, 0), "truncated dump file")
    case("trunc-record-header.pcap", whole[:offsets[mid - 1] + 7], 1, before(mid),
         "after packet %d: truncated dump file" % (mid - 1))
    case("trunc-record-body.pcap", whole[:offsets[body_fault - 1] + 16 + 20], 1,
         before(body_fault), "after packet %d: truncated dump file" % (body_fault - 1))

    # caplen above the file's snaplen but within libpcap's maximum: libpcap cuts it to the
    # snaplen. It is an unrelated TCP segment, so the cut is counted as snapped exactly once.
    small_snap = max(len(d) for _, _, d, _ in recs) + 64
    extra = unrelated_tcp_frame(small_snap + 400)
    sec, usec = recs[mid - 1][0], recs[mid - 1][1]
    data = (pcap_header(small_snap, linktype) + b"".join(rec_bytes[:mid - 1])
            + pcap_record(sec, usec, extra, len(extra)) + b"".join(rec_bytes[mid - 1:]))
    case("over-snaplen.pcap", data, 0, everything, snapped=1, same=1)

    giant = struct.pack("<IIII", sec, usec, 0x7FFFFFFF, 0x7FFFFFFF) + b"\0" * 64
    case("giant-caplen.pcap", head + b"".join(rec_bytes[:mid - 1]) + giant, 1, before(mid),
         "after packet %d: invalid packet capture length 2147483647" % (mid - 1))

    zeros = b"".join(b + pcap_record(r[0], r[1], b"", 0) for b, r in zip(rec_bytes, recs))
    case("zero-length.pcap", head + zeros, 0, everything, same=1)

    junk = pcap_record(sec, usec, b"\xab" * LIBPCAP_MAX_SNAPLEN, LIBPCAP_MAX_SNAPLEN)
    case("junk-256k.pcap", pcap_header(LIBPCAP_MAX_SNAPLEN, linktype)
         + b"".join(rec_bytes[:mid - 1]) + junk + b"".join(rec_bytes[mid - 1:]), 0, everything,
         same=1)

    # pcapng
    ng = multi_linktype(recs)
    case("multi-linktype.pcapng", ng.data, 0, everything, same=1)
    case("multi-linktype-stdin.pcapng", ng.data, 0, everything, same=1, mode="stdin")
    case("multi-linktype-filter-keep.pcapng", ng.data, 0, everything, same=1,
         filt="tcp port %d" % server_port)
    case("multi-linktype-filter-drop.pcapng", ng.data, 0, (0, 0), filt="tcp port 1")
    case("two-sections.pcapng", two_sections(recs, mid - 1).data, 0, everything, same=1)

    off, length = ng.packet_blocks[body_fault - 1]
    case("ng-truncated.pcapng", ng.data[:off + length - 10], 1, before(body_fault),
         "after packet %d: pcapng: block at offset %d: truncated: the block is %d bytes long, "
         "the file ends after %d" % (body_fault - 1, off, length, length - 10))

    off, length = ng.packet_blocks[mid - 1]

    def patched(at, value):
        b = bytearray(ng.data)
        b[at:at + 4] = struct.pack("<I", value)
        return bytes(b)

    prefix = "after packet %d: pcapng: block at offset %d: " % (mid - 1, off)
    case("ng-bad-length.pcapng", patched(off + 4, length + 2), 1, before(mid),
         prefix + "total length %d is not a multiple of 4" % (length + 2))
    case("ng-huge-length.pcapng", patched(off + 4, 0x7FFFFFF0), 1, before(mid),
         prefix + "total length %d exceeds the %d-byte cap" % (0x7FFFFFF0, PCAPNG_BLOCK_CAP))
    case("ng-short-length.pcapng", patched(off + 4, 8), 1, before(mid),
         prefix + "total length 8 is below the 12-byte minimum")
    case("ng-trailer-mismatch.pcapng", patched(off + length - 4, length + 4), 1, before(mid),
         prefix + "trailing total length %d differs from the leading %d" % (length + 4, length))
    case("ng-caplen-past-block.pcapng", patched(off + 20, length), 1, before(mid),
         prefix + "captured length %d exceeds the" % length)
    case("ng-undefined-interface.pcapng", patched(off + 8, 5), 1, before(mid),
         prefix + "interface id 5 is not defined (2 interfaces in this section)")
    case("ng-truncated-shb.pcapng", ng.data[:20], 2, (0, 0),
         "not a readable pcap or pcapng capture")

    with open(os.path.join(out, "cases.tsv"), "w") as fh:
        for c in cases:
            fh.write("\t".join(str(x) for x in c) + "\n")


if __name__ == "__main__":
    main()
