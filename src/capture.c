/*
 * capture.c - packets from libpcap.
 *
 * Files: pcap and pcapng (libpcap detects which), "-" for stdin. libpcap
 * reports a record that runs past the end of the file as an error
 * ("truncated dump file"), which we pass up as GW_ERR_IO so the caller can
 * report everything it already has and exit 1. A bad magic fails at open.
 *
 * pcapng files may hold several interfaces of different link types; libpcap
 * only supports one link type per file and says so at read time - that is
 * also passed up as an error with libpcap's message.
 */
#include "grpcwatch/capture.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_capture {
    pcap_t *pcap;
    int linktype;
    bool live;
    uint64_t packets;
    bool nanosecond;  /* timestamps delivered in nanoseconds */
};

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

struct gw_capture *gw_capture_open_file(const char *path, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    /* Ask for microseconds: records carry microseconds and libpcap scales
     * nanosecond files for us. */
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!p) {
        snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (%s)", path, ebuf);
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
    struct gw_capture *c = capture_wrap(p, true);
    if (!c) snprintf(err, errlen, "%s: out of memory", iface);
    return c;
}

void gw_capture_close(struct gw_capture *c)
{
    if (!c) return;
    pcap_close(c->pcap);
    free(c);
}

int gw_capture_set_filter(struct gw_capture *c, const char *bpf, char *err, size_t errlen)
{
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

int gw_capture_next(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(c->pcap, &h, &data);
    if (rc == 1) {
        c->packets++;
        pkt->ts = (gw_time_us)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        /* pcapng may carry per-interface link types; libpcap maps them to one */
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

void gw_capture_break(struct gw_capture *c)
{
    if (c) pcap_breakloop(c->pcap);
}

void gw_capture_stats(struct gw_capture *c, struct gw_capture_stats *st)
{
    memset(st, 0, sizeof *st);
    st->packets = c->packets;
    if (!c->live) return;
    struct pcap_stat ps;
    if (pcap_stats(c->pcap, &ps) == 0) {
        st->kernel_received = ps.ps_recv;
        st->kernel_dropped = ps.ps_drop;
        st->if_dropped = ps.ps_ifdrop;
    }
}
