/*
 * The manufacturer's disclosure configuration and security.txt (RFC 9116).
 *
 * The configuration text is built into the programs (manufacturer_builtin.c,
 * generated from HEARTH_MANUFACTURER_CONF), so it arrives signed with every
 * update and is parsed from read-only program memory, never from the
 * writable state. It is still parsed strictly: a typo in a manufacturer's
 * file must fail its build's unit test, not publish a wrong contact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/disclosure.h"
#include "hearth/util.h"
#include "sbom_internal.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD", a real calendar date from 2000 to 2199. */
static bool date_parse(const char *s, int64_t *days)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    unsigned v[3] = {0, 0, 0};
    const int start[3] = {0, 5, 8}, width[3] = {4, 2, 2};
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < width[f]; i++) {
            char c = s[start[f] + i];
            if (c < '0' || c > '9') return false;
            v[f] = v[f] * 10 + (unsigned)(c - '0');
        }
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[0] < 2000 || v[0] > 2199 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1])
        return false;
    bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap) return false;
    *days = days_from_civil(v[0], v[1], v[2]);
    return true;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e) return false;
    return true;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0 && s[strlen(p)] != '\0';
}

/* A URI of one of the schemes security.txt allows for the field; no spaces. */
static bool uri_ok(const char *v, bool contact)
{
    if (strchr(v, ' ') != NULL) return false;
    if (has_prefix(v, "https://")) return true;
    return contact && (has_prefix(v, "mailto:") || has_prefix(v, "tel:"));
}

/* "en, de-AT": tags of letters, digits and '-', separated by ", ". */
static bool languages_ok(const char *v)
{
    size_t taglen = 0;
    for (const char *p = v;; p++) {
        char c = *p;
        if (c == '\0' || c == ',') {
            if (taglen == 0 || taglen > 35) return false;
            if (c == '\0') return true;
            if (p[1] == ' ') p++;
            taglen = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            taglen++;
        } else {
            return false;
        }
    }
}

enum { K_MFR, K_CONTACT, K_POLICY, K_CANON, K_ENC, K_ACK, K_LANG, K_SUPPORT, K_EXPIRES, K_N };
static const char *const keys[K_N] = {"manufacturer",    "contact",     "policy",
                                      "canonical",       "encryption",  "acknowledgments",
                                      "preferred_languages", "support_until", "expires_days"};

static hearth_status set_value(hearth_manufacturer *m, int k, const char *v, unsigned line)
{
    switch (k) {
    case K_MFR: snprintf(m->manufacturer, sizeof m->manufacturer, "%s", v); break;
    case K_CONTACT:
        if (!uri_ok(v, true))
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: contact must be a mailto:, "
                              "https:// or tel: URI",
                              line);
        if (m->n_contact == HEARTH_MFR_CONTACTS_MAX)
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: at most %d contacts", line,
                              HEARTH_MFR_CONTACTS_MAX);
        snprintf(m->contact[m->n_contact++], sizeof m->contact[0], "%s", v);
        break;
    case K_POLICY:
    case K_CANON:
    case K_ENC:
    case K_ACK: {
        if (!uri_ok(v, false))
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: %s must be an https:// URL",
                              line, keys[k]);
        char *dst = k == K_POLICY ? m->policy
                    : k == K_CANON ? m->canonical
                    : k == K_ENC   ? m->encryption
                                   : m->acknowledgments;
        snprintf(dst, HEARTH_MFR_VALUE_MAX + 1, "%s", v);
        break;
    }
    case K_LANG:
        if (!languages_ok(v))
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: preferred_languages must be "
                              "language tags separated by commas, e.g. \"en, de\"",
                              line);
        snprintf(m->languages, sizeof m->languages, "%s", v);
        break;
    case K_SUPPORT: {
        int64_t days;
        if (!date_parse(v, &days))
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: support_until must be a date "
                              "YYYY-MM-DD",
                              line);
        snprintf(m->support_until, sizeof m->support_until, "%s", v);
        break;
    }
    case K_EXPIRES: {
        size_t n = strlen(v);
        uint32_t d = 0;
        bool ok = n >= 1 && n <= 3 && strspn(v, "0123456789") == n;
        for (size_t i = 0; ok && i < n; i++) d = d * 10 + (uint32_t)(v[i] - '0');
        if (!ok || d < 1 || d > HEARTH_MFR_EXPIRES_DAYS_MAX)
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: expires_days must be 1..%d "
                              "(RFC 9116: less than a year)",
                              line, HEARTH_MFR_EXPIRES_DAYS_MAX);
        m->expires_days = d;
        break;
    }
    default: return hearth_err(HEARTH_ERR_INTERNAL, "manufacturer configuration: bad key");
    }
    return HEARTH_OK;
}

hearth_status hearth_manufacturer_parse(const char *text, size_t len, hearth_manufacturer *out)
{
    HEARTH_ENSURE(text != NULL && out != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "manufacturer configuration: no input"));
    HEARTH_ENSURE(len <= HEARTH_MFR_TEXT_MAX,
                  hearth_err(HEARTH_ERR_TOO_LARGE, "manufacturer configuration is over %d bytes",
                             HEARTH_MFR_TEXT_MAX));
    memset(out, 0, sizeof *out);
    unsigned seen[K_N] = {0};
    size_t pos = 0;
    unsigned line = 0;
    while (pos < len) {
        line++;
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t ll = nl != NULL ? (size_t)(nl - l) : len - pos;
        pos += ll + (nl != NULL);
        char buf[HEARTH_MFR_VALUE_MAX + 64];
        if (ll >= sizeof buf)
            return hearth_err(HEARTH_ERR_INVALID, "manufacturer configuration line %u is too long",
                              line);
        memcpy(buf, l, ll);
        buf[ll] = '\0';
        if (memchr(buf, '\0', ll) != NULL || !printable(buf))
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: printable ASCII only", line);
        char *s = buf;
        while (*s == ' ') s++;
        if (*s == '\0' || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL)
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: expected key = value", line);
        char *ke = eq;
        while (ke > s && ke[-1] == ' ') ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (*v == ' ') v++;
        size_t vl = strlen(v);
        while (vl > 0 && v[vl - 1] == ' ') v[--vl] = '\0';
        int k = -1;
        for (int i = 0; i < K_N; i++)
            if (strcmp(s, keys[i]) == 0) k = i;
        if (k < 0)
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: unknown key \"%s\"", line, s);
        if (vl == 0 || vl > HEARTH_MFR_VALUE_MAX)
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: %s needs a value of 1..%d "
                              "characters",
                              line, keys[k], HEARTH_MFR_VALUE_MAX);
        if (k != K_CONTACT && seen[k])
            return hearth_err(HEARTH_ERR_INVALID,
                              "manufacturer configuration line %u: %s given twice", line, keys[k]);
        seen[k]++;
        HEARTH_GUARD(set_value(out, k, v, line));
    }
    static const int required[] = {K_MFR, K_CONTACT, K_POLICY, K_LANG, K_SUPPORT, K_EXPIRES};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!seen[required[i]])
            return hearth_err(HEARTH_ERR_INVALID, "manufacturer configuration: %s is required",
                              keys[required[i]]);
    return HEARTH_OK;
}

int64_t hearth_manufacturer_expires(const hearth_manufacturer *m)
{
    return m->built + (int64_t)m->expires_days * 86400;
}

int64_t hearth_manufacturer_support_end(const hearth_manufacturer *m)
{
    int64_t days = 0;
    if (!date_parse(m->support_until, &days)) return 0;
    return days * 86400 + 86399;
}

typedef struct {
    char *out;
    size_t cap, len;
    bool over;
} txt_buf;

static void add(txt_buf *b, const char *name, const char *value)
{
    if (value[0] == '\0' || b->over) return;
    int n = snprintf(b->out + b->len, b->cap - b->len, "%s%s%s\n", name, name[0] ? ": " : "",
                     value);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->over = true;
        return;
    }
    b->len += (size_t)n;
}

hearth_status hearth_securitytxt_render(const hearth_manufacturer *m, int64_t now, char *out,
                                        size_t cap, size_t *len)
{
    HEARTH_ENSURE(m != NULL && out != NULL && cap > 0 && len != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "security.txt: bad arguments"));
    HEARTH_ENSURE(m->built > 0, hearth_err(HEARTH_ERR_STATE,
                                           "security.txt: the configuration has no build time"));
    int64_t exp = hearth_manufacturer_expires(m);
    time_t t = (time_t)exp;
    struct tm tm;
    char expires[32];
    HEARTH_ENSURE(gmtime_r(&t, &tm) != NULL &&
                      strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0,
                  hearth_err(HEARTH_ERR_INTERNAL, "security.txt: cannot format the expiry"));
    if (now >= exp)
        return hearth_err(HEARTH_ERR_EXPIRED,
                          "security.txt expired at %s: this software is older than the "
                          "manufacturer's %u days; update the device",
                          expires, (unsigned)m->expires_days);
    txt_buf b = {out, cap, 0, false};
    out[0] = '\0';
    char comment[HEARTH_MFR_VALUE_MAX + 128];
    snprintf(comment, sizeof comment, "# Security policy of %s (RFC 9116).", m->manufacturer);
    add(&b, "", comment);
    snprintf(comment, sizeof comment,
             "# Security updates for this product are provided until %s (EN 303 645 5.3-13).",
             m->support_until);
    add(&b, "", comment);
    for (size_t i = 0; i < m->n_contact; i++) add(&b, "Contact", m->contact[i]);
    add(&b, "Expires", expires);
    add(&b, "Encryption", m->encryption);
    add(&b, "Acknowledgments", m->acknowledgments);
    add(&b, "Preferred-Languages", m->languages);
    add(&b, "Canonical", m->canonical);
    add(&b, "Policy", m->policy);
    if (b.over)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "security.txt does not fit %zu bytes", cap);
    *len = b.len;
    return HEARTH_OK;
}

hearth_status hearth_manufacturer_builtin(hearth_manufacturer *out)
{
    const char *text = hearth_manufacturer_builtin_text();
    HEARTH_GUARD(hearth_manufacturer_parse(text, strlen(text), out));
    out->built = hearth_manufacturer_builtin_time();
    return HEARTH_OK;
}
