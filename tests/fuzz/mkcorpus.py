#!/usr/bin/python3
"""tests/fuzz/mkcorpus.py - builds the seed corpora of tests/fuzz/corpus/.

    /usr/bin/python3 tests/fuzz/mkcorpus.py [--only T,..] [--out DIR] [SHARED_PCAP_DIR...]

Run from the repository root with Debian's python3 (scapy). Reads every
committed capture of every stack (pcaps/*.pcap*, pcaps/transformed/,
pcaps/attacks/) and, when given, public captures (e.g.
/work/shared/pcaps/public, files under 1 MiB), and writes, replacing what is
there:

  corpus/fuzz_packet/  single packets: 1 byte link-type selector + the frame
  corpus/fuzz_pcap/    small captures, whole or cut to their first packets
  corpus/fuzz_h2/      per connection, both TCP payload streams in capture
                       order in fuzz_h2's chunk format
  corpus/fuzz_hpack/   per connection and direction, the header blocks in
                       fuzz_hpack's format
  corpus/fuzz_tls/     the first bytes of each direction of TLS connections
  corpus/fuzz_config/  conf/grpcwatch.yaml and hand-written variations
  corpus/fuzz_http1/   per HTTP/1.x connection (h2c upgrades included), both
                       TCP payload streams in capture order in fuzz_http1's
                       chunk format (fuzz_h2's), plus hand-written exchanges
                       (gRPC-Web binary and text, chunked, pipelining,
                       CONNECT, websocket, smuggling shapes)
  corpus/fuzz_flows/   per capture, its TCP segments as fuzz_flows
                       operations (flows_seed below: connections onto the 4
                       flows, flags, holes and retransmissions as GAP/BACK,
                       time deltas), plus a few hand-written sequences

    --only TARGET[,TARGET]  rebuild just those corpora (the others, which
                            may hold merged fuzzing finds, stay)
    --out DIR               write DIR/<target>/ instead of corpus/<target>/
                            (fresh seeds to merge into the committed corpus:
                            README.md, "Seeding")

Streams are rebuilt in sequence order per direction; a direction stops at
its first hole. File names are content hashes, so a rerun is idempotent.
"""
import glob
import hashlib
import os
import struct
import sys

from scapy.all import IP, TCP, IPv6, Raw, conf, RawPcapReader  # noqa: F401
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

# fuzz_packet.c: linktypes[] in the same order
PACKET_LINKTYPES = [1, 113, 276, 0, 108, 12, 101, 228, 229, 14]
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

MAX = {"fuzz_packet": 4096, "fuzz_pcap": 32768, "fuzz_h2": 16384, "fuzz_tls": 4096,
       "fuzz_hpack": 4096, "fuzz_http1": 8192, "fuzz_flows": 32768}
TARGETS = ("fuzz_packet", "fuzz_pcap", "fuzz_h2", "fuzz_hpack", "fuzz_tls", "fuzz_config",
           "fuzz_http1", "fuzz_flows")
ONLY = set(TARGETS)
PACKETS_PER_FILE = 6
PCAP_SEED_BYTES = 16384


SEEN = set()


def out(target, data, tag=""):
    if target not in ONLY:
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    if (target, digest) in SEEN:
        return
    SEEN.add((target, digest))
    name = (tag + "-" if tag else "") + digest
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read_capture(path):
    """[(linktype, sec_float, raw bytes)] or None if unreadable."""
    try:
        r = RawPcapReader(path)
    except Exception:  # noqa: BLE001 - not a capture
        return None
    pkts = []
    lt = getattr(r, "linktype", None)
    for data, meta in r:
        if hasattr(meta, "tshigh"):
            ts = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
            plt = meta.linktype
        else:
            ts = meta.sec + meta.usec / 1e6
            plt = lt
        pkts.append((plt, ts, bytes(data)))
    r.close()
    return pkts


def dissect(linktype, data):
    cls = conf.l2types.get(linktype)
    if cls is None:
        return None
    try:
        p = cls(data)
    except Exception:  # noqa: BLE001
        return None
    try:
        ip = p.getlayer(IP) or p.getlayer(IPv6)
        if ip is None or not p.haslayer(TCP):
            return None
        tcp = p[TCP]
        payload = bytes(tcp.payload) if tcp.payload else b""
        if isinstance(ip, IP):
            iplen = ip.len - ip.ihl * 4 - tcp.dataofs * 4
            payload = payload[:max(iplen, 0)]  # drop Ethernet padding
        return (ip.src, tcp.sport, ip.dst, tcp.dport, tcp.seq, int(tcp.flags), payload)
    except (TypeError, AttributeError, IndexError):  # cut headers (snapped, corrupt captures)
        return None


class Conn:
    def __init__(self, client):
        self.client = client
        self.next = [None, None]
        self.dead = [False, False]
        self.chunks = []  # (dir, bytes) in capture order

    def add(self, d, seq, flags, payload):
        if self.dead[d]:
            return
        if flags & 0x02:  # SYN
            self.next[d] = (seq + 1) & 0xffffffff
            return
        if not payload:
            return
        if self.next[d] is None:
            self.next[d] = seq
        off = (self.next[d] - seq) & 0xffffffff
        if off >= 0x80000000:  # a hole before this segment
            self.dead[d] = True
            return
        if off >= len(payload):
            return  # retransmission
        payload = payload[off:]
        self.chunks.append((d, payload))
        self.next[d] = (self.next[d] + len(payload)) & 0xffffffff

    def stream(self, d):
        return b"".join(c for dd, c in self.chunks if dd == d)


def connections(pkts):
    conns = {}
    for lt, _ts, data in pkts:
        t = dissect(lt, data)
        if t is None:
            continue
        src, sport, dst, dport, seq, flags, payload = t
        key = frozenset([(src, sport), (dst, dport)])
        c = conns.get(key)
        if c is None:
            # a SYN without ACK names the client; otherwise the first sender
            client = (src, sport) if not (flags & 0x02 and flags & 0x10) else (dst, dport)
            c = conns[key] = Conn(client)
        c.add(0 if (src, sport) == c.client else 1, seq, flags, payload)
    return list(conns.values())


# ---- fuzz_packet ---------------------------------------------------------------

def packet_seeds(name, pkts):
    taken = 0
    for lt, _ts, data in pkts:
        if lt not in PACKET_LINKTYPES or taken >= PACKETS_PER_FILE:
            continue
        t = dissect(lt, data)
        if t is None or not t[6]:
            continue
        out("fuzz_packet", bytes([PACKET_LINKTYPES.index(lt)]) + data[:MAX["fuzz_packet"] - 1], name)
        taken += 1


def synthetic_packets():
    tcp = TCP(sport=40000, dport=50051, flags="PA", seq=1000, ack=1)
    frames = [
        (1, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1AD(vlan=5) / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2") / tcp / PREFACE),
        (1, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="fe80::1", dst="fe80::2") / tcp / PREFACE),
        (1, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / tcp / b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"),
        (1, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=0) / tcp / PREFACE),
        (228, IP(src="10.0.0.1", dst="10.0.0.2") / tcp / PREFACE),
        (229, IPv6(src="::1", dst="::1", nh=0) / Raw(b"\x06\x00\x01\x04\x00\x00\x00\x00") / tcp / PREFACE),
    ]
    for lt, f in frames:
        out("fuzz_packet", bytes([PACKET_LINKTYPES.index(lt)]) + bytes(f), "synthetic")


# ---- fuzz_pcap -----------------------------------------------------------------

def pcap_bytes(linktype, pkts):
    b = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, linktype)
    for _lt, ts, data in pkts:
        sec = int(ts)
        b += struct.pack("<IIII", sec, int(round((ts - sec) * 1e6)) % 1000000, len(data), len(data)) + data
    return b


def pcap_seeds(name, path, pkts):
    size = os.path.getsize(path)
    if size <= PCAP_SEED_BYTES:
        with open(path, "rb") as f:
            out("fuzz_pcap", f.read(), name)
        return
    lts = {lt for lt, _, _ in pkts}
    if len(lts) != 1:
        return
    # the first packets, as a classic pcap, up to the size budget
    keep, total = [], 24
    for p in pkts:
        if total + 16 + len(p[2]) > PCAP_SEED_BYTES:
            break
        keep.append(p)
        total += 16 + len(p[2])
    if len(keep) >= 3:
        out("fuzz_pcap", pcap_bytes(lts.pop(), keep), name + "-head")


# ---- fuzz_h2 / fuzz_hpack --------------------------------------------------------

def looks_like_frames(s):
    return len(s) >= 9 and s[3] <= 9 and (s[0] << 16 | s[1] << 8 | s[2]) <= 16384


def h2_start(c):
    """Offsets where HTTP/2 starts in each direction, and fuzz_h2 flags."""
    cs, ss = c.stream(0), c.stream(1)
    i = cs.find(PREFACE)
    if i == 0:
        return 0, 0, 0x00
    if i > 0 and cs.startswith((b"GET ", b"POST ", b"OPTIONS ", b"HEAD ")):  # h2c upgrade
        j = ss.find(b"\r\n\r\n") if ss.startswith(b"HTTP/1.1 101") else -1
        return i, (j + 4 if j >= 0 else len(ss)), 0x00
    if i < 0 and looks_like_frames(cs) and not cs.startswith(b"\x16\x03"):
        return 0, 0, 0x0c  # picked up mid-stream: prepend the preface, mark midstream
    return None


def h2_seed(c, skip0, skip1, flags, target="fuzz_h2"):
    b = bytearray([flags])
    skip = [skip0, skip1]
    for d, chunk in c.chunks:
        if skip[d]:
            cut = min(skip[d], len(chunk))
            skip[d] -= cut
            chunk = chunk[cut:]
        while chunk:
            piece, chunk = chunk[:65535], chunk[65535:]
            b += bytes([d | (1 << 1)]) + struct.pack(">H", len(piece)) + piece
        if len(b) >= MAX[target]:
            break
    return bytes(b[:MAX[target]])


def header_blocks(stream):
    """HEADERS/PUSH_PROMISE (+CONTINUATION) header block fragments, joined."""
    blocks, cur, i = [], None, 0
    while i + 9 <= len(stream):
        ln = stream[i] << 16 | stream[i + 1] << 8 | stream[i + 2]
        typ, fl = stream[i + 3], stream[i + 4]
        p = stream[i + 9:i + 9 + ln]
        i += 9 + ln
        if len(p) < ln:
            break
        if typ in (1, 5):
            pad = p[0] if fl & 0x8 else 0
            p = p[1:] if fl & 0x8 else p
            if typ == 1 and fl & 0x20:
                p = p[5:]
            if typ == 5:
                p = p[4:]
            cur = p[:len(p) - pad] if pad else p
        elif typ == 9 and cur is not None:
            cur += p
        else:
            continue
        if fl & 0x4 and cur is not None:
            blocks.append(cur)
            cur = None
    return blocks


def hpack_seed(blocks, flags):
    """fuzz_hpack.c: flags byte, then (0, 2-byte length, block) per block."""
    b = bytearray([flags])
    for blk in blocks:
        if len(b) + 3 + len(blk) > MAX["fuzz_hpack"]:
            break
        b += b"\x00" + struct.pack(">H", len(blk)) + blk
    return bytes(b)


def frame_boundary(stream, skip_frames):
    """Offset of the frame boundary after skip_frames frames, or None."""
    i = 0
    for _ in range(skip_frames):
        if i + 9 > len(stream):
            return None
        i += 9 + (stream[i] << 16 | stream[i + 1] << 8 | stream[i + 2])
    return i if i < len(stream) else None


def h2_seeds(name, conns):
    for c in conns:
        st = h2_start(c)
        if st is None:
            continue
        out("fuzz_h2", h2_seed(c, *st), name)
        if st[2] != 0:
            out("fuzz_h2", h2_seed(c, st[0], st[1], 0x10), name + "-midstream")
            continue
        frames = [c.stream(0)[st[0] + len(PREFACE):], c.stream(1)[st[1]:]]
        for d in (0, 1):
            blocks = header_blocks(frames[d])
            if blocks:
                # known from the start with a 4096 table; a mid-stream pickup
                out("fuzz_hpack", hpack_seed(blocks, 0x09), name)
                out("fuzz_hpack", hpack_seed(blocks[1:], 0x08), name + "-pickup")
        # the same connection picked up after its first frames each way
        b0, b1 = frame_boundary(frames[0], 3), frame_boundary(frames[1], 2)
        if b0 is not None and b1 is not None:
            out("fuzz_h2", h2_seed(c, st[0] + len(PREFACE) + b0, st[1] + b1, 0x10), name + "-pickup")


# ---- fuzz_tls -------------------------------------------------------------------

def tls_seeds(name, conns):
    for c in conns:
        cs, ss = c.stream(0), c.stream(1)
        if len(cs) < 6 or not cs.startswith(b"\x16\x03") or cs[5] != 1:
            continue
        out("fuzz_tls", cs[:MAX["fuzz_tls"]], name + "-ch")
        if ss.startswith(b"\x16\x03"):
            out("fuzz_tls", ss[:MAX["fuzz_tls"]], name + "-sh")


# ---- fuzz_http1 -------------------------------------------------------------------

HTTP1_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"CONNECT ", b"OPTIONS ",
                 b"TRACE ", b"PATCH ")


def http1_seeds(name, conns):
    """Connections that start as HTTP/1.x: byte 0 = 0x05 (FIN both ways, and
    the byte-by-byte differential run), 0x02 (close) for a second copy."""
    for c in conns:
        cs, ss = c.stream(0), c.stream(1)
        if not (cs.startswith(HTTP1_METHODS) or ss.startswith(b"HTTP/1.")):
            continue
        out("fuzz_http1", h2_seed(c, 0, 0, 0x05, "fuzz_http1"), name)
        out("fuzz_http1", h2_seed(c, 0, 0, 0x02, "fuzz_http1"), name + "-close")


def http1_chunks(flags, chunks):
    b = bytearray([flags])
    for d, data in chunks:
        b += bytes([d | (1 << 1)]) + struct.pack(">H", len(data)) + data
    return bytes(b)


def web_frame(flag, payload):
    return bytes([flag]) + struct.pack(">I", len(payload)) + payload


def synthetic_http1():
    import base64
    req = (b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nHost: example.com:8080\r\n"
           b"Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\n"
           b"Authorization: Bearer x\r\nContent-Length: 12\r\n\r\n")
    msg = web_frame(0, b"\x0a\x05world\x10\x01")[:12]
    trailer = web_frame(0x80, b"grpc-status: 0\r\ngrpc-message: ok\r\n")
    resp_body = web_frame(0, b"\x0a\x03hey") + trailer
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(resp_body) + resp_body +
            b"\r\n0\r\n\r\n")
    out("fuzz_http1", http1_chunks(0x05, [(0, req + msg), (1, resp)]), "hand-grpcweb")
    text_body = base64.b64encode(web_frame(0, b"\x0a\x02hi")) + base64.b64encode(trailer)
    req_t = (b"POST /pkg.Svc/M HTTP/1.1\r\nHost: h\r\nContent-Type: application/grpc-web-text\r\n"
             b"Content-Length: %d\r\n\r\n" % len(text_body)) + text_body
    resp_t = (b"HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web-text+proto\r\n"
              b"Content-Length: %d\r\n\r\n" % len(text_body)) + text_body
    out("fuzz_http1", http1_chunks(0x05, [(0, req_t), (1, resp_t)]), "hand-grpcweb-text")
    pipe = b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(4))
    pipe_r = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
              b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"
              b"HTTP/1.0 200 OK\r\n\r\nuntil close")
    out("fuzz_http1", http1_chunks(0x01, [(0, pipe), (1, pipe_r)]), "hand-pipeline")
    head = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
    out("fuzz_http1", http1_chunks(0x02, [(0, head), (1, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")]),
        "hand-head")
    conn = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
    out("fuzz_http1", http1_chunks(0x05, [(0, conn), (1, b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03")]),
        "hand-connect")
    ws = (b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x05hello")
    ws_r = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi")
    out("fuzz_http1", http1_chunks(0x05, [(0, ws), (1, ws_r)]), "hand-websocket")
    h2c = (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
           b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" + PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    out("fuzz_http1", http1_chunks(0x05, [(0, h2c)]), "hand-h2c-client-only")
    smuggle = (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n0\r\nTrailer-Field: x\r\n\r\n"
               b"GET /x HTTP/1.1\nHost: b\n\n")
    out("fuzz_http1", http1_chunks(0x05, [(0, smuggle), (1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]),
        "hand-te-cl")
    gap = http1_chunks(0x05, [(0, b"POST /u HTTP/1.1\r\nContent-Length: 300\r\n\r\nabc")])
    gap += bytes([0x04, 200]) + bytes([0x02]) + struct.pack(">H", 97) + b"d" * 97
    out("fuzz_http1", gap, "hand-gap")


# ---- fuzz_flows -------------------------------------------------------------------

# fuzz_flows.c: operation kinds
K_DATA, K_GAP, K_BACK, K_SYN, K_SYNACK, K_ACK, K_FIN, K_RST, K_RSTACK, K_ALL, K_RAW, \
    K_HANDSHAKE, K_SEQ, K_TICK, K_STATS, K_SNAP, K_PORT = range(17)
FLOWS_MAX_PAYLOAD = 65535 - 40


def flows_time(delta):
    """fuzz_flows.c's time byte for a delta in seconds (t < 200: t ms; else
    (t - 199) * 500 ms)."""
    if delta < 0.1995:
        return max(0, int(round(delta * 1000)))
    return min(255, 199 + max(1, int(round(delta / 0.5))))


def flows_op(kind, flow, d, t, args=b""):
    return bytes([(kind << 3) | (d << 2) | flow, t]) + args


def flows_seed(pkts, setup=0x03):
    """A capture's TCP segments as fuzz_flows operations. Connections take
    the 4 flows in order of appearance (the 5th on flow 0 again, after a
    PORT operation, so it is a new connection, not a port reuse); per
    direction the target keeps the next sequence number, so a segment is
    DATA at it, GAP past it (a hole), BACK before it (retransmission); SYN,
    SYN|ACK, FIN, RST, pure ACKs keep their kind, any other flag combination
    is RAW. Stops at the size budget, on an operation boundary."""
    b = bytearray([setup])
    conns, flow_used = {}, [False] * 4
    last_ts = None
    for lt, ts, data in pkts:
        t = dissect(lt, data)
        if t is None:
            continue
        src, sport, dst, dport, seq, flags, pl = t
        key = frozenset([(src, sport), (dst, dport)])
        c = conns.get(key)
        ops = bytearray()
        if c is None:
            client = (src, sport) if not (flags & 0x02 and flags & 0x10) else (dst, dport)
            idx = len(conns) % 4
            c = conns[key] = {"client": client, "flow": idx, "next": [None, None]}
            if flow_used[idx]:
                ops += flows_op(K_PORT, idx, 0, 0, bytes([len(conns) & 0xff]))
            flow_used[idx] = True
        d = 0 if (src, sport) == c["client"] else 1
        f = c["flow"]
        tb = flows_time(0 if last_ts is None else max(0.0, ts - last_ts))
        last_ts = ts
        nxt = c["next"]
        pl = pl[:FLOWS_MAX_PAYLOAD]
        plain = not (flags & ~0x1f) and (flags & 0x17) in (0x00, 0x01, 0x02, 0x04, 0x10, 0x11,
                                                           0x12, 0x14)
        if flags & 0x02 and plain:
            ops += flows_op(K_SYNACK if flags & 0x10 else K_SYN, f, d, tb, bytes([seq & 0xff]))
            nxt[d] = (seq + 1) & 0xffffffff
        elif flags & 0x04 and plain:
            ops += flows_op(K_RSTACK if flags & 0x10 else K_RST, f, d, tb)
        elif plain and not pl and not flags & 0x01:
            ops += flows_op(K_ACK, f, d, tb)
        else:
            if nxt[d] is None:
                nxt[d] = seq
            off = (seq - nxt[d]) & 0xffffffff
            off = off - (1 << 32) if off >= 1 << 31 else off
            if off > 1 << 20:  # a jump, not a hole: start over there
                nxt[d], off = seq, 0
            off = max(off, -65535)
            ln = struct.pack(">H", len(pl)) + pl
            if plain and not flags & 0x01:  # data
                while off > 65535:
                    ops += flows_op(K_GAP, f, d, 0, struct.pack(">HH", 65535, 0))
                    off -= 65535
                    nxt[d] = (nxt[d] + 65535) & 0xffffffff
                if off > 0:
                    ops += flows_op(K_GAP, f, d, tb, struct.pack(">H", off) + ln)
                    nxt[d] = (nxt[d] + off + len(pl)) & 0xffffffff
                elif off < 0:
                    ops += flows_op(K_BACK, f, d, tb, struct.pack(">H", -off) + ln)
                    end = (nxt[d] + off + len(pl)) & 0xffffffff
                    if 0 < ((end - nxt[d]) & 0xffffffff) < 1 << 31:
                        nxt[d] = end
                else:
                    ops += flows_op(K_DATA, f, d, tb, ln)
                    nxt[d] = (nxt[d] + len(pl)) & 0xffffffff
            else:  # FIN, or flags no ordinary segment has: at the next number
                while off > 0:
                    g = min(off, 65535)
                    ops += flows_op(K_GAP, f, d, 0, struct.pack(">HH", g, 0))
                    off -= g
                    nxt[d] = (nxt[d] + g) & 0xffffffff
                if plain:
                    ops += flows_op(K_FIN, f, d, tb, ln)
                    nxt[d] = (nxt[d] + len(pl) + 1) & 0xffffffff
                else:
                    ops += flows_op(K_RAW, f, d, tb, bytes([flags & 0xff]) + ln)
                    nxt[d] = (nxt[d] + len(pl) + (1 if flags & 0x03 else 0)) & 0xffffffff
        if len(b) + len(ops) > MAX["fuzz_flows"]:
            break
        b += ops
    return bytes(b) if len(b) > 1 else None


def flows_seeds(name, pkts):
    s = flows_seed(pkts)
    if s:
        out("fuzz_flows", s, name)


def synthetic_flows():
    def data(f, d, pl, t=0):
        return flows_op(K_DATA, f, d, t, struct.pack(">H", len(pl)) + pl)
    req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    h2 = PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    # four connections at once, each ended another way
    b = bytearray([0x03])
    for f in range(4):
        b += flows_op(K_HANDSHAKE, f, 0, 1)
        b += data(f, 0, h2 if f % 2 else req)
    b += data(0, 1, resp) + flows_op(K_FIN, 0, 0, 1, b"\x00\x00") + flows_op(K_FIN, 0, 1, 1, b"\x00\x00")
    b += flows_op(K_RST, 1, 1, 1)
    b += flows_op(K_SYN, 2, 0, 1, b"\x07") + data(2, 0, req)  # port reuse
    b += flows_op(K_TICK, 3, 0, 255) + flows_op(K_STATS, 3, 0, 0)
    out("fuzz_flows", bytes(b), "hand-four-endings")
    # a small table: the flows evict each other; holes and retransmissions
    b = bytearray([0x10 | 0x40])
    for f in range(4):
        b += flows_op(K_HANDSHAKE, f, 0, 0) + data(f, 0, req[:10])
        b += flows_op(K_GAP, f, 0, 0, struct.pack(">HH", 100, 8) + b"xxxxxxxx")
        b += flows_op(K_BACK, f, 0, 0, struct.pack(">HH", 118, 20) + req[:20])
    out("fuzz_flows", bytes(b), "hand-evict-holes")


# ---- fuzz_config ----------------------------------------------------------------

CONFIGS = [
    b"",
    b"---\n",
    b"flow:\n  max-flows: 1\n",
    b"flow: {max-flows: 16777216, timeout-new: 86400, timeout-established: 1, timeout-closed: 5}\n",
    b"reassembly:\n  ooo-max-bytes: 16m\n  ooo-max-segments: 65535\n  memcap: 64k\n",
    b"reassembly: {memcap: 1g, ooo-max-bytes: 1K}\n",
    b"http2:\n  max-streams: 65536\n  max-header-table: 0\n  max-header-list: 1k\n",
    b"policy:\n  credential-keys: [x-session, X-Tenant-Auth, \"quoted\", 'single']\n",
    b"policy:\n  credential-keys:\n    - a\n    - b!#$%&'*+-.^_`|~\n",
    b"policy:\n  credential-keys: ~\noutput:\n  stats-interval: 0\n",
    b"output: {stats-interval: 86400}\nflow:\nhttp2:\n",
    b"base: &b {max-flows: 10}\nflow: *b\n",
    b"flow: &f\n  max-flows: 2\nreassembly: *f\n",
    b"policy:\n  credential-keys: &k [a, b]\nflow: {max-flows: *k}\n",
    b"flow:\n  max-flows: 1\n---\nflow:\n  max-flows: 2\n",
    b"%YAML 1.1\n--- !!map\nflow: !!map {max-flows: !!int 7}\n...\n",
    b"flow:\n  max-flows: 99999999999999999999999\n",
    b"reassembly:\n  memcap: 18446744073709551615\n",
    b"http2: [1, 2]\n",
    b"flow:\n  max-flows: 1\n  max-flows: 2\n",
    b"? flow\n: max-flows: 3\n",
    b"\xef\xbb\xbfflow:\n  timeout-new: 3\n",
    b"flow:\n\tmax-flows: 1\n",
    b"policy:\n  credential-keys: [" + b", ".join(b"k%d" % i for i in range(33)) + b"]\n",
]


def config_seeds():
    with open(os.path.join(ROOT, "conf", "grpcwatch.yaml"), "rb") as f:
        out("fuzz_config", f.read(), "grpcwatch.yaml")
    for c in CONFIGS:
        out("fuzz_config", c, "hand")


# ---- main -------------------------------------------------------------------------

def main():
    global ONLY, CORPUS
    args = sys.argv[1:]
    while len(args) >= 2 and args[0] in ("--only", "--out"):
        if args[0] == "--only":
            ONLY = set(args[1].split(","))
        else:
            CORPUS = os.path.abspath(args[1])
        args = args[2:]
    for t in ONLY:
        for f in glob.glob(os.path.join(CORPUS, t, "*")):
            os.remove(f)
    # every committed capture of every stack: the stacks' own, the SPAN
    # transformations of them, the attacks
    files = sorted(glob.glob(os.path.join(ROOT, "pcaps", "*.pcap*")))
    files += sorted(glob.glob(os.path.join(ROOT, "pcaps", "transformed", "*.pcap*")))
    files += sorted(glob.glob(os.path.join(ROOT, "pcaps", "attacks", "*.pcap*")))
    for d in args:
        files += sorted(p for p in glob.glob(os.path.join(d, "**", "*"), recursive=True)
                        if p.endswith((".pcap", ".pcapng")) and os.path.getsize(p) < 1 << 20)
    for path in files:
        pkts = read_capture(path)
        if not pkts:
            continue
        name = os.path.basename(path).replace(" ", "_").rsplit(".", 1)[0]
        if name == "input":  # suricata-verify: the test is the directory
            name = os.path.basename(os.path.dirname(path))
        conns = connections(pkts)
        packet_seeds(name, pkts)
        pcap_seeds(name, path, pkts)
        h2_seeds(name, conns)
        tls_seeds(name, conns)
        http1_seeds(name, conns)
        flows_seeds(name, pkts)
    synthetic_packets()
    synthetic_http1()
    synthetic_flows()
    config_seeds()


if __name__ == "__main__":
    main()
