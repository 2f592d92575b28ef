#!/usr/bin/python3
"""transform.py - turn our loopback gRPC captures into what a SPAN port delivers.

    /usr/bin/python3 tests/transform/transform.py [--only NAME] [--describe SOURCE]

Regenerates pcaps/transformed/<transformation>.<source>.pcap and
pcaps/transformed/expected/<same>.json from pcaps/<source>.pcap and its truth
pcaps/expected/<source>.json. Deterministic: fixed seeds, no clock, so running
it twice gives identical files (the checker does not run it; the outputs are
committed).

How the expectations are derived (never from grpcwatch's output):
  1. The source connection is decoded here, independently of the C code: TCP
     byte streams per direction, HTTP/2 frames, every HPACK header block (the
     strings through libnghttp2's inflater via ctypes, the representation of
     every field - indexed, literal, which index - by our own parser), and
     the gRPC calls with the offsets of every 5-byte message prefix. The
     decoded calls are checked against the source truth first: same paths,
     statuses and message counts, or the script stops.
  2. Each transformation says which bytes of each direction a sensor receives
     and where it loses its footing (a pickup or a gap). From that an
     observation model derives, per call and per field, what a correct
     passive sensor can know:
       - HPACK after a pickup or an unknown loss: a reference to a dynamic
         table entry inserted before that point is unknowable; entries
         inserted since are known (RFC 7541 2.3.3, newest first);
       - HTTP/2 framing resumes at the first frame boundary after the point;
         a gap that lies inside one DATA frame's payload (frame header seen,
         frame end after the gap) loses no framing and no HPACK state;
       - gRPC message counts are exact only for a stream direction whose
         DATA was all seen from its first byte (HEADERS of that direction
         seen); otherwise [messages surely seen, true count];
       - a call is required only when something received proves it is gRPC
         (a known request or response content-type application/grpc*, or a
         known grpc-status trailer); otherwise it is optional.
     Unknowable fields are null in the expected call and named with the
     reason in its "unknowable" object.

Captures: Ethernet (locally administered MACs), segments re-cut to a 1448-byte
MSS for the network-level transformations, addresses rewritten to 192.0.2.10
-> 198.51.100.20 (IPv6: 2001:db8:1::10 -> 2001:db8:2::20; tunnel endpoints
203.0.113.1/.2); checksums are computed (tshark shows them valid) though the
sensor does not verify them. README.md beside this file lists them all.
"""
import argparse
import ctypes
import ctypes.util
import ipaddress
import json
import os
import random
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PCAPS = os.path.join(ROOT, "pcaps")
OUT = os.path.join(PCAPS, "transformed")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
C2S, S2C = 0, 1
DIRNAME = ("client->server", "server->client")

# --------------------------------------------------------------------------
# pcap I/O (classic microsecond pcap, little endian, as tcpdump writes it)
# --------------------------------------------------------------------------


def read_pcap(path):
    data = open(path, "rb").read()
    magic, _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xA1B2C3D4:
        raise SystemExit("%s: not a little-endian microsecond pcap" % path)
    recs, off = [], 24
    while off < len(data):
        sec, usec, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
        if caplen != wirelen:
            raise SystemExit("%s: snapped packet" % path)
        recs.append((sec * 1000000 + usec, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return linktype, recs


def write_pcap(path, frames, linktype=1, monotonic=True):
    """frames: list of (ts_us, bytes). Timestamps are made non-decreasing
    unless monotonic is False (then each frame keeps its own, which may step
    backwards: shuffle-ts-backwards)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    last = 0
    for ts, b in frames:
        if monotonic:
            ts = max(ts, last)
        last = ts
        out.append(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(b), len(b)))
        out.append(b)
    with open(path, "wb") as f:
        f.write(b"".join(out))


# --------------------------------------------------------------------------
# The source connection: TCP segments of one loopback connection
# --------------------------------------------------------------------------


class Seg:
    """One TCP segment of the connection (IP/Ethernet stripped)."""
    __slots__ = ("ts", "dir", "flags", "seq", "ack", "win", "opts", "payload", "urg", "garbage")

    def __init__(self, ts, d, flags, seq, ack, win, opts, payload, urg=0):
        self.ts, self.dir, self.flags, self.seq, self.ack = ts, d, flags, seq, ack
        self.win, self.opts, self.payload, self.urg = win, opts, payload, urg
        self.garbage = False  # a later copy with conflicting bytes: never the truth

    def copy(self, **kw):
        s = Seg(self.ts, self.dir, self.flags, self.seq, self.ack, self.win, self.opts,
                self.payload, self.urg)
        for k, v in kw.items():
            setattr(s, k, v)
        return s


class Conn:
    def __init__(self, name):
        self.name = name
        linktype, recs = read_pcap(os.path.join(PCAPS, name + ".pcap"))
        if linktype != 1:
            raise SystemExit("%s: link type %d, want EN10MB" % (name, linktype))
        self.segs = []
        self.addr = None  # (client ip bytes, client port, server ip bytes, server port)
        for ts, p in recs:
            if p[12:14] != b"\x08\x00":
                raise SystemExit("%s: non-IPv4 frame" % name)
            ip = p[14:]
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack("!H", ip[2:4])[0]
            if ip[9] != 6:
                raise SystemExit("%s: non-TCP packet" % name)
            src, dst = ip[12:16], ip[16:20]
            tcp = ip[ihl:tot]
            sport, dport, seq, ack, offflags, win, _sum, urg = struct.unpack("!HHIIHHHH", tcp[:20])
            doff = (offflags >> 12) * 4
            flags = offflags & 0x1FF
            if self.addr is None:
                if flags & 0x12 != 0x02:
                    raise SystemExit("%s: does not start with a SYN" % name)
                self.addr = (src, sport, dst, dport)
            if (src, sport, dst, dport) == self.addr:
                d = C2S
            elif (dst, dport, src, sport) == self.addr:
                d = S2C
            else:
                raise SystemExit("%s: more than one connection" % name)
            self.segs.append(Seg(ts, d, flags, seq, ack, win, tcp[20:doff], tcp[doff:], urg))
        self.isn = [None, None]
        for s in self.segs:
            if s.flags & 0x02 and self.isn[s.dir] is None:
                self.isn[s.dir] = s.seq
        self.streams = [self._stream(d) for d in (C2S, S2C)]

    def rel(self, d, seq):
        """Stream offset of sequence number seq in direction d (0 = first data byte)."""
        return (seq - self.isn[d] - 1) & 0xFFFFFFFF

    def _stream(self, d):
        buf = bytearray()
        for s in self.segs:
            if s.dir != d or not s.payload:
                continue
            off = self.rel(d, s.seq)
            if off > len(buf):
                raise SystemExit("%s: hole in the source capture" % self.name)
            end = off + len(s.payload)
            if buf[off:end] != s.payload[:max(0, len(buf) - off)]:
                raise SystemExit("%s: conflicting retransmission in the source" % self.name)
            buf[off:end] = s.payload
        return bytes(buf)


# --------------------------------------------------------------------------
# HTTP/2 frames and HPACK
# --------------------------------------------------------------------------

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, END_HEADERS, PADDED, PRIO = 0x1, 0x4, 0x8, 0x20


class Frame:
    __slots__ = ("dir", "start", "end", "type", "flags", "sid", "payload", "pstart")

    def __init__(self, d, start, ftype, flags, sid, payload, pstart):
        self.dir, self.start, self.type, self.flags, self.sid = d, start, ftype, flags, sid
        self.payload, self.pstart = payload, pstart
        self.end = pstart + len(payload)


def parse_frames(stream, d):
    off = len(PREFACE) if d == C2S else 0
    if d == C2S and not stream.startswith(PREFACE):
        raise SystemExit("client stream does not start with the HTTP/2 preface")
    frames = []
    while off < len(stream):
        if off + 9 > len(stream):
            raise SystemExit("truncated frame header at %d" % off)
        ln = int.from_bytes(stream[off:off + 3], "big")
        ftype, flags = stream[off + 3], stream[off + 4]
        sid = struct.unpack("!I", stream[off + 5:off + 9])[0] & 0x7FFFFFFF
        if off + 9 + ln > len(stream):
            raise SystemExit("truncated frame at %d" % off)
        frames.append(Frame(d, off, ftype, flags, sid, stream[off + 9:off + 9 + ln], off + 9))
        off += 9 + ln
    return frames


class Nghttp2Inflater:
    """libnghttp2's HPACK inflater through ctypes: the reference for strings."""

    class NV(ctypes.Structure):
        _fields_ = [("name", ctypes.POINTER(ctypes.c_uint8)), ("value", ctypes.POINTER(ctypes.c_uint8)),
                    ("namelen", ctypes.c_size_t), ("valuelen", ctypes.c_size_t), ("flags", ctypes.c_uint8)]

    def __init__(self):
        lib = ctypes.CDLL(ctypes.util.find_library("nghttp2") or "libnghttp2.so.14")
        lib.nghttp2_hd_inflate_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        lib.nghttp2_hd_inflate_hd2.restype = ctypes.c_ssize_t
        lib.nghttp2_hd_inflate_hd2.argtypes = [ctypes.c_void_p, ctypes.POINTER(self.NV),
                                               ctypes.POINTER(ctypes.c_int), ctypes.c_void_p,
                                               ctypes.c_size_t, ctypes.c_int]
        lib.nghttp2_hd_inflate_end_headers.argtypes = [ctypes.c_void_p]
        lib.nghttp2_hd_inflate_change_table_size.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.nghttp2_hd_inflate_del.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.h = ctypes.c_void_p()
        if lib.nghttp2_hd_inflate_new(ctypes.byref(self.h)) != 0:
            raise SystemExit("nghttp2_hd_inflate_new failed")

    def __del__(self):
        if getattr(self, "h", None):
            self.lib.nghttp2_hd_inflate_del(self.h)

    def set_max(self, size):
        self.lib.nghttp2_hd_inflate_change_table_size(self.h, size)

    def decode(self, block):
        out, nv, fl = [], self.NV(), ctypes.c_int(0)
        buf = ctypes.create_string_buffer(block, len(block))
        off = 0
        while True:
            rv = self.lib.nghttp2_hd_inflate_hd2(self.h, ctypes.byref(nv), ctypes.byref(fl),
                                                ctypes.addressof(buf) + off, len(block) - off, 1)
            if rv < 0:
                raise SystemExit("nghttp2 HPACK error %d" % rv)
            off += rv
            if fl.value & 0x02:
                out.append((ctypes.string_at(nv.name, nv.namelen), ctypes.string_at(nv.value, nv.valuelen)))
            if fl.value & 0x01:
                self.lib.nghttp2_hd_inflate_end_headers(self.h)
                return out
            if rv == 0 and not fl.value & 0x02:
                raise SystemExit("nghttp2 HPACK: no progress")


def hpack_int(b, off, prefix):
    mask = (1 << prefix) - 1
    v = b[off] & mask
    off += 1
    if v < mask:
        return v, off
    shift = 0
    while True:
        c = b[off]
        off += 1
        v += (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, off


def hpack_skip_string(b, off):
    n, off = hpack_int(b, off, 7)
    return off + n


def hpack_structure(block):
    """Our own walk over a header block: per field its representation.
    Yields dicts: kind in ('indexed', 'literal', 'size_update'); index (0 =
    new name); incremental (bool); size (for size updates)."""
    off, out = 0, []
    while off < len(block):
        c = block[off]
        if c & 0x80:
            idx, off = hpack_int(block, off, 7)
            out.append({"kind": "indexed", "index": idx, "incremental": False})
        elif c & 0xE0 == 0x20:
            size, off = hpack_int(block, off, 5)
            out.append({"kind": "size_update", "size": size})
        else:
            incremental = bool(c & 0x40)
            idx, off = hpack_int(block, off, 6 if incremental else 4)
            if idx == 0:
                off = hpack_skip_string(block, off)
            off = hpack_skip_string(block, off)
            out.append({"kind": "literal", "index": idx, "incremental": incremental})
    return out


class Block:
    """One header block: HEADERS (+ CONTINUATION)."""

    def __init__(self, d, sid, start, end, end_stream, fragment):
        self.dir, self.sid, self.start, self.end = d, sid, start, end
        self.end_stream, self.fragment = end_stream, fragment
        self.fields = []     # dicts: name, value, kind, index, incremental, entry (dyn entry id or None)
        self.seq = None      # position among the blocks of its direction


def header_blocks(frames):
    blocks, cur = [], None
    for f in frames:
        if f.type == HEADERS:
            p = f.payload
            pad = 0
            if f.flags & PADDED:
                pad, p = p[0], p[1:]
            if f.flags & PRIO:
                p = p[5:]
            p = p[:len(p) - pad]
            cur = Block(f.dir, f.sid, f.start, f.end, bool(f.flags & END_STREAM), bytearray(p))
            blocks.append(cur)
        elif f.type == CONTINUATION:
            cur.fragment += f.payload
            cur.end = f.end
        elif f.type == PUSH_PROMISE:
            raise SystemExit("PUSH_PROMISE in a gRPC source")
        if f.type in (HEADERS, CONTINUATION) and f.flags & END_HEADERS:
            cur = None
    return blocks


STATIC_TABLE_LEN = 61


def settings_table_size(frames):
    """SETTINGS_HEADER_TABLE_SIZE values a peer sent, with their offsets."""
    out = []
    for f in frames:
        if f.type == SETTINGS and not f.flags & 1:
            for i in range(0, len(f.payload) - 5, 6):
                k, v = struct.unpack("!HI", f.payload[i:i + 6])
                if k == 1:
                    out.append((f.start, v))
    return out


def decode_blocks(blocks, decoder_settings):
    """Full decode of one direction's blocks (from the connection start).
    Annotates every field with its name/value and, for dynamic references,
    the id of the table entry it refers to; every inserted entry gets an id
    (its insertion number) and the id of the block that inserted it."""
    inf = Nghttp2Inflater()
    if decoder_settings:
        inf.set_max(max(v for _, v in decoder_settings))
    table = []  # newest first: (entry_id, size, name, value)
    max_size = 4096
    next_id = 0
    for bi, b in enumerate(blocks):
        b.seq = bi
        nvs = inf.decode(bytes(b.fragment))
        structure = hpack_structure(bytes(b.fragment))
        fields = [s for s in structure if s["kind"] != "size_update"]
        if len(fields) != len(nvs):
            raise SystemExit("HPACK structure walk disagrees with nghttp2")
        k = 0
        b.fields = []
        for s in structure:
            if s["kind"] == "size_update":
                max_size = s["size"]
                b.fields.append(dict(s))
                table = evict(table, max_size)
                continue
            name, value = nvs[k]
            k += 1
            f = dict(s, name=name.decode("latin-1"), value=value, entry=None, name_entry=None)
            idx = s["index"]
            if idx > STATIC_TABLE_LEN:
                entry_id, _, ename, evalue = table[idx - STATIC_TABLE_LEN - 1]
                if ename != name or (s["kind"] == "indexed" and evalue != value):
                    raise SystemExit("our dynamic table model disagrees with nghttp2")
                if s["kind"] == "indexed":
                    f["entry"] = entry_id
                else:
                    f["name_entry"] = entry_id
            if s["incremental"]:
                size = len(name) + len(value) + 32
                table = evict([(next_id, size, name, value)] + table, max_size)
                f["inserted"] = next_id
                next_id += 1
            b.fields.append(f)
    return blocks


def evict(table, max_size):
    total = 0
    for i, entry in enumerate(table):
        total += entry[1]
        if total > max_size:
            return table[:i]
    return table


# --------------------------------------------------------------------------
# gRPC calls of the source connection
# --------------------------------------------------------------------------

NOT_METADATA = {"content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding"}


class Call:
    def __init__(self, sid):
        self.sid = sid
        self.blocks = {C2S: [], S2C: []}
        self.data = {C2S: [], S2C: []}     # DATA frames
        self.prefixes = {C2S: [], S2C: []}  # (start, end) offsets of each 5-byte message prefix (may span frames)
        self.other = []                      # RST_STREAM, WINDOW_UPDATE... on this stream
        self.truth = None


def data_payload_ranges(f):
    """Offsets of the DATA payload of frame f without padding: list of (start, end)."""
    if f.flags & PADDED:
        pad = f.payload[0]
        return [(f.pstart + 1, f.end - pad)]
    return [(f.pstart, f.end)]


def message_prefixes(frames, stream):
    """Walks the 5-byte gRPC framing over a stream direction's DATA frames."""
    out, prefix_start, prefix_have, body_left, plen = [], None, 0, 0, bytearray()
    for f in frames:
        for a, b in data_payload_ranges(f):
            off = a
            while off < b:
                if body_left:
                    take = min(body_left, b - off)
                    body_left -= take
                    off += take
                    continue
                if prefix_have == 0:
                    prefix_start = off
                take = min(5 - prefix_have, b - off)
                plen += stream[off:off + take]
                prefix_have += take
                off += take
                if prefix_have == 5:
                    out.append((prefix_start, off))
                    body_left = struct.unpack("!I", bytes(plen[1:5]))[0]
                    prefix_have, plen = 0, bytearray()
    return out


def field(block, name):
    for f in block.fields:
        if f.get("name") == name:
            return f
    return None


class Model:
    """The decoded source connection."""

    def __init__(self, name):
        self.name = name
        self.conn = Conn(name)
        self.truth = json.load(open(os.path.join(PCAPS, "expected", name + ".json")))
        self.frames = {d: parse_frames(self.conn.streams[d], d) for d in (C2S, S2C)}
        self.blocks = {}
        for d in (C2S, S2C):
            peer_settings = settings_table_size(self.frames[1 - d])
            self.blocks[d] = decode_blocks(header_blocks(self.frames[d]), peer_settings)
        calls = {}
        for d in (C2S, S2C):
            for b in self.blocks[d]:
                calls.setdefault(b.sid, Call(b.sid)).blocks[d].append(b)
            for f in self.frames[d]:
                if f.type == DATA:
                    calls.setdefault(f.sid, Call(f.sid)).data[d].append(f)
                elif f.sid and f.type not in (HEADERS, CONTINUATION):
                    calls.setdefault(f.sid, Call(f.sid)).other.append(f)
        self.calls = [calls[k] for k in sorted(calls)]
        for c in self.calls:
            for d in (C2S, S2C):
                c.prefixes[d] = message_prefixes(c.data[d], self.conn.streams[d])
        self._match_truth()

    def _match_truth(self):
        grpc_calls = [c for c in self.calls if c.blocks[C2S] and
                      (field(c.blocks[C2S][0], "content-type") or {}).get("value", b"").startswith(b"application/grpc")]
        want = self.truth["calls"]
        if len(grpc_calls) != len(want):
            raise SystemExit("%s: decoded %d gRPC calls, truth has %d" % (self.name, len(grpc_calls), len(want)))
        for c, w in zip(grpc_calls, want):
            req = c.blocks[C2S][0]
            got = {
                "path": field(req, ":path")["value"].decode(),
                "request_messages": len(c.prefixes[C2S]),
                "response_messages": len(c.prefixes[S2C]),
            }
            status = None
            for b in c.blocks[S2C]:
                f = field(b, "grpc-status")
                if f:
                    status = int(f["value"])
            got["grpc_status"] = status
            keys = [f["name"] for f in req.fields if f.get("name") and not f["name"].startswith(":")
                    and f["name"] not in NOT_METADATA]
            got["metadata_keys"] = sorted(set(keys))
            for k, v in got.items():
                wv = sorted(w[k]) if k == "metadata_keys" else w[k]
                if v != wv:
                    raise SystemExit("%s stream %d: decoded %s=%r, truth %r" % (self.name, c.sid, k, v, wv))
            c.truth = w
        self.grpc_calls = grpc_calls

    def describe(self):
        for d in (C2S, S2C):
            print("== %s %s: %d bytes" % (self.name, DIRNAME[d], len(self.conn.streams[d])))
            for s in self.conn.segs:
                if s.dir == d and s.payload:
                    a = self.conn.rel(d, s.seq)
                    print("   segment [%d, %d) ts %d" % (a, a + len(s.payload), s.ts))
            for f in self.frames[d]:
                extra = ""
                if f.type == HEADERS:
                    b = [b for b in self.blocks[d] if b.start == f.start][0]
                    extra = " ".join("%s%s%s" % ("+" if x.get("inserted") is not None else "",
                                                 ("@%d" % x["index"]) if x.get("index", 0) > STATIC_TABLE_LEN else "",
                                                 x.get("name", "SIZE")) for x in b.fields)
                print("   frame [%d, %d) type %d flags 0x%x sid %d %s" % (f.start, f.end, f.type, f.flags, f.sid, extra))


# --------------------------------------------------------------------------
# What a correct passive sensor can know from a transformed capture
# --------------------------------------------------------------------------


def merge_ranges(ranges):
    out = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(r) for r in out]


def covered(ranges, a, b):
    return a >= b or any(x <= a and b <= y for x, y in ranges)


class View:
    """The bytes a sensor gets per direction, and where it loses its footing.

    from_start[d]: the direction's SYN is in the capture, so offset 0 is known.
    recv[d]: merged byte ranges received with their true content (first copy).
    resets[d]: offsets after which HPACK and framing start over: the pickup
      point of a direction seen without its start, and the end of every hole
      that is not provably inside one DATA frame's payload.
    soft_holes[d]: holes inside one DATA frame's payload (framing and HPACK
      survive them; only that stream's message framing may not).
    """

    def __init__(self, model, segs):
        self.model = model
        conn = model.conn
        self.from_start = [any(s.dir == d and s.flags & 0x02 for s in segs) for d in (C2S, S2C)]
        self.recv, self.resets, self.soft_holes, self.hard_holes = {}, {}, {}, {}
        for d in (C2S, S2C):
            ranges = []
            for s in segs:
                if s.dir == d and s.payload and not s.garbage:
                    a = conn.rel(d, s.seq)
                    ranges.append((a, a + len(s.payload)))
            recv = merge_ranges(ranges)
            self.recv[d] = recv
            resets, soft, hard = [], [], []
            if recv and not self.from_start[d]:
                resets.append(recv[0][0])
            holes = []
            if recv and self.from_start[d] and recv[0][0] > 0:
                holes.append((0, recv[0][0]))
            holes += [(recv[i][1], recv[i + 1][0]) for i in range(len(recv) - 1)]
            for a, b in holes:
                f = self.frame_at(d, a)
                if f is not None and f.type == DATA and f.pstart <= a and b <= f.end and \
                        covered(recv, f.start, f.pstart):
                    soft.append((a, b))
                else:
                    hard.append((a, b))
                    resets.append(b)
            self.resets[d], self.soft_holes[d], self.hard_holes[d] = resets, soft, hard

    def frame_at(self, d, off):
        for f in self.model.frames[d]:
            if f.start <= off < f.end:
                return f
        return None

    def received(self, d, a, b):
        return covered(self.recv[d], a, b)

    def reset_before(self, d, off):
        """The last reset at or before off, or None if known from the start."""
        r = [x for x in self.resets[d] if x <= off]
        return max(r) if r else None

    def block_received(self, b):
        return self.received(b.dir, b.start, b.end)

    def frame_parsed(self, f):
        return self.received(f.dir, f.start, f.end)

    def frame_header_seen(self, f):
        return self.received(f.dir, f.start, f.pstart)

    def field_knowledge(self, b):
        """Per field of a received block: (name_known, value_known)."""
        r = self.reset_before(b.dir, b.start)
        if r is None:
            return [(True, True) for _ in b.fields]
        known_entries = set()
        for ob in self.model.blocks[b.dir]:
            if r <= ob.start < b.start:
                for f in ob.fields:
                    if f.get("inserted") is not None:
                        known_entries.add(f["inserted"])
        out = []
        for f in b.fields:
            if f["kind"] == "size_update":
                out.append((True, True))
            elif f["kind"] == "indexed":
                k = f["entry"] is None or f["entry"] in known_entries
                out.append((k, k))
            else:
                out.append((f["name_entry"] is None or f["name_entry"] in known_entries, True))
        return out


def knowable_fields(view, b):
    """{name: value or UNKNOWN_VALUE} for the known names of a received block,
    and whether every name in it is known."""
    known, all_names = {}, True
    for f, (nk, vk) in zip(b.fields, view.field_knowledge(b)):
        if f["kind"] == "size_update":
            continue
        if not nk:
            all_names = False
            continue
        known.setdefault(f["name"], f["value"] if vk else None)
    return known, all_names


def why_lost(view, b, what):
    """Why a header block (`what`: "request HEADERS", "trailers") was not received."""
    d = b.dir
    if not view.recv[d]:
        return "the %s direction is not in the capture" % DIRNAME[d]
    if b.end <= view.recv[d][0][0] and not view.from_start[d]:
        return "the %s were sent before the capture began" % what
    return "the %s fell in a hole of the %s stream (lost segment)" % (what, DIRNAME[d])


def why_hpack(view, b):
    """Why a field of a received block is unknown: a dynamic table reference."""
    r = view.reset_before(b.dir, b.start)
    if r is None:
        return None
    where = "the pickup" if r == view.resets[b.dir][0] and not view.from_start[b.dir] else \
        "a hole in the %s stream (the lost bytes may have changed the table)" % DIRNAME[b.dir]
    return ("HPACK: a reference to a %s dynamic table entry inserted before %s; RFC 7541 2.3.3 "
            "indices of entries older than what was seen are unknowable" % (DIRNAME[b.dir], where))


def message_bounds(view, call, d):
    """(min, max, why) gRPC messages a correct sensor counts for one stream
    direction: exact when all its DATA was seen from the stream's first DATA
    byte; otherwise the messages whose 5-byte prefix came before the first
    loss, up to the true count (a correct sensor never counts more)."""
    true = len(call.prefixes[d])
    if not call.data[d]:
        return true, true, None
    opening = call.blocks[d][0] if call.blocks[d] else None
    if opening is None or not view.block_received(opening):
        return 0, true, ("the %s HEADERS of this stream were not seen, so its gRPC message "
                         "boundaries are unknown" % DIRNAME[d])
    r0 = view.reset_before(d, opening.start)
    loss = None
    for f in call.data[d]:
        if view.reset_before(d, f.start) != r0 or not view.frame_header_seen(f):
            loss = f.start
            break
        a, b = data_payload_ranges(f)[0]
        holes = [h for h in view.soft_holes[d] + view.hard_holes[d] if h[0] < b and h[1] > a]
        if holes:
            loss = max(a, min(h[0] for h in holes))
            break
    if loss is None:
        return true, true, None
    seen = sum(1 for _, e in call.prefixes[d] if e <= loss)
    return seen, true, ("%s DATA of this stream fell in a hole at offset %d: messages after it may "
                        "not be countable" % (DIRNAME[d], loss))


def unique(xs):
    out = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


def expect_call(view, call):
    """The expected record of one source call in a transformed capture, or None
    if nothing of it is visible."""
    w = call.truth
    e, unk, true_values = {}, {}, {}
    req = call.blocks[C2S][0] if call.blocks[C2S] else None
    req_known = None
    if req is not None and view.block_received(req):
        req_known = knowable_fields(view, req)

    def req_field(hname, key, truth_value, check):
        if req_known is None:
            unk[key] = why_lost(view, req, "request HEADERS")
            return None
        known, all_names = req_known
        if hname in known:
            if known[hname] is None:
                unk[key] = why_hpack(view, req)
                return None
            if not check(known[hname]):
                raise SystemExit("stream %d: decoded %s %r does not match the truth" % (call.sid, hname, known[hname]))
            return truth_value
        if all_names:
            return truth_value
        unk[key] = why_hpack(view, req)
        return None

    e["path"] = req_field(":path", "path", w["path"], lambda v: v.decode() == w["path"])
    e["authority"] = req_field(":authority", "authority", w.get("authority"),
                               lambda v: v.decode() == w.get("authority"))
    e["content_type"] = req_field("content-type", "content_type", w.get("content_type"),
                                  lambda v: v.decode() == w.get("content_type"))
    ua = req_field("user-agent", "user_agent", w.get("user_agent_prefix"),
                   lambda v: v.decode().startswith(w.get("user_agent_prefix", "")))
    if ua is None:
        e["user_agent"] = None
    else:
        e["user_agent_prefix"] = ua

    # metadata keys: names only; a field whose name is an unknown reference
    # may be any key, so the known ones are a lower bound.
    truth_keys, truth_creds = list(w["metadata_keys"]), list(w["credential_keys"])
    if req_known is None:
        least = []
        why = why_lost(view, req, "request HEADERS")
    else:
        known, all_names = req_known
        least = [k for k in truth_keys if k in known]
        why = None if all_names else why_hpack(view, req)
    if why is None or set(least) == set(truth_keys):
        e["metadata_keys"], e["credential_keys"] = truth_keys, truth_creds
    else:
        e["metadata_keys"] = e["credential_keys"] = None
        e["metadata_keys_at_least"] = least
        e["metadata_keys_at_most"] = truth_keys
        e["credential_keys_at_least"] = [k for k in truth_creds if k in least]
        e["credential_keys_at_most"] = truth_creds
        unk["metadata_keys"] = why

    # response: status from the block that ends the stream (trailers, or a
    # trailers-only response), content-type from the first block
    resp = call.blocks[S2C]
    trailers = [b for b in resp if b.end_stream] or resp[-1:]
    status_known = message_known = False
    evidence = []
    if trailers and view.block_received(trailers[0]):
        known, all_names = knowable_fields(view, trailers[0])
        if "grpc-status" in known:
            evidence.append("grpc-status trailer")
            status_known = known["grpc-status"] is not None
        if "grpc-message" in known:
            message_known = known["grpc-message"] is not None
        elif all_names:
            message_known = True
        why_status = why_message = why_hpack(view, trailers[0])
    elif trailers:
        why_status = why_message = why_lost(view, trailers[0], "trailers")
    e["grpc_status"] = w["grpc_status"] if status_known else None
    e["grpc_message"] = w["grpc_message"] if message_known else None
    if not status_known:
        unk["grpc_status"] = why_status
    if not message_known:
        unk["grpc_message"] = why_message
    resp_ct = None
    if resp and view.block_received(resp[0]):
        known, _ = knowable_fields(view, resp[0])
        if known.get("content-type"):
            resp_ct = known["content-type"].decode()
    if e["content_type"] is not None and e["content_type"].startswith("application/grpc"):
        evidence.append("request content-type")
    if resp_ct and resp_ct.startswith("application/grpc"):
        evidence.append("response content-type")
        if e["content_type"] is None:
            e["content_type_alternatives"] = [resp_ct]

    for d, key in ((C2S, "request_messages"), (S2C, "response_messages")):
        lo, hi, why = message_bounds(view, call, d)
        if hi != w[key]:
            raise SystemExit("stream %d: %s model %d truth %d" % (call.sid, key, hi, w[key]))
        if lo == hi:
            e[key] = hi
        else:
            e[key] = None
            e["min_" + key], e["max_" + key] = lo, hi
            unk[key] = why

    visible = any(view.block_received(b) for b in call.blocks[C2S] + call.blocks[S2C]) or any(
        view.frame_header_seen(f) for d in (C2S, S2C) for f in call.data[d])
    if not visible:
        return None
    for k in unk:
        true_values[k] = w.get(k if k != "user_agent" else "user_agent_prefix")
    out = {"stream_id": call.sid, "required": bool(evidence),
           "evidence": unique(evidence) or ["none: nothing received proves this stream is gRPC; a sensor may "
                                            "report it (then its known fields must match) or not"]}
    out.update(e)
    if unk:
        out["unknowable"] = unk
        out["true_values"] = true_values
    return out


# --------------------------------------------------------------------------
# Building packets
# --------------------------------------------------------------------------

V4 = (bytes([192, 0, 2, 10]), bytes([198, 51, 100, 20]))          # RFC 5737 documentation addresses
V6 = (bytes.fromhex("20010db8000100000000000000000010"), bytes.fromhex("20010db8000200000000000000000020"))
OUTER4 = (bytes([203, 0, 113, 1]), bytes([203, 0, 113, 2]))        # tunnel endpoints
MAC = (bytes.fromhex("020000000001"), bytes.fromhex("020000000002"))


def ip_str(b):
    return str(ipaddress.ip_address(b))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_bytes(seg, src, dst, sport, dport):
    opts = seg.opts
    doff = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIHHHH", sport, dport, seg.seq, seg.ack, (doff << 12) | seg.flags, seg.win, 0, seg.urg)
    tcp = hdr + opts + seg.payload
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(tcp), 6)
    c = csum(pseudo + tcp)
    return tcp[:16] + struct.pack("!H", c) + tcp[18:]


def ipv4_header(src, dst, proto, payload_len, ipid, frag_field=0x4000, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ipid, frag_field, ttl, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def ipv6_header(src, dst, nxt, payload_len, hop=64):
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, nxt, hop, src, dst)


class Packet:
    """One IP datagram carrying a TCP segment (or a fragment of one)."""

    def __init__(self, ts, d, family, ip):
        self.ts, self.dir, self.family, self.ip = ts, d, family, ip


def to_ip(segs, family, ports):
    """Segments -> IP packets with the rewritten addresses."""
    addrs = V4 if family == 4 else V6
    out, ipid = [], 0x1000
    for s in segs:
        src, dst = (addrs[0], addrs[1]) if s.dir == C2S else (addrs[1], addrs[0])
        sport, dport = ports if s.dir == C2S else (ports[1], ports[0])
        tcp = tcp_bytes(s, src, dst, sport, dport)
        if family == 4:
            ip = ipv4_header(src, dst, 6, len(tcp), ipid) + tcp
        else:
            ip = ipv6_header(src, dst, 6, len(tcp)) + tcp
        ipid = (ipid + 1) & 0xFFFF
        out.append(Packet(s.ts, s.dir, family, ip))
    return out


def fragment_v4(pkts, size=64):
    """IPv4 fragments of `size` payload bytes (a multiple of 8); every third
    datagram's fragments are sent last-first, as reordering networks do."""
    out = []
    for n, p in enumerate(pkts):
        hdr, body = p.ip[:20], p.ip[20:]
        ipid = struct.unpack("!H", hdr[4:6])[0]
        src, dst = hdr[12:16], hdr[16:20]
        frags = []
        for off in range(0, len(body), size):
            chunk = body[off:off + size]
            mf = 0x2000 if off + size < len(body) else 0
            frags.append(ipv4_header(src, dst, 6, len(chunk), ipid, mf | (off // 8)) + chunk)
        if n % 3 == 2:
            frags.reverse()
        out += [Packet(p.ts, p.dir, 4, f) for f in frags]
    return out


def fragment_v6(pkts, size=64):
    """IPv6 Fragment extension headers (RFC 8200 4.5), `size` bytes each."""
    out = []
    for n, p in enumerate(pkts):
        src, dst = p.ip[8:24], p.ip[24:40]
        body = p.ip[40:]
        ident = 0x5A000000 + n
        frags = []
        for off in range(0, len(body), size):
            chunk = body[off:off + size]
            m = 1 if off + size < len(body) else 0
            fh = struct.pack("!BBHI", 6, 0, off | m, ident)
            frags.append(ipv6_header(src, dst, 44, 8 + len(chunk)) + fh + chunk)
        if n % 3 == 2:
            frags.reverse()
        out += [Packet(p.ts, p.dir, 6, f) for f in frags]
    return out


def fragment_v4_evasion(pkts, rng):
    """The tiny/overlapping fragment evasion (RFC 1858, RFC 3128): the
    offset-0 fragment holds only 8 bytes of the TCP header (ports and
    sequence number, not the flags), and while the datagram is still
    incomplete a fragment overlapping bytes already received arrives with
    different (garbage) content. The first copy of every byte is the true
    one. Order: [8, M) true, [16, 48) garbage, [0, 8) true, [M, L) true last."""
    out = []
    for p in pkts:
        hdr, body = p.ip[:20], p.ip[20:]
        ipid = struct.unpack("!H", hdr[4:6])[0]
        src, dst = hdr[12:16], hdr[16:20]
        L = len(body)
        M = ((L - 1) // 8) * 8  # the last fragment holds at least one byte
        if M < 24:
            raise SystemExit("segment too short for the evasion layout")
        parts = [(8, M, body[8:M], 0x2000)]
        gend = min(M, 48)
        garbage = bytes(rng.randrange(256) for _ in range(gend - 16))
        parts.append((16, gend, garbage, 0x2000))
        parts.append((0, 8, body[0:8], 0x2000))
        parts.append((M, L, body[M:], 0))
        for off, end, chunk, mf in parts:
            out.append(Packet(p.ts, p.dir, 4, ipv4_header(src, dst, 6, len(chunk), ipid, mf | (off // 8)) + chunk))
    return out


def ethertype_of(family):
    return 0x0800 if family == 4 else 0x86DD


def eth(d, ethertype, payload, tags=()):
    dst, src = (MAC[1], MAC[0]) if d == C2S else (MAC[0], MAC[1])
    out = dst + src
    for tpid, vid in tags:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", ethertype) + payload


def scapy_bytes(layers):
    from scapy.all import raw
    return raw(layers)


def link_plain(pkts, **_):
    return [(p.ts, eth(p.dir, ethertype_of(p.family), p.ip)) for p in pkts]


def link_vlan(pkts, **_):
    return [(p.ts, eth(p.dir, ethertype_of(p.family), p.ip, tags=[(0x8100, 100)])) for p in pkts]


def link_qinq(pkts, **_):
    return [(p.ts, eth(p.dir, ethertype_of(p.family), p.ip, tags=[(0x88A8, 200), (0x8100, 100)])) for p in pkts]


def link_mpls(pkts, **_):
    from scapy.contrib.mpls import MPLS
    from scapy.all import Raw
    out = []
    for p in pkts:
        stack = MPLS(label=16004, s=0, ttl=64) / MPLS(label=299, s=1, ttl=64) / Raw(p.ip)
        out.append((p.ts, eth(p.dir, 0x8847, scapy_bytes(stack))))
    return out


def outer_v4(d, proto_payload, symmetric=True):
    from scapy.all import IP, Ether
    src, dst = OUTER4 if (d == C2S or not symmetric) else (OUTER4[1], OUTER4[0])
    return Ether(src=":".join("%02x" % b for b in (MAC[0] if d == C2S else MAC[1])),
                 dst=":".join("%02x" % b for b in (MAC[1] if d == C2S else MAC[0]))) / \
        IP(src=ip_str(src), dst=ip_str(dst), id=0, flags="DF", ttl=64) / proto_payload


def inner_eth(p):
    return eth(p.dir, ethertype_of(p.family), p.ip)


def link_gre(pkts, keyed=False, **_):
    from scapy.all import GRE, Raw
    out = []
    for n, p in enumerate(pkts):
        proto = 0x0800 if p.family == 4 else 0x86DD
        if keyed:
            g = GRE(key_present=1, seqnum_present=1, key=0x1234, sequence_number=n + 1, proto=proto)
        else:
            g = GRE(proto=proto)
        out.append((p.ts, scapy_bytes(outer_v4(p.dir, g / Raw(p.ip)))))
    return out


def link_erspan(pkts, version=2, **_):
    from scapy.all import GRE, Raw
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
    out = []
    for n, p in enumerate(pkts):
        if version == 2:
            hdr = GRE(seqnum_present=1, sequence_number=n, proto=0x88BE) / \
                ERSPAN_II(ver=1, vlan=0, cos=0, en=0, t=0, session_id=7, index=0)
        else:
            hdr = GRE(seqnum_present=1, sequence_number=n, proto=0x22EB) / \
                ERSPAN_III(ver=2, vlan=0, cos=0, bso=0, t=0, session_id=9, timestamp=(p.ts & 0xFFFFFFFF),
                           sgt_other=0, p=0, ft=0, hw=1, d=p.dir, gra=3, o=1) / \
                ERSPAN_PlatformSpecific(platf_id=3, info1=0, info2=0)
        # ERSPAN: every mirrored frame goes from the switch to the collector
        out.append((p.ts, scapy_bytes(outer_v4(p.dir, hdr / Raw(inner_eth(p)), symmetric=False))))
    return out


def link_vxlan(pkts, **_):
    from scapy.all import UDP, VXLAN, Raw
    out = []
    for p in pkts:
        sport = 49152 + (p.dir * 7)  # a flow hash would pick it; fixed per direction
        u = UDP(sport=sport, dport=4789) / VXLAN(flags=0x08, vni=42) / Raw(inner_eth(p))
        out.append((p.ts, scapy_bytes(outer_v4(p.dir, u))))
    return out


def link_geneve(pkts, **_):
    from scapy.all import UDP, Raw
    from scapy.contrib.geneve import GENEVE, GeneveOptions
    out = []
    for p in pkts:
        opt = GeneveOptions(classid=0x0102, type=0x80, length=1, data=b"\x00\x00\x00\x2a")
        g = GENEVE(version=0, proto=0x6558, vni=4242, options=[opt])
        u = UDP(sport=49200 + p.dir, dport=6081) / g / Raw(inner_eth(p))
        out.append((p.ts, scapy_bytes(outer_v4(p.dir, u))))
    return out


def link_ipip(pkts, **_):
    """IPv4-in-IPv4 (protocol 4) or IPv6-in-IPv4 (protocol 41)."""
    from scapy.all import Raw, IP
    out = []
    for p in pkts:
        f = outer_v4(p.dir, Raw(p.ip))
        f[IP].proto = 4 if p.family == 4 else 41
        out.append((p.ts, scapy_bytes(f)))
    return out


# --------------------------------------------------------------------------
# TCP-level transformations (lists of Seg in capture order)
# --------------------------------------------------------------------------


def recut(segs, sizes):
    """Re-cuts every data segment into pieces of sizes() bytes. Sequence
    numbers follow the bytes; PSH and FIN stay on the last piece; SYN and
    pure ACKs are kept as they are."""
    out = []
    for s in segs:
        if not s.payload:
            out.append(s)
            continue
        off = 0
        while off < len(s.payload):
            n = min(sizes(), len(s.payload) - off)
            last = off + n == len(s.payload)
            flags = s.flags if last else s.flags & ~0x09  # no PSH/FIN before the last piece
            out.append(s.copy(seq=(s.seq + off) & 0xFFFFFFFF, payload=s.payload[off:off + n], flags=flags))
            off += n
    return out


def mss(segs, size=1448):
    return recut(segs, lambda: size)


def split_at(conn, segs, d, offset):
    """Splits the segment of direction d that holds stream offset `offset`
    so that a segment starts exactly there (a sender may cut anywhere)."""
    out = []
    for s in segs:
        a = conn.rel(d, s.seq) if s.payload else None
        if s.dir == d and s.payload and a < offset < a + len(s.payload):
            k = offset - a
            out.append(s.copy(payload=s.payload[:k], flags=s.flags & ~0x09))
            out.append(s.copy(seq=(s.seq + k) & 0xFFFFFFFF, payload=s.payload[k:]))
        else:
            out.append(s)
    return out


def index_of_offset(conn, segs, d, offset):
    for i, s in enumerate(segs):
        if s.dir == d and s.payload and conn.rel(d, s.seq) == offset:
            return i
    raise SystemExit("no segment starts at offset %d" % offset)


def drop_before(segs, i):
    """A capture that begins with packet i (the SPAN session started then)."""
    return segs[i:]


def one_direction(segs, d):
    return [s for s in segs if s.dir == d]


def duplicate_all(segs):
    out = []
    for s in segs:
        out += [s, s.copy()]
    return out


def data_runs(segs):
    """Runs of consecutive data segments of one direction with no data of the
    other direction in between (reordering inside a run keeps causality)."""
    runs, cur = [], []
    for i, s in enumerate(segs):
        if not s.payload:
            continue
        if cur and segs[cur[-1]].dir != s.dir:
            runs.append(cur)
            cur = []
        cur.append(i)
    if cur:
        runs.append(cur)
    return runs


def garbage_copy(s, rng, a, b):
    """A copy of payload bytes [a, b) of s with different content."""
    g = bytes((x ^ (1 + rng.randrange(255))) for x in s.payload[a:b])
    c = s.copy(seq=(s.seq + a) & 0xFFFFFFFF, payload=g)
    c.garbage = True
    return c


def shuffle_retransmit(segs, rng):
    """Inside each run of data segments of one direction (windows of 3):
    segments arrive out of order; while the earliest one is still missing, a
    copy of a held segment with conflicting bytes arrives (first copy wins);
    then exact retransmissions and repacketised overlaps (true bytes) follow
    the window."""
    out = list(segs)
    moves = {}  # index -> list of segments that replace it
    for run in data_runs(segs):
        for w in range(0, len(run) - 1, 3):
            win = run[w:w + 3]
            if len(win) < 2:
                continue
            order = list(win)
            while order == win:
                rng.shuffle(order)
            # the first window slot gets the shuffled order plus a conflicting
            # copy of the first arrival, if that one is held out of order
            first = segs[order[0]]
            seq_new = []
            for k, idx in enumerate(order):
                seq_new.append(segs[idx])
                if k == 0 and idx != win[0] and len(first.payload) >= 2:
                    a = rng.randrange(len(first.payload) // 2)
                    b = rng.randrange(a + 1, len(first.payload) + 1)
                    seq_new.append(garbage_copy(first, rng, a, b))
            # after the window: an exact retransmission and a repacketised
            # overlap of two neighbours (true bytes), plus a conflicting
            # overlap of delivered bytes
            x = segs[win[rng.randrange(len(win))]]
            seq_new.append(x.copy())
            if len(win) >= 2:
                s0, s1 = segs[win[0]], segs[win[1]]
                h0, h1 = len(s0.payload) // 2, (len(s1.payload) + 1) // 2
                both = s0.copy(seq=(s0.seq + h0) & 0xFFFFFFFF, payload=s0.payload[h0:] + s1.payload[:h1])
                seq_new.append(both)
                if len(s1.payload) >= 1:
                    seq_new.append(garbage_copy(s1, rng, 0, len(s1.payload)))
            moves[win[0]] = seq_new
            for idx in win[1:]:
                moves[idx] = []
    final = []
    for i, s in enumerate(out):
        final += moves.get(i, [s])
    return final


def drop_segment_at(conn, segs, d, offset):
    """Drops the segment of direction d that starts at stream offset `offset`."""
    i = index_of_offset(conn, segs, d, offset)
    return segs[:i] + segs[i + 1:]


def drop_segment_holding(conn, segs, d, offset):
    """Drops the segment of direction d that carries stream offset `offset`."""
    for s in segs:
        if s.dir == d and s.payload:
            a = conn.rel(d, s.seq)
            if a <= offset < a + len(s.payload):
                return drop_segment_at(conn, segs, d, a)
    raise SystemExit("no segment holds offset %d" % offset)


# --------------------------------------------------------------------------
# The transformations
# --------------------------------------------------------------------------

U, S, M, G, N = ("python-unary-metadata", "python-streaming", "python-many-calls", "go-unary",
                 "node-streaming")
NU = "node-unary"


def first_headers_end_pickup(m, segs):
    """The capture begins with the first packet after the one that carried the
    end of the first request HEADERS block (preface, SETTINGS and that block
    are gone, both directions)."""
    b = m.blocks[C2S][0]
    for i, s in enumerate(segs):
        if s.dir == C2S and s.payload:
            a = m.conn.rel(C2S, s.seq)
            if a < b.end <= a + len(s.payload):
                return drop_before(segs, i + 1)
    raise SystemExit("first HEADERS not found")


def mid_frame_pickup(m, segs, d, frame_pick):
    """Splits direction d inside the payload of the frame frame_pick() picks
    and begins the capture with the second half (both directions)."""
    f = frame_pick(m)
    cut = f.pstart + (f.end - f.pstart) // 2
    segs = split_at(m.conn, segs, d, cut)
    return drop_before(segs, index_of_offset(m.conn, segs, d, cut))


def nth_data(m, d, sid, n):
    return [f for f in m.frames[d] if f.type == DATA and f.sid == sid][n]


def segment_inside(m, segs, d, frame, which=0.5):
    """Offset of a segment lying wholly inside frame's payload (near `which`)."""
    cands = []
    for s in segs:
        if s.dir == d and s.payload:
            a = m.conn.rel(d, s.seq)
            if frame.pstart < a and a + len(s.payload) < frame.end:
                cands.append(a)
    if not cands:
        raise SystemExit("no segment inside the frame")
    return cands[min(len(cands) - 1, int(len(cands) * which))]


def mss_pickup_mid_frame(m, segs, d, frame):
    segs = mss(segs)
    cut = segment_inside(m, segs, d, frame)
    return drop_before(segs, index_of_offset(m.conn, segs, d, cut))


SHUFFLE_PACKETS, SHUFFLE_BYTES = 8, 16384  # the window a bounded classifier may hold


def handshake_shuffle(m, segs, kind, keep_ts=False):
    """Reorders the connection's first SHUFFLE_PACKETS packets (after an MSS
    1448 re-cut) as a SPAN port or a multi-queue capture card delivers them;
    only segments carrying bytes of the first SHUFFLE_BYTES of a direction
    move. Every byte still arrives exactly once, so a correct sensor knows
    everything; the SYN sender of the source stays the client.

    kind: server-first (the server's first data segment ahead of the SYN),
    preface-late (the client's preface segment behind the server's SETTINGS,
    the third ACK and the server's other packets of the window, still ahead
    of the client's second data segment), synack-late (the SYN-ACK right
    after the first data segments of both directions), client-second-first
    (the client's second data segment just ahead of its first).
    Timestamps: re-stamped with the window's sorted original timestamps in
    the new order (a capture card stamps arrival), or with keep_ts each
    packet keeps its original timestamp, so time steps backwards."""
    segs = mss(segs)
    n = SHUFFLE_PACKETS
    win, rest = segs[:n], segs[n:]
    conn = m.conn
    data = {d: [i for i, s in enumerate(win) if s.dir == d and s.payload] for d in (C2S, S2C)}
    syn = [i for i, s in enumerate(win) if s.flags & 0x12 == 0x02]
    synack = [i for i, s in enumerate(win) if s.flags & 0x12 == 0x12]
    if not syn or not synack or not data[C2S] or not data[S2C]:
        raise SystemExit("%s: the first %d packets lack the handshake or first data" % (m.name, n))
    third_ack = [i for i, s in enumerate(win) if s.dir == C2S and i > synack[0] and not s.payload
                 and s.flags & 0x17 == 0x10][0]
    order = list(range(n))

    def move(i, pos_of):
        order.remove(i)
        order.insert(pos_of(order), i)

    c1, s1 = data[C2S][0], data[S2C][0]
    if kind == "server-first":
        moved = [s1]
        move(s1, lambda o: 0)
    elif kind == "preface-late":
        if not win[c1].payload.startswith(PREFACE[:len(win[c1].payload)]):
            raise SystemExit("%s: the client's first segment is not the preface" % m.name)
        moved = [c1]
        nxt = data[C2S][1] if len(data[C2S]) > 1 else None
        move(c1, lambda o: o.index(nxt) if nxt is not None else len(o))
    elif kind == "synack-late":
        moved = [synack[0]]
        move(synack[0], lambda o: max(o.index(c1), o.index(s1)) + 1)
    elif kind == "client-second-first":
        if len(data[C2S]) < 2:
            raise SystemExit("%s: one client data segment in the window" % m.name)
        c2 = data[C2S][1]
        moved = [c2]
        move(c2, lambda o: o.index(c1))
    else:
        raise SystemExit("unknown shuffle %s" % kind)
    if order == list(range(n)):
        raise SystemExit("%s: shuffle %s changes nothing" % (m.name, kind))
    for i in moved + [c1, s1]:
        s = win[i]
        if s.payload and conn.rel(s.dir, s.seq) + len(s.payload) > SHUFFLE_BYTES:
            raise SystemExit("%s: a moved segment lies beyond the first %d bytes" % (m.name, SHUFFLE_BYTES))
    pos = {i: k for k, i in enumerate(order)}
    post = {"server-first": pos[s1] < pos[syn[0]] and pos[s1] < pos[synack[0]],
            "preface-late": pos[c1] > pos[s1] and pos[c1] > pos[third_ack],
            "synack-late": pos[synack[0]] > pos[c1] and pos[synack[0]] > pos[s1],
            "client-second-first": kind != "client-second-first" or pos[data[C2S][1]] < pos[c1]}[kind]
    if not post:
        raise SystemExit("%s: shuffle %s did not give the intended order" % (m.name, kind))
    if keep_ts:
        new = [win[i] for i in order]
        if all(new[k].ts <= new[k + 1].ts for k in range(n - 1)):
            raise SystemExit("%s: keeping timestamps gives no backward step" % m.name)
    else:
        stamps = sorted(s.ts for s in win)
        new = [win[i].copy(ts=t) for i, t in zip(order, stamps)]
    return new + rest


TUN_OUT = {"outer_src_ip": "203.0.113.1", "outer_dest_ip": "203.0.113.2"}

# (name, description, sources, segment function, family, ip function, link function, tunnel, midstream[,
#  options: {"monotonic": False} keeps each packet's own timestamp, even stepping backwards])
TRANSFORMS = [
    ("pickup-after-first-headers",
     "The SPAN session starts right after the packet that carried the first request HEADERS: the "
     "preface, both SETTINGS and the first header block are lost, so both HPACK dynamic tables "
     "start unknown.",
     [U, G, M], lambda m, s, r: first_headers_end_pickup(m, s), 4, None, link_plain, None, True),
    ("pickup-mid-frame",
     "The capture begins with a segment that starts in the middle of a DATA frame (the sender's "
     "segment is split there, then everything before the second half is dropped): the sensor must "
     "find the next frame boundary itself.",
     [S], lambda m, s, r: mid_frame_pickup(m, s, S2C, lambda mm: nth_data(mm, S2C, 1, 5)), 4, None,
     link_plain, None, True),
    ("pickup-mid-frame",
     "The capture begins in the middle of a server DATA frame of the first (server-streaming) "
     "call: the server's HPACK table is unknown, but its later trailers only reference entries "
     "inserted after the pickup.",
     [N], lambda m, s, r: mid_frame_pickup(m, s, S2C, lambda mm: nth_data(mm, S2C, 1, 2)), 4, None,
     link_plain, None, True),
    ("pickup-mid-large-frame",
     "Segments re-cut to a 1448-byte MSS, then the capture begins with a segment inside the "
     "16384-byte DATA frame of the 20000-byte BulkAdd request message: the sensor must find the "
     "frame boundary 7 KB further on.",
     [N], lambda m, s, r: mss_pickup_mid_frame(m, s, C2S, nth_data(m, C2S, 3, 1)), 4, None,
     link_plain, None, True),
    ("client-to-server-only",
     "Only the client->server direction (an asymmetric route, or a SPAN of one direction).",
     [S, G], lambda m, s, r: one_direction(s, C2S), 4, None, link_plain, None, False),
    ("server-to-client-only",
     "Only the server->client direction, from its SYN-ACK: no request header is ever seen.",
     [S, N], lambda m, s, r: one_direction(s, S2C), 4, None, link_plain, None, None),
    ("duplicated",
     "Every packet twice (a SPAN of both the ingress and egress port of a switch).",
     [U, N], lambda m, s, r: duplicate_all(s), 4, None, link_plain, None, False),
    ("recut-1-7",
     "Every data segment re-cut into pieces of 1 to 7 bytes (sequence numbers follow; SYN and FIN "
     "kept): frame headers, HPACK strings and gRPC prefixes straddle segments.",
     [U, G, S], lambda m, s, r: recut(s, lambda: r.randint(1, 7)), 4, None, link_plain, None, False),
    ("mss1448",
     "Segments re-cut to a 1448-byte MSS (Ethernet MTU with TCP timestamps), the base of the "
     "network-level transformations.",
     [M, N], lambda m, s, r: mss(s), 4, None, link_plain, None, False),
    ("shuffle-retransmit",
     "Inside runs of one direction's data segments, windows of 3 arrive out of order; while a "
     "segment is held out of order a copy of part of it with conflicting bytes arrives; then an "
     "exact retransmission, a repacketised overlap of two segments, and a conflicting copy of "
     "delivered bytes. The first copy of every byte is the true one.",
     [S], lambda m, s, r: shuffle_retransmit(s, r), 4, None, link_plain, None, False),
    ("shuffle-retransmit",
     "As above, on the many-calls capture re-cut to a 1448-byte MSS (large messages reordered).",
     [M], lambda m, s, r: shuffle_retransmit(mss(s), r), 4, None, link_plain, None, False),
    ("shuffle-server-first",
     "MSS 1448, then the server's first data segment (its SETTINGS) arrives ahead of the SYN and "
     "the SYN-ACK (a SPAN port or a multi-queue capture card reorders the first packets); "
     "timestamps re-stamped in arrival order. The SYN sender is still the client.",
     [G, U, N, M], lambda m, s, r: handshake_shuffle(m, s, "server-first"), 4, None, link_plain, None, False),
    ("shuffle-preface-late",
     "MSS 1448, then the client's preface segment arrives behind the server's SETTINGS, the third "
     "ACK and the server's other packets of the first 8 (still ahead of the client's second data "
     "segment); the first data bytes the sensor sees are the server's. Re-stamped in arrival order.",
     [M, NU, U, G], lambda m, s, r: handshake_shuffle(m, s, "preface-late"), 4, None, link_plain, None, False),
    ("shuffle-synack-late",
     "MSS 1448, then the SYN-ACK arrives right after the first data segments of both directions "
     "(SYN, third ACK, client and server data, then SYN-ACK). Re-stamped in arrival order.",
     [G, U, N, M], lambda m, s, r: handshake_shuffle(m, s, "synack-late"), 4, None, link_plain, None, False),
    ("shuffle-client-second-first",
     "MSS 1448, then the client's second data segment arrives just ahead of its first (the "
     "preface segment): the sensor sees client bytes beyond offset 0 before offset 0. Re-stamped "
     "in arrival order.",
     [G, "go-client-python-server", "go-streaming", M],
     lambda m, s, r: handshake_shuffle(m, s, "client-second-first"),
     4, None, link_plain,
     None, False),
    ("shuffle-ts-backwards",
     "As shuffle-server-first (the server's SETTINGS ahead of the SYN and SYN-ACK), but every "
     "packet keeps its original timestamp: the capture's time steps backwards.",
     [G], lambda m, s, r: handshake_shuffle(m, s, "server-first", keep_ts=True), 4, None, link_plain,
     None, False, {"monotonic": False}),
    ("shuffle-ts-backwards",
     "As shuffle-preface-late (the client's preface behind the server's SETTINGS and the server's "
     "SETTINGS ACK), but every packet keeps its original timestamp: the capture's time steps backwards.",
     [U], lambda m, s, r: handshake_shuffle(m, s, "preface-late", keep_ts=True), 4, None, link_plain,
     None, False, {"monotonic": False}),
    ("shuffle-ts-backwards",
     "As shuffle-synack-late (the SYN-ACK after the first data of both directions), but every packet "
     "keeps its original timestamp: the capture's time steps backwards.",
     [N], lambda m, s, r: handshake_shuffle(m, s, "synack-late", keep_ts=True), 4, None, link_plain,
     None, False, {"monotonic": False}),
    ("shuffle-ts-backwards",
     "As shuffle-client-second-first (the client's second data segment ahead of its first), but "
     "every packet keeps its original timestamp: the capture's time steps backwards.",
     [M], lambda m, s, r: handshake_shuffle(m, s, "client-second-first", keep_ts=True), 4, None,
     link_plain, None, False, {"monotonic": False}),
    ("lost-segment-in-data",
     "MSS 1448, then one segment lying inside a 16384-byte DATA frame's payload is dropped (the "
     "SPAN lost it; the receiver did not): the frame header gave the length, so framing and HPACK "
     "survive; only that message's bytes are missing.",
     [M], lambda m, s, r: drop_segment_at(m.conn, mss(s), S2C, segment_inside(
         m, mss(s), S2C, nth_data(m, S2C, 51, 0))), 4, None, link_plain, None, None),
    ("lost-segment-in-data",
     "MSS 1448, then one segment inside the 16384-byte DATA frame of the 20000-byte BulkAdd "
     "request message is dropped.",
     [N], lambda m, s, r: drop_segment_at(m.conn, mss(s), C2S, segment_inside(
         m, mss(s), C2S, nth_data(m, C2S, 3, 1))), 4, None, link_plain, None, None),
    ("lost-segment-headers",
     "The client segment carrying the second call's HEADERS and DATA is lost: that call's request "
     "is gone and the client's HPACK table is unknown from then on.",
     [G], lambda m, s, r: drop_segment_holding(m.conn, s, C2S, m.blocks[C2S][1].start), 4, None,
     link_plain, None, None),
    ("lost-segment-mid-call",
     "The server segment carrying the bidi Chat call's response HEADERS and first response DATA "
     "is lost: the server's HPACK table is unknown from then on.",
     [S], lambda m, s, r: drop_segment_holding(m.conn, s, S2C, [b for b in m.blocks[S2C] if b.sid == 5][0].start),
     4, None, link_plain, None, None),
    ("ipv6",
     "IPv6 (2001:db8:1::10 -> 2001:db8:2::20), MSS 1448.",
     [U, N], lambda m, s, r: mss(s), 6, None, link_plain, None, False),
    ("vlan",
     "802.1Q tag VID 100 on every frame, MSS 1448.",
     [G], lambda m, s, r: mss(s), 4, None, link_vlan, None, False),
    ("qinq",
     "802.1ad S-tag VID 200 (0x88a8) over an 802.1Q C-tag VID 100, MSS 1448.",
     [S], lambda m, s, r: mss(s), 4, None, link_qinq, None, False),
    ("mpls",
     "An MPLS label stack (16004, 299 bottom of stack), IPv4 without a control word, MSS 1448.",
     [U], lambda m, s, r: mss(s), 4, None, link_mpls, {"type": "mpls"}, False),
    ("gre",
     "Plain GRE (RFC 2784, protocol 0x0800) between 203.0.113.1 and 203.0.113.2, MSS 1448.",
     [G], lambda m, s, r: mss(s), 4, None, link_gre, dict(type="gre", id=0, **TUN_OUT), False),
    ("gre-key-seq",
     "GRE with key 0x1234 and sequence numbers (RFC 2890), MSS 1448.",
     [U], lambda m, s, r: mss(s), 4, None, lambda p: link_gre(p, keyed=True),
     dict(type="gre", id=0x1234, **TUN_OUT), False),
    ("erspan2",
     "ERSPAN type II (GRE 0x88be with sequence numbers, session 7), every mirrored frame from the "
     "switch 203.0.113.1 to the collector 203.0.113.2, MSS 1448.",
     [S], lambda m, s, r: mss(s), 4, None, lambda p: link_erspan(p, 2), dict(type="erspan2", id=7, **TUN_OUT),
     False),
    ("erspan3",
     "ERSPAN type III (GRE 0x22eb, session 9) with the optional 8-byte platform-specific "
     "subheader, MSS 1448.",
     [G], lambda m, s, r: mss(s), 4, None, lambda p: link_erspan(p, 3), dict(type="erspan3", id=9, **TUN_OUT),
     False),
    ("vxlan",
     "VXLAN (UDP 4789, VNI 42) carrying Ethernet, MSS 1448.",
     [N], lambda m, s, r: mss(s), 4, None, link_vxlan, dict(type="vxlan", id=42, **TUN_OUT), False),
    ("geneve",
     "Geneve (UDP 6081, VNI 4242, protocol 0x6558) with one 8-byte option, MSS 1448.",
     [U], lambda m, s, r: mss(s), 4, None, link_geneve, dict(type="geneve", id=4242, **TUN_OUT), False),
    ("ipip",
     "IPv4 in IPv4 (protocol 4), MSS 1448.",
     [G], lambda m, s, r: mss(s), 4, None, link_ipip, dict(type="ipip", id=0, **TUN_OUT), False),
    ("ipv6-in-ipv4",
     "IPv6 in IPv4 (protocol 41, 6in4), MSS 1448.",
     [U], lambda m, s, r: mss(s), 6, None, link_ipip, dict(type="ipip", id=0, **TUN_OUT), False),
    ("ipv4-fragments",
     "MSS 1448, then every IPv4 datagram cut into fragments of 64 payload bytes; every third "
     "datagram's fragments arrive last-first.",
     [G, M], lambda m, s, r: mss(s), 4, lambda p, r: fragment_v4(p), link_plain, None, False),
    ("ipv6-fragments",
     "MSS 1448, IPv6, every datagram cut with Fragment headers into 64-byte fragments; every third "
     "datagram's fragments arrive last-first.",
     [U, S], lambda m, s, r: mss(s), 6, lambda p, r: fragment_v6(p), link_plain, None, False),
    ("ipv4-fragment-evasion",
     "MSS 1448, then every IPv4 datagram sent as: [8, M) true, [16, 48) garbage overlapping it "
     "while the datagram is incomplete, the tiny offset-0 fragment with only 8 bytes of TCP header, "
     "then the last fragment. First copy wins.",
     [U, G], lambda m, s, r: mss(s), 4, lambda p, r: fragment_v4_evasion(p, r), link_plain, None, False),
]


def summarize_unknowable(calls):
    by_field = {}
    for c in calls:
        for k, why in c.get("unknowable", {}).items():
            by_field.setdefault(k, {}).setdefault(why, []).append(c["stream_id"])
    out = {}
    for k, whys in by_field.items():
        out[k] = "; ".join("stream%s %s: %s" % ("s" if len(v) > 1 else "", ",".join(map(str, v)), why)
                           for why, v in whys.items())
    return out


def build(name, desc, source, segfn, family, ipfn, linkfn, tunnel, midstream, seed):
    m = Model(source)
    rng = random.Random(seed)
    segs = segfn(m, list(m.conn.segs), rng)
    view = View(m, segs)
    calls = [c for c in (expect_call(view, call) for call in m.grpc_calls) if c is not None]
    ports = (m.conn.addr[1], m.conn.addr[3])
    pkts = to_ip(segs, family, ports)
    if ipfn:
        pkts = ipfn(pkts, rng)
    frames = linkfn(pkts)
    cap = "%s.%s.pcap" % (name, source)
    addrs = V4 if family == 4 else V6
    t = m.truth
    exp = {
        "capture": cap,
        "source": t["capture"],
        "transformation": name,
        "description": desc,
        "generator": "tests/transform/transform.py",
        "implementation": t.get("implementation"),
        "transport": t.get("transport"),
        "server_port": t["server_port"],
        "client_ip": ip_str(addrs[0]),
        "client_port": m.conn.addr[1],
        "server_ip": ip_str(addrs[1]),
        "expect_midstream": midstream,
    }
    if tunnel:
        exp["tunnel"] = tunnel
    def spans(rs):
        return ["[%d, %d)" % r for r in rs]

    # informative: the stream bytes (offsets from the first data byte) a
    # sensor receives; the holes inside one DATA frame's payload keep framing
    exp["received"] = {DIRNAME[d]: {"from_syn": view.from_start[d], "byte_ranges": spans(view.recv[d]),
                                    "holes_inside_one_data_frame": spans(view.soft_holes[d]),
                                    "other_holes": spans(view.hard_holes[d])} for d in (C2S, S2C)}
    exp["unknowable"] = summarize_unknowable(calls)
    exp["must_not_report_paths_outside"] = sorted({c["path"] for c in t["calls"]})
    exp["calls"] = calls
    exp["tls"] = t.get("tls", [])
    exp["http2_non_grpc_requests"] = t.get("http2_non_grpc_requests", 0)
    return cap, frames, exp, m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="build only captures whose name contains this")
    ap.add_argument("--describe", metavar="SOURCE", help="print the frame layout of a source capture")
    args = ap.parse_args()
    if args.describe:
        Model(args.describe).describe()
        return
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    seen = set()
    for entry in TRANSFORMS:
        name, desc, sources, segfn, family, ipfn, linkfn, tunnel, midstream = entry[:9]
        opts = entry[9] if len(entry) > 9 else {}
        for source in sources:
            cap_name = "%s.%s" % (name, source)
            if args.only and args.only not in cap_name:
                continue
            if cap_name in seen:
                raise SystemExit("duplicate capture name %s" % cap_name)
            seen.add(cap_name)
            seed = zlib.crc32(cap_name.encode())  # stable when transformations are added
            cap, frames, exp, _ = build(name, desc, source, segfn, family, ipfn, linkfn, tunnel, midstream, seed)
            write_pcap(os.path.join(OUT, cap), frames, monotonic=opts.get("monotonic", True))
            with open(os.path.join(OUT, "expected", cap_name + ".json"), "w") as f:
                json.dump(exp, f, indent=2)
                f.write("\n")
            req = sum(1 for c in exp["calls"] if c["required"])
            print("%-48s %4d packets, %2d calls (%d required), unknowable: %s" % (
                cap, len(frames), len(exp["calls"]), req, ", ".join(sorted(exp["unknowable"])) or "-"))
            size = os.path.getsize(os.path.join(OUT, cap))
            if size > 200 * 1024:
                raise SystemExit("%s is %d bytes: keep each capture under 200 KB" % (cap, size))
    if not args.only:
        # a transformation removed from the list leaves no stale files behind
        for d, ext in ((OUT, ".pcap"), (os.path.join(OUT, "expected"), ".json")):
            for f in os.listdir(d):
                if f.endswith(ext) and f[:-len(ext)] not in seen:
                    os.remove(os.path.join(d, f))


if __name__ == "__main__":
    main()
