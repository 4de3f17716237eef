/* The plaintext relay (relay.h): TLS records from the repository become
 * bytes on hearth-fetch's socket and its request bytes go back as TLS. */
#include <errno.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include "relay.h"

/* An SSL_read/SSL_write that did not complete: wait for what it asks for,
 * or, when the connection is finished (closed, reset, a TLS error), end the
 * repository side. Returns true when that end is news. */
static bool ssl_blocked(upd_relay *r, int rc)
{
    int e = SSL_get_error(r->conn->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        r->net_events |= e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return false;
    }
    ERR_clear_error();
    r->net_eof = true;
    return true;
}

/* Repository -> helper. Returns true when something moved. */
static bool pump_down(upd_relay *r)
{
    bool moved = false;
    if (r->doff == r->dn && !r->net_eof) {
        size_t got = 0;
        r->doff = 0;
        int rc = SSL_read_ex(r->conn->ssl, r->down, sizeof r->down, &got);
        r->dn = rc == 1 ? got : 0;
        moved = rc == 1 || ssl_blocked(r, rc);
    }
    if (r->doff < r->dn) {
        ssize_t w = send(r->plain, r->down + r->doff, r->dn - r->doff, MSG_NOSIGNAL);
        if (w > 0) {
            r->doff += (size_t)w;
            moved = true;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            r->plain_events |= POLLOUT;
        } else if (!(w < 0 && errno == EINTR)) {
            r->dead = true; /* the helper closed its end */
        }
    }
    if (r->net_eof && r->doff == r->dn && !r->plain_shut) {
        (void)shutdown(r->plain, SHUT_WR);
        r->plain_shut = true;
        moved = true;
    }
    return moved;
}

/* Helper -> repository. Returns true when something moved. */
static bool pump_up(upd_relay *r)
{
    bool moved = false;
    if (r->uoff == r->un && !r->plain_eof) {
        ssize_t n = recv(r->plain, r->up, sizeof r->up, 0);
        if (n > 0) {
            r->un = (size_t)n;
            r->uoff = 0;
            moved = true;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            r->plain_events |= POLLIN;
        } else if (!(n < 0 && errno == EINTR)) {
            r->plain_eof = true;
            moved = true;
        }
    }
    if (r->uoff < r->un) {
        if (r->net_eof) {
            r->uoff = r->un; /* nobody to send to: the helper sees the end of stream */
            return true;
        }
        size_t w = 0;
        int rc = SSL_write_ex(r->conn->ssl, r->up + r->uoff, r->un - r->uoff, &w);
        r->uoff += rc == 1 ? w : 0;
        moved = rc == 1 || ssl_blocked(r, rc) || moved;
    }
    return moved;
}

void upd_relay_pump(upd_relay *r)
{
    bool moved = true;
    while (moved && !r->dead) {
        r->net_events = 0;
        r->plain_events = 0;
        moved = pump_down(r);
        moved = pump_up(r) || moved;
    }
    if (r->net_eof && r->plain_shut && (r->plain_eof || r->uoff == r->un)) r->net_events = 0;
    if (r->dead) r->net_events = r->plain_events = 0;
}

void upd_relay_pollfds(const upd_relay *r, struct pollfd p[2])
{
    p[0].fd = r->net_events != 0 ? r->conn->fd : -1;
    p[0].events = r->net_events;
    p[0].revents = 0;
    p[1].fd = r->plain_events != 0 ? r->plain : -1;
    p[1].events = r->plain_events;
    p[1].revents = 0;
}
