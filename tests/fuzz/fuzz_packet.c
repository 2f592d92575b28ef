/*
 * fuzz_packet.c - one captured packet through the whole pipeline.
 *
 * Input: byte 0 picks the link type (low nibble, modulo the table below)
 * and whether the packet was cut by the snap length (bit 7: the wire
 * length is then larger than what was captured); the rest is the packet
 * as libpcap would hand it over.
 *
 * A fresh sensor with small caps (fz_small_config) and a json:/dev/null
 * sink per input: decode -> flow -> reasm -> classify -> h2/tls -> grpc ->
 * policy -> records, then end of input (every flow ended and written) and a
 * stats record. Invariants are the sanitizers'.
 */
#include "fuzz_common.h"

#include "grpcwatch/router.h"
#include "grpcwatch/sensor.h"

/* DLT / LINKTYPE values the decoder handles (decode.h). */
static const int linktypes[] = { 1, 113, 276, 0, 108, 12, 101, 228, 229, 14 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct fz_in in = fz_in_make(data, size);
    uint8_t sel = fz_u8(&in);

    char err[256];
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

    size_t caplen;
    const uint8_t *bytes = fz_bytes(&in, fz_left(&in), &caplen);
    struct gw_packet pkt = {
        .ts = 1700000000000000LL,
        .linktype = linktypes[(sel & 0x0f) % GW_ARRAY_LEN(linktypes)],
        .data = bytes,
        .caplen = (uint32_t)caplen,
        .wirelen = (uint32_t)caplen + ((sel & 0x80) ? 1000u : 0u),
        .number = 1,
    };
    gw_sensor_packet(s, &pkt);
    gw_sensor_finish(s);
    gw_sensor_write_stats(s, pkt.ts + 1);
    gw_sensor_destroy(s);
    gw_router_destroy(out);
    return 0;
}
