/*
 * The catalogue of assessment units and the report they fill
 * (include/hearth/assess.h, docs/assessment.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hearth/assess.h"

/* Run order: the passive probes first, the login probes last, because
 * failed guesses make a well-behaved device throttle this client. */
static const hearth_assess_unit units[] = {
    {"tls-config", "TLS: TLS 1.0/1.1 refused, only AEAD suites, certificate", "5.5-1"},
    {"open-ports", "Open TCP and UDP ports are the declared ones", "5.6-1"},
    {"unauth-disclosure", "An unauthenticated client learns no versions, banners or data", "5.6-2"},
    {"security-txt", "security.txt present and valid (RFC 9116)", "5.2-1"},
    {"setup-state", "The device is securely set up (not factory default, an admin exists)",
     "5.12-3"},
    {"update-path", "Uploaded tampered, foreign-signed and older bundles are refused, nothing changes",
     "5.3-9 5.3-10"},
    {"default-credentials", "Common IoT default credentials are refused", "5.1-1"},
    {"brute-force", "Password guessing is throttled (measured guesses per minute)", "5.1-5"},
};

const hearth_assess_unit *hearth_assess_units(size_t *n)
{
    *n = sizeof units / sizeof units[0];
    return units;
}

const hearth_assess_unit *hearth_assess_unit_find(const char *id)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(units[i].id, id) == 0) return &units[i];
    return NULL;
}

const char *hearth_verdict_name(hearth_verdict v)
{
    switch (v) {
    case HEARTH_VERDICT_PASS: return "PASS";
    case HEARTH_VERDICT_FAIL: return "FAIL";
    case HEARTH_VERDICT_INCONCLUSIVE: return "INCONCLUSIVE";
    case HEARTH_VERDICT_NA: return "N/A";
    }
    return "INCONCLUSIVE";
}

void hearth_assess_add(hearth_assess_report *r, const char *id, hearth_verdict v, const char *fmt,
                       ...)
{
    const hearth_assess_unit *u = hearth_assess_unit_find(id);
    if (u == NULL || r->n >= HEARTH_ASSESS_UNITS_MAX) return;
    hearth_assess_result *res = &r->results[r->n++];
    res->unit = u;
    res->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(res->evidence, sizeof res->evidence, fmt, ap);
    va_end(ap);
    if (k < 0) res->evidence[0] = '\0';
    /* Evidence is one line: it may hold a banner or a header seen on the
     * wire, so control characters become spaces. */
    for (char *p = res->evidence; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

size_t hearth_assess_count(const hearth_assess_report *r, hearth_verdict v)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += r->results[i].verdict == v;
    return n;
}
