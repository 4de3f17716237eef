/*
 * The reset notice (hearth/reset.h): a non-personal record in the store a
 * factory reset builds, "reset number N at T, by the button or the API",
 * which the device program reports to its service once. Its encoding and
 * the `factory_reset` event made from it live here, shared by the reset,
 * hearthd and the tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/reset.h"
#include "hearth/util.h"
#include "identity_internal.h"

#define NOTICE_MAGIC "hearth-reset-1\n"
#define NOTICE_MAX 160

static const char *reason_name(hearth_reset_reason r)
{
    return r == HEARTH_RESET_BY_BUTTON ? "button" : "api";
}

hearth_status hearth_reset_notice_encode(const hearth_reset_notice *n, char *buf, size_t cap, size_t *len)
{
    HEARTH_ENSURE(n != NULL && buf != NULL && len != NULL, HEARTH_ERR_INVALID);
    int k = snprintf(buf, cap, NOTICE_MAGIC "count=%llu\nat=%lld\nreason=%s\npending=%d\n",
                     (unsigned long long)n->count, (long long)n->at_unix, reason_name(n->reason),
                     n->pending ? 1 : 0);
    if (k < 0 || (size_t)k >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "reset notice too large");
    *len = (size_t)k;
    return HEARTH_OK;
}

/* One "name=digits\n" line at *p; advances *p. */
static bool field_u64(const char **p, const char *name, uint64_t *out)
{
    size_t nl = strlen(name);
    if (strncmp(*p, name, nl) != 0 || (*p)[nl] != '=') return false;
    const char *v = *p + nl + 1;
    if (*v < '0' || *v > '9' || (*v == '0' && v[1] != '\n')) return false;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || end == NULL || *end != '\n' || end - v > 19) return false;
    *out = x;
    *p = end + 1;
    return true;
}

static hearth_status decode(const char *s, hearth_reset_notice *out)
{
    const char *p = s;
    uint64_t count = 0, at = 0, pending = 0;
    if (strncmp(p, NOTICE_MAGIC, strlen(NOTICE_MAGIC)) != 0) goto bad;
    p += strlen(NOTICE_MAGIC);
    if (!field_u64(&p, "count", &count) || count == 0 || !field_u64(&p, "at", &at) ||
        at > (uint64_t)INT64_MAX)
        goto bad;
    if (strncmp(p, "reason=api\n", 11) == 0) {
        out->reason = HEARTH_RESET_BY_API;
        p += 11;
    } else if (strncmp(p, "reason=button\n", 14) == 0) {
        out->reason = HEARTH_RESET_BY_BUTTON;
        p += 14;
    } else {
        goto bad;
    }
    if (!field_u64(&p, "pending", &pending) || pending > 1 || *p != '\0') goto bad;
    out->count = count;
    out->at_unix = (int64_t)at;
    out->pending = pending == 1;
    return HEARTH_OK;
bad:
    return hearth_err(HEARTH_ERR_TAMPERED, "the reset notice is malformed");
}

hearth_status hearth_reset_notice_get(hearth_store *st, hearth_reset_notice *out)
{
    HEARTH_ENSURE(st != NULL && out != NULL, HEARTH_ERR_INVALID);
    char buf[NOTICE_MAX + 1];
    size_t len = 0;
    HEARTH_GUARD(hearth_store_get(st, HEARTH_REC_RESET_NOTICE, buf, NOTICE_MAX, &len));
    if (len == 0 || len > NOTICE_MAX || memchr(buf, '\0', len) != NULL)
        return hearth_err(HEARTH_ERR_TAMPERED, "the reset notice is malformed");
    buf[len] = '\0';
    return decode(buf, out);
}

hearth_status hearth_reset_notice_clear(hearth_store *st)
{
    hearth_reset_notice n = {0};
    HEARTH_GUARD(hearth_reset_notice_get(st, &n));
    if (!n.pending) return HEARTH_OK;
    n.pending = false;
    char buf[NOTICE_MAX];
    size_t len = 0;
    HEARTH_GUARD(hearth_reset_notice_encode(&n, buf, sizeof buf, &len));
    return hearth_store_put(st, HEARTH_REC_RESET_NOTICE, buf, len);
}

hearth_status hearth_reset_notice_event(const hearth_reset_notice *n, int64_t now_unix, char *buf, size_t cap,
                                        size_t *len)
{
    HEARTH_ENSURE(n != NULL && buf != NULL && len != NULL, HEARTH_ERR_INVALID);
    int k = snprintf(buf, cap,
                     "{\"v\":1,\"ts\":%lld,\"sev\":\"warning\",\"event\":\"factory_reset\",\"reset_at\":%lld,"
                     "\"reset_count\":%llu,\"reason\":\"%s\"}",
                     (long long)now_unix, (long long)n->at_unix, (unsigned long long)n->count,
                     reason_name(n->reason));
    if (k < 0 || (size_t)k >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "factory_reset event too large");
    *len = (size_t)k;
    return HEARTH_OK;
}
