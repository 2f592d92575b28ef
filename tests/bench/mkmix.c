/* mkmix.c - deterministic benchmark capture generator (make bench).
 *
 *   mkmix [options] OUT.pcap [SRC.pcap:PORT[,PORT...]:CALLS ...]
 *
 * Writes a classic pcap (microseconds, Ethernet, IPv4) of many interleaved
 * sessions. At most -k sessions are open at once; each step picks one open
 * session at random and lets it write a short burst of packets, so packets
 * of different flows are mixed. Timestamps only move forward (one microsecond
 * per packet plus the packet's time at 10 Gbit/s).
 *
 * Session kinds (-w gives the byte share of each, percent, in this order):
 *   replay  a copy of one of the SRC captures (cycled in turn): every packet
 *           as captured, in its own order; the source's 127.0.0.1 becomes a
 *           client address unique to the copy (10.1.0.0 + copy) and a server
 *           address (10.255.0.x), client ports are shifted, so each copy is a
 *           new connection. -v recut cuts every TCP payload into 1..7-byte
 *           segments (sequence numbers follow), -v reorder shuffles the data
 *           segments of each connection direction within windows of 16.
 *   http    HTTP/1.1 GET, 1..3 requests per connection, each response
 *           in full-size 1448-byte segments: -S percent (75) of them
 *           256 B .. 16 KiB, the others -b MIN,MAX bytes (64 KiB .. 4 MiB),
 *           both log-uniform
 *   tls     TLS 1.2 ClientHello (SNI, ALPN) .. Finished, then 1..3 rounds
 *           of a request record and response records (16 KiB), the
 *           response sizes as for http
 *   other   a banner (SSH, SMTP, Redis, PostgreSQL) and 2..6 small
 *           messages either way
 *   dns     one UDP query and answer (port 53), a new flow each
 * Every TCP session is a real connection: SYN, SYN+ACK, ACK, data with
 * increasing sequence numbers, an ACK every second segment, FIN both ways.
 * The special modes (-t) write only one kind:
 *   idle N     N connections: handshake, one HTTP/1.1 request and response,
 *              left open (no FIN) so all N are tracked at the end
 *   h2many     h2c connections with 1000 concurrent gRPC calls each, one
 *              message each way of -z bytes (131..16000; default ~12)
 *   h2hpack    h2c connections, SETTINGS_HEADER_TABLE_SIZE 65536 both ways,
 *              every request and response inserting 4 KiB headers into the
 *              HPACK tables (incremental indexing) and reusing earlier ones
 *
 * Prints one line of JSON (also to -M FILE): packets, bytes, sessions and
 * flows of each kind, copies of each source, expected_grpc_calls (sum over
 * copies of each source's CALLS, plus 1000 per h2many and the requests of
 * each h2hpack connection) and the gRPC share of the bytes.
 * Same options and sources, same bytes out.
 */
#include <pcap/pcap.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { K_REPLAY, K_HTTP, K_TLS, K_OTHER, K_DNS, K_IDLE, K_H2MANY, K_H2HPACK, NKIND };
static const char *kind_name[NKIND] = {"replay", "http", "tls", "other", "dns",
                                       "idle", "h2many", "h2hpack"};

#define MSS 1448
#define MAXPKT 262144
#define POOL (1u << 17)

static uint64_t rng_state;
static uint64_t rnd(void)
{ /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rnd_range(uint32_t lo, uint32_t hi) { return lo + (uint32_t)(rnd() % (hi - lo + 1)); }
static uint32_t rnd_logu(uint32_t lo, uint32_t hi)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    return (uint32_t)(lo * exp(u * log((double)hi / lo)));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { perror("malloc"); exit(2); }
    return p;
}
static void die(const char *m) { fprintf(stderr, "mkmix: %s\n", m); exit(2); }

static uint8_t pool[POOL + MAXPKT];

/* ---------- output ---------- */
static FILE *out;
static uint64_t now_us = 1700000000ull * 1000000ull;
static uint64_t n_packets, n_bytes, grpc_bytes;
static uint8_t pkt[MAXPKT];

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1) s += (uint32_t)p[n - 1] << 8;
    return s;
}
static uint16_t fold(uint32_t s)
{
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return get16(p) << 16 | get16(p + 2); }

/* IPv4 header and TCP/UDP checksums of pkt[0..len) (Ethernet at 0, IP at 14);
 * the L4 checksum only when the packet is whole */
static void checksums(uint32_t len)
{
    uint8_t *ip = pkt + 14;
    uint32_t ihl = (ip[0] & 15u) * 4, tot = get16(ip + 2);
    put16(ip + 10, 0);
    put16(ip + 10, fold(sum16(ip, ihl, 0)));
    if (14 + tot != len || (ip[9] != 6 && ip[9] != 17)) return;
    uint8_t *l4 = ip + ihl;
    uint32_t l4len = tot - ihl, s;
    uint32_t co = ip[9] == 6 ? 16 : 6;
    if (l4len < co + 2) return;
    put16(l4 + co, 0);
    s = sum16(ip + 12, 8, 0) + ip[9] + l4len;
    s = sum16(l4, l4len, s);
    uint16_t c = fold(s);
    if (ip[9] == 17 && c == 0) c = 0xFFFF;
    put16(l4 + co, c);
}

static void write_pkt(uint32_t len, int is_grpc)
{
    uint8_t h[16];
    uint32_t sec = (uint32_t)(now_us / 1000000), us = (uint32_t)(now_us % 1000000);
    memcpy(h, &sec, 4); memcpy(h + 4, &us, 4); memcpy(h + 8, &len, 4); memcpy(h + 12, &len, 4);
    fwrite(h, 1, 16, out);
    fwrite(pkt, 1, len, out);
    n_packets++;
    n_bytes += len;
    if (is_grpc) grpc_bytes += len;
    now_us += 1 + len / 1250;
}

static const uint8_t mac_c[6] = {0x02, 0, 0, 0, 0, 0x01}, mac_s[6] = {0x02, 0, 0, 0, 0, 0x02};

/* Ethernet + IPv4 + (TCP|UDP) header into pkt; returns the payload offset */
static uint32_t build_hdr(int proto, int from_server, uint32_t cip, uint32_t sip, uint16_t cport,
                          uint16_t sport, uint32_t plen, uint16_t ipid)
{
    uint8_t *ip = pkt + 14;
    uint32_t l4h = proto == 6 ? 20 : 8;
    memcpy(pkt, from_server ? mac_c : mac_s, 6);
    memcpy(pkt + 6, from_server ? mac_s : mac_c, 6);
    put16(pkt + 12, 0x0800);
    ip[0] = 0x45; ip[1] = 0;
    put16(ip + 2, 20 + l4h + plen);
    put16(ip + 4, ipid);
    put16(ip + 6, 0x4000);
    ip[8] = 64; ip[9] = (uint8_t)proto;
    put32(ip + 12, from_server ? sip : cip);
    put32(ip + 16, from_server ? cip : sip);
    uint8_t *l4 = ip + 20;
    put16(l4, from_server ? sport : cport);
    put16(l4 + 2, from_server ? cport : sport);
    if (proto == 17) { put16(l4 + 4, 8 + plen); put16(l4 + 6, 0); }
    return 14 + 20 + l4h;
}

/* ---------- sources (replay) ---------- */
struct spkt {
    uint8_t *data;
    uint32_t len;
    int ipv4tcpudp; /* 1 when addresses/ports can be rewritten */
    int from_server;
};
struct variant { struct spkt *pk; int n; };
struct src {
    char *name;
    uint16_t ports[8];
    int nports, calls, conns;
    struct variant v;
    struct spkt *orig; /* as captured (v.pk may be a recut or reordered copy) */
    uint64_t copies;
};
static struct src srcs[32];
static int nsrcs;

static int is_server_port(const struct src *s, uint32_t p)
{
    for (int i = 0; i < s->nports; i++) if (s->ports[i] == p) return 1;
    return 0;
}

static void classify(struct src *s, struct spkt *p)
{
    p->ipv4tcpudp = 0;
    p->from_server = 0;
    if (p->len < 14 + 20 + 8 || get16(p->data + 12) != 0x0800) return;
    const uint8_t *ip = p->data + 14;
    uint32_t ihl = (ip[0] & 15u) * 4;
    if ((ip[0] >> 4) != 4 || (ip[9] != 6 && ip[9] != 17) || p->len < 14 + ihl + 4) return;
    if (get16(ip + 6) & 0x3FFF) return; /* fragment */
    p->ipv4tcpudp = 1;
    p->from_server = is_server_port(s, get16(ip + ihl));
}

static void load_src(const char *spec, const char *variant)
{
    struct src *s = &srcs[nsrcs++];
    char *dup = strdup(spec), *c1 = strchr(dup, ':'), *c2 = c1 ? strrchr(dup, ':') : NULL;
    if (!c1 || c1 == c2) die("source must be FILE:PORT[,PORT]:CALLS");
    *c1 = 0; *c2 = 0;
    s->name = dup;
    s->calls = atoi(c2 + 1);
    for (char *t = strtok(c1 + 1, ","); t && s->nports < 8; t = strtok(NULL, ","))
        s->ports[s->nports++] = (uint16_t)atoi(t);
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(dup, err);
    if (!pc) { fprintf(stderr, "mkmix: %s: %s\n", dup, err); exit(2); }
    if (pcap_datalink(pc) != DLT_EN10MB) die("sources must be Ethernet");
    struct pcap_pkthdr *h;
    const u_char *d;
    int cap = 0, n = 0;
    struct spkt *pk = NULL;
    uint32_t seen_ports[256];
    int nseen = 0;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        if (h->caplen > MAXPKT - 64) continue;
        if (n == cap) { cap = cap ? cap * 2 : 256; pk = realloc(pk, cap * sizeof *pk); if (!pk) die("oom"); }
        pk[n].len = h->caplen;
        pk[n].data = xmalloc(h->caplen);
        memcpy(pk[n].data, d, h->caplen);
        classify(s, &pk[n]);
        if (pk[n].ipv4tcpudp && pk[n].data[23] == 6) {
            const uint8_t *tcp = pk[n].data + 14 + (pk[n].data[14] & 15u) * 4;
            uint32_t cport = get16(tcp + (pk[n].from_server ? 2 : 0)), k;
            for (k = 0; k < (uint32_t)nseen && seen_ports[k] != cport; k++) ;
            if ((int)k == nseen && nseen < 256) seen_ports[nseen++] = cport;
        }
        n++;
    }
    pcap_close(pc);
    s->conns = nseen;
    s->orig = pk;
    s->v.pk = pk;
    s->v.n = n;

    if (!strcmp(variant, "recut")) { /* every TCP payload in 1..7-byte segments */
        struct spkt *np = NULL;
        int nn = 0, ncap = 0;
        for (int i = 0; i < n; i++) {
            struct spkt *p = &pk[i];
            const uint8_t *ip = p->data + 14;
            uint32_t ihl = 0, thl = 0, tot = 0, plen = 0;
            if (p->ipv4tcpudp && ip[9] == 6) {
                ihl = (ip[0] & 15u) * 4;
                thl = (ip[ihl + 12] >> 4) * 4u;
                tot = get16(ip + 2);
                if (14 + tot == p->len && tot > ihl + thl) plen = tot - ihl - thl;
            }
            uint32_t pieces = plen ? plen : 1, off = 0;
            (void)pieces;
            do {
                if (nn == ncap) { ncap = ncap ? ncap * 2 : 1024; np = realloc(np, ncap * sizeof *np); if (!np) die("oom"); }
                if (!plen) { np[nn++] = *p; break; }
                uint32_t take = rnd_range(1, 7), hl = 14 + ihl + thl;
                if (take > plen - off) take = plen - off;
                struct spkt q = *p;
                q.len = hl + take;
                q.data = xmalloc(q.len);
                memcpy(q.data, p->data, hl);
                memcpy(q.data + hl, p->data + hl + off, take);
                uint8_t *qip = q.data + 14, *qt = qip + ihl;
                put16(qip + 2, ihl + thl + take);
                put32(qt + 4, get32(p->data + 14 + ihl + 4) + off);
                if (off + take < plen) qt[13] &= (uint8_t)~0x09; /* FIN, PSH only on the last piece */
                np[nn++] = q;
                off += take;
            } while (off < plen);
        }
        s->v.pk = np;
        s->v.n = nn;
    } else if (!strcmp(variant, "reorder")) {
        /* data segments of each (connection, direction), windows of 16 */
        int *idx = xmalloc(sizeof(int) * n), *used = calloc(n, sizeof(int));
        struct spkt *np = xmalloc(sizeof *np * n);
        memcpy(np, pk, sizeof *np * n);
        for (int i = 0; i < n; i++) {
            if (used[i]) continue;
            struct spkt *p = &pk[i];
            if (!p->ipv4tcpudp || p->data[23] != 6) continue;
            const uint8_t *ip = p->data + 14, *tcp = ip + (ip[0] & 15u) * 4;
            if (tcp[13] & 0x07) continue; /* SYN, FIN, RST stay */
            uint32_t key = get16(tcp) << 16 | get16(tcp + 2);
            int m = 0;
            for (int j = i; j < n && m < 16; j++) {
                struct spkt *q = &pk[j];
                if (used[j] || !q->ipv4tcpudp || q->data[23] != 6) continue;
                const uint8_t *qip = q->data + 14, *qt = qip + (qip[0] & 15u) * 4;
                if ((get16(qt) << 16 | get16(qt + 2)) != key || (qt[13] & 0x07)) continue;
                if (get16(qip + 2) <= (qip[0] & 15u) * 4 + (qt[12] >> 4) * 4u) continue; /* no data */
                idx[m++] = j;
                used[j] = 1;
            }
            if (m < 2) continue;
            int perm[16];
            for (int a = 0; a < m; a++) perm[a] = idx[a];
            for (int a = m - 1; a > 0; a--) {
                int b = (int)(rnd() % (uint64_t)(a + 1)), t = perm[a];
                perm[a] = perm[b]; perm[b] = t;
            }
            for (int a = 0; a < m; a++) np[idx[a]] = pk[perm[a]];
        }
        free(idx); free(used);
        s->v.pk = np;
    } else if (strcmp(variant, "base")) {
        die("-v base|recut|reorder");
    }
}

/* ---------- sessions ---------- */
struct msg { const uint8_t *lit; uint32_t len; uint8_t dir; };

struct sess {
    int kind;
    uint64_t id;
    uint32_t cip, sip;
    uint16_t cport, sport;
    /* replay */
    struct src *src;
    int pi;
    /* tcp script */
    struct msg *m;
    int nm, mcap, mi;
    uint32_t moff;
    uint8_t *arena;
    size_t alen, acap;
    int phase, pending_ack, unacked[2], nofin;
    uint32_t seq[2];
    uint16_t ipid[2];
    uint32_t filler_off;
    int calls;
};

static uint8_t *arena_put(struct sess *s, const void *d, size_t n)
{
    if (s->alen + n > s->acap) die("arena");
    uint8_t *p = s->arena + s->alen;
    memcpy(p, d, n);
    s->alen += n;
    return p;
}
static void add_msg(struct sess *s, int dir, const uint8_t *lit, uint32_t len)
{
    if (!len) return;
    if (s->nm == s->mcap) {
        s->mcap = s->mcap ? s->mcap * 2 : 16;
        s->m = realloc(s->m, s->mcap * sizeof *s->m);
        if (!s->m) die("oom");
    }
    s->m[s->nm].lit = lit;
    s->m[s->nm].len = len;
    s->m[s->nm].dir = (uint8_t)dir;
    s->nm++;
}
static void add_lit(struct sess *s, int dir, const void *d, size_t n) { add_msg(s, dir, arena_put(s, d, n), (uint32_t)n); }
static void add_fill(struct sess *s, int dir, uint32_t n) { add_msg(s, dir, NULL, n); }

/* TLS */
static size_t tls_hs(uint8_t *b, int type, const uint8_t *body, size_t n)
{
    b[0] = 0x16; b[1] = 3; b[2] = 3; put16(b + 3, (uint32_t)(n + 4));
    b[5] = (uint8_t)type; b[6] = (uint8_t)(n >> 16); put16(b + 7, (uint32_t)n);
    memcpy(b + 9, body, n);
    return n + 9;
}
static size_t client_hello(uint8_t *b, const char *sni, uint64_t id)
{
    uint8_t body[512], *p = body;
    size_t snl = strlen(sni);
    *p++ = 3; *p++ = 3;
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)(id * 31 + i * 7);
    *p++ = 0;
    put16(p, 8); p += 2;
    put16(p, 0xc02f); put16(p + 2, 0xc030); put16(p + 4, 0xc02b); put16(p + 6, 0x009e); p += 8;
    *p++ = 1; *p++ = 0;
    uint8_t *extlen = p; p += 2;
    put16(p, 0); put16(p + 2, (uint32_t)snl + 5); put16(p + 4, (uint32_t)snl + 3); p[6] = 0;
    put16(p + 7, (uint32_t)snl); memcpy(p + 9, sni, snl); p += 9 + snl;
    put16(p, 16); put16(p + 2, 11); put16(p + 4, 9); p[6] = 8; memcpy(p + 7, "http/1.1", 8); p += 15;
    put16(p, 10); put16(p + 2, 4); put16(p + 4, 2); put16(p + 6, 0x0017); p += 8;
    put16(p, 13); put16(p + 2, 4); put16(p + 4, 2); put16(p + 6, 0x0401); p += 8;
    put16(extlen, (uint32_t)(p - extlen - 2));
    return tls_hs(b, 1, body, (size_t)(p - body));
}
static size_t server_hello(uint8_t *b, uint64_t id)
{
    uint8_t body[128], *p = body;
    *p++ = 3; *p++ = 3;
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)(id * 17 + i * 3);
    *p++ = 0;
    put16(p, 0xc02f); p += 2;
    *p++ = 0;
    put16(p, 15); p += 2;
    put16(p, 16); put16(p + 2, 11); put16(p + 4, 9); p[6] = 8; memcpy(p + 7, "http/1.1", 8); p += 15;
    return tls_hs(b, 2, body, (size_t)(p - body));
}
static void tls_records(struct sess *s, int dir, uint32_t total)
{
    while (total) {
        uint32_t n = total > 16408 ? 16408 : total;
        uint8_t h[5] = {0x17, 3, 3, (uint8_t)(n >> 8), (uint8_t)n};
        add_lit(s, dir, h, 5);
        add_fill(s, dir, n);
        total -= n;
    }
}

/* HTTP/2 and HPACK */
static size_t h2frame(uint8_t *b, uint32_t len, int type, int flags, uint32_t sid)
{
    b[0] = (uint8_t)(len >> 16); put16(b + 1, len); b[3] = (uint8_t)type; b[4] = (uint8_t)flags;
    put32(b + 5, sid);
    return 9;
}
static size_t hp_int(uint8_t *b, int prefix_bits, uint8_t first, uint32_t v)
{
    uint32_t max = (1u << prefix_bits) - 1;
    size_t n = 0;
    if (v < max) { b[n++] = (uint8_t)(first | v); return n; }
    b[n++] = (uint8_t)(first | max);
    v -= max;
    while (v >= 128) { b[n++] = (uint8_t)(v % 128 + 128); v /= 128; }
    b[n++] = (uint8_t)v;
    return n;
}
static size_t hp_str(uint8_t *b, const char *s, size_t n)
{
    size_t k = hp_int(b, 7, 0, (uint32_t)n);
    memcpy(b + k, s, n);
    return k + n;
}
/* literal, name by static index (4-bit prefix, without indexing) */
static size_t hp_lit_idx(uint8_t *b, uint32_t idx, const char *v)
{
    size_t k = hp_int(b, 4, 0, idx);
    return k + hp_str(b + k, v, strlen(v));
}
/* literal with a new name; incr: with incremental indexing (0x40) */
static size_t hp_lit_new(uint8_t *b, int incr, const char *n, const char *v, size_t vl)
{
    size_t k = 0;
    b[k++] = incr ? 0x40 : 0x00;
    k += hp_str(b + k, n, strlen(n));
    return k + hp_str(b + k, v, vl);
}

static const uint8_t PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static uint8_t *h2many_c, *h2many_s, *h2hp_buf;
static size_t h2many_clen, h2many_slen, h2many_c1, h2many_s1;
struct h2hp_step { uint32_t off, len; uint8_t dir; };
static struct h2hp_step *h2hp_steps;
static int h2hp_nsteps, h2hp_calls;
#define H2MANY_STREAMS 1000
#define H2HP_REQS 128

static uint32_t h2many_msg; /* -z: bytes of each h2many message (0: ~12) */
#define H2MANY_MSG_MAX 16000

/* One gRPC message in one DATA frame: a protobuf with field 1 a string,
 * "req-NNNNNN" (-z 0) or h2many_msg bytes of it. */
static size_t grpc_msg(uint8_t *b, uint32_t sid, int end_stream, int i)
{
    static uint8_t body[H2MANY_MSG_MAX + 8];
    uint32_t bl;
    if (h2many_msg == 0) {
        bl = (uint32_t)snprintf((char *)body + 2, 16, "req-%06d", i);
        body[0] = 0x0a; body[1] = (uint8_t)bl;
        bl += 2;
    } else {
        uint32_t sl = h2many_msg - 3; /* tag + 2-byte varint length */
        body[0] = 0x0a; body[1] = (uint8_t)(0x80 | (sl & 0x7f)); body[2] = (uint8_t)(sl >> 7);
        for (uint32_t j = 0; j < sl; j++) body[3 + j] = (uint8_t)('a' + (i + j) % 26);
        bl = h2many_msg;
    }
    size_t k = h2frame(b, 5 + bl, 0, end_stream ? 1 : 0, sid);
    b[k] = 0; put32(b + k + 1, bl);
    memcpy(b + k + 5, body, bl);
    return k + 5 + bl;
}
static size_t req_headers(uint8_t *b, uint32_t sid, int tsu, const uint8_t *extra, size_t extral)
{
    uint8_t blk[16384 * 2];
    size_t n = 0;
    if (tsu) n += hp_int(blk, 5, 0x20, 65536); /* dynamic table size update */
    blk[n++] = 0x83; /* :method POST */
    blk[n++] = 0x86; /* :scheme http */
    n += hp_lit_idx(blk + n, 4, "/bench.Bench/Call");
    n += hp_lit_idx(blk + n, 1, "bench.example:50051");
    n += hp_lit_idx(blk + n, 31, "application/grpc");
    n += hp_lit_new(blk + n, 0, "te", "trailers", 8);
    if (extral) memcpy(blk + n, extra, extral);
    n += extral;
    size_t k = h2frame(b, (uint32_t)n, 1, 4, sid);
    memcpy(b + k, blk, n);
    return k + n;
}
static size_t resp(uint8_t *b, uint32_t sid, int tsu, const uint8_t *extra, size_t extral, int i)
{
    uint8_t blk[16384 * 2];
    size_t n = 0, k = 0;
    if (tsu) n += hp_int(blk, 5, 0x20, 65536);
    blk[n++] = 0x88; /* :status 200 */
    n += hp_lit_idx(blk + n, 31, "application/grpc");
    if (extral) memcpy(blk + n, extra, extral);
    n += extral;
    k += h2frame(b + k, (uint32_t)n, 1, 4, sid);
    memcpy(b + k, blk, n); k += n;
    k += grpc_msg(b + k, sid, 0, i);
    n = hp_lit_new(blk, 0, "grpc-status", "0", 1);
    k += h2frame(b + k, (uint32_t)n, 1, 5, sid);
    memcpy(b + k, blk, n); k += n;
    return k;
}
static size_t settings(uint8_t *b, int ack, uint32_t table, uint32_t maxstreams)
{
    size_t n = 0;
    uint8_t p[24];
    if (!ack) {
        if (table) { put16(p + n, 1); put32(p + n + 2, table); n += 6; }
        if (maxstreams) { put16(p + n, 3); put32(p + n + 2, maxstreams); n += 6; }
        put16(p + n, 4); put32(p + n + 2, 1u << 20); n += 6;
    }
    size_t k = h2frame(b, (uint32_t)n, 4, ack, 0);
    memcpy(b + k, p, n);
    return k + n;
}

static void build_h2_scripts(void)
{
    size_t cap = H2MANY_STREAMS * (256 + (size_t)h2many_msg) + 1024, k;
    h2many_c = xmalloc(cap); h2many_s = xmalloc(cap);
    k = 0;
    memcpy(h2many_c, PREFACE, 24); k = 24;
    k += settings(h2many_c + k, 0, 0, 0);
    h2many_c1 = k;
    k += settings(h2many_c + k, 1, 0, 0);
    for (int i = 0; i < H2MANY_STREAMS; i++) {
        k += req_headers(h2many_c + k, 2u * i + 1, 0, NULL, 0);
        k += grpc_msg(h2many_c + k, 2u * i + 1, 1, i);
    }
    h2many_clen = k;
    k = settings(h2many_s, 0, 0, 2000);
    k += settings(h2many_s + k, 1, 0, 0);
    h2many_s1 = k;
    for (int i = 0; i < H2MANY_STREAMS; i++) k += resp(h2many_s + k, 2u * i + 1, 0, NULL, 0, i);
    h2many_slen = k;

    /* h2hpack: sequential calls; each header block inserts 4 KiB values and
     * refers back to the newest entries */
    h2hp_buf = xmalloc((size_t)H2HP_REQS * 2 * 20000 + 4096);
    h2hp_steps = xmalloc(sizeof *h2hp_steps * (H2HP_REQS * 2 + 4));
    k = 0;
#define STEP(d, code) do { uint32_t o_ = (uint32_t)k; code; h2hp_steps[h2hp_nsteps].off = o_; \
        h2hp_steps[h2hp_nsteps].len = (uint32_t)k - o_; h2hp_steps[h2hp_nsteps++].dir = (d); } while (0)
    STEP(0, { memcpy(h2hp_buf, PREFACE, 24); k = 24; k += settings(h2hp_buf + k, 0, 65536, 0); });
    STEP(1, { k += settings(h2hp_buf + k, 0, 65536, 100); k += settings(h2hp_buf + k, 1, 0, 0); });
    STEP(0, { k += settings(h2hp_buf + k, 1, 0, 0); });
    char val[4096];
    for (int i = 0; i < H2HP_REQS; i++) {
        for (int d = 0; d < 2; d++) {
            uint8_t extra[3 * 4200];
            size_t e = 0;
            for (int h = 0; h < (d ? 1 : 2); h++) {
                char name[32];
                snprintf(name, sizeof name, "x-%s-%d-%d", d ? "resp" : "blob", h, i);
                for (int c = 0; c < 4000; c++) val[c] = (char)('a' + (rnd() % 26));
                e += hp_lit_new(extra + e, 1, name, val, 4000);
            }
            if (i > 0) extra[e++] = (uint8_t)(0x80 | (62 + (d ? 1 : 2))); /* previous request's entry */
            uint32_t sid = 2u * i + 1;
            if (!d) STEP(0, { k += req_headers(h2hp_buf + k, sid, i == 0, extra, e); k += grpc_msg(h2hp_buf + k, sid, 1, i); });
            else STEP(1, { k += resp(h2hp_buf + k, sid, i == 0, extra, e, i); });
        }
    }
    h2hp_calls = H2HP_REQS;
#undef STEP
}

static const char *banners[] = {"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "220 mail.example ESMTP Postfix\r\n",
                                "+OK ready\r\n", "R\x00\x00\x00\x08\x00\x00\x00\x00"};
static const uint16_t banner_ports[] = {22, 25, 6379, 5432};

static uint64_t next_id;
static uint32_t bmin = 65536, bmax = 4u << 20;
static uint64_t sess_bytes_est;
static int small_pct = 75;

/* a response size: small_pct% 256 B .. 16 KiB, the rest -b MIN..MAX (bulk) */
static uint32_t big_or_small(void)
{
    if (rnd() % 100 < (uint64_t)small_pct) return rnd_logu(256, 16384);
    return rnd_logu(bmin, bmax);
}

static struct sess *new_sess(int kind)
{
    struct sess *s = calloc(1, sizeof *s);
    if (!s) die("oom");
    s->kind = kind;
    s->id = next_id++;
    uint64_t id = s->id;
    s->cip = 0x0A010000u + (uint32_t)(id % 0x00FE0000u);
    s->sip = 0x0AFF0000u | (uint32_t)kind << 8 | (uint32_t)(1 + id % 250);
    s->cport = (uint16_t)(1024 + (id * 7919 + id / 0xFE0000u) % 64000);
    s->seq[0] = (uint32_t)rnd(); s->seq[1] = (uint32_t)rnd();
    s->ipid[0] = (uint16_t)rnd(); s->ipid[1] = (uint16_t)rnd();
    s->filler_off = (uint32_t)(rnd() % POOL);
    s->acap = 65536;
    s->arena = xmalloc(s->acap);
    uint64_t est = 0;
    char buf[1024];
    int n;
    switch (kind) {
    case K_REPLAY: {
        static int rr;
        s->src = &srcs[rr++ % nsrcs];
        s->src->copies++;
        s->calls = s->src->calls;
        for (int i = 0; i < s->src->v.n; i++) est += s->src->v.pk[i].len + 16;
        break;
    }
    case K_HTTP: {
        s->sport = 80;
        int reqs = (int)rnd_range(1, 3);
        for (int r = 0; r < reqs; r++) {
            uint32_t body = big_or_small();
            n = snprintf(buf, sizeof buf, "GET /files/%llu/%d.bin HTTP/1.1\r\nHost: cdn%llu.example\r\n"
                         "User-Agent: bench/1.0\r\nAccept: */*\r\n\r\n",
                         (unsigned long long)id, r, (unsigned long long)(id % 97));
            add_lit(s, 0, buf, (size_t)n);
            n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n"
                         "Content-Length: %u\r\n\r\n", body);
            add_lit(s, 1, buf, (size_t)n);
            add_fill(s, 1, body);
        }
        break;
    }
    case K_TLS: {
        uint8_t b[4096];
        s->sport = 443;
        snprintf(buf, sizeof buf, "svc%llu.example.net", (unsigned long long)(id % 1000));
        add_lit(s, 0, b, client_hello(b, buf, id));
        size_t k = server_hello(b, id);
        uint8_t cert[2000]; /* certificate_list: one opaque certificate */
        memcpy(cert, pool + s->filler_off % 1000, sizeof cert);
        cert[0] = 0; put16(cert + 1, sizeof cert - 3);
        cert[3] = 0; put16(cert + 4, sizeof cert - 6);
        cert[6] = 0x30; cert[7] = 0x82; put16(cert + 8, sizeof cert - 10); /* a DER SEQUENCE */
        k += tls_hs(b + k, 11, cert, sizeof cert);
        k += tls_hs(b + k, 14, cert, 0);
        add_lit(s, 1, b, k);
        k = tls_hs(b, 16, cert, 66);
        memcpy(b + k, "\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28", 11); k += 11;
        memcpy(b + k, cert + 100, 40); k += 40;
        add_lit(s, 0, b, k);
        add_lit(s, 1, b + k - 51, 51);
        int rounds = (int)rnd_range(1, 3);
        for (int r = 0; r < rounds; r++) {
            tls_records(s, 0, rnd_range(200, 700));
            tls_records(s, 1, big_or_small());
        }
        break;
    }
    case K_OTHER: {
        int b = (int)(id % 4);
        s->sport = banner_ports[b];
        add_lit(s, 1, banners[b], b == 3 ? 9 : strlen(banners[b]));
        int msgs = (int)rnd_range(2, 6);
        for (int i = 0; i < msgs; i++) add_fill(s, i & 1, rnd_range(20, 400));
        break;
    }
    case K_DNS:
        s->sport = 53;
        est = 2 * (16 + 42 + 60);
        break;
    case K_IDLE:
        s->sport = 80;
        s->nofin = 1;
        n = snprintf(buf, sizeof buf, "GET /health HTTP/1.1\r\nHost: api%llu.example\r\n\r\n", (unsigned long long)(id % 50));
        add_lit(s, 0, buf, (size_t)n);
        add_lit(s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        break;
    case K_H2MANY:
        s->sport = 50051;
        s->calls = H2MANY_STREAMS;
        add_msg(s, 0, h2many_c, (uint32_t)h2many_c1);                      /* preface + SETTINGS */
        add_msg(s, 1, h2many_s, (uint32_t)h2many_s1);                      /* SETTINGS + ACK */
        add_msg(s, 0, h2many_c + h2many_c1, (uint32_t)(h2many_clen - h2many_c1)); /* ACK, 1000 requests */
        add_msg(s, 1, h2many_s + h2many_s1, (uint32_t)(h2many_slen - h2many_s1)); /* 1000 responses */
        break;
    case K_H2HPACK:
        s->sport = 50051;
        s->calls = h2hp_calls;
        for (int i = 0; i < h2hp_nsteps; i++)
            add_msg(s, h2hp_steps[i].dir, h2hp_buf + h2hp_steps[i].off, h2hp_steps[i].len);
        break;
    }
    if (kind != K_REPLAY && kind != K_DNS) {
        for (int i = 0; i < s->nm; i++) est += s->m[i].len;
        est += (est / MSS + 1) * 3 / 2 * (16 + 54) + 7 * 70;
    }
    sess_bytes_est = est;
    return s;
}

static void free_sess(struct sess *s)
{
    free(s->m);
    free(s->arena);
    free(s);
}

static void tcp_pkt(struct sess *s, int dir, int flags, uint32_t plen)
{
    uint32_t off = build_hdr(6, dir, s->cip, s->sip, s->cport, s->sport, plen, s->ipid[dir]++);
    uint8_t *tcp = pkt + 34;
    put32(tcp + 4, s->seq[dir]);
    put32(tcp + 8, (flags & 0x10) ? s->seq[!dir] : 0);
    tcp[12] = 5 << 4;
    tcp[13] = (uint8_t)flags;
    put16(tcp + 14, 64240);
    put16(tcp + 16, 0);
    put16(tcp + 18, 0);
    (void)off;
    checksums(34 + 20 + plen);
    int is_grpc = s->kind == K_H2MANY || s->kind == K_H2HPACK;
    write_pkt(34 + 20 + plen, is_grpc);
    s->seq[dir] += plen + ((flags & 0x03) ? 1 : 0);
}

/* one packet of session s; returns 0 when the session has ended */
static int step(struct sess *s)
{
    if (s->kind == K_REPLAY) {
        struct variant *v = &s->src->v;
        if (s->pi >= v->n) return 0;
        struct spkt *p = &v->pk[s->pi++];
        memcpy(pkt, p->data, p->len);
        if (p->ipv4tcpudp) {
            uint8_t *ip = pkt + 14, *l4 = ip + (ip[0] & 15u) * 4;
            int fs = p->from_server;
            put32(ip + 12, fs ? s->sip : s->cip);
            put32(ip + 16, fs ? s->cip : s->sip);
            uint8_t *cp = l4 + (fs ? 2 : 0);
            put16(cp, 1024 + (get16(cp) + (uint32_t)(s->id * 37)) % 64512);
            checksums(p->len);
        }
        write_pkt(p->len, 1);
        return s->pi < v->n;
    }
    if (s->kind == K_DNS) {
        uint8_t q[128];
        char name[64];
        int nl = snprintf(name, sizeof name, "host%llu.zone%llu.example.com",
                          (unsigned long long)s->id, (unsigned long long)(s->id % 13));
        size_t k = 12;
        put16(q, (uint32_t)(s->id & 0xFFFF)); put16(q + 2, s->phase ? 0x8180 : 0x0100);
        put16(q + 4, 1); put16(q + 6, s->phase ? 1 : 0); put16(q + 8, 0); put16(q + 10, 0);
        for (char *lab = name; *lab;) {
            char *dot = strchr(lab, '.');
            size_t ll = dot ? (size_t)(dot - lab) : strlen(lab);
            q[k++] = (uint8_t)ll; memcpy(q + k, lab, ll); k += ll;
            lab += ll + (dot ? 1 : 0);
        }
        (void)nl;
        q[k++] = 0; put16(q + k, 1); put16(q + k + 2, 1); k += 4;
        if (s->phase) {
            put16(q + k, 0xc00c); put16(q + k + 2, 1); put16(q + k + 4, 1); put32(q + k + 6, 300);
            put16(q + k + 10, 4); put32(q + k + 12, 0x0A800000u + (uint32_t)(s->id & 0xFFFF)); k += 16;
        }
        uint32_t off = build_hdr(17, s->phase, s->cip, s->sip, s->cport, 53, (uint32_t)k, s->ipid[s->phase]++);
        memcpy(pkt + off, q, k);
        checksums(off + (uint32_t)k);
        write_pkt(off + (uint32_t)k, 0);
        return ++s->phase < 2;
    }
    switch (s->phase) {
    case 0: tcp_pkt(s, 0, 0x02, 0); s->phase = 1; return 1;
    case 1: tcp_pkt(s, 1, 0x12, 0); s->phase = 2; return 1;
    case 2: tcp_pkt(s, 0, 0x10, 0); s->phase = 3; return 1;
    case 3:
        if (s->pending_ack) {
            int d = s->pending_ack - 1;
            tcp_pkt(s, d, 0x10, 0);
            s->pending_ack = 0;
            s->unacked[!d] = 0;
        } else if (s->mi < s->nm) {
            int dir = s->m[s->mi].dir;
            uint32_t plen = 0;
            uint8_t *dst = pkt + 54;
            while (plen < MSS && s->mi < s->nm && s->m[s->mi].dir == dir) {
                struct msg *m = &s->m[s->mi];
                uint32_t take = m->len - s->moff;
                if (take > MSS - plen) take = MSS - plen;
                if (m->lit) memcpy(dst + plen, m->lit + s->moff, take);
                else memcpy(dst + plen, pool + (s->filler_off + s->moff) % POOL, take);
                plen += take;
                s->moff += take;
                if (s->moff == m->len) { s->mi++; s->moff = 0; }
            }
            int push = s->mi >= s->nm || s->m[s->mi].dir != dir;
            tcp_pkt(s, dir, 0x10 | (push ? 0x08 : 0), plen);
            if (++s->unacked[dir] >= 2 || push) s->pending_ack = 1 + !dir;
        } else {
            if (s->nofin) return 0;
            tcp_pkt(s, 0, 0x11, 0);
            s->phase = 4;
        }
        return 1;
    case 4: tcp_pkt(s, 1, 0x11, 0); s->phase = 5; return 1;
    case 5: tcp_pkt(s, 0, 0x10, 0); return 0;
    }
    return 0;
}

static int burst_of(struct sess *s)
{
    switch (s->kind) {
    case K_HTTP: case K_TLS: return (int)rnd_range(1, 24);
    case K_REPLAY: return (int)rnd_range(1, 4);
    case K_H2MANY: case K_H2HPACK: return (int)rnd_range(1, 16);
    default: return (int)rnd_range(1, 2);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: mkmix [-m MB] [-n SESSIONS] [-s SEED] [-k CONCURRENT] [-w R,H,T,O,D] [-b MIN,MAX] [-S SMALL_PCT]\n"
                    "             [-t mix|idle|h2many|h2hpack] [-v base|recut|reorder] [-z MSG_BYTES] [-M META]\n"
                    "             OUT.pcap [SRC:PORTS:CALLS ...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double mb = 400;
    uint64_t nsess = 0, seed = 1;
    int conc = 1000, opt;
    double w[NKIND] = {7, 44, 27, 18, 4};
    const char *mode = "mix", *variant = "base", *meta = NULL;
    while ((opt = getopt(argc, argv, "m:n:s:k:w:b:S:t:v:M:z:")) != -1) {
        switch (opt) {
        case 'm': mb = atof(optarg); break;
        case 'n': nsess = strtoull(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'k': conc = atoi(optarg); break;
        case 'w': if (sscanf(optarg, "%lf,%lf,%lf,%lf,%lf", &w[0], &w[1], &w[2], &w[3], &w[4]) != 5) usage(); break;
        case 'b': if (sscanf(optarg, "%u,%u", &bmin, &bmax) != 2 || bmin < 1 || bmax < bmin) usage(); break;
        case 'S': small_pct = atoi(optarg); break;
        case 't': mode = optarg; break;
        case 'v': variant = optarg; break;
        case 'M': meta = optarg; break;
        case 'z': h2many_msg = (uint32_t)atoi(optarg);
                  if (h2many_msg && (h2many_msg < 131 || h2many_msg > H2MANY_MSG_MAX)) usage();
                  break;
        default: usage();
        }
    }
    if (optind >= argc || conc < 1) usage();
    rng_state = seed * 0x2545F4914F6CDD1Dull + 1;
    for (size_t i = 0; i < sizeof pool; i++) pool[i] = (uint8_t)(rnd() >> 56);
    for (int i = optind + 1; i < argc; i++) load_src(argv[i], variant);
    int only = -1;
    if (!strcmp(mode, "idle")) only = K_IDLE;
    else if (!strcmp(mode, "h2many")) only = K_H2MANY;
    else if (!strcmp(mode, "h2hpack")) only = K_H2HPACK;
    else if (strcmp(mode, "mix")) usage();
    if (only == K_H2MANY || only == K_H2HPACK) build_h2_scripts();
    if (only < 0 && w[K_REPLAY] > 0 && !nsrcs) die("replay share without sources");
    out = fopen(argv[optind], "wb");
    if (!out) { perror(argv[optind]); return 2; }
    static char obuf[1 << 22];
    setvbuf(out, obuf, _IOFBF, sizeof obuf);
    struct { uint32_t magic; uint16_t maj, min; int32_t tz; uint32_t sig, snap, link; } gh = {
        0xa1b2c3d4, 2, 4, 0, 0, MAXPKT, 1};
    fwrite(&gh, 1, sizeof gh, out);

    uint64_t target = (uint64_t)(mb * 1e6), planned = 0, planned_k[NKIND] = {0};
    uint64_t started[NKIND] = {0}, flows[NKIND] = {0}, expected = 0, maxopen = 0;
    struct sess **slot = xmalloc(sizeof *slot * (size_t)conc);
    int nact = 0;
    for (;;) {
        while (nact < conc && (nsess ? next_id < nsess : planned < target)) {
            int k = only;
            if (k < 0) { /* the kind furthest below its byte share */
                double best = 0;
                for (int t = 0; t <= K_DNS; t++) {
                    if (w[t] <= 0) continue;
                    double r = (double)planned_k[t] / w[t];
                    if (k < 0 || r < best) { best = r; k = t; }
                }
            }
            struct sess *s = new_sess(k);
            planned += sess_bytes_est;
            planned_k[k] += sess_bytes_est;
            started[k]++;
            flows[k] += k == K_REPLAY ? (uint64_t)s->src->conns : 1;
            expected += (uint64_t)s->calls;
            slot[nact++] = s;
        }
        if ((uint64_t)nact > maxopen) maxopen = (uint64_t)nact;
        if (!nact) break;
        int i = (int)(rnd() % (uint64_t)nact);
        struct sess *s = slot[i];
        for (int b = burst_of(s); b > 0; b--) {
            if (!step(s)) {
                free_sess(s);
                slot[i] = slot[--nact];
                break;
            }
        }
    }
    free(slot);
    if (fclose(out)) { perror("write"); return 2; }
    uint64_t total_flows = 0;
    char js[8192];
    size_t o = 0;
    o += (size_t)snprintf(js + o, sizeof js - o, "{\"packets\":%llu,\"bytes\":%llu,\"expected_grpc_calls\":%llu,"
                          "\"grpc_bytes\":%llu,\"grpc_share\":%.4f,\"max_open_sessions\":%llu,\"duration_s\":%.3f,\"sessions\":{",
                          (unsigned long long)n_packets, (unsigned long long)n_bytes, (unsigned long long)expected,
                          (unsigned long long)grpc_bytes, n_bytes ? (double)grpc_bytes / (double)n_bytes : 0.0,
                          (unsigned long long)maxopen, (double)(now_us - 1700000000ull * 1000000ull) / 1e6);
    for (int k = 0, f = 0; k < NKIND; k++) {
        total_flows += flows[k];
        if (!started[k]) continue;
        o += (size_t)snprintf(js + o, sizeof js - o, "%s\"%s\":%llu", f++ ? "," : "", kind_name[k], (unsigned long long)started[k]);
    }
    o += (size_t)snprintf(js + o, sizeof js - o, "},\"flows\":{");
    for (int k = 0, f = 0; k < NKIND; k++)
        if (started[k])
            o += (size_t)snprintf(js + o, sizeof js - o, "%s\"%s\":%llu", f++ ? "," : "", kind_name[k], (unsigned long long)flows[k]);
    o += (size_t)snprintf(js + o, sizeof js - o, "},\"total_flows\":%llu,\"copies\":{", (unsigned long long)total_flows);
    for (int i = 0; i < nsrcs; i++) {
        const char *b = strrchr(srcs[i].name, '/');
        o += (size_t)snprintf(js + o, sizeof js - o, "%s\"%s\":[%llu,%d]", i ? "," : "", b ? b + 1 : srcs[i].name,
                              (unsigned long long)srcs[i].copies, srcs[i].calls);
    }
    o += (size_t)snprintf(js + o, sizeof js - o, "}}\n");
    fputs(js, stdout);
    if (meta) {
        FILE *m = fopen(meta, "w");
        if (!m || fputs(js, m) < 0 || fclose(m)) { perror(meta); return 2; }
    }
    return 0;
}
