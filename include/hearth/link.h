/**
 * @file link.h
 * @brief The device's link to its manufacturer's service over MQTT with
 *        mutual TLS (EN 303 645 5.5-1, 5.5-4..5.5-7, 5.8-1, 5.8-2, 5.9-1..3).
 *
 * One thread per link runs libmosquitto (MQTT 5, or 3.1.1 for brokers that
 * speak only that) with a TLS context the caller builds (the device key stays
 * in memory; hearth/tls_client.h), tries the configured brokers in order and
 * paces every reconnection with the backoff module (hearth/backoff.h); the
 * library's own reconnect is not used. Everything the device sends (state,
 * security events, telemetry, command replies) goes through the outbox
 * (hearth/outbox.h): queued durably while offline, sent in order, removed
 * only on PUBACK. Commands from the service are parsed strictly here and
 * executed by the caller (the runtime runs them through the local API as the
 * service principal, hearth_api_handle_service()); request ids are
 * remembered so a redelivered command is answered again, not executed again.
 * Topics, payloads and behaviour: docs/mqtt.md.
 */
#ifndef HEARTH_LINK_H
#define HEARTH_LINK_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/backoff.h"
#include "hearth/common.h"
#include "hearth/outbox.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_LINK_BROKERS_MAX 8        /**< --mqtt-broker given at most this often */
#define HEARTH_LINK_HOST_MAX 253         /**< broker host name, bytes */
#define HEARTH_LINK_ID_MAX 64            /**< device id (serial) used in topics, bytes */
#define HEARTH_LINK_CMD_MAX (8 * 1024)   /**< largest command payload accepted, bytes */
#define HEARTH_LINK_REQID_MAX 64         /**< request id: 1..64 of [A-Za-z0-9_-] */
#define HEARTH_LINK_PATH_MAX 128         /**< command path, bytes */
#define HEARTH_LINK_REQIDS_KEPT 64       /**< request ids remembered (persisted) */
#define HEARTH_LINK_REPLY_KEPT_MAX 768   /**< reply body remembered per id, bytes */
#define HEARTH_LINK_KEEPALIVE_S 60       /**< MQTT keep-alive */
#define HEARTH_LINK_STATE_MIN_MS 2000    /**< state is published on change, at most this often */
/** TLS handshake + CONNACK deadline after the TCP connection is made (docs/mqtt.md) */
#define HEARTH_LINK_CONNECT_TIMEOUT_MS 10000
#define HEARTH_LINK_CONNECT_TIMEOUT_MAX_MS 120000 /**< largest deadline the options accept */

/** One broker address. */
typedef struct {
    char host[HEARTH_LINK_HOST_MAX + 1];
    uint16_t port;
} hearth_link_broker;

/**
 * Parse "HOST:PORT" or "[IPV6]:PORT" (host: letters, digits, '.', '-' or an
 * IPv6 literal; port 1..65535). HEARTH_ERR_INVALID with a reason otherwise.
 */
hearth_status hearth_link_broker_parse(const char *text, hearth_link_broker *out) HEARTH_MUST_CHECK;

/**
 * How the backoff treats a refused connection (CONNACK reason, or an MQTT 5
 * DISCONNECT reason): 0x86/0x87/0x8C and 3.1.1's 4/5 are refusals of our
 * identity (REFUSED_AUTH: long backoff, security event); 0x89/0x97/0x9F and
 * 3.1.1's 3 ask us to slow down (BUSY); anything else is a plain failure.
 * *@p use_other_server: try the next broker address (0x9C/0x9D "use another
 * server", "server moved", and other refusals of this server).
 * @p protocol: 4 (3.1.1) or 5.
 */
hearth_backoff_reason hearth_link_connack_reason(int protocol, int code, bool *use_other_server);

/* ------------------------------------------------------------- commands */

/** A command from the service (topic hearth/<id>/cmd/req), validated. */
typedef struct {
    char id[HEARTH_LINK_REQID_MAX + 1];
    char method[8];                   /**< GET, PUT, POST or DELETE */
    char path[HEARTH_LINK_PATH_MAX + 1];
    const uint8_t *body;              /**< the raw "body" object inside the payload, or NULL */
    size_t body_len;
} hearth_link_command;

/**
 * Parse a command payload strictly: at most HEARTH_LINK_CMD_MAX bytes, one
 * JSON object with exactly the members "v" (the number 1), "id", "method",
 * "path" and optionally "body" (an object, not with GET or DELETE); no
 * duplicate or unknown member, no escapes in id/method/path, path under
 * /api/ of [A-Za-z0-9/_.-] without "..". The body is handed on as raw bytes
 * (it points into @p payload) for the API's own strict schema check.
 * HEARTH_ERR_INVALID / HEARTH_ERR_TOO_LARGE with a reason; if the payload
 * carried a well-formed id, @p out->id holds it so the refusal can be
 * answered, else it is empty.
 */
hearth_status hearth_link_command_parse(const uint8_t *payload, size_t len,
                                        hearth_link_command *out) HEARTH_MUST_CHECK;

/**
 * Format the reply {"v":1,"id":ID,"status":S,"body":BODY,"duplicate":D}.
 * @p body is a JSON value (the API's answer) or NULL/"" for null.
 */
hearth_status hearth_link_reply_format(const char *id, int status, const char *body, bool duplicate,
                                       char *buf, size_t cap, size_t *len) HEARTH_MUST_CHECK;

/* ----------------------------------------------------- request-id memory */

/** Remembered request ids with their replies (bounded, persisted). */
typedef struct hearth_link_reqids hearth_link_reqids;

/**
 * Load the memory from record HEARTH_LINK_REQIDS_RECORD of @p store (the
 * store authenticates and encrypts it; absent: empty). @p store NULL keeps
 * it in memory only (tests).
 */
#define HEARTH_LINK_REQIDS_RECORD "link.request_ids"
hearth_status hearth_link_reqids_open(hearth_store *store, hearth_link_reqids **out) HEARTH_MUST_CHECK;
void hearth_link_reqids_close(hearth_link_reqids *r);
/**
 * true if @p id was seen: *status and @p body (the recorded reply body,
 * NUL-terminated, "" when it was too large to keep) are filled.
 */
bool hearth_link_reqids_find(hearth_link_reqids *r, const char *id, int *status, char *body,
                             size_t cap);
/**
 * Remember @p id with its reply and persist (the oldest of
 * HEARTH_LINK_REQIDS_KEPT is forgotten). A body over
 * HEARTH_LINK_REPLY_KEPT_MAX is remembered as "".
 */
hearth_status hearth_link_reqids_put(hearth_link_reqids *r, const char *id, int status,
                                     const char *body) HEARTH_MUST_CHECK;

/* -------------------------------------------------- updates and events */

/** An update announcement (topic hearth/<id>/updates). */
typedef struct {
    char version[33];
    uint32_t delay_s;  /**< 0..86400*7 */
    uint32_t spread_s; /**< 0..86400*7 */
} hearth_link_update_hint;

/** Parse an announcement strictly ({"v":1,"version":"1.2.3","delay_s":N,"spread_s":M}). */
hearth_status hearth_link_update_parse(const uint8_t *payload, size_t len,
                                       hearth_link_update_hint *out) HEARTH_MUST_CHECK;
/**
 * When to act on @p h, in milliseconds after receiving it: delay_s plus a
 * uniform random share of spread_s (0..spread_s*1000 inclusive). What
 * hearthd does with an announcement, and what bench/announce_sim.c's
 * simulated devices do.
 */
hearth_status hearth_link_update_due_ms(const hearth_link_update_hint *h, uint64_t *ms) HEARTH_MUST_CHECK;

/** Bytes the envelope adds to an outbox payload at most ("seq" and "ep", 20 digits each). */
#define HEARTH_LINK_ENVELOPE_EXTRA 64

/**
 * The message as published for one outbox record: @p payload (@p n bytes,
 * an object starting {"v":1, then ',' or '}') with the envelope right after
 * "v": "seq":@p seq (the outbox sequence number) and, when @p epoch > 0,
 * "ep":@p epoch (the device's reset epoch, hearth_link_config.reset_epoch),
 * so the service orders a device's messages by (ep, seq) across a factory
 * reset (docs/mqtt.md). HEARTH_ERR_INVALID: not such a payload;
 * HEARTH_ERR_TOO_LARGE: it does not fit @p cap (n + HEARTH_LINK_ENVELOPE_EXTRA
 * always does).
 */
hearth_status hearth_link_envelope(uint64_t seq, uint64_t epoch, const uint8_t *payload, size_t n, char *buf,
                                   size_t cap, size_t *len) HEARTH_MUST_CHECK;

/**
 * Turn one security-log line (hearth_seclog_hook) into an events payload
 * {"v":1,"ts":UNIX,"sev":S,"event":E,...} with every personal field (user
 * names, client addresses: keys user, username, by, source, addr, address, ip,
 * peer, host, client and any key ending in _ip, _addr or _user) removed.
 */
hearth_status hearth_link_event_payload(const char *seclog_line, int64_t now_unix, char *buf,
                                        size_t cap, size_t *len) HEARTH_MUST_CHECK;

/* ---------------------------------------------------------------- link */

/** Answer one command: fill *status and @p body (JSON, NUL-terminated). */
typedef void (*hearth_link_command_fn)(void *arg, const hearth_link_command *cmd, int *status,
                                       char *body, size_t cap);
/** The "apps" object of the state message ({"thermostat":{...}}). */
typedef hearth_status (*hearth_link_state_fn)(void *arg, char *buf, size_t cap);
/** A fresh TLS context for the next connection (operational or factory certificate). */
typedef hearth_status (*hearth_link_tls_fn)(void *arg, SSL_CTX **out);
/** An announced update is due now: run an update check. */
typedef void (*hearth_link_update_fn)(void *arg);

typedef struct {
    const char *device_id;          /**< topics hearth/<device_id>/...; [A-Za-z0-9_.-] */
    hearth_link_broker brokers[HEARTH_LINK_BROKERS_MAX];
    size_t nbrokers;                /**< >= 1 */
    int protocol;                   /**< 5 (default) or 4 (MQTT 3.1.1) */
    const char *server_name;        /**< expected broker certificate name; NULL: the host */
    uint64_t first_delay_max_ms;    /**< random first delay window (backoff first_max_ms) */
    uint64_t backoff_base_ms;       /**< 0: HEARTH_BACKOFF_BASE_MS */
    uint64_t connect_timeout_ms;    /**< TLS handshake + CONNACK deadline; 0: HEARTH_LINK_CONNECT_TIMEOUT_MS;
                                         at most HEARTH_LINK_CONNECT_TIMEOUT_MAX_MS */
    const char *software_version;   /**< "sw" of the state message */
    uint64_t reset_epoch;           /**< the store's reset count (hearth_reset_notice.count), 0: never
                                         reset; "ep" of every message sent (hearth_link_envelope) */
    bool clean_session;             /**< true: the broker keeps no session (MQTT 5 clean start,
                                         no session expiry; 3.1.1 clean session): commands sent
                                         while the device is away are dropped by the broker;
                                         false (default): a session kept 1 day */
    hearth_outbox *outbox;          /**< required; the link consumes it */
    hearth_link_reqids *reqids;     /**< required */
    hearth_link_tls_fn tls;
    hearth_link_state_fn state;
    hearth_link_command_fn command;
    hearth_link_update_fn update;
    void *arg;                      /**< for the four callbacks */
} hearth_link_config;

typedef struct hearth_link hearth_link;

/**
 * Start the link thread and subscribe to the security log (events go to the
 * service with personal fields removed). Nothing is sent before the random
 * first delay has passed.
 */
hearth_status hearth_link_start(const hearth_link_config *cfg, hearth_link **out) HEARTH_MUST_CHECK;
/** Publish status offline, disconnect, stop the thread, free. NULL allowed. */
void hearth_link_stop(hearth_link *l);

/**
 * Queue @p json (one object starting with {"v":1) for topic hearth/<id>/@p topic
 * in the outbox as class @p cls; the link sends it when connected. Any
 * thread. This is the callback the telemetry glue is handed.
 */
hearth_status hearth_link_queue(hearth_link *l, hearth_outbox_class cls, const char *topic,
                                const char *json, size_t len) HEARTH_MUST_CHECK;

/** true while a broker connection is up (CONNACK accepted). */
bool hearth_link_connected(hearth_link *l);

#ifdef __cplusplus
}
#endif
#endif
