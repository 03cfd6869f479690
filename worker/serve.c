/* serve.c: the worker's /metrics and /livez over libmicrohttpd. */
#include "worker/serve.h"

#include "shared/metrics.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vodq_serve {
    struct MHD_Daemon *d;
    const char *worker; /* borrowed */
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *text)
{
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **state)
{
    (void)version, (void)data, (void)data_size, (void)state;
    struct vodq_serve *s = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"));
    if (!strcmp(url, "/metrics"))
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", vodq_metrics_text(s->worker));
    /* alive = this process answers; readiness (Redis) is the scheduler's
     * and the heartbeat's business, never a reason to restart a worker */
    if (!strcmp(url, "/livez"))
        return reply(c, MHD_HTTP_OK, "text/plain", strdup("ok\n"));
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("not found\n"));
}

struct vodq_serve *vodq_serve_start(const char *addr, const char *worker, struct vodq_err *err)
{
    char host[64] = "0.0.0.0";
    const char *colon = strrchr(addr, ':');
    const char *ps = colon ? colon + 1 : addr;
    if (colon)
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    char *end;
    long port = strtol(ps, &end, 10);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!*ps || *end || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "--http: '%s' must be IPv4-ADDRESS:PORT", addr);
        return NULL;
    }
    struct vodq_serve *s = calloc(1, sizeof(*s));
    if (!s) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    s->worker = worker;
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                            NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!s->d) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "--http: cannot listen on %s", addr);
        free(s);
        return NULL;
    }
    return s;
}

int vodq_serve_port(const struct vodq_serve *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int)i->port : -1;
}

void vodq_serve_stop(struct vodq_serve *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
