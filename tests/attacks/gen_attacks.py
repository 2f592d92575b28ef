#!/usr/bin/python3
"""gen_attacks.py [OUTDIR] - write one capture per HTTP/2 attack, and what grpcwatch must say.

Every byte is built here from the specs, with no HTTP/2 library: frames per RFC 9113
section 4.1, header blocks per RFC 7541 (indexed fields, literals with and without
indexing, dynamic table size updates; no Huffman), and the capture per the classic
pcap format (Ethernet, IPv4, TCP with real checksums). One TCP connection per capture,
10.0.0.1:40000 -> 10.0.0.2:50051: SYN, SYN/ACK, ACK, data segments of at most 1400
bytes with consistent seq/ack, FIN both ways.

Each connection starts with one legitimate gRPC call (LEGIT_PATH, one message each
way, grpc-status 0) and then carries the attack, so a run shows both that the call
was decoded and that the attack was reported.

Writes OUTDIR/<name>.pcap and OUTDIR/expected/<name>.json (OUTDIR defaults to
pcaps/attacks): {"capture", "anomalies": [event or event/direction that must
appear], "calls": [paths that must be reported], "max_rss_mib": N, "about"}.
The output is deterministic: running it twice gives identical files.
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LEGIT_PATH = "/attack.v1.Probe/Hello"
AUTHORITY = "10.0.0.2:50051"
CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 50051)
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
MSS = 1400
MAX_RSS_MIB = 32   # with tests/attacks/attacks.yaml; an uncapped HPACK bomb alone needs 40 MB

# ---- HTTP/2 frames (RFC 9113 section 4.1, 6) ---------------------------------------

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CANCEL, ENHANCE_YOUR_CALM, FRAME_SIZE_ERROR, COMPRESSION_ERROR, PROTOCOL_ERROR = 0x8, 0xb, 0x6, 0x9, 0x1
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE = 0x1, 0x4


def frame(ftype, flags, sid, payload=b"", length=None):
    """A frame; length overrides the header's length field (for lying frames)."""
    n = len(payload) if length is None else length
    assert 0 <= n < 1 << 24
    return struct.pack("!I", n)[1:] + struct.pack("!BBI", ftype, flags, sid) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack("!HI", k, v) for k, v in pairs))


def rst(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack("!I", code))


def goaway(last, code):
    return frame(GOAWAY, 0, 0, struct.pack("!II", last, code))


def grpc_message(payload):
    """gRPC length-prefixed message: compressed flag, 4-byte length, bytes."""
    return struct.pack("!BI", 0, len(payload)) + payload


def proto_string(field, s):
    """A protobuf message holding one string field (wire type 2), len < 128."""
    b = s.encode()
    assert len(b) < 128
    return bytes([field << 3 | 2, len(b)]) + b


# ---- HPACK (RFC 7541) ------------------------------------------------------------

STATIC = {  # the static table entries used here (Appendix A)
    (":authority", ""): 1, (":method", "POST"): 3, (":path", "/"): 4, (":scheme", "http"): 6,
    (":status", "200"): 8, ("content-type", ""): 31, ("user-agent", ""): 58,
}
STATIC_NAMES = {name: idx for (name, _), idx in STATIC.items()}


def hp_int(value, prefix_bits, flags):
    """Integer with an N-bit prefix (5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([flags | value])
    out = [flags | limit]
    value -= limit
    while value >= 128:
        out.append(value & 127 | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    """String literal, not Huffman-coded (5.2)."""
    b = s.encode() if isinstance(s, str) else s
    return hp_int(len(b), 7, 0) + b


class Encoder:
    """One side's HPACK encoder with a model of its dynamic table (2.3.2, 4)."""

    def __init__(self, max_size=4096):
        self.table = []  # newest first: (name, value)
        self.max_size = max_size

    @staticmethod
    def entry_size(name, value):
        return len(name) + len(value) + 32

    def size(self):
        return sum(self.entry_size(n, v) for n, v in self.table)

    def indexed(self, name, value):
        """Indexed field (6.1), static or dynamic."""
        if (name, value) in STATIC:
            return hp_int(STATIC[(name, value)], 7, 0x80)
        return hp_int(62 + self.table.index((name, value)), 7, 0x80)

    def literal(self, name, value, index=False):
        """Literal with incremental indexing (6.2.1) or without indexing (6.2.2);
        the name is indexed when the static table has it."""
        bits, flag = (6, 0x40) if index else (4, 0x00)
        if name in STATIC_NAMES:
            out = hp_int(STATIC_NAMES[name], bits, flag) + hp_str(value)
        else:
            out = bytes([flag]) + hp_str(name) + hp_str(value)
        if index:
            self.table.insert(0, (name, value))
            while self.size() > self.max_size:
                self.table.pop()
        return out

    def field(self, name, value, index=False):
        """Indexed when either table holds the field already, else a literal."""
        if (name, value) in STATIC or (name, value) in self.table:
            return self.indexed(name, value)
        return self.literal(name, value, index)

    @staticmethod
    def size_update(n):
        """Dynamic table size update (6.3)."""
        return hp_int(n, 5, 0x20)


def request_block(enc, path, index=False):
    """A gRPC request's header block: pseudo-headers, content-type, te."""
    return (enc.field(":method", "POST") + enc.field(":scheme", "http")
            + enc.field(":path", path, index) + enc.field(":authority", AUTHORITY, index)
            + enc.field("content-type", "application/grpc", index)
            + enc.field("te", "trailers", index))


def response_block(enc):
    return enc.indexed(":status", "200") + enc.literal("content-type", "application/grpc")


def trailers_block(enc):
    return enc.literal("grpc-status", "0") + enc.literal("grpc-message", "")


# ---- pcap, Ethernet, IPv4, TCP -------------------------------------------------------

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(a):
    return bytes(int(x) for x in a.split("."))


SYN, FIN, RST_FLAG, PSH, ACK_FLAG = 0x02, 0x01, 0x04, 0x08, 0x10


class Capture:
    """One TCP connection written as an Ethernet pcap. Time only moves forward:
    each packet is stamped with self.t, and callers advance it."""

    def __init__(self):
        self.packets = []
        self.t = T0
        self.seq = {0: 1000000, 1: 3000000}  # next sequence number per side
        self.ip_id = {0: 1, 1: 1}

    def _packet(self, side, flags, payload=b""):
        (src, sport), (dst, dport) = (CLIENT, SERVER) if side == 0 else (SERVER, CLIENT)
        ack = self.seq[1 - side] if flags & ACK_FLAG else 0
        tcp = struct.pack("!HHIIBBHHH", sport, dport, self.seq[side], ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        csum = checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.ip_id[side], 0x4000, 64, 6, 0,
                         ip4(src), ip4(dst))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        self.ip_id[side] += 1
        macs = (b"\x02\x00\x00\x00\x00\x02", b"\x02\x00\x00\x00\x00\x01")
        eth = (macs[0] + macs[1] if side == 0 else macs[1] + macs[0]) + b"\x08\x00"
        self.packets.append((self.t, eth + ip + tcp + payload))
        self.seq[side] = (self.seq[side] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xffffffff

    def step(self, dt=0.0001):
        self.t += dt

    def handshake(self):
        self._packet(0, SYN)
        self.step()
        self._packet(1, SYN | ACK_FLAG)
        self.step()
        self._packet(0, ACK_FLAG)
        self.step()

    def send(self, side, data, duration=0.0):
        """Sends data from side (0 client, 1 server) in segments of at most MSS
        bytes, spread evenly over duration seconds."""
        chunks = [data[i:i + MSS] for i in range(0, len(data), MSS)]
        gap = duration / len(chunks) if chunks and duration else 0.0001
        for c in chunks:
            self._packet(side, PSH | ACK_FLAG, c)
            self.t += gap

    def close(self):
        self.step(0.001)
        self._packet(0, FIN | ACK_FLAG)
        self.step()
        self._packet(1, FIN | ACK_FLAG)
        self.step()
        self._packet(0, ACK_FLAG)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
            for t, pkt in self.packets:
                sec = int(t)
                usec = int(round((t - sec) * 1e6))
                if usec >= 1000000:
                    sec, usec = sec + 1, usec - 1000000
                f.write(struct.pack("<IIII", sec, usec, len(pkt), len(pkt)) + pkt)


# ---- the legitimate call every capture starts with -----------------------------------

class Conn:
    """A client/server pair over one Capture, with an HPACK encoder per side."""

    def __init__(self):
        self.cap = Capture()
        self.enc = {0: Encoder(), 1: Encoder()}
        self.cap.handshake()

    def client(self, data, duration=0.0):
        self.cap.send(0, data, duration)

    def server(self, data, duration=0.0):
        self.cap.send(1, data, duration)

    def legit_call(self):
        """Connection setup and one unary call on stream 1, fully answered."""
        c, s = self.enc[0], self.enc[1]
        self.client(PREFACE + settings((SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)))
        self.server(settings() + settings(ack=True))
        self.client(settings(ack=True)
                    + frame(HEADERS, END_HEADERS, 1, request_block(c, LEGIT_PATH))
                    + frame(DATA, END_STREAM, 1, grpc_message(proto_string(1, "probe"))))
        self.cap.step(0.002)
        self.server(frame(HEADERS, END_HEADERS, 1, response_block(s))
                    + frame(DATA, 0, 1, grpc_message(proto_string(1, "hello probe")))
                    + frame(HEADERS, END_HEADERS | END_STREAM, 1, trailers_block(s)))
        self.cap.step(0.1)


# ---- the attacks ---------------------------------------------------------------------

def continuation_flood(conn):
    """A request whose header block never ends: HEADERS without END_HEADERS and
    2000 CONTINUATION frames of one small field each (CVE-2024-27316)."""
    enc = conn.enc[0]
    frames = [frame(HEADERS, END_STREAM, 3, request_block(enc, "/attack.v1.Probe/Flood"))]
    field = enc.literal("x-f", "0123456789abcdef")
    frames += [frame(CONTINUATION, 0, 3, field) for _ in range(2000)]
    conn.client(b"".join(frames), duration=0.5)
    return ["continuation_flood"], "2000 CONTINUATION frames, no END_HEADERS, then FIN"


def hpack_bomb(conn):
    """One 4 KB field inserted into the dynamic table, then referenced 10,000
    times (one byte each) across CONTINUATION frames: 14 KB on the wire, 40 MB
    decoded. The sensor must cap the decoded header list."""
    enc = conn.enc[0]
    block = request_block(enc, "/attack.v1.Probe/Bomb")
    block += enc.literal("x-bomb", "b" * 4000, index=True)   # entry size 4038 <= 4096
    ref = enc.indexed("x-bomb", "b" * 4000)
    assert ref == b"\xbe"  # dynamic index 62
    frames = [frame(HEADERS, END_STREAM, 3, block)]
    for i in range(10):
        frames.append(frame(CONTINUATION, END_HEADERS if i == 9 else 0, 3, ref * 1000))
    conn.client(b"".join(frames))
    conn.cap.step(0.01)
    conn.server(rst(3, ENHANCE_YOUR_CALM) + goaway(3, ENHANCE_YOUR_CALM))
    return ["header_list_too_large"], "4 KB field referenced 10,000 times: ~40 MB decoded"


def table_size_abuse(conn):
    """The client announces SETTINGS_HEADER_TABLE_SIZE = 2^32-1 (the server's
    encoder may then ask for any size); the server never raised its own 4096, yet
    the client's next block starts with a size update to 65536; the server's
    answer uses an update to 2^32-1, above what the sensor grants any table."""
    conn.client(settings((SETTINGS_HEADER_TABLE_SIZE, 0xffffffff)))
    conn.server(settings(ack=True))
    conn.cap.step(0.001)
    c, s = conn.enc[0], conn.enc[1]
    conn.client(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                      Encoder.size_update(65536) + request_block(c, "/attack.v1.Probe/Table")))
    conn.cap.step(0.001)
    conn.server(frame(HEADERS, END_HEADERS, 3, Encoder.size_update(0xffffffff) + response_block(s)))
    return ["hpack_error/to_server", "hpack_error/to_client"], \
        "size update above the advertised 4096; SETTINGS_HEADER_TABLE_SIZE 2^32-1 then used"


def hpack_huge_field(conn):
    """One literal field announcing a 1 MiB value, its bytes streamed across
    CONTINUATION frames: a decoder has to hold a field whole before it can
    emit it, so this is where an HPACK decoder buffers. 120 KB are sent."""
    enc = conn.enc[0]
    block = request_block(enc, "/attack.v1.Probe/Huge")
    block += b"\x00" + hp_str("x-huge") + hp_int(1 << 20, 7, 0)  # literal, new name, no indexing
    frames = [frame(HEADERS, END_STREAM, 3, block)]
    frames += [frame(CONTINUATION, 0, 3, b"a" * 15000) for _ in range(8)]
    conn.client(b"".join(frames))
    return ["hpack_error"], "a literal field of 1 MiB announced, 120 KB of it sent in CONTINUATIONs"


def rapid_reset(conn):
    """5,000 streams opened and cancelled at once, within one second
    (CVE-2023-44487). After the first, each HEADERS is five indexed fields."""
    enc = conn.enc[0]
    pairs = []
    for i in range(5000):
        sid = 3 + 2 * i
        block = request_block(enc, "/attack.v1.Probe/Reset", index=(i == 0))
        if i == 1:
            assert len(block) == 6, block
        pairs.append(frame(HEADERS, END_HEADERS | END_STREAM, sid, block) + rst(sid, CANCEL))
    conn.client(b"".join(pairs), duration=1.0)
    conn.cap.step(0.01)
    conn.server(goaway(3 + 2 * 4999, ENHANCE_YOUR_CALM))
    return ["rapid_reset"], "5000 HEADERS + RST_STREAM(CANCEL) pairs in one second"


def settings_flood(conn):
    """1,000 SETTINGS frames in one second, each acknowledged (CVE-2019-9515)."""
    for _ in range(20):
        conn.client(b"".join(settings((SETTINGS_INITIAL_WINDOW_SIZE, 65535)) for _ in range(50)))
        conn.cap.step(0.02)
        conn.server(b"".join(settings(ack=True) for _ in range(50)))
        conn.cap.step(0.03)
    return ["settings_flood"], "1000 SETTINGS + 1000 ACKs in one second"


def ping_flood(conn):
    """1,000 PINGs in one second, each answered (CVE-2019-9512)."""
    for b in range(20):
        opaque = [struct.pack("!Q", b * 50 + i) for i in range(50)]
        conn.client(b"".join(frame(PING, 0, 0, o) for o in opaque))
        conn.cap.step(0.02)
        conn.server(b"".join(frame(PING, ACK, 0, o) for o in opaque))
        conn.cap.step(0.03)
    return ["ping_flood"], "1000 PINGs + 1000 PING ACKs in one second"


def stream_id_exhaustion(conn):
    """The client jumps from stream 1 to 2^31 - 2^20 + 1 and then uses the last
    ids of the space, so the connection has (almost) no stream left."""
    c, s = conn.enc[0], conn.enc[1]
    for sid in (0x7ff00001, 0x7ffffffd, 0x7fffffff):
        conn.client(frame(HEADERS, END_HEADERS, sid, request_block(c, "/attack.v1.Probe/Last"))
                    + frame(DATA, END_STREAM, sid, grpc_message(b"")))
        conn.cap.step(0.001)
        conn.server(frame(HEADERS, END_HEADERS, sid, response_block(s))
                    + frame(HEADERS, END_HEADERS | END_STREAM, sid, trailers_block(s)))
        conn.cap.step(0.001)
    conn.server(goaway(0x7fffffff, 0))
    return ["stream_id_exhaustion"], "stream ids 0x7ff00001, 0x7ffffffd, 0x7fffffff after 1"


def frame_too_large(conn):
    """A 100 KB DATA frame while the server kept the default
    SETTINGS_MAX_FRAME_SIZE of 16384."""
    c = conn.enc[0]
    body = grpc_message(b"\0" * (102400 - 5))
    assert len(body) == 102400
    conn.client(frame(HEADERS, END_HEADERS, 3, request_block(c, "/attack.v1.Probe/Big"))
                + frame(DATA, END_STREAM, 3, body))
    conn.cap.step(0.01)
    conn.server(goaway(3, FRAME_SIZE_ERROR))
    return ["frame_too_large"], "102400-byte DATA frame, max frame size 16384"


def padding_longer_than_frame(conn):
    """A padded DATA frame of 10 bytes claiming 200 bytes of padding, and a
    padded HEADERS answer of 5 bytes claiming 255 (RFC 9113 6.1, 6.2)."""
    c = conn.enc[0]
    conn.client(frame(HEADERS, END_HEADERS, 3, request_block(c, "/attack.v1.Probe/Pad"))
                + frame(DATA, PADDED | END_STREAM, 3, bytes([200]) + b"\0" * 9))
    conn.cap.step(0.01)
    conn.server(frame(HEADERS, PADDED | END_HEADERS, 3, bytes([255]) + b"\x88\0\0\0"))
    return ["bad_padding/to_server", "bad_padding/to_client"], \
        "pad length 200 in a 10-byte DATA frame; 255 in a 5-byte HEADERS frame"


def empty_frames_flood(conn):
    """1,000 zero-length DATA frames without END_STREAM within one second on an
    open request (CVE-2019-9518), then the request completes."""
    c, s = conn.enc[0], conn.enc[1]
    conn.client(frame(HEADERS, END_HEADERS, 3, request_block(c, "/attack.v1.Probe/Empty")))
    conn.client(b"".join(frame(DATA, 0, 3) for _ in range(1000)), duration=0.5)
    conn.client(frame(DATA, END_STREAM, 3, grpc_message(proto_string(1, "done"))))
    conn.cap.step(0.01)
    conn.server(frame(HEADERS, END_HEADERS, 3, response_block(s))
                + frame(HEADERS, END_HEADERS | END_STREAM, 3, trailers_block(s)))
    return ["empty_frames_flood"], "1000 empty DATA frames in half a second"


ATTACKS = [
    ("continuation-flood", continuation_flood),
    ("hpack-bomb", hpack_bomb),
    ("hpack-huge-field", hpack_huge_field),
    ("table-size-abuse", table_size_abuse),
    ("rapid-reset", rapid_reset),
    ("settings-flood", settings_flood),
    ("ping-flood", ping_flood),
    ("stream-id-exhaustion", stream_id_exhaustion),
    ("frame-too-large", frame_too_large),
    ("padding-longer-than-frame", padding_longer_than_frame),
    ("empty-frames-flood", empty_frames_flood),
]


def generate(outdir):
    os.makedirs(os.path.join(outdir, "expected"), exist_ok=True)
    for name, build in ATTACKS:
        conn = Conn()
        conn.legit_call()
        anomalies, about = build(conn)
        conn.cap.close()
        pcap = os.path.join(outdir, name + ".pcap")
        conn.cap.write(pcap)
        expected = {"capture": name + ".pcap", "anomalies": anomalies, "calls": [LEGIT_PATH],
                    "max_rss_mib": MAX_RSS_MIB, "about": about}
        with open(os.path.join(outdir, "expected", name + ".json"), "w") as f:
            json.dump(expected, f, indent=2)
            f.write("\n")
        print("%-28s %7d bytes  %s" % (name + ".pcap", os.path.getsize(pcap), about))


if __name__ == "__main__":
    generate(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "pcaps", "attacks"))
