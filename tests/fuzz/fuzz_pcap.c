/*
 * fuzz_pcap.c - a small capture file (pcap or pcapng) through the whole
 * pipeline, capture.c included.
 *
 * Input: the capture file itself. It is written to a memory file (memfd)
 * that gw_capture_open_file opens by its /proc/self/fd path, so the bytes
 * go through capture.c exactly as a file given to -r does (libpcap's
 * pcap/pcapng readers, the timestamp and length conversion), and the
 * packets are fed, as main.c's loop does, to a fresh sensor with small caps
 * and a json:/dev/null sink: several connections, eviction, flow timeouts
 * (packet time), out-of-order data, periodic stats records and the
 * end-of-input flush are all reachable. A read error part-way stops the
 * loop as in main.c: what came before is still processed and written.
 * capture.h's promises are checked per packet: wirelen >= caplen, and a
 * timestamp within [0, GW_CAPTURE_MAX_SEC] seconds whatever the file says
 * (out-of-range ones are counted in bad_timestamps, never more than the
 * packets).
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_common.h"

#include "grpcwatch/capture.h"
#include "grpcwatch/router.h"
#include "grpcwatch/sensor.h"

#include <sys/mman.h>
#include <unistd.h>

/* Bounds the work per input; a capture of this fuzzer's size never has more. */
#define MAX_PACKETS 20000

/* The memory file is reused across inputs (one per process). */
static int input_file(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
    static int fd = -1;
    if (fd < 0) fd = memfd_create("fuzz_pcap", MFD_CLOEXEC);
    FZ_CHECK(fd >= 0, "memfd_create failed");
    FZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        FZ_CHECK(w > 0, "pwrite failed");
        done += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

static void run_capture(struct gw_capture *cap, struct gw_sensor *s)
{
    char err[512];
    struct gw_packet pkt;
    for (int n = 0; n < MAX_PACKETS; n++) {
        int rc = gw_capture_next(cap, &pkt, err, sizeof err);
        if (rc != GW_CAPTURE_PACKET) {
            FZ_CHECK(rc == GW_CAPTURE_END || rc == GW_ERR_IO, "gw_capture_next returned %d", rc);
            FZ_CHECK(rc != GW_ERR_IO || memchr(err, '\0', sizeof err), "error not terminated");
            break;
        }
        FZ_CHECK(pkt.data != NULL || pkt.caplen == 0, "packet without data");
        FZ_CHECK(pkt.wirelen >= pkt.caplen, "wirelen %u < caplen %u", pkt.wirelen, pkt.caplen);
        /* capture.h: out-of-range timestamps never reach the sensor */
        FZ_CHECK(pkt.ts >= 0 && pkt.ts < (gw_time_us)(GW_CAPTURE_MAX_SEC + 1) * 1000000,
                 "timestamp %lld out of range", (long long)pkt.ts);
        gw_sensor_packet(s, &pkt);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512];
    input_file(data, size, path, sizeof path);
    struct gw_capture *cap = gw_capture_open_file(path, err, sizeof err);
    if (!cap) return 0; /* not a capture: exit 2 in main.c */

    struct gw_router *out = gw_router_create();
    if (out && gw_router_add(out, "json:/dev/null", NULL, err, sizeof err) != GW_OK) {
        gw_router_destroy(out);
        out = NULL;
    }
    FZ_CHECK(out != NULL, "%s", err);
    struct gw_config cfg;
    fz_small_config(&cfg);
    struct gw_sensor *s = gw_sensor_create(&cfg, out);
    FZ_CHECK(s != NULL, "gw_sensor_create failed");

    run_capture(cap, s);
    struct gw_capture_stats cst;
    gw_capture_stats(cap, &cst);
    FZ_CHECK(cst.bad_timestamps <= cst.packets, "bad_timestamps %llu > packets %llu",
             (unsigned long long)cst.bad_timestamps, (unsigned long long)cst.packets);
    gw_sensor_finish(s);
    gw_sensor_write_stats(s, gw_sensor_now(s));
    gw_sensor_destroy(s);
    gw_router_destroy(out);
    gw_capture_close(cap);
    return 0;
}
