/*
 * hearthd's HTTP replies (server_internal.h). Every answer carries the same
 * headers (JSON, no caching, nosniff, Retry-After / Allow /
 * WWW-Authenticate as the API asks) and Connection: close once the
 * connection has served HEARTHD_REQS_PER_CONN requests or the daemon stops.
 *
 * Most replies go out through evhttp. A request the input filter took away
 * from evhttp (the streamed upload, a body over the cap) is answered
 * directly on the TLS bufferevent, always closing: what the client still
 * sends is discarded for a short linger (bounded by HEARTHD_LINGER_BYTES
 * and HEARTHD_LINGER_MS), so a client still sending reliably reads the
 * answer instead of a reset (docs/api.md, "Streaming upload").
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/json.h"
#include "server_internal.h"

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

void hearthd_reply_send(hearthd_server *s, struct evhttp_request *req,
                        const hearth_api_response *r)
{
    conn *c = hearthd_conn_of(s, req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type",
                      r->content_type != NULL ? r->content_type : "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    hearthd_web_add_security_headers(h, false);
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
        hearthd_conn_arm_deadline(c);
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL && r->status != 204) {
        if (r->ext_body != NULL)
            evbuffer_add_reference(buf, r->ext_body, r->ext_len, NULL, NULL);
        else
            evbuffer_add(buf, r->body, r->body_len);
    }
    evhttp_send_reply(req, r->status, reason_phrase(r->status), buf);
    if (buf != NULL) evbuffer_free(buf);
}

void hearthd_reply_error(hearthd_direct_reply *r, int status, const char *code,
                         const char *field, const char *msg)
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

void hearthd_reply_direct(conn *c, const hearthd_direct_reply *r)
{
    char date[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    /* strftime leaves the buffer undefined when it returns 0 */
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        date[0] = '\0';
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Cache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n"
                        "Strict-Transport-Security: max-age=31536000\r\n"
                        "Referrer-Policy: no-referrer\r\n"
                        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
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

void hearthd_reply_linger_tick(conn *c)
{
    c->linger_ticks++;
    bool flushed = evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    if (flushed) c->flushed_ticks++;
    /* Closed once the answer is out and the client had a moment to read
     * it (it normally closes first), or when it does not read at all. */
    if (c->flushed_ticks * HEARTHD_LINGER_TICK_MS >= HEARTHD_LINGER_MS ||
        c->linger_ticks * HEARTHD_LINGER_TICK_MS >= HEARTHD_TIMEOUT_S * 1000u) {
        evtimer_del(c->timer);
        hearthd_conn_evict(c, "upload_answered");
    }
}
