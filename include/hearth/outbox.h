/**
 * @file outbox.h
 * @brief A bounded, crash-safe, authenticated queue of messages a device
 *        owes its service (state changes, security events, telemetry) while
 *        the broker or the network is gone (EN 303 645 5.9-1, 5.9-2).
 *
 * hearth_outbox_put() returns only once the record is durable: a power cut
 * at any point after it returns loses nothing; a power cut during it leaves
 * either the whole record or none of it. Records come out in the order they
 * went in (by sequence number) and stay until hearth_outbox_ack() says the
 * service acknowledged them (MQTT PUBACK), so delivery is at least once; the
 * service deduplicates by (device, seq).
 *
 * Every record carries a MAC under a key the caller derives from the
 * device's secure store: the file sits in a writable directory, and a
 * record that fails its MAC (tampered, torn, from another device) is
 * dropped with a security event ("outbox_record_rejected"), never sent.
 *
 * Bounds: at most max_records records and max_bytes payload bytes. When a
 * put would exceed them, room is made by dropping the oldest record of the
 * least important class present (telemetry, then state, then security
 * events), the new record included, and counting it; a security event is
 * dropped only when the queue holds nothing else, and the drop itself is
 * recorded ("outbox_overflow", once per overflow episode). When the new
 * record is the least important present, it is the one dropped: put()
 * fails with HEARTH_ERR_BUSY. Documented in docs/outbox.md.
 *
 * Thread-safe: one producer side (any thread) and one consumer (the link).
 */
#ifndef HEARTH_OUTBOX_H
#define HEARTH_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_OUTBOX_PAYLOAD_MAX (16 * 1024) /**< largest payload, bytes */
#define HEARTH_OUTBOX_TOPIC_MAX 64            /**< longest topic suffix, NUL included */
#define HEARTH_OUTBOX_KEY_LEN 32              /**< MAC key bytes */

/** What a record is, most important first (drop order is the reverse). */
typedef enum {
    HEARTH_OUTBOX_EVENT = 0,     /**< security event */
    HEARTH_OUTBOX_STATE = 1,     /**< state change, command reply */
    HEARTH_OUTBOX_TELEMETRY = 2, /**< periodic telemetry report */
} hearth_outbox_class;

/** Bounds; fill with hearth_outbox_config_default(). */
typedef struct {
    size_t max_records; /**< default 4096 */
    size_t max_bytes;   /**< payload bytes, default 4 MiB */
} hearth_outbox_config;

/** One queued record as handed to the consumer (caller-owned buffers). */
typedef struct {
    uint64_t seq;                           /**< strictly increasing, never reused */
    hearth_outbox_class cls;
    int64_t created_unix;                   /**< wall clock at put, seconds */
    char topic[HEARTH_OUTBOX_TOPIC_MAX];    /**< suffix under hearth/<id>/, e.g. "events" */
    uint8_t payload[HEARTH_OUTBOX_PAYLOAD_MAX];
    size_t payload_len;
} hearth_outbox_record;

/** Counters for telemetry and tests. */
typedef struct {
    size_t records;    /**< queued now */
    size_t bytes;      /**< payload bytes queued now */
    uint64_t dropped;  /**< records dropped to make room, ever (persisted) */
    uint64_t rejected; /**< records that failed their MAC, ever (persisted) */
} hearth_outbox_stats;

typedef struct hearth_outbox hearth_outbox;

void hearth_outbox_config_default(hearth_outbox_config *cfg);

/**
 * Open (creating if absent) the outbox stored under @p dir (the device's
 * state directory or a directory below it), recovering from a torn last
 * write. @p key authenticates every record (HEARTH_OUTBOX_KEY_LEN bytes;
 * copied and wiped on close).
 */
hearth_status hearth_outbox_open(const char *dir, const uint8_t *key, const hearth_outbox_config *cfg,
                                 hearth_outbox **out) HEARTH_MUST_CHECK;
/** Close; NULL allowed. Nothing queued is lost. */
void hearth_outbox_close(hearth_outbox *o);

/**
 * Queue one record durably. @p topic: [a-z0-9/_-], 1..63 bytes. @p len <=
 * HEARTH_OUTBOX_PAYLOAD_MAX and <= max_bytes (HEARTH_ERR_TOO_LARGE
 * otherwise). @p seq_out may be NULL. HEARTH_ERR_BUSY: the queue is full
 * of more important records, this one was dropped (and counted).
 * put() waits for the disk and may log a security event
 * ("outbox_overflow"; logged after the outbox's lock is released): never
 * call it from a seclog hook, which runs under the log's lock (it would
 * deadlock on that event and stall every logger on the fdatasync); hand
 * the event line to a thread that calls put().
 */
hearth_status hearth_outbox_put(hearth_outbox *o, hearth_outbox_class cls, const char *topic,
                                const uint8_t *payload, size_t len, uint64_t *seq_out) HEARTH_MUST_CHECK;

/**
 * The oldest record with a sequence number greater than @p after (0: from
 * the start), for sending in order while earlier ones await their PUBACK.
 * HEARTH_ERR_NOT_FOUND when there is none.
 */
hearth_status hearth_outbox_next(hearth_outbox *o, uint64_t after, hearth_outbox_record *rec) HEARTH_MUST_CHECK;

/**
 * The service acknowledged record @p seq: it will not be handed out again,
 * even after a restart. Acknowledging an unknown or already acknowledged
 * seq is a no-op.
 */
hearth_status hearth_outbox_ack(hearth_outbox *o, uint64_t seq) HEARTH_MUST_CHECK;

/** Current counters. */
void hearth_outbox_stats_get(hearth_outbox *o, hearth_outbox_stats *st);

#ifdef __cplusplus
}
#endif
#endif
