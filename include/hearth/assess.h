/*
 * Assessment test units (ETSI TS 103 701 functional style; EN 303 645 5.12-3
 * "check whether the device is securely set up"), docs/assessment.md.
 *
 * One catalogue of units, each with an id, a title and the provisions it
 * relates to. Two collectors feed them:
 *   - hearth_assess_run(): black-box, over the network, against HOST:PORT
 *     (the `hearth assess` command), bounded in requests and seconds;
 *   - hearth_assess_inside(): from inside the device (GET /api/v1/setup-check),
 *     from facts the device program hands over.
 * Both reach their verdicts through the same judge functions below, so the
 * device's own check and the external assessment can never disagree about
 * what counts as a pass.
 */
#ifndef HEARTH_ASSESS_H
#define HEARTH_ASSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hearth/bundle.h"
#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HEARTH_VERDICT_PASS = 0,
    HEARTH_VERDICT_FAIL,
    HEARTH_VERDICT_INCONCLUSIVE,
    HEARTH_VERDICT_NA,
} hearth_verdict;

/** "PASS", "FAIL", "INCONCLUSIVE", "N/A". */
const char *hearth_verdict_name(hearth_verdict v);

#define HEARTH_ASSESS_UNITS_MAX 16
#define HEARTH_ASSESS_EVIDENCE_MAX 2048
#define HEARTH_ASSESS_PORTS_MAX 64

/** One unit of the catalogue. */
typedef struct {
    const char *id;         /**< e.g. "tls-config" */
    const char *title;      /**< one line */
    const char *provisions; /**< space-separated EN 303 645 ids, e.g. "5.5-1" */
} hearth_assess_unit;

/** Every unit, in run order; *n receives the count. */
const hearth_assess_unit *hearth_assess_units(size_t *n);
/** The unit with @p id, NULL if none. */
const hearth_assess_unit *hearth_assess_unit_find(const char *id);

/** One unit's outcome. */
typedef struct {
    const hearth_assess_unit *unit;
    hearth_verdict verdict;
    char evidence[HEARTH_ASSESS_EVIDENCE_MAX]; /**< "; "-separated facts, bounded */
} hearth_assess_result;

/** An assessment: results in catalogue order plus its bounds. */
typedef struct {
    char target[128];   /**< "host:port" or "device (inside)" */
    int64_t started;    /**< epoch seconds */
    int64_t finished;
    uint32_t max_requests, max_seconds;
    uint32_t requests;  /**< connections/requests actually made */
    hearth_assess_result results[HEARTH_ASSESS_UNITS_MAX];
    size_t n;
} hearth_assess_report;

/** Add a result for unit @p id with printf-style evidence (truncated to fit). */
void hearth_assess_add(hearth_assess_report *r, const char *id, hearth_verdict v,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ judges */

/**
 * Open TCP ports against the declared ones (5.6-1): FAIL if any open port is
 * not declared, PASS otherwise. Writes the evidence into @p ev.
 */
hearth_verdict hearth_assess_judge_ports(const uint16_t *open, size_t n_open,
                                         const uint16_t *declared, size_t n_declared, char *ev,
                                         size_t cap);

/**
 * security.txt (RFC 9116) as served: @p http_status, @p content_type (may be
 * NULL) and the body. PASS when status is 200, the type text/plain, at least
 * one Contact, exactly one Expires in the future and at most a year ahead of
 * @p now (epoch seconds); FAIL otherwise.
 */
hearth_verdict hearth_assess_judge_security_txt(int http_status, const char *content_type,
                                                const char *body, size_t len, int64_t now,
                                                char *ev, size_t cap);

/**
 * Open UDP ports (5.6-1): @p open answered a datagram, @p maybe stayed
 * silent (open|filtered: nothing came back, not even ICMP port
 * unreachable). FAIL if any open port is not declared; INCONCLUSIVE if none
 * is but an undeclared port stayed silent; PASS otherwise.
 */
hearth_verdict hearth_assess_judge_udp(const uint16_t *open, size_t n_open, const uint16_t *maybe,
                                       size_t n_maybe, const uint16_t *declared,
                                       size_t n_declared, char *ev, size_t cap);

/**
 * The update path (5.3-9, 5.3-10): what the device did with each probe
 * bundle. PASS when every probe was refused with the documented error and
 * the update state was unchanged after each; FAIL when any was accepted
 * (2xx) or the state changed; INCONCLUSIVE otherwise.
 */
typedef struct {
    const char *what;  /**< "tampered", "foreign key", "older" */
    int status;        /**< HTTP status of the upload, -1 no answer, -2 budget */
    bool documented;   /**< the body's error code was the documented one */
    bool unchanged;    /**< GET /api/v1/updates afterwards: installed and pending as before */
    bool state_known;  /**< that GET answered */
} hearth_assess_upload_probe;

hearth_verdict hearth_assess_judge_update(const hearth_assess_upload_probe *p, size_t n,
                                          char *ev, size_t cap);

/**
 * Setup state (5.12-3): @p set_up false (factory default) is FAIL (the device
 * is not set up); set up with @p admins >= 1 is PASS; @p admins < 0 means
 * "not known" (INCONCLUSIVE when set up).
 */
hearth_verdict hearth_assess_judge_setup(bool set_up, long admins, char *ev, size_t cap);

/* ---------------------------------------------------------------- black box */

/** What to assess and how hard. */
typedef struct {
    const char *host;          /**< IPv4/IPv6 literal or name */
    uint16_t port;             /**< the HTTPS API port */
    const uint16_t *ports;     /**< ports to probe (NULL: a built-in list of common ports) */
    size_t n_ports;
    const uint16_t *declared;  /**< declared listening ports besides @c port */
    size_t n_declared;
    const uint16_t *declared_udp; /**< declared UDP ports (none for a Hearth device) */
    size_t n_declared_udp;
    const char *admin_user;    /**< optional: an administrator's credential */
    const char *admin_password;
    const char *cacert;        /**< optional: CA file that must verify the device certificate */
    const char *credentials;   /**< file of "user:password" lines (NULL: no default-credential unit) */
    const hearth_key *bundle_key; /**< optional: a private update-signing key the device trusts
                                       (a test key), for the update-path unit */
    uint32_t max_requests;     /**< 0: 400 */
    uint32_t max_seconds;      /**< 0: 60 */
    uint32_t probe_timeout_ms; /**< one connect or read; 0: 1500 */
} hearth_assess_target;

/**
 * Run every black-box unit against @p t into @p r. Never sends a request
 * once max_requests were made, nor starts one after max_seconds. Fails only
 * on bad arguments (HEARTH_ERR_INVALID); every finding is a verdict.
 */
hearth_status hearth_assess_run(const hearth_assess_target *t,
                                hearth_assess_report *r) HEARTH_MUST_CHECK;

/* ------------------------------------------------------------------- inside */

/** The facts a device program hands to the inside units. */
typedef struct {
    bool set_up;                 /**< left the factory-default state */
    long admins;                 /**< administrator accounts, -1 unknown */
    bool ports_known;            /**< listening ports could be read */
    const uint16_t *listening;   /**< listening TCP ports of the device's network namespace */
    size_t n_listening;
    const uint16_t *declared;    /**< ports the device program declared */
    size_t n_declared;
    int sectxt_status;           /**< status of its own GET /.well-known/security.txt */
    const char *sectxt_type;
    const char *sectxt_body;
    size_t sectxt_len;
    int64_t now;                 /**< epoch seconds */
} hearth_assess_inside_facts;

/** The inside units: setup-state, open-ports, security-txt. */
void hearth_assess_inside(const hearth_assess_inside_facts *f, hearth_assess_report *r);

/* ------------------------------------------------------------------ outputs */

/**
 * The results of @p r as a compact JSON array
 * `[{"id","title","provisions":[...],"verdict","evidence"},...]` into @p buf
 * (NUL-terminated): the `units` of the JSON report and of the device's
 * GET /api/v1/setup-check. HEARTH_ERR_TOO_LARGE if it does not fit in @p cap
 * (HEARTH_ASSESS_UNITS_JSON_MAX always does).
 */
#define HEARTH_ASSESS_UNITS_JSON_MAX (HEARTH_ASSESS_UNITS_MAX * (6 * HEARTH_ASSESS_EVIDENCE_MAX + 1024))
hearth_status hearth_assess_units_json(const hearth_assess_report *r, char *buf,
                                       size_t cap) HEARTH_MUST_CHECK;

/** schema "hearth-assessment/1" (docs/assessment.md). */
hearth_status hearth_assess_write_json(const hearth_assess_report *r, FILE *f) HEARTH_MUST_CHECK;
hearth_status hearth_assess_write_markdown(const hearth_assess_report *r,
                                           FILE *f) HEARTH_MUST_CHECK;
hearth_status hearth_assess_write_html(const hearth_assess_report *r, FILE *f) HEARTH_MUST_CHECK;

/** Count of results with verdict @p v. */
size_t hearth_assess_count(const hearth_assess_report *r, hearth_verdict v);

#ifdef __cplusplus
}
#endif
#endif
