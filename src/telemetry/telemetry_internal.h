/*
 * Internal interface of the telemetry module: what the build-time generator
 * (schema_gen.c) emits from docs/telemetry/schema-v1.json, the object and
 * the /proc readers. Tests include it to compare reports with the schema.
 */
#ifndef HEARTH_TELEMETRY_INTERNAL_H
#define HEARTH_TELEMETRY_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "hearth/telemetry.h"

/** One security event the schema counts: the event's name and the short key
 *  of the counter it feeds. */
typedef struct {
    const char *event;
    const char *key;
} tm_event_map;

/* Generated (telemetry_schema_gen.c). */
extern const char tm_disclosure_md[];
extern const size_t tm_disclosure_md_len;
/** Every key path of the schema ("met.tp.pts[].pt"), NULL-terminated. */
extern const char *const tm_schema_keys[];
extern const tm_event_map tm_event_maps[];
extern const size_t tm_n_event_maps;

/* The counters fed by the seclog hook. */
enum { TM_LF, TM_LO, TM_UVF, TM_IFF, TM_SC, TM_NCOUNTERS };

#define TM_ALERTED_MAX 128
#define TM_LOGIN_RING 64

typedef struct {
    uint8_t kind; /* 't' tcp, 'u' udp, 'd' destination */
    uint16_t port;
    char addr[HEARTH_TELEMETRY_ADDR_MAX]; /* destinations only */
    bool seen; /* present in the current sample */
} tm_alerted;

struct hearth_telemetry {
    hearth_telemetry_config cfg;
    char proc_dir[256];
    pthread_mutex_t mu; /* guards everything below */
    uint16_t listen[HEARTH_TELEMETRY_DECLARED_MAX], dest[HEARTH_TELEMETRY_DECLARED_MAX];
    size_t n_listen, n_dest;
    uint64_t counters[TM_NCOUNTERS];
    int8_t map_counter[64]; /* tm_event_maps[i] -> counter index */
    int64_t login_times[TM_LOGIN_RING];
    size_t login_next;
    uint64_t boots, unexpected;
    bool unexpected_pending; /* this start followed an unclean stop: not yet raised */
    bool consent;
    uint64_t alerts;
    /* Rule episodes. */
    tm_alerted alerted[TM_ALERTED_MAX];
    size_t n_alerted;
    bool spike_on;
    uint64_t integrity_seen; /* uvf + iff at the previous check */
    bool integrity_on;
    int64_t started_ms;
    int64_t last_rid;
};

int64_t tm_now_ms(const hearth_telemetry *t);

/* proc.c: the /proc readers (bounded lines, strict fields). */
hearth_status tm_read_sockets(const char *proc_dir, hearth_telemetry_snapshot *s) HEARTH_MUST_CHECK;
hearth_status tm_read_netdev(const char *proc_dir, hearth_telemetry_snapshot *s) HEARTH_MUST_CHECK;
hearth_status tm_read_status(const char *proc_dir, hearth_telemetry_snapshot *s) HEARTH_MUST_CHECK;

#endif
