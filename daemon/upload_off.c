/*
 * The streaming bundle upload compiled out (HEARTH_WITH_UPLOAD=OFF,
 * docs/build-options.md): a product without local updates. The input filter
 * still recognises the upload's header block, so its body is never
 * buffered; the answer is the API's own 404 for a route that does not exist
 * (the route is not in src/api/routes_update.c either), written at once,
 * then the connection closes. Nothing here calls the updater's upload sink,
 * so none of it is linked into the program.
 */
#include "server_internal.h"

void hearthd_upload_start(conn *c, const hearth_http_head *h)
{
    (void)h;
    hearthd_direct_reply r;
    hearthd_filter_take_over(c);
    hearthd_reply_error(&r, 404, "not_found", NULL, "no such endpoint; see docs/openapi.yaml");
    hearthd_reply_direct(c, &r);
}

void hearthd_upload_feed(conn *c, struct evbuffer *src)
{
    (void)c;
    (void)src;
}

void hearthd_upload_tick(conn *c)
{
    (void)c;
}

void hearthd_upload_finished_cb(evutil_socket_t fd, short what, void *server)
{
    (void)fd;
    (void)what;
    (void)server;
}

void hearthd_upload_conn_gone(conn *c)
{
    (void)c;
}

void hearthd_uploads_shutdown(hearthd_server *s)
{
    (void)s;
}
