/*
 * hearthd's streaming bundle upload, POST /api/v1/updates/upload
 * (server_internal.h; EN 303 645 5.3-3). The 4 KiB body cap stays for every
 * request, and large bundles are still accepted, without buffering them,
 * from authenticated administrators only. The input filter (filter.c) hands
 * the upload's header block here instead of to evhttp: the Bearer token is
 * authenticated (a SHA-256 lookup, no Argon2), the admin role, Content-Type
 * application/octet-stream and a Content-Length within the updater's bound
 * are required, and either the uniform JSON error is answered at once
 * (nothing of the body is kept: reply.c lingers, then closes) or the body
 * is streamed into hearth_updater_upload_write() as it arrives, with a
 * minimum progress rate instead of the idle timeout. The final verification
 * and install (fsync, copy into the inactive slot) run on a thread of their
 * own so the loop keeps serving; the JSON reply is written directly and the
 * connection closed. One upload at a time. docs/api.md has details.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/json.h"
#include "hearth/util.h"
#include "server_internal.h"

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

static void reply_result(hearthd_direct_reply *r, hearth_status st,
                         const hearth_update_result *res)
{
    if (st != HEARTH_OK) {
        /* Same answer as the API route: the reason is in the security log
         * and in GET /api/v1/updates for administrators (5.3-9 example 9). */
        hearthd_reply_error(r, 422, "update_rejected", NULL,
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
void hearthd_upload_finished_cb(evutil_socket_t fd, short what, void *server)
{
    (void)fd;
    (void)what;
    hearthd_server *s = server;
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
    hearthd_direct_reply r;
    reply_result(&r, s->fin_st, &s->fin_res);
    c->hold_exit = true;
    s->holds++;
    hearthd_reply_direct(c, &r);
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
        hearthd_direct_reply r;
        reply_result(&r, s->fin_st, &s->fin_res);
        hearthd_reply_direct(c, &r);
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
    hearthd_direct_reply r;
    reply_result(&r, HEARTH_ERR_TAMPERED, &res);
    hearthd_reply_direct(c, &r);
}

/* Stream what arrived into the sink, a buffer extent at a time. */
void hearthd_upload_feed(conn *c, struct evbuffer *src)
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

/* Authenticate and check the header block before a byte of the body is kept. */
void hearthd_upload_start(conn *c, const hearth_http_head *h)
{
    hearthd_server *s = c->srv;
    hearthd_direct_reply r;
    hearthd_filter_take_over(c);
    hearth_session_info who;
    memset(&who, 0, sizeof who);
    char token[HEARTH_TOKEN_STR_MAX];
    hearth_update_upload *up = NULL;
    bool refused = true;
    if (s->auth == NULL || !hearth_auth_initialized(s->auth)) {
        hearthd_reply_error(&r, 409, "setup_required", NULL,
                            "the device is in its factory-default state; complete POST "
                            "/api/v1/setup with the setup password from the label first");
    } else if (h->auth_long || !hearth_http_bearer_token(h->auth, token)) {
        hearthd_reply_error(&r, 401, "unauthenticated", NULL,
                            "send Authorization: Bearer <token>; get a token from POST "
                            "/api/v1/login");
    } else if (hearth_auth_session(s->auth, token, &who) != HEARTH_OK) {
        hearthd_reply_error(&r, 401, "unauthenticated", NULL,
                            "the session token is unknown, revoked or expired; log in again");
    } else if (who.role != HEARTH_ROLE_ADMIN) {
        hearthd_reply_error(&r, 403, "forbidden", NULL, "this endpoint needs the admin role");
    } else if (h->query) {
        hearthd_reply_error(&r, 400, "unexpected_query", "query",
                            "this endpoint takes no query parameters");
    } else if (s->upd == NULL) {
        hearthd_reply_error(&r, 503, "updates_unavailable", NULL,
                            "software updates are not configured on this device");
    } else if (h->ctype_long || !hearth_http_is_octet_stream(h->ctype)) {
        hearthd_reply_error(&r, 415, "unsupported_media_type", NULL,
                            "send the bundle as the body with Content-Type: "
                            "application/octet-stream");
    } else if (h->te) {
        hearthd_reply_error(&r, 411, "length_required", NULL,
                            "send the bundle with a Content-Length; chunked uploads are not "
                            "accepted");
    } else if (h->n_cl != 1 || h->cl_bad) {
        hearthd_reply_error(&r, h->n_cl == 0 ? 411 : 400,
                            h->n_cl == 0 ? "length_required" : "invalid_request", NULL,
                            "send exactly one numeric Content-Length with the bundle size");
    } else if (s->up_conn != NULL) {
        hearthd_reply_error(&r, 409, "conflict", NULL,
                            "another upload is in progress; retry when it has finished");
    } else {
        hearth_status st = hearth_updater_upload_begin(s->upd, h->body, who.username, &up);
        if (st == HEARTH_OK) {
            refused = false;
        } else if (st == HEARTH_ERR_BUSY || st == HEARTH_ERR_STATE) {
            hearthd_reply_error(&r, 409, "conflict", NULL, hearth_err_msg());
        } else if (st == HEARTH_ERR_TOO_LARGE) {
            hearthd_reply_error(&r, 413, "too_large", NULL, hearth_err_msg());
        } else {
            hearthd_reply_error(&r, 503, "updates_unavailable", NULL,
                                "the device cannot take an update now");
        }
        hearth_err_clear();
    }
    hearth_memzero(token, sizeof token);
    if (refused) {
        hearth_memzero(&who, sizeof who);
        hearthd_reply_direct(c, &r);
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
     * the progress check (hearthd_upload_tick) replaces it. */
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    struct timeval win = {HEARTHD_UPLOAD_WINDOW_S, 0};
    evtimer_del(c->timer);
    event_add(c->timer, &win);
    if (h->expect_continue)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

void hearthd_upload_tick(conn *c)
{
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
    hearthd_conn_evict(c, "upload_stalled");
}

void hearthd_upload_conn_gone(conn *c)
{
    hearthd_server *s = c->srv;
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
void hearthd_uploads_shutdown(hearthd_server *s)
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
