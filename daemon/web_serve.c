/*
 * The local web interface on hearthd's HTTPS port (docs/web.md): GET and
 * HEAD of "/" and "/ui/<asset>" are answered from the table compiled into
 * the program (include/hearth/web.h), before and apart from the API: the
 * assets are public and hold no data; every API call the page makes carries
 * the bearer token like any other client's. Same origin as the API, so the
 * Content-Security-Policy can allow 'self' and nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "hearth/web.h"
#include "server_internal.h"

void hearthd_web_add_security_headers(struct evkeyvalq *h, bool asset)
{
    size_t n = 0;
    const hearth_web_header *sec = hearth_web_security_headers(&n);
    for (size_t i = 0; i < n; i++) evhttp_add_header(h, sec[i].name, sec[i].value);
    evhttp_add_header(h, "Content-Security-Policy",
                      asset ? HEARTH_WEB_CSP : "default-src 'none'; frame-ancestors 'none'");
}

bool hearthd_web_serve(hearthd_server *s, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if ((m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) || !hearth_web_is_ui_path(path)) return false;
    const hearth_web_asset *a = hearth_web_find(path);
    if (a == NULL) return false; /* the API answers its JSON 404 */
    conn *c = hearthd_conn_of(s, req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    hearthd_web_add_security_headers(h, true);
    /* Revalidate every time: after an update the new assets are used at
     * once; the strong ETag makes the revalidation a 304 without a body. */
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "ETag", a->etag);
    if (c == NULL || c->nreq >= HEARTHD_REQS_PER_CONN || s->stopping)
        evhttp_add_header(h, "Connection", "close");
    if (c != NULL) {
        c->answered++;
        hearthd_conn_arm_deadline(c);
    }
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (hearth_web_etag_match(inm, a->etag)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return true;
    }
    evhttp_add_header(h, "Content-Type", a->content_type);
    struct evbuffer *buf = evbuffer_new();
    /* HEAD: evhttp sends the headers (Content-Length included) and no body. */
    if (buf != NULL) evbuffer_add_reference(buf, a->data, a->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", buf);
    if (buf != NULL) evbuffer_free(buf);
    return true;
}
