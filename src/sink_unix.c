/*
 * sink_unix.c - the unix-socket sink kinds: "unix:PATH" (SOCK_STREAM, one
 * line after another) and "unixgram:PATH" (SOCK_DGRAM, one datagram per
 * line). Buffering, reconnects and counters are sinkbuf.c's; this file only
 * says how a socket is connected.
 */
#include "grpcwatch/sinkbuf.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un){ 0 }).sun_path)

static int connect_unix(const char *path, int type)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked against path_max at open */
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* A unix-domain connect completes at once or fails (EAGAIN when the
     * listener's backlog is full): there is no connect in progress to wait
     * for, so every failure is simply retried later. */
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int stream_fd(const char *path)
{
    return connect_unix(path, SOCK_STREAM);
}

static int dgram_fd(const char *path)
{
    return connect_unix(path, SOCK_DGRAM);
}

static const struct gw_sink_transport unix_stream = {
    .verb = "connect to", .path_max = SUN_PATH_SIZE, .socket = true, .open_fd = stream_fd,
};
static const struct gw_sink_transport unix_dgram = {
    .verb = "connect to", .path_max = SUN_PATH_SIZE, .socket = true, .datagram = true,
    .open_fd = dgram_fd,
};

static struct gw_sink *stream_open(const char *target, char *err, size_t errlen)
{
    return gw_sinkbuf_open(&unix_stream, target, err, errlen);
}

static struct gw_sink *dgram_open(const char *target, char *err, size_t errlen)
{
    return gw_sinkbuf_open(&unix_dgram, target, err, errlen);
}

const struct gw_sink_ops gw_sink_unix = { .scheme = "unix", .open = stream_open, GW_SINKBUF_OPS };
const struct gw_sink_ops gw_sink_unixgram = { .scheme = "unixgram", .open = dgram_open,
                                              GW_SINKBUF_OPS };
