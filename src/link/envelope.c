/* The envelope of what the link publishes (hearth/link.h, docs/mqtt.md):
 * the outbox sequence number and the device's reset epoch, inserted right
 * after {"v":1 of every payload it sends. */
#include <stdio.h>
#include <string.h>

#include "hearth/link.h"

hearth_status hearth_link_envelope(uint64_t seq, uint64_t epoch, const uint8_t *payload, size_t n, char *buf,
                                   size_t cap, size_t *len)
{
    HEARTH_ENSURE(payload != NULL && buf != NULL && len != NULL, hearth_err(HEARTH_ERR_INVALID, "link: envelope"));
    *len = 0;
    /* {"v":1 then the next member or the end: {"v":10 is not version 1 */
    if (n < 7 || memcmp(payload, "{\"v\":1", 6) != 0 || (payload[6] != ',' && payload[6] != '}'))
        return hearth_err(HEARTH_ERR_INVALID, "link: not a {\"v\":1 payload");
    int hl = epoch > 0 ? snprintf(buf, cap, "{\"v\":1,\"seq\":%llu,\"ep\":%llu", (unsigned long long)seq,
                                  (unsigned long long)epoch)
                       : snprintf(buf, cap, "{\"v\":1,\"seq\":%llu", (unsigned long long)seq);
    if (hl < 0 || (size_t)hl >= cap || (size_t)hl + n - 6 > cap)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "link: message too large for its envelope");
    memcpy(buf + hl, payload + 6, n - 6);
    *len = (size_t)hl + n - 6;
    return HEARTH_OK;
}
