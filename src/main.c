/*
 * main.c - command line, signals and the capture loop.
 *
 * Exit status: 0 when the input was read to its end; 1 when a capture file
 * turned out truncated or corrupt part-way (everything before the fault is
 * processed and written first); 2 for usage errors, unreadable input, a
 * file that is not a capture, or a bad configuration.
 *
 * Signals only set flags; the loop notices them between packets (a live
 * capture returns at least every 100 ms however quiet the link, and at once
 * when a signal interrupts its wait), so records are always flushed from
 * the main thread: SIGINT/SIGTERM stop, SIGHUP reopens the outputs (log
 * rotation), SIGHUP and SIGUSR1 flush and write a stats record. SIGPIPE is
 * ignored so a closed reader becomes a counted write error instead of
 * killing the sensor.
 *
 * Outputs: every -o adds a sink that takes every record; without -o the
 * config's `outputs:` list is used (with its type filters); without either,
 * standard output. The command line wins whole: one -o replaces the list.
 *
 * Clocks: a file is flushed every second of packet time (the records of a
 * replay do not depend on how fast it is read); a live capture is flushed
 * every second of wall time and, when it wakes without a packet, moves the
 * sensor's clock to the wall clock so flows still time out and periodic
 * stats are still written on a quiet link.
 */
#include "grpcwatch/capture.h"
#include "grpcwatch/config.h"
#include "grpcwatch/router.h"
#include "grpcwatch/sensor.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLUSH_EVERY_US 1000000
#define EXIT_INPUT_FAULT 1
#define EXIT_USAGE 2

struct options {
    const char *read_file;
    const char *iface;
    const char *outputs[GW_ROUTER_MAX_SINKS]; /* -o, in order */
    size_t n_outputs;
    const char *filter;
    const char *config;
    int buffer_mb;
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t flush_requested;
static volatile sig_atomic_t reopen_requested;

static void on_stop(int sig)
{
    GW_UNUSED(sig);
    stop_requested = 1;
}

static void on_flush(int sig)
{
    if (sig == SIGHUP) reopen_requested = 1;
    flush_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* flush requests must not interrupt a blocking read of the capture */
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_flush;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: grpcwatch (-r FILE | -i IFACE) [options]\n"
            "Finds gRPC calls that cross the network in cleartext and writes JSON lines.\n"
            "\n"
            "  -r, --read FILE       read a pcap or pcapng file ('-' = standard input)\n"
            "  -i, --interface IFACE capture live from IFACE\n"
            "  -o, --output SINK     json:- (standard output, default), json:PATH (append),\n"
            "                        unix:PATH (stream socket) or unixgram:PATH (datagrams);\n"
            "                        repeat for several sinks (at most 8), each gets every\n"
            "                        record; replaces the config's outputs: list\n"
            "  -f, --filter BPF      capture filter, e.g. 'tcp port 50051'\n"
            "  -c, --config FILE     YAML configuration (see grpcwatch(8))\n"
            "  -B, --buffer-mb N     kernel capture buffer for -i, MiB (default 64)\n"
            "  -V, --version         print the version and exit\n"
            "  -h, --help            print this help and exit\n"
            "\n"
            "Exit status: 0 input read to its end, 1 capture truncated or corrupt\n"
            "(records up to the fault are written), 2 usage or input error.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "read", required_argument, NULL, 'r' },
        { "interface", required_argument, NULL, 'i' },
        { "output", required_argument, NULL, 'o' },
        { "filter", required_argument, NULL, 'f' },
        { "config", required_argument, NULL, 'c' },
        { "buffer-mb", required_argument, NULL, 'B' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    memset(o, 0, sizeof *o);
    o->buffer_mb = 64;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":r:i:o:f:c:B:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r': o->read_file = optarg; break;
        case 'i': o->iface = optarg; break;
        case 'o':
            if (o->n_outputs == GW_ROUTER_MAX_SINKS) {
                fprintf(stderr, "grpcwatch: at most %d outputs (-o)\n", GW_ROUTER_MAX_SINKS);
                return EXIT_USAGE;
            }
            o->outputs[o->n_outputs++] = optarg;
            break;
        case 'f': o->filter = optarg; break;
        case 'c': o->config = optarg; break;
        case 'B': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 4096) {
                fprintf(stderr, "grpcwatch: --buffer-mb takes 1..4096, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o->buffer_mb = (int)v;
            break;
        }
        case 'V': printf("grpcwatch %s\n", GW_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "grpcwatch: option '%s' needs an argument (try -h)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "grpcwatch: unknown option '%s' (try -h)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "grpcwatch: unexpected argument '%s' (try -h)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!o->read_file == !o->iface) {
        fprintf(stderr, "grpcwatch: give exactly one of -r FILE or -i IFACE (try -h)\n");
        return EXIT_USAGE;
    }
    return -1; /* go on */
}

static int open_input(const struct options *o, struct gw_capture **cap)
{
    char err[512];
    *cap = o->read_file ? gw_capture_open_file(o->read_file, err, sizeof err)
                        : gw_capture_open_live(o->iface, o->buffer_mb, err, sizeof err);
    if (!*cap) {
        fprintf(stderr, "grpcwatch: %s\n", err);
        return EXIT_USAGE;
    }
    if (o->filter && gw_capture_set_filter(*cap, o->filter, err, sizeof err) != GW_OK) {
        fprintf(stderr, "grpcwatch: %s\n", err);
        gw_capture_close(*cap);
        *cap = NULL;
        return EXIT_USAGE;
    }
    return 0;
}

/* The sensor's window on the capture's counters (stats records). */
static void capture_counters(void *user, struct gw_capture_counters *out)
{
    struct gw_capture_stats cs;
    gw_capture_stats(user, &cs);
    out->packets = cs.packets;
    out->kernel_received = cs.kernel_received;
    out->kernel_dropped = cs.kernel_dropped;
    out->bad_timestamps = cs.bad_timestamps;
}

static gw_time_us clock_us(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (gw_time_us)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Live captures stamp stats with the wall clock when idle; files with packet time. */
static gw_time_us stats_time(struct gw_sensor *s, bool live)
{
    if (live || gw_sensor_now(s) == 0) return clock_us(CLOCK_REALTIME);
    return gw_sensor_now(s);
}

/* Flushes when a second has passed: of packet time for a file, of the
 * monotonic clock live. */
static void flush_if_due(struct gw_router *out, gw_time_us now, gw_time_us *last)
{
    if (now - *last < FLUSH_EVERY_US) return;
    gw_router_flush(out);
    *last = now;
}

/* What the signal handlers asked for, done from the main thread. */
static void handle_requests(struct gw_sensor *s, struct gw_router *out, bool live)
{
    if (reopen_requested) {
        reopen_requested = 0;
        gw_router_reopen(out); /* log rotation */
    }
    if (flush_requested) {
        flush_requested = 0;
        gw_sensor_write_stats(s, stats_time(s, live));
        gw_router_flush(out);
    }
}

static int run(struct gw_capture *cap, struct gw_sensor *s, struct gw_router *out,
               const struct options *o)
{
    char err[512];
    struct gw_packet pkt;
    int status = 0;
    bool live = o->iface != NULL;
    gw_time_us last_flush = live ? clock_us(CLOCK_MONOTONIC) : 0;

    while (!stop_requested) {
        int rc = gw_capture_next(cap, &pkt, err, sizeof err);
        if (rc == GW_CAPTURE_PACKET) {
            gw_sensor_packet(s, &pkt);
            flush_if_due(out, live ? clock_us(CLOCK_MONOTONIC) : pkt.ts, &last_flush);
        } else if (rc == GW_CAPTURE_TIMEOUT) {
            /* only live captures time out: a quiet link, or a signal */
            gw_sensor_tick(s, clock_us(CLOCK_REALTIME));
            flush_if_due(out, clock_us(CLOCK_MONOTONIC), &last_flush);
        } else if (rc == GW_CAPTURE_END) {
            break;
        } else {
            fprintf(stderr, "grpcwatch: %s: %s\n", o->read_file ? o->read_file : o->iface, err);
            status = EXIT_INPUT_FAULT;
            break;
        }
        handle_requests(s, out, live);
    }
    return status;
}

/* -o sinks, else the config's outputs:, else standard output. */
static int open_outputs(const struct options *o, const struct gw_config *cfg,
                        struct gw_router *out, char *err, size_t errlen)
{
    int rc = GW_OK;
    if (o->n_outputs > 0) {
        for (size_t i = 0; i < o->n_outputs && rc == GW_OK; i++)
            rc = gw_router_add(out, o->outputs[i], NULL, err, errlen);
    } else if (cfg->n_outputs > 0) {
        for (size_t i = 0; i < cfg->n_outputs && rc == GW_OK; i++)
            rc = gw_router_add(out, cfg->outputs[i].sink, cfg->outputs[i].types, err, errlen);
    } else {
        rc = gw_router_add(out, "json:-", NULL, err, errlen);
    }
    return rc;
}

/* One line per sink that lost records, naming it. */
static void report_lost(const struct gw_router *out)
{
    for (size_t i = 0; i < gw_router_count(out); i++) {
        struct gw_sink_stats st;
        gw_router_sink_stats(out, i, &st);
        uint64_t lost = st.dropped_records + st.pending;
        if (lost > 0)
            fprintf(stderr, "grpcwatch: %" PRIu64 " records could not be written to %s\n", lost,
                    gw_router_sink_spec(out, i));
    }
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;

    struct gw_config cfg;
    char err[512];
    gw_config_defaults(&cfg);
    if (o.config && gw_config_load(o.config, &cfg, err, sizeof err) != GW_OK) {
        fprintf(stderr, "grpcwatch: %s\n", err);
        return EXIT_USAGE;
    }

    struct gw_capture *cap;
    if ((rc = open_input(&o, &cap)) != 0) return rc;

    struct gw_router *out = gw_router_create();
    if (!out || open_outputs(&o, &cfg, out, err, sizeof err) != GW_OK) {
        fprintf(stderr, "grpcwatch: %s\n", out ? err : "out of memory");
        gw_router_destroy(out);
        gw_capture_close(cap);
        return EXIT_USAGE;
    }
    struct gw_sensor *s = gw_sensor_create(&cfg, out);
    if (!s) {
        fprintf(stderr, "grpcwatch: out of memory creating the sensor (flow table of %u)\n",
                cfg.flow_max);
        gw_router_destroy(out);
        gw_capture_close(cap);
        return EXIT_USAGE;
    }
    gw_sensor_set_capture_counters(s, capture_counters, cap);
    install_signals();

    int status = run(cap, s, out, &o);

    /* end of input: every open call and connection is written */
    gw_sensor_finish(s);
    if (cfg.stats_interval) gw_sensor_write_stats(s, stats_time(s, o.iface != NULL));
    gw_sensor_destroy(s);
    gw_capture_close(cap);
    gw_router_flush(out);
    report_lost(out);
    gw_router_destroy(out);
    return status;
}
