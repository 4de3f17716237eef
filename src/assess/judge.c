/*
 * The verdicts, one function per question, shared by the black-box
 * collector (hearth assess) and the inside one (GET /api/v1/setup-check).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "assess_internal.h"
#include "hearth/assess.h"

#define ev_add ax_ev_add

void ax_ev_add(char *ev, size_t cap, const char *fmt, ...)
{
    size_t len = strnlen(ev, cap);
    if (len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(ev + len, cap - len, fmt, ap);
    va_end(ap);
}

static bool in_set(const uint16_t *set, size_t n, uint16_t p)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == p) return true;
    return false;
}

/* "LABEL p1 p2 ..." (or "LABEL none") appended to @p ev. */
static void port_list(char *ev, size_t cap, const char *label, const uint16_t *p, size_t n)
{
    ev_add(ev, cap, "%s", label);
    for (size_t i = 0; i < n; i++) ev_add(ev, cap, " %u", p[i]);
    if (n == 0) ev_add(ev, cap, " none");
}

/* Append "LABEL p, q" for the ports of @p p not in @p declared; their count. */
static size_t undeclared(char *ev, size_t cap, const char *label, const uint16_t *p, size_t n,
                         const uint16_t *declared, size_t n_declared)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_set(declared, n_declared, p[i])) continue;
        ev_add(ev, cap, "%s %u", k++ ? "," : label, p[i]);
    }
    return k;
}

hearth_verdict hearth_assess_judge_ports(const uint16_t *open, size_t n_open,
                                         const uint16_t *declared, size_t n_declared, char *ev,
                                         size_t cap)
{
    ev[0] = '\0';
    port_list(ev, cap, "declared:", declared, n_declared);
    port_list(ev, cap, "; open:", open, n_open);
    return undeclared(ev, cap, "; NOT DECLARED:", open, n_open, declared, n_declared)
               ? HEARTH_VERDICT_FAIL
               : HEARTH_VERDICT_PASS;
}

hearth_verdict hearth_assess_judge_udp(const uint16_t *open, size_t n_open, const uint16_t *maybe,
                                       size_t n_maybe, const uint16_t *declared,
                                       size_t n_declared, char *ev, size_t cap)
{
    ev[0] = '\0';
    port_list(ev, cap, "declared UDP:", declared, n_declared);
    port_list(ev, cap, "; open UDP (answered):", open, n_open);
    size_t bad = undeclared(ev, cap, "; UDP NOT DECLARED:", open, n_open, declared, n_declared);
    size_t unknown = undeclared(ev, cap,
                                "; UDP open|filtered (no answer, no ICMP port unreachable):",
                                maybe, n_maybe, declared, n_declared);
    return bad ? HEARTH_VERDICT_FAIL : unknown ? HEARTH_VERDICT_INCONCLUSIVE : HEARTH_VERDICT_PASS;
}

hearth_verdict hearth_assess_judge_update(const hearth_assess_upload_probe *p, size_t n, char *ev,
                                          size_t cap)
{
    ev[0] = '\0';
    bool fail = false, pass = n > 0;
    for (size_t i = 0; i < n; i++) {
        bool accepted = p[i].status >= 200 && p[i].status < 300;
        bool changed = p[i].state_known && !p[i].unchanged;
        bool refused = p[i].status == 422 && p[i].documented;
        fail |= accepted || changed;
        pass &= refused && p[i].state_known && p[i].unchanged;
        ev_add(ev, cap, "%s%s bundle: ", i ? "; " : "", p[i].what);
        if (p[i].status == -2) ev_add(ev, cap, "not sent (request budget spent)");
        else if (p[i].status < 0) ev_add(ev, cap, "no HTTP answer");
        else if (accepted) ev_add(ev, cap, "ACCEPTED (%d)", p[i].status);
        else if (refused) ev_add(ev, cap, "refused 422 update_rejected");
        else ev_add(ev, cap, "answered %d%s", p[i].status, p[i].documented ? "" : " (not the documented refusal)");
        ev_add(ev, cap, "%s", !p[i].state_known ? ", update state not read"
                              : changed          ? ", UPDATE STATE CHANGED"
                                                 : ", update state unchanged");
    }
    return fail ? HEARTH_VERDICT_FAIL : pass ? HEARTH_VERDICT_PASS : HEARTH_VERDICT_INCONCLUSIVE;
}

/* RFC 3339 / ISO 8601 "YYYY-MM-DDTHH:MM:SS" followed by Z or +hh:mm/-hh:mm. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (e == NULL) return false;
    if (*e == '.') {
        e++;
        while (*e >= '0' && *e <= '9') e++;
    }
    long off = 0;
    if (*e == 'Z' || *e == 'z') {
        e++;
    } else if ((*e == '+' || *e == '-') && strlen(e) >= 6 && e[3] == ':') {
        int hh = (e[1] - '0') * 10 + (e[2] - '0'), mm = (e[4] - '0') * 10 + (e[5] - '0');
        off = (hh * 3600L + mm * 60L) * (*e == '+' ? 1 : -1);
        e += 6;
    } else {
        return false;
    }
    while (*e == ' ' || *e == '\t' || *e == '\r') e++;
    if (*e != '\0') return false;
    *out = (int64_t)timegm(&tm) - off;
    return true;
}

hearth_verdict hearth_assess_judge_security_txt(int http_status, const char *content_type,
                                                const char *body, size_t len, int64_t now,
                                                char *ev, size_t cap)
{
    ev[0] = '\0';
    if (http_status != 200) {
        ev_add(ev, cap, "GET /.well-known/security.txt answered %d: no security.txt", http_status);
        return HEARTH_VERDICT_FAIL;
    }
    bool ok = true;
    if (content_type == NULL || strncasecmp(content_type, "text/plain", 10) != 0) {
        ev_add(ev, cap, "Content-Type %s (RFC 9116 asks text/plain); ",
               content_type ? content_type : "missing");
        ok = false;
    }
    size_t contacts = 0, expires = 0;
    int64_t exp_at = 0;
    bool exp_bad = false;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[512];
        if (l < sizeof line) {
            memcpy(line, p, l);
            line[l] = '\0';
            line[strcspn(line, "\r")] = '\0';
            if (strncasecmp(line, "Contact:", 8) == 0) {
                const char *v = line + 8;
                while (*v == ' ') v++;
                if (strncmp(v, "mailto:", 7) == 0 || strncmp(v, "https://", 8) == 0 ||
                    strncmp(v, "tel:", 4) == 0)
                    contacts++;
                else
                    ev_add(ev, cap, "Contact not a URI (%.60s); ", v);
            } else if (strncasecmp(line, "Expires:", 8) == 0) {
                const char *v = line + 8;
                while (*v == ' ') v++;
                expires++;
                if (!parse_rfc3339(v, &exp_at)) exp_bad = true;
            }
        }
        p += l + 1;
    }
    ev_add(ev, cap, "%zu Contact, %zu Expires", contacts, expires);
    if (contacts == 0) {
        ev_add(ev, cap, "; no Contact (required)");
        ok = false;
    }
    if (expires != 1) {
        ev_add(ev, cap, "; Expires must appear exactly once");
        ok = false;
    } else if (exp_bad) {
        ev_add(ev, cap, "; Expires is not an RFC 3339 date-time");
        ok = false;
    } else if (exp_at <= now) {
        ev_add(ev, cap, "; EXPIRED %lld s ago", (long long)(now - exp_at));
        ok = false;
    } else if (exp_at - now > 366LL * 86400) {
        ev_add(ev, cap, "; Expires more than a year ahead (%lld days)",
               (long long)((exp_at - now) / 86400));
        ok = false;
    } else {
        ev_add(ev, cap, "; expires in %lld days", (long long)((exp_at - now) / 86400));
    }
    return ok ? HEARTH_VERDICT_PASS : HEARTH_VERDICT_FAIL;
}

hearth_verdict hearth_assess_judge_setup(bool set_up, long admins, char *ev, size_t cap)
{
    ev[0] = '\0';
    if (!set_up) {
        ev_add(ev, cap, "factory default: not set up (only setup with the label's password is "
                        "served until an owner sets the device up)");
        return HEARTH_VERDICT_FAIL;
    }
    if (admins < 0) {
        ev_add(ev, cap, "set up (requests need a session); administrator accounts not visible "
                        "without an admin credential");
        return HEARTH_VERDICT_INCONCLUSIVE;
    }
    if (admins == 0) {
        ev_add(ev, cap, "set up but no administrator account");
        return HEARTH_VERDICT_FAIL;
    }
    ev_add(ev, cap, "set up; %ld administrator account%s", admins, admins == 1 ? "" : "s");
    return HEARTH_VERDICT_PASS;
}
