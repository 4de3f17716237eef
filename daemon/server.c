/*
 * HTTPS server of hearthd: libevent 2.1 evhttp over OpenSSL bufferevents
 * (hearthd.h). This file holds its lifecycle -- event base, listener,
 * signals, stop -- and the dispatch of each request evhttp parsed to the
 * API: inline on the loop, or on a worker when the route hashes a password.
 * The rest, one concern per file (server_internal.h): conn.c (connections,
 * limits), workers.c (worker pool), filter.c (input filter), upload.c
 * (streaming bundle upload), reply.c (replies).
 *
 * Limits against resource exhaustion (EN 303 645 5.1-5 "guarding against
 * resource exhaustion", 5.13-1): header size, body size and idle timeout
 * are evhttp's (set below); the per-request deadline and the connection cap
 * are conn.c's; the bound on keep-alive requests per connection is
 * reply.c's; the worker queue's bound is workers.c's. docs/api.md has
 * details.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hearth/json.h"
#include "hearth/util.h"
#include "server_internal.h"

/* ------------------------------------------------------------ memory */

void hearthd_server_memory_init(void)
{
    event_set_mem_functions(hearth_wipe_malloc, hearth_wipe_realloc, hearth_wipe_free);
}

/* ------------------------------------------------------------ requests */

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "UNKNOWN";
}

static void on_request(struct evhttp_request *req, void *arg)
{
    hearthd_server *s = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev == NULL || bufferevent_openssl_get_ssl(bev) == NULL) {
        /* Only reachable if a TLS bufferevent could not be allocated and
         * evhttp fell back to plaintext: serve nothing over it. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        evhttp_send_reply(req, 400, "Bad Request", NULL);
        return;
    }
    conn *c = hearthd_conn_of(s, req);
    if (c != NULL) {
        evtimer_del(c->deadline);
        c->nreq++;
    }

    /* Request target: origin-form only; split the query off. */
    const char *uri = evhttp_request_get_uri(req);
    char path[HEARTH_API_PATH_MAX + 2];
    const char *query = NULL;
    if (uri == NULL) uri = "";
    const char *qm = strchr(uri, '?');
    size_t plen = qm ? (size_t)(qm - uri) : strlen(uri);
    if (plen >= sizeof path) plen = sizeof path - 1; /* > PATH_MAX: the API answers 404 */
    memcpy(path, uri, plen);
    path[plen] = '\0';
    if (qm != NULL) query = qm + 1;
    if (hearthd_web_serve(s, req, path)) return; /* the embedded web interface */

    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body);
    const uint8_t *bptr = blen ? evbuffer_pullup(body, -1) : NULL;

    char source[HEARTH_SOURCE_MAX] = "unknown";
    char *peer = NULL;
    ev_uint16_t pport = 0;
    evhttp_connection_get_peer(evcon, &peer, &pport);
    if (peer != NULL) snprintf(source, sizeof source, "%s", peer);

    hearth_api_request r = {
        .method = method_name(evhttp_request_get_command(req)),
        .path = path,
        .query = query,
        .authorization = evhttp_find_header(in, "Authorization"),
        .content_type = evhttp_find_header(in, "Content-Type"),
        .body = bptr,
        .body_len = blen,
        .source = source,
    };
    if (hearth_api_is_slow(s->api, r.method, r.path)) {
        if (hearthd_workers_enqueue(s, req, &r)) {
            if (c != NULL) c->busy++;
        } else {
            hearth_api_busy_response(&s->scratch, HEARTHD_BUSY_RETRY_S);
            hearthd_reply_send(s, req, &s->scratch);
        }
        if (bptr) hearth_memzero((void *)bptr, blen);
        return;
    }
    hearth_api_handle(s->api, &r, &s->scratch);
    if (bptr) hearth_memzero((void *)bptr, blen);
    hearthd_reply_send(s, req, &s->scratch);
    /* Wipe what was written (a reply can hold a token), not the whole
     * 16 KiB buffer: that cost more than the request itself. */
    size_t used = s->scratch.body_len < sizeof s->scratch.body ? s->scratch.body_len + 1
                                                                : sizeof s->scratch.body;
    hearth_memzero(s->scratch.body, used);
    s->scratch.body_len = 0;
}

/* --------------------------------------------------------- lifecycle */

static void churn_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hearthd_churn_flush(&((hearthd_server *)arg)->churn, 1);
}

/* The stop deferred by on_signal: the grace for an upload reply is over. */
static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hearthd_server *s = arg;
    event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    hearthd_server *s = arg;
    hearth_seclog(HEARTH_SEV_INFO, "daemon_stopping", "signal", sig == SIGTERM ? "TERM" : "INT",
                  NULL);
    if ((s->fin_running || s->holds > 0) && !s->exit_pending) {
        /* An uploaded bundle is being installed (its success is what asks
         * for this restart) or its answer is on the way: let the client
         * get it first, within HEARTHD_EXIT_GRACE_S. */
        s->exit_pending = true;
        struct timeval grace = {HEARTHD_EXIT_GRACE_S, 0};
        evtimer_add(s->exit_ev, &grace);
        return;
    }
    event_base_loopexit(s->base, NULL);
}

static hearth_status parse_listen(const char *listen, char *host, size_t hcap, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    HEARTH_ENSURE(colon != NULL && colon != listen,
                  hearth_err(HEARTH_ERR_INVALID, "--listen wants ADDRESS:PORT, got '%s'", listen));
    const char *h = listen;
    size_t hlen = (size_t)(colon - listen);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    HEARTH_ENSURE(hlen > 0 && hlen < hcap,
                  hearth_err(HEARTH_ERR_INVALID, "--listen: bad address in '%s'", listen));
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    HEARTH_ENSURE(errno == 0 && end != colon + 1 && *end == '\0' && p >= 0 && p <= 65535,
                  hearth_err(HEARTH_ERR_INVALID, "--listen: bad port in '%s'", listen));
    *port = (uint16_t)p;
    return HEARTH_OK;
}

hearth_status hearthd_server_create(SSL_CTX *ctx, hearth_api *api, const char *listen,
                                    hearthd_server **out, unsigned *port)
{
    char host[64];
    uint16_t want = 0;
    HEARTH_GUARD(parse_listen(listen, host, sizeof host, &want));
    HEARTH_ENSURE(evthread_use_pthreads() == 0,
                  hearth_err(HEARTH_ERR_INTERNAL, "libevent: no pthreads support"));
    hearthd_server *s = calloc(1, sizeof *s);
    HEARTH_ENSURE(s != NULL, hearth_err(HEARTH_ERR_NOMEM, "out of memory"));
    s->ctx = ctx;
    s->api = api;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, hearthd_conn_ex_free);
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status st = HEARTH_OK;
    /* The epoll changelist coalesces the enable/disable of write events
     * that every reply causes into nothing when the reply is written at
     * once: two epoll_ctl calls fewer per keep-alive request. Safe here:
     * hearthd never dup()s the descriptors it hands to libevent. */
    struct event_config *ecfg = event_config_new();
    if (ecfg != NULL) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        s->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (s->base == NULL) s->base = event_base_new();
    if (s->base == NULL || s->ex_idx < 0) {
        st = hearth_err(HEARTH_ERR_NOMEM, "libevent: cannot create event base");
        goto fail;
    }
    s->http = evhttp_new(s->base);
    s->done_ev = event_new(s->base, -1, 0, hearthd_workers_done_cb, s);
    s->fin_ev = event_new(s->base, -1, 0, hearthd_upload_finished_cb, s);
    s->exit_ev = evtimer_new(s->base, exit_cb, s);
    s->churn_ev = event_new(s->base, -1, EV_PERSIST, churn_cb, s);
    hearthd_churn_init(&s->churn);
    struct timeval churn_tv = {HEARTHD_CHURN_WINDOW_S, 0};
    s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
    if (!s->http || !s->done_ev || !s->fin_ev || !s->exit_ev || !s->sig_term || !s->sig_int || event_add(s->sig_term, NULL) ||
        event_add(s->sig_int, NULL) || !s->churn_ev || event_add(s->churn_ev, &churn_tv)) {
        st = hearth_err(HEARTH_ERR_NOMEM, "libevent: cannot create server");
        goto fail;
    }
    evhttp_set_bevcb(s->http, hearthd_conn_new, s);
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_max_headers_size(s->http, HEARTHD_MAX_HEADERS);
    evhttp_set_max_body_size(s->http, HEARTH_JSON_BODY_MAX);
    evhttp_set_timeout(s->http, HEARTHD_TIMEOUT_S);
    /* Every standard method reaches the API so unsupported ones get a JSON
     * 405 with Allow rather than evhttp's 501. */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, host, want);
    if (bs == NULL) {
        st = hearth_err(HEARTH_ERR_IO, "cannot listen on %s: %s", listen, strerror(errno));
        goto fail;
    }
    /* Replies go out as a few small TLS records; without TCP_NODELAY Nagle
     * plus delayed ACKs add ~40 ms per keep-alive request. Accepted sockets
     * inherit the option from the listener on Linux. */
    int one = 1;
    (void)setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) != 0) {
        st = hearth_err(HEARTH_ERR_IO, "getsockname: %s", strerror(errno));
        goto fail;
    }
    *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return HEARTH_OK;
fail:
    hearthd_server_free(s);
    return st;
}

hearth_status hearthd_server_start_workers(hearthd_server *s)
{
    /* After a fork the child must rebuild the kernel event state. */
    if (event_reinit(s->base) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "libevent: event_reinit failed");
    return hearthd_workers_start(s);
}

void hearthd_server_set_upload(hearthd_server *s, hearth_auth *auth, hearth_updater *upd)
{
    s->auth = auth;
    s->upd = upd;
}

hearth_status hearthd_server_run(hearthd_server *s)
{
    int rc = event_base_dispatch(s->base);
    hearthd_churn_flush(&s->churn, 1);
    hearthd_uploads_shutdown(s);
    if (rc < 0) return hearth_err(HEARTH_ERR_INTERNAL, "event loop failed");
    return HEARTH_OK;
}

void hearthd_server_free(hearthd_server *s)
{
    if (s == NULL) return;
    hearthd_uploads_shutdown(s);
    hearthd_workers_stop(s);
    if (s->http) evhttp_free(s->http);
    if (s->done_ev) event_free(s->done_ev);
    if (s->fin_ev) event_free(s->fin_ev);
    if (s->exit_ev) event_free(s->exit_ev);
    if (s->churn_ev) event_free(s->churn_ev);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->base) event_base_free(s->base);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    hearth_memzero(&s->scratch, sizeof s->scratch);
    free(s);
}
