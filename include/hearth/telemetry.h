/**
 * @file telemetry.h
 * @brief Security telemetry (EN 303 645 5.10-1, 6-4, 6-5): a collector of
 *        the device's network surface and security counters, a report
 *        builder for schema telemetry/v1 (docs/telemetry/schema-v1.json),
 *        on-device anomaly rules that raise security events, the consent
 *        switch of the optional usage class and the disclosure text
 *        generated from the schema (docs/telemetry.md).
 *
 * Typical use (daemon/telemetry_glue.c): hearth_telemetry_open() once,
 * hearth_telemetry_declare() for each port the device program may listen on
 * or connect to, then every interval hearth_telemetry_sample(),
 * hearth_telemetry_check() and hearth_telemetry_report(); finally
 * hearth_telemetry_close(), which records the clean stop.
 *
 * Counters come from the security-event log: open() subscribes a
 * hearth_seclog hook that counts the events the schema names (x-events of
 * each counter), and never copies their other fields (user names, source
 * addresses) anywhere. Thread-safe: the hook, the sampling thread and the
 * API may use one object at once.
 */
#ifndef HEARTH_TELEMETRY_H
#define HEARTH_TELEMETRY_H

#include "hearth/common.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_TELEMETRY_PORTS_MAX 64     /**< ports listed per protocol (more: counted) */
#define HEARTH_TELEMETRY_CONNS_MAX 32     /**< outbound connections listed (more: counted) */
#define HEARTH_TELEMETRY_DECLARED_MAX 16  /**< declared ports of each kind */
#define HEARTH_TELEMETRY_REPORT_MAX 8192  /**< largest report, bytes (fits the bound) */
#define HEARTH_TELEMETRY_ADDR_MAX 48      /**< "IP:port" / "[IPv6]:port" with NUL */
#define HEARTH_TELEMETRY_INTERVAL_DEFAULT_S 300 /**< Device Defender's minimum period */

/** One outbound TCP connection of a sample. */
typedef struct {
    char rad[HEARTH_TELEMETRY_ADDR_MAX]; /**< remote "a.b.c.d:port" or "[v6]:port" */
    uint16_t rport;                      /**< remote port */
    uint16_t lport;                      /**< local port */
} hearth_telemetry_conn;

/** What one sample of the system saw (hearth_telemetry_sample()). */
typedef struct {
    uint16_t tcp[HEARTH_TELEMETRY_PORTS_MAX]; /**< listening TCP ports, sorted, distinct */
    size_t n_tcp, tcp_total;                  /**< listed / all distinct */
    uint16_t udp[HEARTH_TELEMETRY_PORTS_MAX]; /**< bound, unconnected UDP ports */
    size_t n_udp, udp_total;
    hearth_telemetry_conn conns[HEARTH_TELEMETRY_CONNS_MAX]; /**< outbound, non-loopback */
    size_t n_conns, conns_total;              /**< listed / all outbound non-loopback */
    size_t established;                       /**< every established TCP connection */
    uint64_t bytes_in, bytes_out, packets_in, packets_out; /**< all interfaces but lo */
    uint64_t rss_kib;                         /**< VmRSS of the process */
    int64_t at_ms;                            /**< the telemetry clock when taken */
} hearth_telemetry_snapshot;

/** Kinds of declared port (hearth_telemetry_declare()). */
typedef enum {
    HEARTH_TELEMETRY_LISTEN, /**< a port the device may listen on (TCP or UDP) */
    HEARTH_TELEMETRY_DEST,   /**< a remote port the device may connect to */
} hearth_telemetry_port_kind;

/** Options of hearth_telemetry_open(); every field may be zero. */
typedef struct {
    /** Directory holding net/tcp, net/tcp6, net/udp, net/udp6, net/dev and
     *  status in /proc format; NULL: "/proc/self" (tests pass fixtures). */
    const char *proc_dir;
    /** Where the consent, the boot count and the run marker live; NULL:
     *  nothing persists (consent off, every start counts as the first). */
    hearth_store *store;
    /** The clock of the rules and the uptime, milliseconds, monotonic;
     *  NULL: hearth_mono_ms(). */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    /** The device's consent registry (hearth/privacy.h): when set, the
     *  usage class follows its purpose "usage_telemetry" and the store's own
     *  consent record is not used; NULL: the record in @p store. */
    struct hearth_privacy *privacy;
} hearth_telemetry_config;

typedef struct hearth_telemetry hearth_telemetry;

/**
 * Create the telemetry object: load the consent, count this start in the
 * store (boot count; an unexpected restart when the previous run's marker
 * is still set) and set the run marker, subscribe the seclog hook.
 * @param[in]  cfg  options (copied), NULL for defaults
 * @param[out] out  the object
 */
hearth_status hearth_telemetry_open(const hearth_telemetry_config *cfg,
                                    hearth_telemetry **out) HEARTH_MUST_CHECK;
/** Unsubscribe, clear the run marker (a clean stop) and free. NULL allowed. */
void hearth_telemetry_close(hearth_telemetry *t);

/**
 * Declare @p port as one the device program itself may listen on or connect
 * to (the on-device rules judge every other as an anomaly). At most
 * HEARTH_TELEMETRY_DECLARED_MAX of each kind (HEARTH_ERR_TOO_LARGE); 0 is
 * refused (HEARTH_ERR_INVALID).
 */
hearth_status hearth_telemetry_declare(hearth_telemetry *t, hearth_telemetry_port_kind kind,
                                       uint16_t port) HEARTH_MUST_CHECK;

/** Copy up to @p cap ports declared as @p kind into @p out; returns how many
 *  (GET /api/v1/setup-check compares them with the listening ports). */
size_t hearth_telemetry_declared(hearth_telemetry *t, hearth_telemetry_port_kind kind,
                                 uint16_t *out, size_t cap);

/**
 * Read the system: listening ports, established connections, interface
 * counters, memory. A missing tcp6/udp6 (no IPv6) counts as empty; any
 * other missing file, or a malformed line, fails with HEARTH_ERR_IO /
 * HEARTH_ERR_INVALID and a message naming the file.
 */
hearth_status hearth_telemetry_sample(hearth_telemetry *t,
                                      hearth_telemetry_snapshot *s) HEARTH_MUST_CHECK;

/**
 * Run the on-device rules (docs/telemetry.md "On-device rules") on @p s and
 * the counters: each raises one security event per episode.
 * @return the number of events raised by this call
 */
unsigned hearth_telemetry_check(hearth_telemetry *t, const hearth_telemetry_snapshot *s);

/**
 * Build the report of @p s (schema telemetry/v1; the usage class only with
 * the owner's consent) into @p buf. *@p len is its length without the NUL.
 * HEARTH_ERR_TOO_LARGE when @p cap is too small (HEARTH_TELEMETRY_REPORT_MAX
 * always suffices).
 */
hearth_status hearth_telemetry_report(hearth_telemetry *t, const hearth_telemetry_snapshot *s,
                                      char *buf, size_t cap, size_t *len) HEARTH_MUST_CHECK;

/** Whether the owner enabled the optional usage telemetry (default false);
 *  with a consent registry, whether its usage_telemetry consent is given. */
bool hearth_telemetry_usage_consent(hearth_telemetry *t);
/** Record the owner's choice durably (in the registry, as user "owner", or
 *  in the store; HEARTH_ERR_STATE without either) and apply it to the next
 *  report. The API records it in the registry with the caller's name. */
hearth_status hearth_telemetry_set_usage_consent(hearth_telemetry *t, bool on) HEARTH_MUST_CHECK;

/** The disclosure (docs/telemetry.md, Markdown) generated from the schema;
 *  *@p len (if not NULL) receives its length. */
const char *hearth_telemetry_disclosure(size_t *len);

#ifdef __cplusplus
}
#endif
#endif
