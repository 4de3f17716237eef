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
 *
 * Streaming bundle upload (POST /api/v1/updates/upload, EN 303 645 5.3-3):
 * the 4 KiB body cap stays for every request, and large bundles are still
 * accepted, without buffering them, from authenticated administrators only.
 * libevent 2.1 creates server requests internally and offers no hook to
 * install a per-request header callback before the body is read
 * (evhttp_set_newreqcb arrived in 2.2), so the decision is taken one layer
 * lower: a callback on the TLS bufferevent's input buffer (input_cb) sees
 * the decrypted bytes as they arrive, before evhttp's read callback runs for
 * them, and decides what evhttp gets. Each request header block is withheld
 * until complete; every request except the upload is then handed to evhttp
 * unchanged (its framing is tracked to find the next header block; where
 * framing is ambiguous -- Transfer-Encoding, folded headers, duplicate
 * lengths -- the filter turns transparent for the rest of the connection,
 * i.e. evhttp and its 4 KiB cap handle everything as before). An upload
 * header block never reaches evhttp: the filter authenticates the Bearer
 * token (a SHA-256 lookup, no Argon2), requires the admin role, Content-Type
 * application/octet-stream and a Content-Length within the updater's bound,
 * and either answers the uniform JSON error at once (nothing of the body is
 * kept: what arrives during a short linger is discarded, then the
 * connection closes) or streams the body into hearth_updater_upload_write()
 * as it arrives, with a minimum progress rate instead of the idle timeout.
 * The final verification and install (fsync, copy into the inactive slot)
 * run on a thread of their own so the loop keeps serving; the JSON reply is
 * written directly and the connection closed. A tracked JSON request whose
 * Content-Length exceeds the cap gets the same treatment (413 in JSON,
 * linger), so the client reliably reads the answer. docs/api.md has details.
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
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hearth/http.h"
#include "hearth/json.h"
#include "hearth/updater.h"
#include "hearth/util.h"
#include "hearth/http.h"
#include "churn.h"
#include "hearthd.h"

/* What the input filter does with the next decrypted bytes of a connection. */
typedef enum {
    F_HEAD = 0,    /* inspect the next request's header block */
    F_BODY,        /* pass body_left more bytes of a tracked body to evhttp */
    F_TRANSPARENT, /* framing not tracked any more: everything goes to evhttp */
    F_UPLOAD,      /* stream an accepted upload into the updater */
    F_FINISH,      /* body complete; verification and install on the finish thread */
    F_DRAIN,       /* answered directly: discard input (bounded), then close */
} filter_state;

typedef struct conn conn;
struct conn {
    hearthd_server *srv;
    struct bufferevent *bev;
    struct event *deadline; /* complete request due by then (slow-loris bound) */
    unsigned nreq;          /* requests served on this connection */
    unsigned busy;          /* requests being handled on a worker */
    bool evicted;           /* shut down by us, waiting for evhttp to free it */
    conn *prev, *next;      /* list, oldest first */
    /* Input filter (see the top of the file). */
    struct evbuffer *hold;    /* decrypted bytes not (yet) given to evhttp */
    struct evbuffer *tmp;     /* scratch for splitting the input buffer */
    bool in_cb;               /* the filter is moving bytes itself: ignore */
    filter_state fs;
    uint64_t body_left;       /* F_BODY */
    unsigned passed;          /* request header blocks handed to evhttp */
    unsigned answered;        /* replies sent for them */
    /* Upload (only one connection at a time holds one). */
    hearth_update_upload *up; /* F_UPLOAD: the updater's sink */
    uint64_t up_left;         /* body bytes still expected */
    uint64_t up_got;          /* body bytes received */
    uint64_t up_mark;         /* up_got at the start of the progress window */
    struct event *timer;      /* F_UPLOAD: progress check; F_DRAIN: linger */
    size_t drain_left;        /* F_DRAIN: bytes still discarded before closing */
    unsigned linger_ticks;    /* F_DRAIN: ticks so far / ticks since flushed */
    unsigned flushed_ticks;
    bool hold_exit;           /* a shutdown waits until this reply is out */
    bool orphan;              /* freed by evhttp while the finish thread runs */
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
    hearthd_churn churn;        /* connection counts, logged once per window */
    struct event *churn_ev;     /* HEARTHD_CHURN_WINDOW_S timer */
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
    /* Streaming upload. */
    hearth_auth *auth;           /* token check before the body is read */
    hearth_updater *upd;         /* NULL: updates not configured (503) */
    conn *up_conn;               /* the connection holding the upload slot */
    char hdr[HEARTHD_MAX_HEADERS + 1]; /* header block copy (loop thread only) */
    pthread_t fin_thread;        /* runs hearth_updater_upload_finish */
    bool fin_running;
    conn *fin_conn;
    hearth_update_upload *fin_up;
    hearth_update_result fin_res;
    hearth_status fin_st;
    struct event *fin_ev;        /* finish thread -> loop */
    struct event *exit_ev;       /* deferred stop (reply of an install first) */
    bool exit_pending;
    unsigned holds;              /* connections with hold_exit set */
};

/* ------------------------------------------------------------ memory */

void hearthd_server_memory_init(void)
{
    event_set_mem_functions(hearth_wipe_malloc, hearth_wipe_realloc, hearth_wipe_free);
}

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
    hearthd_churn_closed(&c->srv->churn, why); /* aggregated, never a line per connection */
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_evict(arg, "request_deadline");
}

static void upload_conn_gone(conn *c);
static void input_cb(struct evbuffer *input, const struct evbuffer_cb_info *info, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);

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
    c->deadline = NULL;
    upload_conn_gone(c);
    /* Withheld request bytes (tokens, passwords): libevent's free wipes
     * them (hearthd_server_memory_init). */
    if (c->hold) evbuffer_free(c->hold);
    if (c->tmp) evbuffer_free(c->tmp);
    c->hold = c->tmp = NULL;
    if (c->orphan) return; /* the finish thread's completion frees it */
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
 * a plaintext bufferevent (on_request refuses such connections anyway).
 * The input filter (see the top of the file) is a callback on the TLS
 * bufferevent's input buffer. */
static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    hearthd_server *s = arg;
    SSL *ssl = SSL_new(s->ctx);
    conn *c = calloc(1, sizeof *c);
    struct bufferevent *tls = NULL;
    if (ssl == NULL || c == NULL) goto fail;
    c->srv = s;
    c->deadline = evtimer_new(base, deadline_cb, c);
    c->timer = event_new(base, -1, EV_PERSIST, conn_timer_cb, c);
    c->hold = evbuffer_new();
    c->tmp = evbuffer_new();
    if (!c->deadline || !c->timer || !c->hold || !c->tmp) goto fail;
    tls = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (tls == NULL) goto fail; /* ssl still ours */
    ssl = NULL;                 /* freed with tls from now on */
    if (evbuffer_add_cb(bufferevent_get_input(tls), input_cb, c) == NULL) goto fail;
    c->bev = tls;
    SSL_set_ex_data(bufferevent_openssl_get_ssl(tls), s->ex_idx, c);
    /* Register and enforce the cap: evict the oldest connection that is
     * not waiting on a worker, so idle or trickling clients cannot lock
     * legitimate ones out. */
    c->prev = s->tail;
    if (s->tail) s->tail->next = c;
    else s->head = c;
    s->tail = c;
    s->live++;
    hearthd_churn_accepted(&s->churn);
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
    if (tls) bufferevent_free(tls); /* frees ssl; no ex_data attached yet */
    if (c && c->deadline) event_free(c->deadline);
    if (c && c->timer) event_free(c->timer);
    if (c && c->hold) evbuffer_free(c->hold);
    if (c && c->tmp) evbuffer_free(c->tmp);
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
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
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
    if (c != NULL) {
        c->answered++;
        arm_deadline(c);
    }
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

/* ------------------------------------------------- input filter, upload */

/* The header-block pre-parser is include/hearth/http.h (unit-tested and
 * fuzzed there); this name keeps the filter below readable. */
typedef hearth_http_head head;

/* One response written straight to the TLS bufferevent (evhttp never saw
 * the request), always closing the connection: headers as send_response. */
typedef struct {
    int status;
    bool www_authenticate;
    char body[1024];
    size_t body_len;
} direct_reply;

static void reply_error(direct_reply *r, int status, const char *code, const char *field,
                        const char *msg)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->www_authenticate = status == 401;
    char *b = r->body;
    size_t cap = sizeof r->body;
    snprintf(b, cap, "{\"error\":");
    bool ok = hearth_json_escape(code, strlen(code), b, cap) == HEARTH_OK;
    size_t l = strlen(b);
    snprintf(b + l, cap - l, ",\"message\":");
    ok = ok && hearth_json_escape(msg, strlen(msg), b, cap) == HEARTH_OK;
    if (ok && field != NULL) {
        l = strlen(b);
        snprintf(b + l, cap - l, ",\"field\":");
        ok = hearth_json_escape(field, strlen(field), b, cap) == HEARTH_OK;
    }
    l = strlen(b);
    if (ok && l + 2 < cap) {
        b[l] = '}';
        b[l + 1] = '\0';
    } else {
        snprintf(b, cap, "{\"error\":\"internal\",\"message\":\"internal error; the request "
                         "was not applied\"}");
        r->status = 500;
    }
    r->body_len = strlen(b);
}

static void linger_start(conn *c)
{
    c->fs = F_DRAIN;
    c->drain_left = HEARTHD_LINGER_BYTES;
    c->linger_ticks = c->flushed_ticks = 0;
    struct timeval tick = {0, HEARTHD_LINGER_TICK_MS * 1000};
    evtimer_del(c->timer);
    event_add(c->timer, &tick);
}

/* Send @p r, then discard what the client still sends (bounded) so it can
 * read the answer, and close (docs/api.md, "Streaming upload"). */
static void direct_send(conn *c, const direct_reply *r)
{
    char date[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) != NULL) strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Cache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n"
                        "%s"
                        "Connection: close\r\n"
                        "Date: %s\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        r->status, reason_phrase(r->status),
                        r->www_authenticate ? "WWW-Authenticate: Bearer\r\n" : "", date,
                        r->body_len);
    evbuffer_add(out, r->body, r->body_len);
    c->answered++;
    linger_start(c);
}

static void release_hold(hearthd_server *s)
{
    if (s->holds > 0) s->holds--;
    if (s->holds == 0 && s->exit_pending && !s->fin_running) event_base_loopexit(s->base, NULL);
}

/* The upload of @p c ends (answered, failed or gone): free the slot. */
static void upload_release(conn *c)
{
    hearthd_server *s = c->srv;
    if (s->up_conn == c) s->up_conn = NULL;
    if (c->busy > 0) c->busy--;
}

static void *finish_main(void *arg)
{
    hearthd_server *s = arg;
    s->fin_st = hearth_updater_upload_finish(s->fin_up, &s->fin_res);
    s->fin_up = NULL;
    hearth_err_clear();
    event_active(s->fin_ev, EV_READ, 0);
    return NULL;
}

static void reply_result(direct_reply *r, hearth_status st, const hearth_update_result *res)
{
    if (st != HEARTH_OK) {
        /* Same answer as the API route: the reason is in the security log
         * and in GET /api/v1/updates for administrators (5.3-9 example 9). */
        reply_error(r, 422, "update_rejected", NULL,
                    "the bundle was not accepted; see GET /api/v1/updates for the reason");
        return;
    }
    memset(r, 0, sizeof *r);
    r->status = 200;
    char *b = r->body;
    snprintf(b, sizeof r->body, "{\"installed\":");
    if (hearth_json_escape(res->info.sw_version, strlen(res->info.sw_version), b,
                           sizeof r->body) != HEARTH_OK)
        snprintf(b, sizeof r->body, "{\"installed\":\"?\"");
    size_t l = strlen(b);
    snprintf(b + l, sizeof r->body - l,
             ",\"restart_required\":true,\"disruptive\":%s,\"expected_downtime_s\":%u}",
             res->info.disruptive ? "true" : "false", (unsigned)res->info.downtime_s);
    r->body_len = strlen(b);
}

/* Loop thread: the finish thread is done. */
static void fin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hearthd_server *s = arg;
    pthread_join(s->fin_thread, NULL);
    s->fin_running = false;
    conn *c = s->fin_conn;
    s->fin_conn = NULL;
    s->up_conn = NULL;
    if (c == NULL) return;
    if (c->orphan) {
        /* The client went away meanwhile; nothing to answer. */
        free(c);
        if (s->holds == 0 && s->exit_pending) event_base_loopexit(s->base, NULL);
        return;
    }
    if (c->busy > 0) c->busy--;
    direct_reply r;
    reply_result(&r, s->fin_st, &s->fin_res);
    c->hold_exit = true;
    s->holds++;
    direct_send(c, &r);
}

/* The body is complete: verify the end and install, off the loop. */
static void upload_complete(conn *c)
{
    hearthd_server *s = c->srv;
    c->fs = F_FINISH;
    evtimer_del(c->timer);
    s->fin_up = c->up;
    c->up = NULL;
    s->fin_conn = c;
    s->fin_running = true;
    if (pthread_create(&s->fin_thread, NULL, finish_main, s) != 0) {
        /* No thread: do it here (the loop waits, nothing is lost). */
        s->fin_st = hearth_updater_upload_finish(s->fin_up, &s->fin_res);
        s->fin_up = NULL;
        s->fin_running = false;
        s->fin_conn = NULL;
        upload_release(c);
        direct_reply r;
        reply_result(&r, s->fin_st, &s->fin_res);
        direct_send(c, &r);
    }
}

/* A write failed verification (or the disk failed): answer now, keep
 * nothing. finish() records the outcome for GET /updates and removes the
 * staging file; it returns at once for a failed upload. */
static void upload_failed(conn *c)
{
    hearth_update_result res;
    hearth_status st = hearth_updater_upload_finish(c->up, &res);
    (void)st;
    c->up = NULL;
    upload_release(c);
    direct_reply r;
    reply_result(&r, HEARTH_ERR_TAMPERED, &res);
    direct_send(c, &r);
}

/* Stream what arrived into the sink, a buffer extent at a time. */
static void upload_feed(conn *c, struct evbuffer *src)
{
    size_t n = evbuffer_get_length(src);
    if (n > c->up_left) n = (size_t)c->up_left;
    while (n > 0) {
        struct evbuffer_iovec v[8];
        int k = evbuffer_peek(src, (ev_ssize_t)n, NULL, v, 8);
        if (k <= 0) break;
        if (k > 8) k = 8;
        size_t used = 0;
        hearth_status st = HEARTH_OK;
        for (int i = 0; i < k && used < n && st == HEARTH_OK; i++) {
            size_t take = v[i].iov_len < n - used ? v[i].iov_len : n - used;
            st = hearth_updater_upload_write(c->up, v[i].iov_base, take);
            if (st == HEARTH_OK) used += take;
        }
        evbuffer_drain(src, used);
        n -= used;
        c->up_left -= used;
        c->up_got += used;
        if (st != HEARTH_OK) {
            upload_failed(c);
            return;
        }
    }
    if (c->up_left == 0) upload_complete(c);
}

/* From here on the connection only carries a request evhttp never saw and
 * our direct answer, then closes: evhttp keeps only its event callback (EOF
 * and errors free the connection as usual); its read and write callbacks
 * must not run for bytes it never read or wrote. */
static void take_over(conn *c)
{
    evtimer_del(c->deadline);
    bufferevent_event_cb ecb = NULL;
    void *earg = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &ecb, &earg);
    bufferevent_setcb(c->bev, NULL, NULL, ecb, earg);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* An upload header block arrived (already removed from the input):
 * authenticate and check it before a byte of the body is kept. */
static void upload_start(conn *c, const head *h)
{
    hearthd_server *s = c->srv;
    direct_reply r;
    take_over(c);
    hearth_session_info who;
    memset(&who, 0, sizeof who);
    char token[HEARTH_TOKEN_STR_MAX];
    hearth_update_upload *up = NULL;
    bool refused = true;
    if (s->auth == NULL || !hearth_auth_initialized(s->auth)) {
        reply_error(&r, 409, "setup_required", NULL,
                    "the device is in its factory-default state; complete POST /api/v1/setup "
                    "with the setup password from the label first");
    } else if (h->auth_long || !hearth_http_bearer_token(h->auth, token)) {
        reply_error(&r, 401, "unauthenticated", NULL,
                    "send Authorization: Bearer <token>; get a token from POST /api/v1/login");
    } else if (hearth_auth_session(s->auth, token, &who) != HEARTH_OK) {
        reply_error(&r, 401, "unauthenticated", NULL,
                    "the session token is unknown, revoked or expired; log in again");
    } else if (who.role != HEARTH_ROLE_ADMIN) {
        reply_error(&r, 403, "forbidden", NULL, "this endpoint needs the admin role");
    } else if (h->query) {
        reply_error(&r, 400, "unexpected_query", "query", "this endpoint takes no query parameters");
    } else if (s->upd == NULL) {
        reply_error(&r, 503, "updates_unavailable", NULL,
                    "software updates are not configured on this device");
    } else if (h->ctype_long || !hearth_http_is_octet_stream(h->ctype)) {
        reply_error(&r, 415, "unsupported_media_type", NULL,
                    "send the bundle as the body with Content-Type: application/octet-stream");
    } else if (h->te) {
        reply_error(&r, 411, "length_required", NULL,
                    "send the bundle with a Content-Length; chunked uploads are not accepted");
    } else if (h->n_cl != 1 || h->cl_bad) {
        reply_error(&r, h->n_cl == 0 ? 411 : 400, h->n_cl == 0 ? "length_required" : "invalid_request",
                    NULL, "send exactly one numeric Content-Length with the bundle size");
    } else if (s->up_conn != NULL) {
        reply_error(&r, 409, "conflict", NULL,
                    "another upload is in progress; retry when it has finished");
    } else {
        hearth_status st = hearth_updater_upload_begin(s->upd, h->body, who.username, &up);
        if (st == HEARTH_OK) {
            refused = false;
        } else if (st == HEARTH_ERR_BUSY || st == HEARTH_ERR_STATE) {
            reply_error(&r, 409, "conflict", NULL, hearth_err_msg());
        } else if (st == HEARTH_ERR_TOO_LARGE) {
            reply_error(&r, 413, "too_large", NULL, hearth_err_msg());
        } else {
            reply_error(&r, 503, "updates_unavailable", NULL, "the device cannot take an update now");
        }
        hearth_err_clear();
    }
    hearth_memzero(token, sizeof token);
    if (refused) {
        hearth_memzero(&who, sizeof who);
        direct_send(c, &r);
        return;
    }
    char size[24];
    snprintf(size, sizeof size, "%llu", (unsigned long long)h->body);
    hearth_seclog(HEARTH_SEV_INFO, "update_upload_started", "user", who.username, "bytes", size,
                  NULL);
    hearth_memzero(&who, sizeof who);
    c->up = up;
    c->up_left = h->body;
    c->up_got = c->up_mark = 0;
    c->fs = F_UPLOAD;
    c->busy++; /* never evicted by the connection cap while streaming */
    s->up_conn = c;
    /* evhttp sees nothing of the body, so its idle timeout would fire:
     * the progress check below replaces it. */
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    struct timeval win = {HEARTHD_UPLOAD_WINDOW_S, 0};
    evtimer_del(c->timer);
    event_add(c->timer, &win);
    if (h->expect_continue)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* F_HEAD: false when more bytes are needed. */
static bool head_step(conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    hearthd_server *s = c->srv;
    size_t avail = evbuffer_get_length(src);
    size_t n = avail < sizeof s->hdr ? avail : sizeof s->hdr;
    ev_ssize_t got = evbuffer_copyout(src, s->hdr, n);
    if (got < 0) {
        c->fs = F_TRANSPARENT;
        return true;
    }
    head h;
    int r = hearth_http_head_parse(s->hdr, (size_t)got, HEARTHD_UPLOAD_PATH, &h);
    hearth_memzero(s->hdr, (size_t)got); /* tokens and passwords */
    if (r == HEARTH_HTTP_HEAD_MORE && avail < sizeof s->hdr) {
        hearth_memzero(&h, sizeof h);
        return false;
    }
    if (r != HEARTH_HTTP_HEAD_OK || (h.upload && c->passed != c->answered)) {
        /* Too long or malformed (evhttp answers it), or an upload
         * pipelined behind an unanswered request (its answer would
         * overtake): evhttp and its 4 KiB cap handle the rest. */
        hearth_memzero(&h, sizeof h);
        c->fs = F_TRANSPARENT;
        return true;
    }
    if (h.upload) {
        evbuffer_drain(src, h.len);
        upload_start(c, &h);
        hearth_memzero(&h, sizeof h);
        return true;
    }
    if (!h.opaque && h.body > HEARTH_JSON_BODY_MAX && c->passed == c->answered) {
        /* evhttp would refuse it too, but by closing on a client that is
         * still sending, whose kernel then often drops the answer (RST).
         * Answer here with the uniform JSON and linger instead. */
        evbuffer_drain(src, h.len);
        hearth_memzero(&h, sizeof h);
        take_over(c);
        direct_reply big;
        char msg[64];
        snprintf(msg, sizeof msg, "the body exceeds %u bytes", (unsigned)HEARTH_JSON_BODY_MAX);
        reply_error(&big, 413, "too_large", NULL, msg);
        direct_send(c, &big);
        return true;
    }
    evbuffer_remove_buffer(src, dst, h.len);
    c->passed++;
    if (h.opaque) c->fs = F_TRANSPARENT;
    else if (h.body > 0) {
        c->body_left = h.body;
        c->fs = F_BODY;
    }
    hearth_memzero(&h, sizeof h);
    return true;
}

/* Move what the state allows from @p src (withheld bytes) to @p dst (what
 * evhttp reads). */
static void run_filter(conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    size_t avail;
    while ((avail = evbuffer_get_length(src)) > 0) {
        switch (c->fs) {
        case F_TRANSPARENT:
            evbuffer_add_buffer(dst, src);
            break;
        case F_BODY: {
            size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
            evbuffer_remove_buffer(src, dst, n);
            c->body_left -= n;
            if (c->body_left == 0) c->fs = F_HEAD;
            continue;
        }
        case F_HEAD:
            if (head_step(c, src, dst)) continue;
            break;
        case F_UPLOAD:
            upload_feed(c, src);
            continue;
        case F_FINISH:
            /* Nothing more is expected (the answer closes the connection). */
            evbuffer_drain(src, avail);
            break;
        case F_DRAIN:
            /* Discarded, never kept; a client that keeps sending is cut. */
            evbuffer_drain(src, avail);
            if (avail >= c->drain_left) {
                c->drain_left = 0;
                conn_evict(c, "upload_answered");
            } else {
                c->drain_left -= avail;
            }
            break;
        }
        break;
    }
}

/*
 * Called by libevent whenever the TLS bufferevent's input buffer changes,
 * synchronously: for new decrypted bytes, before evhttp's read callback
 * runs for them. The new bytes (the tail of the buffer; the head holds what
 * evhttp has not consumed yet) join the withheld ones and go through the
 * filter, which appends what evhttp may see. Removals (evhttp consuming,
 * or the filter's own moves) are ignored.
 */
static void input_cb(struct evbuffer *input, const struct evbuffer_cb_info *info, void *arg)
{
    conn *c = arg;
    if (info->n_added == 0 || c->in_cb) return;
    c->in_cb = true;
    size_t len = evbuffer_get_length(input);
    size_t fresh = info->n_added < len ? info->n_added : len;
    size_t keep = len - fresh;
    if (c->fs == F_TRANSPARENT && evbuffer_get_length(c->hold) == 0) {
        /* Nothing to do: evhttp reads the bytes where they are. */
    } else if (keep == 0) {
        evbuffer_add_buffer(c->hold, input);
        run_filter(c, c->hold, input);
    } else {
        evbuffer_remove_buffer(input, c->tmp, keep); /* what evhttp has not read yet */
        evbuffer_add_buffer(c->hold, input);         /* the new bytes */
        evbuffer_add_buffer(input, c->tmp);
        run_filter(c, c->hold, input);
    }
    c->in_cb = false;
}

/* F_UPLOAD: the progress check; F_DRAIN: linger, then close. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    if (c->fs == F_UPLOAD) {
        uint64_t progress = c->up_got - c->up_mark;
        c->up_mark = c->up_got;
        if (progress >= (uint64_t)HEARTHD_UPLOAD_MIN_RATE * HEARTHD_UPLOAD_WINDOW_S) return;
        /* Slow-loris on the upload: give the slot back. */
        hearth_updater_upload_abort(c->up);
        c->up = NULL;
        upload_release(c);
        evtimer_del(c->timer);
        hearth_seclog(HEARTH_SEV_WARNING, "update_upload_aborted", "reason",
                      "upload slower than the minimum rate", NULL);
        c->fs = F_DRAIN;
        conn_evict(c, "upload_stalled");
        return;
    }
    if (c->fs != F_DRAIN) {
        evtimer_del(c->timer);
        return;
    }
    c->linger_ticks++;
    bool flushed = evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    if (flushed) c->flushed_ticks++;
    /* Closed once the answer is out and the client had a moment to read
     * it (it normally closes first), or when it does not read at all. */
    if (c->flushed_ticks * HEARTHD_LINGER_TICK_MS >= HEARTHD_LINGER_MS ||
        c->linger_ticks * HEARTHD_LINGER_TICK_MS >= HEARTHD_TIMEOUT_S * 1000u) {
        evtimer_del(c->timer);
        conn_evict(c, "upload_answered");
    }
}

/* conn_ex_free: the connection is going away. */
static void upload_conn_gone(conn *c)
{
    hearthd_server *s = c->srv;
    if (c->timer) event_free(c->timer);
    c->timer = NULL;
    if (c->up != NULL) {
        hearth_updater_upload_abort(c->up);
        c->up = NULL;
        hearth_seclog(HEARTH_SEV_WARNING, "update_upload_aborted", "reason",
                      "connection closed before the bundle was complete", NULL);
    }
    if (s->fin_conn == c) c->orphan = true;
    else if (s->up_conn == c) s->up_conn = NULL;
    if (c->hold_exit) {
        c->hold_exit = false;
        release_hold(s);
    }
}

/* After the loop: nothing may touch the updater once main() frees it. */
static void uploads_shutdown(hearthd_server *s)
{
    if (s->fin_running) {
        pthread_join(s->fin_thread, NULL);
        s->fin_running = false;
        conn *c = s->fin_conn;
        s->fin_conn = NULL;
        if (c != NULL) {
            if (c->orphan) free(c);
            else c->fs = F_DRAIN;
        }
    }
    for (conn *c = s->head; c != NULL; c = c->next) {
        if (c->up != NULL) {
            hearth_updater_upload_abort(c->up);
            c->up = NULL;
            hearth_seclog(HEARTH_SEV_WARNING, "update_upload_aborted", "reason",
                          "hearthd is stopping", NULL);
        }
    }
    s->up_conn = NULL;
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hearthd_server *s = arg;
    event_base_loopexit(s->base, NULL);
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
    s->ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free);
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
    s->done_ev = event_new(s->base, -1, 0, done_cb, s);
    s->fin_ev = event_new(s->base, -1, 0, fin_cb, s);
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

void hearthd_server_set_upload(hearthd_server *s, hearth_auth *auth, hearth_updater *upd)
{
    s->auth = auth;
    s->upd = upd;
}

hearth_status hearthd_server_run(hearthd_server *s)
{
    int rc = event_base_dispatch(s->base);
    hearthd_churn_flush(&s->churn, 1);
    uploads_shutdown(s);
    if (rc < 0) return hearth_err(HEARTH_ERR_INTERNAL, "event loop failed");
    return HEARTH_OK;
}

void hearthd_server_free(hearthd_server *s)
{
    if (s == NULL) return;
    uploads_shutdown(s);
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
