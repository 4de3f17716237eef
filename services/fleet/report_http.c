/* `run --report-listen`: the fleet report served read-only over HTTP on a
 * loopback address (libevent evhttp, docs/fleet.md "Report"). Plain HTTP
 * is acceptable only because the socket is bound to loopback, which is
 * enforced here; anyone who needs it remotely puts an authenticating TLS
 * proxy in front. Only GET and HEAD of two paths; the page carries its
 * Content-Security-Policy as a header too. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "fleet.h"

struct fleet_report_server {
    struct event_base *base;
    struct evhttp *http;
    char *dbpath;
    pthread_t thread;
    bool running;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Content-Security-Policy", fleet_report_csp(true));
    struct evbuffer *b = evbuffer_new();
    if (b != NULL && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    if (b != NULL) evbuffer_free(b);
}

static void handle(struct evhttp_request *req, void *arg)
{
    fleet_report_server *s = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", "read-only\n", 10);
        return;
    }
    const char *uri = evhttp_request_get_uri(req);
    bool html = strcmp(uri, "/") == 0 || strcmp(uri, "/index.html") == 0;
    bool json = strcmp(uri, "/report.json") == 0;
    if (!html && !json) {
        reply(req, 404, "Not Found", "text/plain; charset=utf-8", "not found\n", 10);
        return;
    }
    fleet_db *db = NULL;
    fleet_buf b;
    fleet_buf_init(&b, FLEET_REPORT_MAX);
    hearth_status st = fleet_db_open(s->dbpath, true, &db);
    if (st == HEARTH_OK)
        st = html ? fleet_report_html(db, hearth_time_now(), &b) : fleet_report_json(db, hearth_time_now(), &b);
    fleet_db_close(db);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: report: %s\n", hearth_err_msg());
        reply(req, 503, "Service Unavailable", "text/plain; charset=utf-8", "report unavailable\n", 19);
    } else {
        reply(req, 200, "OK", html ? "text/html; charset=utf-8" : "application/json", b.p, b.len);
    }
    fleet_buf_free(&b);
}

static void *loop(void *arg)
{
    fleet_report_server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

static bool loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

hearth_status fleet_report_server_start(const char *listen, const char *dbpath, fleet_report_server **out)
{
    *out = NULL;
    char host[64];
    int port = 0;
    HEARTH_GUARD(fleet_hostport(listen, host, sizeof host, &port));
    if (!loopback(host))
        return hearth_err(HEARTH_ERR_POLICY, "the report is served on a loopback address only (127.0.0.1, ::1)");
    fleet_report_server *s = calloc(1, sizeof *s);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    s->dbpath = strdup(dbpath);
    /* The base is stopped from the ingest thread: make it notifiable. */
    if (evthread_use_pthreads() != 0) {
        fleet_report_server_stop(s);
        return hearth_err(HEARTH_ERR_INTERNAL, "libevent threads unavailable");
    }
    s->base = event_base_new();
    s->http = s->base != NULL ? evhttp_new(s->base) : NULL;
    if (s->dbpath == NULL || s->http == NULL) {
        fleet_report_server_stop(s);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    evhttp_set_max_headers_size(s->http, 8192);
    evhttp_set_max_body_size(s->http, 1024); /* refused with 405 by handle() */
    evhttp_set_timeout(s->http, 10);
    evhttp_set_gencb(s->http, handle, s);
    if (evhttp_bind_socket(s->http, host, (ev_uint16_t)port) != 0) {
        fleet_report_server_stop(s);
        return hearth_err(HEARTH_ERR_IO, "cannot listen on %s", listen);
    }
    if (pthread_create(&s->thread, NULL, loop, s) != 0) {
        fleet_report_server_stop(s);
        return hearth_err(HEARTH_ERR_IO, "cannot start the report thread");
    }
    s->running = true;
    fprintf(stderr, "hearth-fleet: report on http://%s:%d/\n", strchr(host, ':') ? "[::1]" : host, port);
    *out = s;
    return HEARTH_OK;
}

void fleet_report_server_stop(fleet_report_server *s)
{
    if (s == NULL) return;
    if (s->running) {
        event_base_loopbreak(s->base);
        pthread_join(s->thread, NULL);
    }
    if (s->http != NULL) evhttp_free(s->http);
    if (s->base != NULL) event_base_free(s->base);
    free(s->dbpath);
    free(s);
}
