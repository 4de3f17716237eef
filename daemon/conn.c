/*
 * hearthd's connections (server_internal.h). Every connection is TLS:
 * evhttp_set_bevcb() wraps each accepted socket in an OpenSSL bufferevent;
 * there is no plaintext listener. Limits against resource exhaustion
 * (EN 303 645 5.1-5 "guarding against resource exhaustion", 5.13-1): a
 * per-connection deadline for a complete request (slow-loris) and a cap on
 * connections that evicts the oldest idle one so a legitimate client always
 * gets a slot. Closes are counted, never logged one by one (churn.h).
 */
#include <event2/bufferevent_ssl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "server_internal.h"

static void conn_unlink(hearthd_server *s, conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else s->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else s->tail = c->prev;
    c->prev = c->next = NULL;
}

/* Shut the socket down; evhttp sees EOF and frees the connection. */
void hearthd_conn_evict(conn *c, const char *why)
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
    hearthd_conn_evict(arg, "request_deadline");
}

/* F_UPLOAD: the progress check; F_DRAIN: linger, then close. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    if (c->fs == F_UPLOAD) {
        hearthd_upload_tick(c);
        return;
    }
    if (c->fs != F_DRAIN) {
        evtimer_del(c->timer);
        return;
    }
    hearthd_reply_linger_tick(c);
}

/* SSL ex_data free callback: the connection is being freed by evhttp. */
void hearthd_conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
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
    if (c->timer) event_free(c->timer);
    c->timer = NULL;
    hearthd_upload_conn_gone(c);
    /* Withheld request bytes (tokens, passwords): libevent's free wipes
     * them (hearthd_server_memory_init). */
    if (c->hold) evbuffer_free(c->hold);
    if (c->tmp) evbuffer_free(c->tmp);
    c->hold = c->tmp = NULL;
    if (c->orphan) return; /* the finish thread's completion frees it */
    free(c);
}

conn *hearthd_conn_of(hearthd_server *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL) return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    if (bev == NULL) return NULL;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == NULL) return NULL;
    return SSL_get_ex_data(ssl, s->ex_idx);
}

void hearthd_conn_arm_deadline(conn *c)
{
    struct timeval tv = {HEARTHD_REQUEST_DEADLINE_S, 0};
    evtimer_add(c->deadline, &tv);
}

/* evhttp asks for a bufferevent for every accepted socket. It must never
 * get NULL back from us in normal operation: evhttp would then fall back to
 * a plaintext bufferevent (server.c refuses requests on such connections).
 * The input filter (filter.c) is a callback on the TLS bufferevent's input
 * buffer. */
struct bufferevent *hearthd_conn_new(struct event_base *base, void *server)
{
    hearthd_server *s = server;
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
    if (evbuffer_add_cb(bufferevent_get_input(tls), hearthd_filter_input_cb, c) == NULL)
        goto fail;
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
    hearthd_conn_arm_deadline(c);
    if (s->live > HEARTHD_MAX_CONNS) {
        conn *victim = NULL;
        for (conn *v = s->head; v != NULL && v != c; v = v->next) {
            if (!v->evicted && v->busy == 0) {
                victim = v;
                break;
            }
        }
        if (victim != NULL) {
            hearthd_conn_evict(victim, "connection_cap");
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
