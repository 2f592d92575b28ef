/*
 * fuzz_flows.c - structure-aware: a few TCP connections interleaved, built
 * into Ethernet/IPv4/TCP frames in memory and fed to the whole sensor.
 *
 * fuzz_pcap has to invent the framing, the 5-tuples and the sequence
 * numbers before it reaches a flow-ending path; here the input only says
 * what happens to which flow, and the target keeps the bookkeeping, so
 * port reuse, RST and SYN on live flows, FIN with data, the malformed
 * all-flags segment, holes, retransmissions, eviction and timeouts are a few
 * bytes away from any real exchange (mkcorpus.py turns captures into this
 * format).
 *
 * Input:
 *   byte 0 (setup): bits 0-1 flow table size (2, 3, 4, 8: below 4 the
 *     four flows evict each other); bits 2-3 rotate the server ports
 *     (50051, 8080, 80, 18095); bit 4 ends with a tick an hour later (every
 *     flow times out) before gw_sensor_finish; bit 5 skips gw_sensor_finish
 *     (gw_sensor_destroy must end the flows itself); bit 6 a 16 KiB
 *     reassembly memcap and 4 out-of-order segments.
 *   then operations, each:
 *     byte c: flow = c & 3; dir = bit 2 (0 client->server, 1 server->client);
 *             kind = (c >> 3) % N_KINDS (below)
 *     byte t: time advance: t < 200: t ms; else (t - 199) * 500 ms
 *     the kind's arguments; LEN16 = 2 bytes big-endian then up to that many
 *     payload bytes (fewer at the end of the input)
 *   kinds:
 *     0 DATA LEN16            ACK|PSH at the direction's next sequence number
 *     1 GAP  GAP16 LEN16      the same GAP16 bytes further on (a hole)
 *     2 BACK BACK16 LEN16     BACK16 bytes before the next one (retransmission,
 *                             overlap); the next sequence number never goes back
 *     3 SYN  ISN8             a SYN from dir with a new ISN: on a flow that
 *                             carried data, port reuse
 *     4 SYNACK ISN8
 *     5 ACK                   pure ACK
 *     6 FIN  LEN16            FIN|ACK (with data if LEN16 > 0)
 *     7 RST                   8 RST|ACK
 *     9 ALL  LEN16            every flag (FIN SYN RST PSH ACK URG ECE CWR)
 *    10 RAW  FLAGS8 LEN16     any flag byte
 *    11 HANDSHAKE             SYN, SYN|ACK, ACK with fresh ISNs (dir ignored)
 *    12 SEQ  SEQ32            the direction's next sequence number jumps (no packet)
 *    13 TICK                  gw_sensor_tick (no packet)
 *    14 STATS                 gw_sensor_write_stats
 *    15 SNAP CUT8 LEN16       DATA cut CUT8 bytes short by the snap length
 *    16 PORT PORT8            the flow's client port changes (a new connection;
 *                             the old one stays in the table until it ends)
 * At the end: gw_sensor_finish (unless bit 5), gw_sensor_destroy and the
 * router's destroy, so LeakSanitizer sees anything a flow-ending path forgot.
 * The records go to a memory file (json:/proc/self/fd/N); every line written
 * must be one valid JSON object, and the output must end on a line boundary.
 * FZ_FLOWS_DUMP=1 in the environment copies the records to stderr (to see
 * what an input does: build-fuzz/fuzz_flows FILE).
 *
 * Mutation (LLVMFuzzerCustomMutator): half the time libFuzzer's own byte
 * mutations; otherwise one operation-level change that keeps the rest of the
 * input parsing as it did: insert a control operation (SYN, SYN|ACK, FIN,
 * RST, all flags, raw flags, handshake, sequence jump, tick, port change) at
 * an operation boundary, delete or duplicate an operation, move one to
 * another flow or direction, turn a payload-carrying one into another kind
 * with the same payload (DATA -> FIN, all flags, raw flags, hole,
 * retransmission, snapped), or make its time step a long one.
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_common.h"

#include "grpcwatch/decode.h"
#include "grpcwatch/router.h"
#include "grpcwatch/sensor.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_FLOWS 4
#define N_KINDS 17
#define ETH_LEN 14
#define IP_LEN 20
#define TCP_LEN 20
#define HDR_LEN (ETH_LEN + IP_LEN + TCP_LEN)
#define MAX_PAYLOAD (65535 - IP_LEN - TCP_LEN)
#define MAX_PACKETS 4096

enum {
    K_DATA, K_GAP, K_BACK, K_SYN, K_SYNACK, K_ACK, K_FIN, K_RST, K_RSTACK, K_ALL, K_RAW,
    K_HANDSHAKE, K_SEQ, K_TICK, K_STATS, K_SNAP, K_PORT
};

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20

struct fl {
    uint16_t cport, sport;
    uint32_t next[2]; /* next sequence number per direction (0: client) */
    uint32_t isn_salt;
};

struct run {
    struct gw_sensor *s;
    gw_time_us now;
    uint64_t number;
    int packets;
    struct fl f[N_FLOWS];
};

static uint8_t frame[HDR_LEN + MAX_PAYLOAD];

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

static uint16_t ip_checksum(const uint8_t *h)
{
    uint32_t sum = 0;
    for (int i = 0; i < IP_LEN; i += 2) sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* One segment of flow i in direction dir at sequence number seq. */
static void send_seg(struct run *r, int i, int dir, uint8_t flags, uint32_t seq,
                     const uint8_t *pl, size_t len, size_t cut)
{
    if (r->packets >= MAX_PACKETS) return;
    r->packets++;
    const struct fl *f = &r->f[i];
    uint8_t cip[4] = { 10, 0, 0, (uint8_t)(1 + i) }, sip[4] = { 10, 0, 1, 1 };
    const uint8_t *src = dir ? sip : cip, *dst = dir ? cip : sip;
    uint16_t sp = dir ? f->sport : f->cport, dp = dir ? f->cport : f->sport;
    uint8_t *e = frame, *ip = frame + ETH_LEN, *t = ip + IP_LEN;

    memcpy(e, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    if (dir) e[5] = 1, e[11] = 2;
    e[12] = 0x08, e[13] = 0x00;
    memset(ip, 0, IP_LEN);
    ip[0] = 0x45;
    put16(ip + 2, (uint32_t)(IP_LEN + TCP_LEN + len));
    put16(ip + 4, (uint32_t)(r->number & 0xffff));
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    put16(ip + 10, ip_checksum(ip));
    memset(t, 0, TCP_LEN);
    put16(t, sp);
    put16(t + 2, dp);
    put32(t + 4, seq);
    put32(t + 8, (flags & F_ACK) ? f->next[!dir] : 0);
    t[12] = (TCP_LEN / 4) << 4;
    t[13] = flags;
    put16(t + 14, 65535);
    if (len) memcpy(t + TCP_LEN, pl, len);

    uint32_t total = (uint32_t)(HDR_LEN + len);
    struct gw_packet pkt = {
        .ts = r->now,
        .linktype = 1, /* DLT_EN10MB */
        .data = frame,
        .caplen = total - (uint32_t)GW_MIN(cut, len),
        .wirelen = total,
        .number = ++r->number,
    };
    gw_sensor_packet(r->s, &pkt);
}

static const uint8_t *payload(struct fz_in *in, size_t *len)
{
    size_t want = fz_be16(in);
    return fz_bytes(in, GW_MIN(want, (size_t)MAX_PAYLOAD), len);
}

static uint32_t isn(struct fl *f, uint8_t b, int dir)
{
    f->isn_salt = f->isn_salt * 1103515245u + 12345u;
    return (uint32_t)b * 0x01000193u + (dir ? 0x80000000u : 0) + (f->isn_salt & 0xffff00u);
}

static void op(struct run *r, struct fz_in *in)
{
    uint8_t c = fz_u8(in), t = fz_u8(in);
    int i = c & 3, dir = (c >> 2) & 1, kind = (c >> 3) % N_KINDS;
    struct fl *f = &r->f[i];
    r->now += t < 200 ? (gw_time_us)t * 1000 : (gw_time_us)(t - 199) * 500000;
    size_t len = 0, cut = 0;
    const uint8_t *pl;
    uint32_t seq;
    uint8_t flags;

    switch (kind) {
    case K_DATA:
    case K_SNAP:
        if (kind == K_SNAP) cut = fz_u8(in);
        pl = payload(in, &len);
        send_seg(r, i, dir, F_ACK | F_PSH, f->next[dir], pl, len, cut);
        f->next[dir] += (uint32_t)len;
        break;
    case K_GAP:
        f->next[dir] += fz_be16(in);
        pl = payload(in, &len);
        send_seg(r, i, dir, F_ACK | F_PSH, f->next[dir], pl, len, 0);
        f->next[dir] += (uint32_t)len;
        break;
    case K_BACK: {
        seq = f->next[dir] - fz_be16(in);
        pl = payload(in, &len);
        send_seg(r, i, dir, F_ACK | F_PSH, seq, pl, len, 0);
        uint32_t end = seq + (uint32_t)len;
        if ((int32_t)(end - f->next[dir]) > 0) f->next[dir] = end;
        break;
    }
    case K_SYN:
    case K_SYNACK:
        seq = isn(f, fz_u8(in), dir);
        send_seg(r, i, dir, kind == K_SYN ? F_SYN : F_SYN | F_ACK, seq, NULL, 0, 0);
        f->next[dir] = seq + 1;
        break;
    case K_ACK:
        send_seg(r, i, dir, F_ACK, f->next[dir], NULL, 0, 0);
        break;
    case K_FIN:
        pl = payload(in, &len);
        send_seg(r, i, dir, F_FIN | F_ACK | (len ? F_PSH : 0), f->next[dir], pl, len, 0);
        f->next[dir] += (uint32_t)len + 1;
        break;
    case K_RST:
    case K_RSTACK:
        send_seg(r, i, dir, kind == K_RST ? F_RST : F_RST | F_ACK, f->next[dir], NULL, 0, 0);
        break;
    case K_ALL:
    case K_RAW:
        flags = kind == K_ALL ? 0xff : fz_u8(in);
        pl = payload(in, &len);
        send_seg(r, i, dir, flags, f->next[dir], pl, len, 0);
        f->next[dir] += (uint32_t)len + ((flags & (F_SYN | F_FIN)) ? 1 : 0);
        break;
    case K_HANDSHAKE:
        f->next[0] = isn(f, (uint8_t)r->number, 0);
        f->next[1] = 0;
        send_seg(r, i, 0, F_SYN, f->next[0]++, NULL, 0, 0);
        f->next[1] = isn(f, (uint8_t)r->number, 1);
        send_seg(r, i, 1, F_SYN | F_ACK, f->next[1]++, NULL, 0, 0);
        send_seg(r, i, 0, F_ACK, f->next[0], NULL, 0, 0);
        break;
    case K_SEQ:
        seq = (uint32_t)fz_be16(in) << 16;
        f->next[dir] = seq | fz_be16(in);
        break;
    case K_TICK:
        gw_sensor_tick(r->s, r->now);
        break;
    case K_STATS:
        gw_sensor_write_stats(r->s, r->now);
        break;
    case K_PORT:
        f->cport = (uint16_t)(40000 + 16 * i + fz_u8(in) * 64);
        break;
    }
}

/* ---- operation-level mutation ---------------------------------------------- */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* Bytes the operation at p takes, as op() reads it (clamped to n). */
static size_t op_len(const uint8_t *p, size_t n)
{
    if (n < 2) return n;
    size_t hdr = 2, lenat;
    switch ((p[0] >> 3) % N_KINDS) {
    case K_DATA: case K_FIN: case K_ALL: lenat = 2; break;
    case K_GAP: case K_BACK: lenat = 4; break;
    case K_RAW: case K_SNAP: lenat = 3; break;
    case K_SYN: case K_SYNACK: case K_PORT: return GW_MIN(n, (size_t)3);
    case K_SEQ: return GW_MIN(n, (size_t)6);
    default: return hdr;
    }
    if (n < lenat + 2) return n;
    size_t len = GW_MIN((size_t)(p[lenat] << 8 | p[lenat + 1]), (size_t)MAX_PAYLOAD);
    return GW_MIN(n, lenat + 2 + len);
}

#define MAX_OPS 2048

/* Offsets of the operations (after the setup byte); returns how many. */
static size_t op_index(const uint8_t *d, size_t size, size_t *at)
{
    size_t k = 0;
    for (size_t off = 1; off + 2 <= size && k < MAX_OPS;) {
        at[k++] = off;
        off += op_len(d + off, size - off);
    }
    return k;
}

static uint32_t rnd(uint32_t *st)
{
    *st = *st * 1103515245u + 12345u;
    return *st >> 8;
}

/* Replaces [from, from + oldlen) with rep[0..replen); 0 if it does not fit. */
static size_t splice(uint8_t *d, size_t size, size_t max, size_t from, size_t oldlen,
                     const uint8_t *rep, size_t replen)
{
    if (size - oldlen + replen > max) return 0;
    memmove(d + from + replen, d + from + oldlen, size - from - oldlen);
    if (replen) memcpy(d + from, rep, replen);
    return size - oldlen + replen;
}

size_t LLVMFuzzerCustomMutator(uint8_t *d, size_t size, size_t max, unsigned int seed)
{
    static size_t at[MAX_OPS];
    uint32_t st = seed;
    if (size < 1 || (rnd(&st) & 1)) return LLVMFuzzerMutate(d, size, max);
    size_t nops = op_index(d, size, at);
    size_t i = nops ? rnd(&st) % nops : 0;
    size_t pos = nops ? at[i] : 1, len = nops ? op_len(d + pos, size - pos) : 0;
    uint8_t buf[16];
    size_t r = 0;
    switch (rnd(&st) % 6) {
    case 0: { /* insert a control operation */
        static const uint8_t kinds[] = { K_SYN, K_SYNACK, K_FIN, K_RST, K_RSTACK, K_ALL, K_RAW,
                                         K_HANDSHAKE, K_SEQ, K_TICK, K_PORT, K_ACK };
        uint8_t k = kinds[rnd(&st) % sizeof kinds];
        size_t n = 0;
        buf[n++] = (uint8_t)(k << 3 | (rnd(&st) & 7));
        buf[n++] = (uint8_t)((rnd(&st) & 3) ? rnd(&st) % 8 : 200 + rnd(&st) % 56);
        if (k == K_SYN || k == K_SYNACK || k == K_PORT) buf[n++] = (uint8_t)rnd(&st);
        if (k == K_RAW) buf[n++] = (uint8_t)rnd(&st);
        if (k == K_FIN || k == K_ALL || k == K_RAW) buf[n++] = 0, buf[n++] = 0;
        if (k == K_SEQ) for (int b = 0; b < 4; b++) buf[n++] = (uint8_t)rnd(&st);
        if (rnd(&st) % 4 == 0) pos = size; /* at the end */
        r = splice(d, size, max, pos, 0, buf, n);
        break;
    }
    case 1: /* delete */
        if (nops) r = splice(d, size, max, pos, len, NULL, 0);
        break;
    case 2: /* duplicate to another boundary (or right after itself) */
        if (nops && size + len <= max) {
            size_t to = nops ? at[rnd(&st) % nops] : pos;
            memmove(d + to + len, d + to, size - to);
            memmove(d + to, d + (pos >= to ? pos + len : pos), len);
            r = size + len;
        }
        break;
    case 3: /* another flow or direction */
        if (nops) {
            d[pos] ^= (uint8_t)(1 + rnd(&st) % 7);
            r = size;
        }
        break;
    case 4: { /* a payload-carrying operation becomes another kind */
        size_t lenat;
        int k = nops ? (d[pos] >> 3) % N_KINDS : -1;
        if (k == K_DATA || k == K_FIN || k == K_ALL) lenat = 2;
        else if (k == K_GAP || k == K_BACK) lenat = 4;
        else if (k == K_RAW || k == K_SNAP) lenat = 3;
        else break;
        if (len < lenat + 2) break;
        static const uint8_t to[] = { K_DATA, K_FIN, K_ALL, K_RAW, K_GAP, K_BACK, K_SNAP };
        uint8_t nk = to[rnd(&st) % sizeof to];
        size_t n = 0;
        buf[n++] = (uint8_t)(nk << 3 | (d[pos] & 7));
        buf[n++] = d[pos + 1];
        if (nk == K_GAP || nk == K_BACK) {
            uint16_t g = (uint16_t)(rnd(&st) % 2 ? rnd(&st) % 64 : rnd(&st));
            buf[n++] = (uint8_t)(g >> 8), buf[n++] = (uint8_t)g;
        }
        if (nk == K_RAW) buf[n++] = (uint8_t)rnd(&st);
        if (nk == K_SNAP) buf[n++] = (uint8_t)rnd(&st);
        r = splice(d, size, max, pos, lenat, buf, n); /* the LEN16 and payload stay */
        break;
    }
    case 5: /* a long time step: timeouts */
        if (nops) {
            d[pos + 1] = (uint8_t)(200 + rnd(&st) % 56);
            r = size;
        }
        break;
    }
    return r ? r : LLVMFuzzerMutate(d, size, max);
}

/* The record file, reused across inputs (one per process). */
static int out_fd = -1;
static char *out_buf;
static size_t out_cap;

static void check_records(void)
{
    struct stat st;
    FZ_CHECK(fstat(out_fd, &st) == 0, "fstat failed");
    size_t n = (size_t)st.st_size;
    if (n == 0) return;
    if (n > out_cap) {
        free(out_buf);
        out_cap = n * 2;
        out_buf = malloc(out_cap);
        FZ_CHECK(out_buf != NULL, "out of memory");
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(out_fd, out_buf + got, n - got, (off_t)got);
        FZ_CHECK(k > 0, "pread failed");
        got += (size_t)k;
    }
    if (getenv("FZ_FLOWS_DUMP")) fwrite(out_buf, 1, n, stderr);
    FZ_CHECK(out_buf[n - 1] == '\n', "output does not end on a line boundary");
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(out_buf + at, '\n', n - at);
        size_t len = (size_t)(nl - (out_buf + at)) + 1;
        FZ_CHECK(fz_json_line_valid(out_buf + at, len), "invalid JSON: %.*s", (int)len,
                 out_buf + at);
        at += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct fz_in in = fz_in_make(data, size);
    uint8_t setup = fz_u8(&in);

    if (out_fd < 0) out_fd = memfd_create("fuzz_flows", MFD_CLOEXEC);
    FZ_CHECK(out_fd >= 0, "memfd_create failed");
    FZ_CHECK(ftruncate(out_fd, 0) == 0, "ftruncate failed");
    char spec[64], err[256];
    snprintf(spec, sizeof spec, "json:/proc/self/fd/%d", out_fd);
    struct gw_router *out = gw_router_create();
    if (out && gw_router_add(out, spec, NULL, err, sizeof err) != GW_OK) {
        gw_router_destroy(out);
        out = NULL;
    }
    FZ_CHECK(out != NULL, "%s", err);

    struct gw_config cfg;
    fz_small_config(&cfg);
    static const unsigned table[] = { 2, 3, 4, 8 };
    cfg.flow_max = table[setup & 3];
    if (setup & 0x40) {
        cfg.reasm_memcap = 16 * 1024;
        cfg.reasm_ooo_max_segments = 4;
    }
    struct run r = { .now = 1700000000000000LL };
    r.s = gw_sensor_create(&cfg, out);
    FZ_CHECK(r.s != NULL, "gw_sensor_create failed");
    static const uint16_t sports[] = { 50051, 8080, 80, 18095 };
    for (int i = 0; i < N_FLOWS; i++) {
        r.f[i].cport = (uint16_t)(40000 + i);
        r.f[i].sport = sports[(i + ((setup >> 2) & 3)) % 4];
        r.f[i].next[0] = 1000u + 0x100000u * (uint32_t)i;
        r.f[i].next[1] = 0x80000000u + 0x100000u * (uint32_t)i;
        r.f[i].isn_salt = (uint32_t)i;
    }

    while (fz_left(&in) >= 2 && r.packets < MAX_PACKETS) op(&r, &in);

    if (setup & 0x10) gw_sensor_tick(r.s, r.now + 3600LL * 1000000);
    if (!(setup & 0x20)) gw_sensor_finish(r.s);
    gw_sensor_destroy(r.s);
    gw_router_destroy(out);
    check_records();
    return 0;
}
