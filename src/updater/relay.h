/* Internal: the plaintext relay between hearthd's TLS connection to the
 * update repository (tls_client.h) and hearth-fetch's end of a socketpair
 * (EN 303 645 5.6-7; docs/architecture.md "Update transfers").
 *
 * It copies bytes and nothing else: no HTTP is parsed here. Both sockets are
 * non-blocking and the relay never blocks; transport.c calls
 * upd_relay_pump() whenever it waits for the helper, with the descriptors
 * and events upd_relay_pollfds() asks for. Flow control is by bounded
 * buffers: nothing more is read from one side until the other side took
 * what was read. When the repository ends the connection (close_notify, a
 * reset, a TLS error) the relay passes on an end of stream, so the helper's
 * HTTP parser sees a short body as a short body. */
#ifndef HEARTH_UPDATER_RELAY_H
#define HEARTH_UPDATER_RELAY_H

#include <poll.h>

#include "tls_client.h"

/** One relay; zero-initialise, then set conn and plain. */
typedef struct {
    upd_tls_conn *conn; /**< repository side (owned by the caller) */
    int plain;          /**< the parent's end of the helper's socketpair (owned by the caller) */
    uint8_t down[16384]; /**< repository -> helper: one TLS record at most */
    size_t dn, doff;
    uint8_t up[4096];   /**< helper -> repository: request lines */
    size_t un, uoff;
    bool net_eof;       /**< the repository side ended (or failed) */
    bool plain_shut;    /**< end of stream passed on to the helper */
    bool plain_eof;     /**< the helper half-closed or closed its end */
    bool dead;          /**< nothing more can move in either direction */
    short net_events, plain_events; /**< what the relay waits for */
} upd_relay;

/** Move every byte that can move now, then record what to wait for. */
void upd_relay_pump(upd_relay *r);

/**
 * Fill @p p[0] (repository socket) and @p p[1] (helper socket) with the
 * events the relay waits for; a descriptor it does not wait on is -1 (poll
 * ignores it).
 */
void upd_relay_pollfds(const upd_relay *r, struct pollfd p[2]);

#endif
