/*
 * sink_json.c - the "json" sink kind: JSON lines to standard output
 * ("json:-") or appended to a file ("json:PATH"). Buffering, retries and
 * counters are sinkbuf.c's; this file only says how the descriptor is had.
 */
#include "grpcwatch/sinkbuf.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int stdout_fd(const char *target)
{
    GW_UNUSED(target);
    return STDOUT_FILENO;
}

static int file_fd(const char *path)
{
    /* O_NONBLOCK: a fifo must never stall the capture loop (and must have a
     * reader when opened); regular files ignore it. */
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
}

/* Standard output is left as the caller set it up (blocking or not): its
 * file description is shared with the shell. */
static const struct gw_sink_transport json_stdout = {
    .verb = "open", .path_max = 2, .borrowed_fd = true, .open_fd = stdout_fd,
};
static const struct gw_sink_transport json_file = {
    .verb = "open", .path_max = GW_SINKBUF_PATH_MAX, .open_fd = file_fd,
};

static struct gw_sink *json_open(const char *target, char *err, size_t errlen)
{
    const struct gw_sink_transport *t = strcmp(target, "-") == 0 ? &json_stdout : &json_file;
    return gw_sinkbuf_open(t, target, err, errlen);
}

const struct gw_sink_ops gw_sink_json = { .scheme = "json", .open = json_open, GW_SINKBUF_OPS };
