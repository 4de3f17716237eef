/* Security-log line -> events payload for the service (hearth/link.h):
 * the event, its severity and its non-personal fields. User names and
 * client addresses stay on the device (EN 303 645 6-4, 5.8-2). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "hearth/json.h"
#include "hearth/link.h"
#include "hearth/util.h"

static hearth_status append(char *buf, size_t cap, size_t *o, const char *s)
{
    size_t n = strlen(s);
    if (*o + n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "event payload too large");
    memcpy(buf + *o, s, n + 1);
    *o += n;
    return HEARTH_OK;
}

static hearth_status append_str(char *buf, size_t cap, size_t *o, const char *s)
{
    HEARTH_GUARD(hearth_json_escape(s, strlen(s), buf, cap));
    *o = strlen(buf);
    return HEARTH_OK;
}

hearth_status hearth_link_event_payload(const char *line, int64_t now_unix, char *buf, size_t cap, size_t *len)
{
    HEARTH_ENSURE(line != NULL && buf != NULL && cap > 0, HEARTH_ERR_INVALID);
    buf[0] = '\0';
    cJSON *j = cJSON_Parse(line);
    if (j == NULL || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return hearth_err(HEARTH_ERR_INVALID, "event: not a security-log line");
    }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    const cJSON *sev = cJSON_GetObjectItemCaseSensitive(j, "severity");
    hearth_status st = HEARTH_OK;
    if (!cJSON_IsString(ev) || !cJSON_IsString(sev)) {
        st = hearth_err(HEARTH_ERR_INVALID, "event: no event or severity");
        goto out;
    }
    size_t o = 0;
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)now_unix);
    if ((st = append(buf, cap, &o, "{\"v\":1,\"ts\":")) != HEARTH_OK || (st = append(buf, cap, &o, num)) != HEARTH_OK ||
        (st = append(buf, cap, &o, ",\"sev\":")) != HEARTH_OK ||
        (st = append_str(buf, cap, &o, sev->valuestring)) != HEARTH_OK ||
        (st = append(buf, cap, &o, ",\"event\":")) != HEARTH_OK ||
        (st = append_str(buf, cap, &o, ev->valuestring)) != HEARTH_OK)
        goto out;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        const char *k = it->string;
        if (k == NULL || !cJSON_IsString(it) || strcmp(k, "ts") == 0 || strcmp(k, "seq") == 0 ||
            strcmp(k, "severity") == 0 || strcmp(k, "event") == 0 || strcmp(k, "v") == 0 ||
            strcmp(k, "sev") == 0 || hearth_seclog_field_personal(k))
            continue;
        if ((st = append(buf, cap, &o, ",")) != HEARTH_OK || (st = append_str(buf, cap, &o, k)) != HEARTH_OK ||
            (st = append(buf, cap, &o, ":")) != HEARTH_OK ||
            (st = append_str(buf, cap, &o, it->valuestring)) != HEARTH_OK)
            goto out;
    }
    st = append(buf, cap, &o, "}");
    if (st == HEARTH_OK && len != NULL) *len = o;
out:
    cJSON_Delete(j);
    if (st != HEARTH_OK) buf[0] = '\0';
    return st;
}
