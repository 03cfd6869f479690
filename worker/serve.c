/* serve.c: the worker's /metrics and /livez on shared/httpd (tokens,
 * limits and the loopback rule are the same as the scheduler's). */
#include "worker/serve.h"

#include "shared/httpd.h"
#include "shared/metrics.h"

#include <stdlib.h>
#include <string.h>

struct vodq_serve {
    struct vodq_httpd *srv;
    const char *worker; /* borrowed */
};

static void h_metrics(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    (void)req;
    struct vodq_serve *s = ctx;
    resp->body = vodq_metrics_text(s->worker);
    if (!resp->body)
        return vodq_httpd_error(resp, 500, "out of memory");
    resp->status = 200;
    resp->type = "text/plain; version=0.0.4";
}

/* alive = this process answers; readiness (Redis) is the scheduler's and
 * the heartbeat's business, never a reason to restart a worker */
static const struct vodq_httpd_route routes[] = {
    {"GET", "/livez", false, VODQ_HTTPD_NONE, vodq_httpd_livez, false},
    {"GET", "/metrics", false, VODQ_HTTPD_READ, h_metrics, false},
};

struct vodq_serve *vodq_serve_start(const struct vodq_serve_opts *o, struct vodq_err *err)
{
    struct vodq_serve *s = calloc(1, sizeof(*s));
    if (!s) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    s->worker = o->worker;
    struct vodq_httpd_opts ho = {
        .listen = o->listen,
        .token_file = o->token_file,
        .insecure = o->insecure,
        .max_body_bytes = 0, /* GET only */
        .threads = 2,
        .routes = routes,
        .n_routes = sizeof(routes) / sizeof(routes[0]),
        .ctx = s,
    };
    if (!(s->srv = vodq_httpd_start(&ho, err))) {
        free(s);
        return NULL;
    }
    return s;
}

const char *vodq_serve_warning(const struct vodq_serve *s)
{
    return s ? vodq_httpd_warning(s->srv) : "";
}

void vodq_serve_stop(struct vodq_serve *s)
{
    if (!s)
        return;
    vodq_httpd_stop(s->srv);
    free(s);
}
