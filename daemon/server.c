/*
 * HTTPS server of hearthd: libevent 2.1 evhttp over OpenSSL bufferevents.
 *
 * - Every connection is TLS: evhttp_set_bevcb() wraps each accepted socket in
 *   an OpenSSL bufferevent; there is no plaintext listener.
 * - Limits against resource exhaustion (EN 303 645 5.1-5 "guarding against
 *   resource exhaustion", 5.13-1): header size, body size, idle timeout, a
 *   per-connection deadline for a complete request (slow-loris), a cap on
 *   connections that evicts the oldest idle one so a legitimate client always
 *   gets a slot, and a bound on keep-alive requests per connection.
 * - Routes that hash a password run on HEARTHD_WORKERS threads with a
 *   bounded queue (beyond it: 503 + Retry-After) and post their result back
 *   to the loop through event_active(), so Argon2id never stalls the loop.
 * libevent 2.1 has no connection-close hook for server connections, so each
 * connection's bookkeeping hangs off its SSL object as ex_data, whose free
 * callback runs when evhttp frees the connection (SSL_free).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hearth/json.h"
#include "hearth/util.h"
#include "hearthd.h"

typedef struct conn conn;
struct conn {
    hearthd_server *srv;
    struct bufferevent *bev;
    struct event *deadline; /* complete request due by then (slow-loris bound) */
    unsigned nreq;          /* requests served on this connection */
    unsigned busy;          /* requests being handled on a worker */
    bool evicted;           /* shut down by us, waiting for evhttp to free it */
    conn *prev, *next;      /* list, oldest first */
};

typedef struct job job;
struct job {
    struct evhttp_request *req;
    char method[16];
    char path[HEARTH_API_PATH_MAX + 1];
    char query[64];
    char authorization[128];
    char content_type[128];
    char source[HEARTH_SOURCE_MAX];
    uint8_t *body;
    size_t body_len;
    hearth_api_response resp;
    job *next;
};

struct hearthd_server {
    SSL_CTX *ctx;
    hearth_api *api;
    struct event_base *base;
    struct evhttp *http;
    struct event *sig_term, *sig_int, *done_ev;
    int ex_idx;
    conn *head, *tail; /* all connections, oldest first */
    unsigned live;     /* connections not evicted */
    /* Worker pool. */
    pthread_t threads[HEARTHD_WORKERS];
    size_t nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *q_head, *q_tail;
    size_t q_len;
    job *done;
    bool stopping;
    hearth_api_response scratch; /* loop-thread responses (too big for the stack) */
};

/* ------------------------------------------------------- connections */

static void conn_unlink(hearthd_server *s, conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else s->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else s->tail = c->prev;
    c->prev = c->next = NULL;
}

/* Shut the socket down; evhttp sees EOF and frees the connection. */
static void conn_evict(conn *c, const char *why)
{
    if (c->evicted) return;
    c->evicted = true;
    c->srv->live--;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    hearth_seclog(HEARTH_SEV_INFO, "connection_closed", "reason", why, NULL);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_evict(arg, "request_deadline");
}

/* SSL ex_data free callback: the connection is being freed by evhttp. */
static void conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    conn *c = ptr;
    if (c == NULL) return;
    if (!c->evicted) c->srv->live--;
    conn_unlink(c->srv, c);
    if (c->deadline) event_free(c->deadline);
    free(c);
}

static conn *conn_of(hearthd_server *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL) return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    if (bev == NULL) return NULL;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == NULL) return NULL;
    return SSL_get_ex_data(ssl, s->ex_idx);
}

static void arm_deadline(conn *c)
{
    struct timeval tv = {HEARTHD_REQUEST_DEADLINE_S, 0};
    evtimer_add(c->deadline, &tv);
}

/* evhttp asks for a bufferevent for every accepted socket. It must never
 * get NULL back from us in normal operation: evhttp would then fall back to
 * a plaintext bufferevent (on_request refuses such connections anyway). */
static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    hearthd_server *s = arg;
    SSL *ssl = SSL_new(s->ctx);
    conn *c = calloc(1, sizeof *c);
    if (ssl == NULL || c == NULL) goto fail;
    c->srv = s;
    c->deadline = evtimer_new(base, deadline_cb, c);
    if (c->deadline == NULL) goto fail;
    c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) goto fail; /* ssl still ours */
    SSL_set_ex_data(ssl, s->ex_idx, c);
    /* Register and enforce the cap: evict the oldest connection that is
     * not waiting on a worker, so idle or trickling clients cannot lock
     * legitimate ones out. */
    c->prev = s->tail;
    if (s->tail) s->tail->next = c;
    else s->head = c;
    s->tail = c;
    s->live++;
    arm_deadline(c);
    if (s->live > HEARTHD_MAX_CONNS) {
        conn *victim = NULL;
        for (conn *v = s->head; v != NULL && v != c; v = v->next) {
            if (!v->evicted && v->busy == 0) {
                victim = v;
                break;
            }
        }
        if (victim != NULL) {
            conn_evict(victim, "connection_cap");
        } else {
            /* Everything else is busy: refuse the newcomer. Its socket is
             * attached only after we return, so close it from the loop. */
            struct timeval now = {0, 0};
            evtimer_add(c->deadline, &now);
        }
    }
    return c->bev;
fail:
    if (c && c->deadline) event_free(c->deadline);
    free(c);
    if (ssl) SSL_free(ssl);
    return NULL;
}

/* ------------------------------------------------------------ replies */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static void send_response(hearthd_server *s, struct evhttp_request *req,
                          const hearth_api_response *r)
{
    conn *c = conn_of(s, req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    char num[16];
    if (r->retry_after > 0) {
        snprintf(num, sizeof num, "%u", (unsigned)r->retry_after);
        evhttp_add_header(h, "Retry-After", num);
    }
    if (r->allow[0] != '\0') evhttp_add_header(h, "Allow", r->allow);
    if (r->www_authenticate) evhttp_add_header(h, "WWW-Authenticate", "Bearer");
    if (c == NULL || c->nreq >= HEARTHD_REQS_PER_CONN || s->stopping)
        evhttp_add_header(h, "Connection", "close");
    if (c != NULL) arm_deadline(c);
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL && r->status != 204) evbuffer_add(buf, r->body, r->body_len);
    evhttp_send_reply(req, r->status, reason_phrase(r->status), buf);
    if (buf != NULL) evbuffer_free(buf);
}

/* ------------------------------------------------------------ workers */

static void job_free(job *j)
{
    if (j == NULL) return;
    if (j->body) {
        hearth_memzero(j->body, j->body_len);
        free(j->body);
    }
    hearth_memzero(j, sizeof *j); /* passwords in the body, tokens in the reply */
    free(j);
}

static void *worker_main(void *arg)
{
    hearthd_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && s->q_head == NULL) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) break;
        job *j = s->q_head;
        s->q_head = j->next;
        if (s->q_head == NULL) s->q_tail = NULL;
        s->q_len--;
        pthread_mutex_unlock(&s->mu);

        hearth_api_request r = {
            .method = j->method,
            .path = j->path,
            .query = j->query,
            .authorization = j->authorization[0] ? j->authorization : NULL,
            .content_type = j->content_type[0] ? j->content_type : NULL,
            .body = j->body,
            .body_len = j->body_len,
            .source = j->source,
        };
        hearth_api_handle(s->api, &r, &j->resp);

        pthread_mutex_lock(&s->mu);
        j->next = s->done;
        s->done = j;
        event_active(s->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Loop thread: send the replies the workers produced. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hearthd_server *s = arg;
    pthread_mutex_lock(&s->mu);
    job *list = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list != NULL) {
        job *j = list;
        list = j->next;
        conn *c = conn_of(s, j->req);
        if (c != NULL && c->busy > 0) c->busy--;
        /* A request whose client went away was detached by evhttp
         * (evcon NULL); evhttp_send_reply then just frees it. */
        send_response(s, j->req, &j->resp);
        job_free(j);
    }
}

static void copy_field(char *dst, size_t cap, const char *src, const char *too_long)
{
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    /* Never truncate silently: an over-long value becomes one that the API
     * layer rejects on its own terms. */
    if (n >= cap) src = too_long, n = strlen(too_long);
    memcpy(dst, src, n + 1);
}

/* Queue a slow request; false when the queue is full. */
static bool enqueue(hearthd_server *s, struct evhttp_request *req, const hearth_api_request *r)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL) return false;
    j->req = req;
    copy_field(j->method, sizeof j->method, r->method, "INVALID");
    copy_field(j->path, sizeof j->path, r->path, "/");
    copy_field(j->query, sizeof j->query, r->query, "invalid");
    copy_field(j->authorization, sizeof j->authorization, r->authorization, "invalid");
    copy_field(j->content_type, sizeof j->content_type, r->content_type, "invalid/invalid");
    copy_field(j->source, sizeof j->source, r->source, "unknown");
    if (r->body_len > 0) {
        j->body = malloc(r->body_len);
        if (j->body == NULL) {
            job_free(j);
            return false;
        }
        memcpy(j->body, r->body, r->body_len);
        j->body_len = r->body_len;
    }
    pthread_mutex_lock(&s->mu);
    bool ok = s->q_len < HEARTHD_QUEUE_MAX && !s->stopping;
    if (ok) {
        if (s->q_tail) s->q_tail->next = j;
        else s->q_head = j;
        s->q_tail = j;
        s->q_len++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) job_free(j);
    return ok;
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
    conn *c = conn_of(s, req);
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
        if (enqueue(s, req, &r)) {
            if (c != NULL) c->busy++;
        } else {
            hearth_api_busy_response(&s->scratch, HEARTHD_BUSY_RETRY_S);
            send_response(s, req, &s->scratch);
        }
        if (bptr) hearth_memzero((void *)bptr, blen);
        return;
    }
    hearth_api_handle(s->api, &r, &s->scratch);
    if (bptr) hearth_memzero((void *)bptr, blen);
    send_response(s, req, &s->scratch);
    hearth_memzero(&s->scratch, sizeof s->scratch);
}

/* --------------------------------------------------------- lifecycle */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    hearthd_server *s = arg;
    hearth_seclog(HEARTH_SEV_INFO, "daemon_stopping", "signal", sig == SIGTERM ? "TERM" : "INT",
                  NULL);
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
    s->ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free);
    hearth_status st = HEARTH_OK;
    s->base = event_base_new();
    if (s->base == NULL || s->ex_idx < 0) {
        st = hearth_err(HEARTH_ERR_NOMEM, "libevent: cannot create event base");
        goto fail;
    }
    s->http = evhttp_new(s->base);
    s->done_ev = event_new(s->base, -1, 0, done_cb, s);
    s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
    if (!s->http || !s->done_ev || !s->sig_term || !s->sig_int || event_add(s->sig_term, NULL) ||
        event_add(s->sig_int, NULL)) {
        st = hearth_err(HEARTH_ERR_NOMEM, "libevent: cannot create server");
        goto fail;
    }
    evhttp_set_bevcb(s->http, bevcb, s);
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
    for (size_t i = 0; i < HEARTHD_WORKERS; i++) {
        int e = pthread_create(&s->threads[i], NULL, worker_main, s);
        if (e != 0) return hearth_err(HEARTH_ERR_NOMEM, "worker thread: %s", strerror(e));
        s->nthreads++;
    }
    return HEARTH_OK;
}

hearth_status hearthd_server_run(hearthd_server *s)
{
    if (event_base_dispatch(s->base) < 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "event loop failed");
    return HEARTH_OK;
}

void hearthd_server_free(hearthd_server *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->nthreads; i++) pthread_join(s->threads[i], NULL);
    /* Unanswered jobs: their requests are freed with their connections. */
    for (job *j = s->q_head, *n; j != NULL; j = n) {
        n = j->next;
        job_free(j);
    }
    for (job *j = s->done, *n; j != NULL; j = n) {
        n = j->next;
        job_free(j);
    }
    if (s->http) evhttp_free(s->http);
    if (s->done_ev) event_free(s->done_ev);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->base) event_base_free(s->base);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    hearth_memzero(&s->scratch, sizeof s->scratch);
    free(s);
}
