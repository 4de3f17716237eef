/* Topic names: hearth/<id>/<kind>, the device id in [A-Za-z0-9_-]{1,64}.
 * The broker's ACL already confines a device to its own id; the service
 * still checks every topic, so a broker misconfiguration or a wildcard
 * cannot make it store under an id that is not one. */
#include <string.h>

#include "fleet.h"

const char *const fleet_subscriptions[FLEET_T_COUNT] = {
    [FLEET_T_STATE] = "hearth/+/state",
    [FLEET_T_TELEMETRY] = "hearth/+/telemetry",
    [FLEET_T_EVENTS] = "hearth/+/events",
    [FLEET_T_STATUS] = "hearth/+/status",
    [FLEET_T_CMDRES] = "hearth/+/cmd/res",
};

static const char *const kind_suffix[FLEET_T_COUNT] = {
    [FLEET_T_STATE] = "state",         [FLEET_T_TELEMETRY] = "telemetry",
    [FLEET_T_EVENTS] = "events",       [FLEET_T_STATUS] = "status",
    [FLEET_T_CMDRES] = "cmd/res",
};

/* Bounds per kind (docs/fleet.md): a telemetry report with its port lists
 * is the largest; a status is a few bytes. */
static const size_t kind_max[FLEET_T_COUNT] = {
    [FLEET_T_STATE] = 8192,   [FLEET_T_TELEMETRY] = 16384, [FLEET_T_EVENTS] = 2048,
    [FLEET_T_STATUS] = 256,   [FLEET_T_CMDRES] = 8192,
};

const char *fleet_kind_name(fleet_kind k)
{
    return (unsigned)k < FLEET_T_COUNT ? kind_suffix[k] : "?";
}

size_t fleet_payload_max(fleet_kind k)
{
    return (unsigned)k < FLEET_T_COUNT ? kind_max[k] : 0;
}

bool fleet_id_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > FLEET_ID_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

hearth_status fleet_topic_parse(const char *topic, char id[FLEET_ID_MAX + 1], fleet_kind *kind)
{
    static const char prefix[] = "hearth/";
    if (topic == NULL) return hearth_err(HEARTH_ERR_INVALID, "no topic");
    size_t tl = strnlen(topic, FLEET_TOPIC_MAX + 1);
    if (tl > FLEET_TOPIC_MAX) return hearth_err(HEARTH_ERR_INVALID, "topic too long");
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "topic outside hearth/");
    const char *p = topic + sizeof prefix - 1;
    const char *slash = memchr(p, '/', tl - (size_t)(p - topic));
    if (slash == NULL) return hearth_err(HEARTH_ERR_INVALID, "topic has no kind");
    size_t idlen = (size_t)(slash - p);
    if (!fleet_id_valid(p, idlen)) return hearth_err(HEARTH_ERR_INVALID, "topic device id invalid");
    for (unsigned k = 0; k < FLEET_T_COUNT; k++) {
        if (strcmp(slash + 1, kind_suffix[k]) != 0) continue;
        memcpy(id, p, idlen);
        id[idlen] = '\0';
        *kind = (fleet_kind)k;
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_INVALID, "topic kind unknown");
}
