/*
 * hearthd's input filter (server_internal.h): what evhttp gets of the
 * decrypted bytes of a connection.
 *
 * libevent 2.1 creates server requests internally and offers no hook to
 * install a per-request header callback before the body is read
 * (evhttp_set_newreqcb arrived in 2.2), so the decision is taken one layer
 * lower: a callback on the TLS bufferevent's input buffer (the input
 * callback below) sees the decrypted bytes as they arrive, before evhttp's
 * read callback runs for them, and decides what evhttp gets. Each request
 * header block is withheld until complete and read with
 * hearth_http_head_parse() (include/hearth/http.h); every request except
 * the upload is then handed to evhttp unchanged (its framing is tracked to
 * find the next header block; where framing is ambiguous --
 * Transfer-Encoding, folded headers, duplicate lengths -- the filter turns
 * transparent for the rest of the connection, i.e. evhttp and its 4 KiB cap
 * handle everything as before). An upload header block never reaches
 * evhttp: upload.c takes it. A tracked JSON request whose Content-Length
 * exceeds the cap is answered here (413 in JSON, then linger), so the
 * client reliably reads the answer. docs/api.md has details.
 */
#include <stdio.h>

#include "hearth/api.h"
#include "hearth/json.h"
#include "hearth/util.h"
#include "server_internal.h"

/* From here on the connection only carries a request evhttp never saw and
 * our direct answer, then closes: evhttp keeps only its event callback (EOF
 * and errors free the connection as usual); its read and write callbacks
 * must not run for bytes it never read or wrote. */
void hearthd_filter_take_over(conn *c)
{
    evtimer_del(c->deadline);
    bufferevent_event_cb ecb = NULL;
    void *earg = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &ecb, &earg);
    bufferevent_setcb(c->bev, NULL, NULL, ecb, earg);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
    hearth_http_head h;
    int r = hearth_http_head_parse(s->hdr, (size_t)got, HEARTH_API_UPLOAD_PATH, &h);
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
        hearthd_upload_start(c, &h);
        hearth_memzero(&h, sizeof h);
        return true;
    }
    if (!h.opaque && h.body > HEARTH_JSON_BODY_MAX && c->passed == c->answered) {
        /* evhttp would refuse it too, but by closing on a client that is
         * still sending, whose kernel then often drops the answer (RST).
         * Answer here with the uniform JSON and linger instead. */
        evbuffer_drain(src, h.len);
        hearth_memzero(&h, sizeof h);
        hearthd_filter_take_over(c);
        hearthd_direct_reply big;
        char msg[64];
        snprintf(msg, sizeof msg, "the body exceeds %u bytes", (unsigned)HEARTH_JSON_BODY_MAX);
        hearthd_reply_error(&big, 413, "too_large", NULL, msg);
        hearthd_reply_direct(c, &big);
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
            hearthd_upload_feed(c, src);
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
                hearthd_conn_evict(c, "upload_answered");
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
void hearthd_filter_input_cb(struct evbuffer *input, const struct evbuffer_cb_info *info,
                             void *arg)
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
