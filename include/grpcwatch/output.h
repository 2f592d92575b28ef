/*
 * output.h - where records go. A sink is named "json:-" (stdout) or
 * "json:PATH" (append to a file). Records are whole lines; the sink buffers
 * them and writes in large blocks, flushes on gw_output_flush (called on
 * exit, on signals and periodically), and counts what it could not write
 * instead of blocking the capture loop.
 */
#ifndef GRPCWATCH_OUTPUT_H
#define GRPCWATCH_OUTPUT_H

#include "grpcwatch/common.h"

struct gw_output_stats {
    uint64_t records, bytes, write_errors, dropped_records;
};

struct gw_output;

/* Parses spec and opens the sink. On failure returns NULL and writes a
 * one-line reason into err. */
struct gw_output *gw_output_open(const char *spec, char *err, size_t errlen);
/* Flushes and closes. */
void gw_output_close(struct gw_output *o);

/* Appends one record line (must end with '\n'). Returns GW_OK or GW_ERR_IO
 * (the record is counted as dropped; the sink stays usable). */
int gw_output_write(struct gw_output *o, const char *line, size_t len);
int gw_output_flush(struct gw_output *o);

const struct gw_output_stats *gw_output_stats(const struct gw_output *o);

#endif
