/* The administrator's update policy and the check schedule (5.3-4, 5.3-5,
 * 5.3-6). Pure functions, so they are unit-tested without a clock. */
#include <stdio.h>
#include <string.h>

#include "hearth/updater.h"
#include "hearth/util.h"

/* Record layout (12 bytes, big-endian): 'U' 'P', version 1, flags
 * (bit 0: automatic), postpone_until as i64. Strict: any other length,
 * version or flag bit is rejected so a damaged record is noticed. */
#define POLICY_VERSION 1u
#define POLICY_LEN 12u

hearth_status hearth_update_policy_encode(const hearth_update_policy *p, uint8_t out[16],
                                          size_t *len)
{
    HEARTH_ENSURE(p != NULL && out != NULL && len != NULL, HEARTH_ERR_INVALID);
    HEARTH_ENSURE(p->postpone_until >= 0, HEARTH_ERR_RANGE);
    out[0] = 'U';
    out[1] = 'P';
    out[2] = POLICY_VERSION;
    out[3] = p->automatic ? 1u : 0u;
    uint64_t v = (uint64_t)p->postpone_until;
    hearth_be64_put(out + 4, v);
    *len = POLICY_LEN;
    return HEARTH_OK;
}

hearth_status hearth_update_policy_decode(const uint8_t *in, size_t len, hearth_update_policy *p)
{
    HEARTH_ENSURE(in != NULL && p != NULL, HEARTH_ERR_INVALID);
    hearth_cursor c;
    hearth_cursor_init(&c, in, len);
    uint8_t m0, m1, ver, flags;
    uint64_t until;
    HEARTH_GUARD(hearth_cursor_u8(&c, &m0));
    HEARTH_GUARD(hearth_cursor_u8(&c, &m1));
    HEARTH_GUARD(hearth_cursor_u8(&c, &ver));
    HEARTH_GUARD(hearth_cursor_u8(&c, &flags));
    HEARTH_GUARD(hearth_cursor_u64(&c, &until));
    if (m0 != 'U' || m1 != 'P') return hearth_err(HEARTH_ERR_INVALID, "update policy: bad magic");
    if (ver != POLICY_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "update policy: version %u unknown", ver);
    if ((flags & ~1u) != 0 || until > (uint64_t)INT64_MAX || hearth_cursor_remaining(&c) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "update policy: malformed record");
    p->automatic = (flags & 1u) != 0;
    p->postpone_until = (int64_t)until;
    return HEARTH_OK;
}

/* Window record (5.3-12), big-endian: 'U' 'W', version 1, flags 0, at i64,
 * announced_at i64, version length u8, version bytes (at most 64). Strict
 * like the policy record. */
#define WINDOW_VERSION 1u
#define WINDOW_FIXED 21u

hearth_status hearth_update_window_encode(const hearth_update_window *w, uint8_t *out, size_t *len)
{
    HEARTH_ENSURE(w != NULL && out != NULL && len != NULL, HEARTH_ERR_INVALID);
    size_t vl = strnlen(w->version, sizeof w->version);
    HEARTH_ENSURE(w->at >= 0 && w->announced_at >= 0 && vl < sizeof w->version, HEARTH_ERR_RANGE);
    out[0] = 'U';
    out[1] = 'W';
    out[2] = WINDOW_VERSION;
    out[3] = 0;
    hearth_be64_put(out + 4, (uint64_t)w->at);
    hearth_be64_put(out + 12, (uint64_t)w->announced_at);
    out[20] = (uint8_t)vl;
    memcpy(out + WINDOW_FIXED, w->version, vl);
    *len = WINDOW_FIXED + vl;
    return HEARTH_OK;
}

hearth_status hearth_update_window_decode(const uint8_t *in, size_t len, hearth_update_window *w)
{
    HEARTH_ENSURE(in != NULL && w != NULL, HEARTH_ERR_INVALID);
    hearth_cursor c;
    hearth_cursor_init(&c, in, len);
    uint8_t m0, m1, ver, flags, vl;
    uint64_t at, ann;
    HEARTH_GUARD(hearth_cursor_u8(&c, &m0));
    HEARTH_GUARD(hearth_cursor_u8(&c, &m1));
    HEARTH_GUARD(hearth_cursor_u8(&c, &ver));
    HEARTH_GUARD(hearth_cursor_u8(&c, &flags));
    HEARTH_GUARD(hearth_cursor_u64(&c, &at));
    HEARTH_GUARD(hearth_cursor_u64(&c, &ann));
    HEARTH_GUARD(hearth_cursor_u8(&c, &vl));
    if (m0 != 'U' || m1 != 'W') return hearth_err(HEARTH_ERR_INVALID, "update window: bad magic");
    if (ver != WINDOW_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "update window: version %u unknown", ver);
    if (flags != 0 || at > (uint64_t)INT64_MAX || ann > (uint64_t)INT64_MAX ||
        vl >= sizeof w->version || hearth_cursor_remaining(&c) != vl)
        return hearth_err(HEARTH_ERR_INVALID, "update window: malformed record");
    const uint8_t *v = in + WINDOW_FIXED;
    for (size_t i = 0; i < vl; i++)
        if (v[i] < 0x21 || v[i] > 0x7e) return hearth_err(HEARTH_ERR_INVALID, "update window: malformed record");
    memset(w, 0, sizeof *w);
    w->at = (int64_t)at;
    w->announced_at = (int64_t)ann;
    memcpy(w->version, v, vl);
    return HEARTH_OK;
}

bool hearth_update_window_plan(hearth_update_window *w, const char *version, int64_t now,
                               uint32_t notice_s, bool *announce)
{
    *announce = false;
    if (version == NULL) version = "";
    if (strcmp(w->version, version) != 0 || w->announced_at == 0) {
        /* A disruptive release not announced yet: announce it now, install
         * it no earlier than the notice period later. */
        memset(w, 0, sizeof *w);
        snprintf(w->version, sizeof w->version, "%s", version);
        w->announced_at = now;
        w->at = now + (int64_t)notice_s;
        *announce = true;
    }
    return now >= w->at;
}

int64_t hearth_updater_schedule(int64_t window_start, uint32_t period_s, uint32_t rnd)
{
    if (period_s == 0) return window_start;
    return window_start + (int64_t)(rnd % period_s);
}

int64_t hearth_updater_retry_at(int64_t now, uint64_t backoff_ms, uint32_t hint_s, uint32_t jitter_s)
{
    uint64_t wait = backoff_ms / 1000 + (backoff_ms % 1000 != 0);
    if (hint_s > 0) {
        uint64_t h = (uint64_t)(hint_s < HEARTH_UPDATE_RETRY_AFTER_MAX_S ? hint_s : HEARTH_UPDATE_RETRY_AFTER_MAX_S);
        if (h + jitter_s > wait) wait = h + jitter_s;
    }
    /* The backoff's windows are bounded (30 days), so this cannot overflow
     * for any clock this side of the year 292 billion; stay safe anyway. */
    if (wait > (uint64_t)INT32_MAX) wait = (uint64_t)INT32_MAX;
    if (wait < 1) wait = 1;
    return now + (int64_t)wait;
}

const char *hearth_update_state_name(hearth_update_state s)
{
    switch (s) {
    case HEARTH_UPD_IDLE: return "idle";
    case HEARTH_UPD_CHECKING: return "checking";
    case HEARTH_UPD_DOWNLOADING: return "downloading";
    case HEARTH_UPD_INSTALLING: return "installing";
    case HEARTH_UPD_AVAILABLE: return "available";
    case HEARTH_UPD_RESTART_REQUIRED: return "restart_required";
    }
    return "unknown";
}

const char *hearth_update_outcome_name(hearth_update_outcome o)
{
    switch (o) {
    case HEARTH_UPD_OUT_NONE: return "none";
    case HEARTH_UPD_OUT_UP_TO_DATE: return "up_to_date";
    case HEARTH_UPD_OUT_AVAILABLE: return "available";
    case HEARTH_UPD_OUT_INSTALLED: return "installed";
    case HEARTH_UPD_OUT_REJECTED: return "rejected";
    case HEARTH_UPD_OUT_FAILED: return "failed";
    }
    return "unknown";
}
