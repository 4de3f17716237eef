/*
 * Between the files of hearthd's HTTPS server (libevent 2.1 evhttp over
 * OpenSSL bufferevents); hearthd.h is its interface to runtime.c. One concern
 * per file:
 *
 *   server.c   lifecycle: event base, listener, signals, evhttp requests
 *              handed to the API (inline, or to a worker when slow)
 *   conn.c     connections: accept (TLS bufferevent), cap with eviction of
 *              the oldest idle one, per-request deadline, teardown
 *   workers.c  the pool running slow (password-hashing) routes off the loop
 *   filter.c   the input filter: request heads read before evhttp sees them
 *   upload.c   the streaming bundle upload into the updater
 *   web_serve.c  the embedded web interface (GET/HEAD of "/" and "/ui/...")
 *   reply.c    HTTP replies: through evhttp, or written directly (then
 *              linger and close)
 *
 * Everything here runs on the loop thread unless it says otherwise.
 *
 * libevent 2.1 has no connection-close hook for server connections, so each
 * connection's bookkeeping (conn) hangs off its SSL object as ex_data, whose
 * free callback runs when evhttp frees the connection (SSL_free).
 */
#ifndef HEARTHD_SERVER_INTERNAL_H
#define HEARTHD_SERVER_INTERNAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>

#include "churn.h"
#include "hearth/http.h"
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
    /* Input filter (filter.c). */
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

/* A slow request copied for a worker, and its reply. */
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

/* ------------------------------------------------------- conn.c */

/**
 * evhttp's bufferevent callback (evhttp_set_bevcb): a TLS bufferevent with
 * the input filter for every accepted socket, registered under the
 * connection cap. NULL only when out of memory.
 */
struct bufferevent *hearthd_conn_new(struct event_base *base, void *server);
/** SSL ex_data free callback (SSL_get_ex_new_index): evhttp frees @p ptr's connection. */
void hearthd_conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp);
/** The connection of @p req; NULL once its client went away. */
conn *hearthd_conn_of(hearthd_server *s, struct evhttp_request *req);
/** Shut @p c's socket down (evhttp then frees it); @p why is counted in the churn log. */
void hearthd_conn_evict(conn *c, const char *why);
/** (Re)start the slow-loris deadline for @p c's next complete request. */
void hearthd_conn_arm_deadline(conn *c);

/* ---------------------------------------------------- workers.c */

/** Start the HEARTHD_WORKERS threads. */
hearth_status hearthd_workers_start(hearthd_server *s) HEARTH_MUST_CHECK;
/** Copy @p r and queue it for a worker; false when the queue is full. */
bool hearthd_workers_enqueue(hearthd_server *s, struct evhttp_request *req,
                             const hearth_api_request *r);
/** s->done_ev: send the replies the workers produced. */
void hearthd_workers_done_cb(evutil_socket_t fd, short what, void *server);
/** Stop and join the workers; free the jobs they did not answer. */
void hearthd_workers_stop(hearthd_server *s);

/* ----------------------------------------------------- filter.c */

/** Input buffer callback of every TLS bufferevent (the input filter). */
void hearthd_filter_input_cb(struct evbuffer *input, const struct evbuffer_cb_info *info,
                             void *conn);
/** Take @p c away from evhttp: only a direct reply follows, then the close. */
void hearthd_filter_take_over(conn *c);

/* ----------------------------------------------------- upload.c */

/** An upload header block @p h arrived (removed from the input): check, then stream or refuse. */
void hearthd_upload_start(conn *c, const hearth_http_head *h);
/** F_UPLOAD: stream what arrived in @p src into the updater. */
void hearthd_upload_feed(conn *c, struct evbuffer *src);
/** F_UPLOAD timer tick: a stream slower than HEARTHD_UPLOAD_MIN_RATE loses its slot. */
void hearthd_upload_tick(conn *c);
/** s->fin_ev: the finish thread is done; answer the client. */
void hearthd_upload_finished_cb(evutil_socket_t fd, short what, void *server);
/** @p c is being freed: abort its upload, release what it held. */
void hearthd_upload_conn_gone(conn *c);
/** After the loop: join the finish thread, abort every upload. */
void hearthd_uploads_shutdown(hearthd_server *s);

/* ------------------------------------------------------ reply.c */

/** Answer @p req through evhttp with @p r (the JSON headers, Connection). */
void hearthd_reply_send(hearthd_server *s, struct evhttp_request *req,
                        const hearth_api_response *r);

/** One response written straight to the TLS bufferevent (evhttp never saw the request). */
typedef struct {
    int status;
    bool www_authenticate;
    char body[1024];
    size_t body_len;
} hearthd_direct_reply;

/** Fill @p r with the uniform JSON error (docs/api.md). */
void hearthd_reply_error(hearthd_direct_reply *r, int status, const char *code,
                         const char *field, const char *msg);
/**
 * Send @p r with the headers of hearthd_reply_send() and Connection: close,
 * then linger (F_DRAIN): discard what the client still sends (bounded) so it
 * can read the answer, and close.
 */
void hearthd_reply_direct(conn *c, const hearthd_direct_reply *r);
/** F_DRAIN timer tick: close once the answer is out and read, or at the timeout. */
void hearthd_reply_linger_tick(conn *c);

/* ---------------------------------------------------- web_serve.c */

/** GET/HEAD of an embedded web asset (hearth/web.h): answer it and return
 *  true; anything else is the API's (false). */
bool hearthd_web_serve(hearthd_server *s, struct evhttp_request *req, const char *path);
/** The security headers of every reply (hearth_web_security_headers) and the
 *  CSP: the pages' (@p asset) or "default-src 'none'" for the API's JSON. */
void hearthd_web_add_security_headers(struct evkeyvalq *h, bool asset);

#endif
