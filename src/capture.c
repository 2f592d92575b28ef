/*
 * capture.c - packets from libpcap.
 *
 * Files: "-" for stdin. The first byte chooses the reader (getc + ungetc,
 * so stdin and pipes work): 0x0A starts every pcapng file and no pcap
 * magic. pcap files go to libpcap, which reports a record that runs past
 * the end of the file as an error ("truncated dump file"); we pass it up as
 * GW_ERR_IO so the caller can report everything it already has and exit 1.
 * A bad magic fails at open.
 *
 * pcapng files go to our own reader (pcapng.c), all of them: libpcap
 * supports one link type per file and refuses a file whose interfaces
 * differ (eth0 + lo from dumpcap) before its first packet. Falling back
 * only on that error is not possible for stdin, which libpcap has already
 * consumed, and one reader for all pcapng keeps the behaviour (caps,
 * messages, timestamps) the same whatever the interfaces. Each packet
 * carries its interface's link type.
 *
 * BPF filters on pcapng files: libpcap cannot filter a stream whose link
 * type changes, so the filter is compiled once per distinct link type
 * (pcap_open_dead + pcap_compile, at most FILTER_CACHE programs, reused
 * round-robin beyond that) and applied with pcap_offline_filter. A filter
 * that does not compile for a link type ("ether host" on raw IP, or a link
 * type libpcap cannot filter) matches none of its packets, as it could not
 * match them on a capture of that type alone. At gw_capture_set_filter time
 * no link type is known yet: the filter must compile for Ethernet, Linux
 * cooked or raw IP, so a syntax error is still reported at startup.
 *
 * Timestamps: gw_time_us is signed 64-bit microseconds, so a seconds value
 * above ~9.2e12 cannot be converted (signed overflow, undefined behaviour),
 * and pcapng's 64-bit timestamps with a fuzzer-chosen resolution produce
 * such values, negative ones and microseconds >= 1e6 easily. A packet whose
 * timestamp lies outside [1970-01-01, GW_CAPTURE_MAX_SEC] or whose
 * microseconds are not 0..999999 is a fault of the capture: it is counted
 * (bad_timestamps) and the packet is still delivered, stamped with the last
 * good timestamp (0 before the first), so time never leaves the valid range
 * and downstream arithmetic (timeouts, stats intervals) cannot overflow.
 * Delivering the packet, not dropping it, keeps its payload: only the clock
 * value is untrusted.
 *
 * Live captures never block for long: with TPACKET_V3 libpcap's read
 * timeout only runs once a packet has started a block, so on a quiet link a
 * blocking read would sleep until traffic came, deaf to signals and to the
 * clock. The pcap handle is non-blocking instead, and when it has nothing we
 * poll(2) its selectable descriptor for at most LIVE_WAKE_MS (less if
 * libpcap asks for a shorter wait); a signal ends the poll early (EINTR).
 * Either way the caller gets GW_CAPTURE_TIMEOUT and runs its clock. Files
 * are read as before, without polling.
 */
#include "grpcwatch/capture.h"
#include "grpcwatch/pcapfile.h"
#include "grpcwatch/pcapng.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled filters kept for pcapng files, one per link type. */
#define FILTER_CACHE 16
#define FILTER_SNAPLEN 262144
/* Longest a live read waits without a packet (the caller's tick rate). */
#define LIVE_WAKE_MS 100
#define FILE_BUFFER (1u << 20)

struct linktype_filter {
    bool used;
    bool compiles;              /* false: the filter matches nothing of this type */
    int linktype;
    struct bpf_program prog;    /* valid when used && compiles */
};

struct gw_capture {
    pcap_t *pcap;             /* NULL for a pcapng file (ng is set) */
    struct gw_pcapng *ng;
    struct gw_pcapfile *pf;   /* a mapped classic pcap file (pcapfile.h) */
    FILE *ng_file;            /* what ng or pf reads; NULL for stdin, not ours to close */
    char *ng_filter;          /* BPF text for ng or pf, NULL: no filter */
    struct linktype_filter filters[FILTER_CACHE];
    unsigned filters_next;    /* next slot to reuse when all are used */
    volatile sig_atomic_t ng_stop; /* gw_capture_break for ng and pf */
    int linktype;
    bool live;
    int live_fd;              /* live: what poll(2) waits on */
    int wake_ms;              /* live: longest poll(2) */
    uint64_t packets;
    bool nanosecond;  /* timestamps delivered in nanoseconds */
    uint64_t bad_timestamps; /* packets stamped with last_ts instead */
    gw_time_us last_ts;      /* last valid timestamp, 0 before the first */
};

/* Converts a libpcap timestamp, or returns false if it is out of range (see
 * the top of the file); the checks come before any arithmetic. */
static bool timestamp_to_us(const struct timeval *tv, gw_time_us *ts)
{
    if (tv->tv_sec < 0 || (uint64_t)tv->tv_sec > GW_CAPTURE_MAX_SEC) return false;
    if (tv->tv_usec < 0 || tv->tv_usec > 999999) return false;
    *ts = (gw_time_us)tv->tv_sec * 1000000 + (gw_time_us)tv->tv_usec;
    return true;
}

static struct gw_capture *capture_wrap(pcap_t *p, bool live)
{
    struct gw_capture *c = calloc(1, sizeof *c);
    if (!c) {
        pcap_close(p);
        return NULL;
    }
    c->pcap = p;
    c->live = live;
    c->linktype = pcap_datalink(p);
    c->nanosecond = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
    return c;
}

static struct gw_capture *open_pcapng(const char *path, FILE *f, char *err, size_t errlen)
{
    char why[256] = "";
    struct gw_capture *c = calloc(1, sizeof *c);
    if (c) c->ng = gw_pcapng_open(f, why, sizeof why);
    if (!c || !c->ng) {
        if (c) snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (%s)", path, why);
        else snprintf(err, errlen, "%s: out of memory", path);
        free(c);
        if (f != stdin) fclose(f);
        return NULL;
    }
    c->ng_file = f == stdin ? NULL : f;
    c->linktype = -1; /* per packet */
    return c;
}

/* A regular pcap file of a common link type: mapped, not read with fread.
 * NULL with err empty when libpcap should read it. */
static struct gw_capture *open_mapped(const char *path, FILE *f, char *err, size_t errlen)
{
    char why[256] = "";
    bool not_ours = true;
    struct gw_pcapfile *pf = gw_pcapfile_open(f, &not_ours, why, sizeof why);
    if (!pf) {
        if (!not_ours) snprintf(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    struct gw_capture *c = calloc(1, sizeof *c);
    if (!c) {
        gw_pcapfile_close(pf);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    c->pf = pf;
    c->ng_file = f;
    c->linktype = gw_pcapfile_linktype(pf);
    return c;
}

struct gw_capture *gw_capture_open_file(const char *path, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (%s: %s)", path, path,
                 strerror(errno));
        return NULL;
    }
    /* Both readers go through stdio: one read(2) per MiB, not per 4 KiB
     * (before the first byte is read, as setvbuf requires). */
    setvbuf(f, NULL, _IOFBF, FILE_BUFFER);
    int first = getc(f);
    if (first != EOF) ungetc(first, f);
    uint8_t b = (uint8_t)first;
    if (first != EOF && gw_pcapng_probe(&b, 1)) return open_pcapng(path, f, err, errlen);

    if (f != stdin) {
        err[0] = '\0';
        struct gw_capture *mapped = open_mapped(path, f, err, errlen);
        if (mapped) return mapped;
        if (err[0]) {
            fclose(f);
            return NULL;
        }
    }
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    /* Ask for microseconds: records carry microseconds and libpcap scales
     * nanosecond files for us. */
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!p) {
        snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (%s)", path, ebuf);
        if (f != stdin) fclose(f); /* libpcap closes f only once it has opened it */
        return NULL;
    }
    struct gw_capture *c = capture_wrap(p, false);
    if (!c) snprintf(err, errlen, "%s: out of memory", path);
    return c;
}

struct gw_capture *gw_capture_open_live(const char *iface, int buffer_mb, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(iface, ebuf);
    if (!p) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        return NULL;
    }
    pcap_set_snaplen(p, 262144);
    pcap_set_promisc(p, 1);
    pcap_set_timeout(p, 100);
    pcap_set_immediate_mode(p, 0);
    if (buffer_mb > 0) pcap_set_buffer_size(p, buffer_mb * 1024 * 1024);
    int rc = pcap_activate(p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", iface, pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    int fd = pcap_setnonblock(p, 1, ebuf) == 0 ? pcap_get_selectable_fd(p) : -1;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot wait for packets without blocking: %s", iface,
                 ebuf[0] ? ebuf : "no selectable descriptor");
        pcap_close(p);
        return NULL;
    }
    struct gw_capture *c = capture_wrap(p, true);
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", iface);
        return NULL;
    }
    c->live_fd = fd;
    c->wake_ms = LIVE_WAKE_MS;
    /* where the descriptor alone is not reliable, libpcap says how often to
     * look anyway */
    const struct timeval *req = pcap_get_required_select_timeout(p);
    if (req && req->tv_sec == 0 && req->tv_usec / 1000 < LIVE_WAKE_MS)
        c->wake_ms = (int)GW_MAX(req->tv_usec / 1000, 1);
    return c;
}

void gw_capture_close(struct gw_capture *c)
{
    if (!c) return;
    if (c->pcap) pcap_close(c->pcap);
    gw_pcapng_close(c->ng);
    gw_pcapfile_close(c->pf);
    if (c->ng_file) fclose(c->ng_file);
    for (size_t i = 0; i < FILTER_CACHE; i++)
        if (c->filters[i].used && c->filters[i].compiles) pcap_freecode(&c->filters[i].prog);
    free(c->ng_filter);
    free(c);
}

/* Compiles bpf for a link type without a capture; false with libpcap's
 * reason in why. */
static bool compile_for(int linktype, const char *bpf, struct bpf_program *prog, char *why,
                        size_t whylen)
{
    pcap_t *dead = pcap_open_dead(linktype, FILTER_SNAPLEN);
    if (!dead) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    bool ok = pcap_compile(dead, prog, bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!ok) snprintf(why, whylen, "%s", pcap_geterr(dead));
    pcap_close(dead);
    return ok;
}

/* Keeps the filter's text: pcapng and mapped files compile it per link type
 * as packets come (filter_for). */
static int keep_filter_text(struct gw_capture *c, const char *bpf, char *err, size_t errlen)
{
    char *copy = strdup(bpf);
    if (!copy) {
        snprintf(err, errlen, "cannot set filter '%s': out of memory", bpf);
        return GW_ERR_ARG;
    }
    free(c->ng_filter);
    c->ng_filter = copy;
    return GW_OK;
}

/* pcapng: no link type is known yet, so check the filter against the usual
 * ones and keep its text; it is compiled per link type as packets come. */
static int set_pcapng_filter(struct gw_capture *c, const char *bpf, char *err, size_t errlen)
{
    static const int usual[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_RAW };
    char why[PCAP_ERRBUF_SIZE] = "", other[PCAP_ERRBUF_SIZE] = "";
    bool ok = false;
    for (size_t i = 0; i < GW_ARRAY_LEN(usual) && !ok; i++) {
        struct bpf_program prog;
        ok = compile_for(usual[i], bpf, &prog, i == 0 ? why : other, sizeof why);
        if (ok) pcap_freecode(&prog);
    }
    if (!ok) {
        snprintf(err, errlen, "bad filter '%s': %s", bpf, why);
        return GW_ERR_ARG;
    }
    return keep_filter_text(c, bpf, err, errlen);
}

/* The filter compiled for a link type, compiled on its first packet. */
static const struct linktype_filter *filter_for(struct gw_capture *c, int linktype)
{
    for (size_t i = 0; i < FILTER_CACHE; i++)
        if (c->filters[i].used && c->filters[i].linktype == linktype) return &c->filters[i];
    struct linktype_filter *f = &c->filters[c->filters_next++ % FILTER_CACHE];
    if (f->used && f->compiles) pcap_freecode(&f->prog);
    char why[PCAP_ERRBUF_SIZE];
    f->used = true;
    f->linktype = linktype;
    f->compiles = compile_for(linktype, c->ng_filter, &f->prog, why, sizeof why);
    return f;
}

static bool filter_matches(struct gw_capture *c, const struct gw_packet *pkt)
{
    const struct linktype_filter *f = filter_for(c, pkt->linktype);
    if (!f->compiles) return false;
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof h);
    h.caplen = pkt->caplen;
    h.len = pkt->wirelen;
    return pcap_offline_filter(&f->prog, &h, pkt->data) != 0;
}

/* A mapped file has one link type, known now: the filter must compile for
 * it, as libpcap would insist; packets are matched like pcapng's. */
static int set_mapped_filter(struct gw_capture *c, const char *bpf, char *err, size_t errlen)
{
    char why[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    if (!compile_for(c->linktype, bpf, &prog, why, sizeof why)) {
        snprintf(err, errlen, "bad filter '%s': %s", bpf, why);
        return GW_ERR_ARG;
    }
    pcap_freecode(&prog);
    return keep_filter_text(c, bpf, err, errlen);
}

int gw_capture_set_filter(struct gw_capture *c, const char *bpf, char *err, size_t errlen)
{
    if (c->ng) return set_pcapng_filter(c, bpf, err, errlen);
    if (c->pf) return set_mapped_filter(c, bpf, err, errlen);
    struct bpf_program prog;
    if (pcap_compile(c->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "bad filter '%s': %s", bpf, pcap_geterr(c->pcap));
        return GW_ERR_ARG;
    }
    int rc = pcap_setfilter(c->pcap, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
        snprintf(err, errlen, "cannot set filter '%s': %s", bpf, pcap_geterr(c->pcap));
        return GW_ERR_ARG;
    }
    return GW_OK;
}

/* pcapng.c applies the timestamp rule of capture.h itself. */
static int next_pcapng(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen)
{
    char why[256];
    while (!c->ng_stop) {
        int rc = gw_pcapng_next(c->ng, pkt, why, sizeof why);
        if (rc == GW_CAPTURE_END) return rc;
        if (rc != GW_CAPTURE_PACKET) {
            snprintf(err, errlen, "after packet %llu: %s", (unsigned long long)c->packets, why);
            return GW_ERR_IO;
        }
        if (c->ng_filter && !filter_matches(c, pkt)) continue;
        pkt->number = ++c->packets;
        return GW_CAPTURE_PACKET;
    }
    return GW_CAPTURE_END;
}

static void stamp(struct gw_capture *c, const struct timeval *tv, struct gw_packet *pkt)
{
    if (timestamp_to_us(tv, &pkt->ts)) {
        c->last_ts = pkt->ts;
    } else {
        c->bad_timestamps++;
        pkt->ts = c->last_ts;
    }
}

/* One packet from the mapping, as next_pcap would have it from libpcap. */
static int next_mapped(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen)
{
    struct gw_pcapfile_packet rp;
    char why[256];
    while (!c->ng_stop) {
        int rc = gw_pcapfile_next(c->pf, &rp, why, sizeof why);
        if (rc == GW_CAPTURE_END) return rc;
        if (rc != GW_CAPTURE_PACKET) {
            snprintf(err, errlen, "after packet %llu: %s", (unsigned long long)c->packets, why);
            return GW_ERR_IO;
        }
        pkt->linktype = c->linktype;
        pkt->data = rp.data;
        pkt->caplen = rp.caplen;
        pkt->wirelen = rp.wirelen < rp.caplen ? rp.caplen : rp.wirelen;
        if (c->ng_filter && !filter_matches(c, pkt)) continue;
        struct timeval tv = { .tv_sec = (time_t)rp.sec, .tv_usec = (suseconds_t)rp.usec };
        stamp(c, &tv, pkt);
        pkt->number = ++c->packets;
        return GW_CAPTURE_PACKET;
    }
    return GW_CAPTURE_END;
}

/* One packet from libpcap; GW_CAPTURE_TIMEOUT when a live handle has none. */
static int next_pcap(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(c->pcap, &h, &data);
    if (rc == 1) {
        c->packets++;
        stamp(c, &h->ts, pkt);
        /* a pcap file has one link type (pcapng goes to next_pcapng) */
        pkt->linktype = pcap_datalink(c->pcap);
        pkt->data = data;
        pkt->caplen = h->caplen;
        pkt->wirelen = h->len < h->caplen ? h->caplen : h->len;
        pkt->number = c->packets;
        return GW_CAPTURE_PACKET;
    }
    if (rc == 0) return GW_CAPTURE_TIMEOUT;
    if (rc == PCAP_ERROR_BREAK) return GW_CAPTURE_END;
    snprintf(err, errlen, "after packet %llu: %s", (unsigned long long)c->packets,
             pcap_geterr(c->pcap));
    return GW_ERR_IO;
}

/* Live: read; if nothing is there, wait for the descriptor at most wake_ms
 * and read once more. An interrupted or expired wait is a timeout: the
 * caller looks at its signals and its clock and calls again. */
static int next_live(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen)
{
    int rc = next_pcap(c, pkt, err, errlen);
    if (rc != GW_CAPTURE_TIMEOUT) return rc;
    struct pollfd pfd = { .fd = c->live_fd, .events = POLLIN };
    if (poll(&pfd, 1, c->wake_ms) <= 0) return GW_CAPTURE_TIMEOUT;
    return next_pcap(c, pkt, err, errlen);
}

int gw_capture_next(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen)
{
    if (c->ng) return next_pcapng(c, pkt, err, errlen);
    if (c->pf) return next_mapped(c, pkt, err, errlen);
    return c->live ? next_live(c, pkt, err, errlen) : next_pcap(c, pkt, err, errlen);
}

void gw_capture_break(struct gw_capture *c)
{
    if (!c) return;
    if (c->ng || c->pf) c->ng_stop = 1;
    else pcap_breakloop(c->pcap);
}

void gw_capture_stats(struct gw_capture *c, struct gw_capture_stats *st)
{
    memset(st, 0, sizeof *st);
    st->packets = c->packets;
    st->bad_timestamps = c->bad_timestamps;
    if (c->ng) {
        struct gw_pcapng_stats ns;
        gw_pcapng_stats(c->ng, &ns);
        st->bad_timestamps = ns.bad_timestamps;
    }
    if (!c->live) return;
    struct pcap_stat ps;
    if (pcap_stats(c->pcap, &ps) == 0) {
        st->kernel_received = ps.ps_recv;
        st->kernel_dropped = ps.ps_drop;
        st->if_dropped = ps.ps_ifdrop;
    }
}
