/* Command-line values shared by the subcommands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

hearth_status fleet_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return hearth_err(HEARTH_ERR_INVALID, "not a number: '%s'", s ? s : "");
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return hearth_err(HEARTH_ERR_INVALID, "'%s' is not a number in [%llu, %llu]", s,
                          (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return HEARTH_OK;
}

hearth_status fleet_hostport(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = s != NULL ? strrchr(s, ':') : NULL;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= cap)
        return hearth_err(HEARTH_ERR_INVALID, "expected HOST:PORT, got '%s'", s ? s : "");
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') { /* [::1]:1883 */
        h++;
        n -= 2;
    }
    uint64_t p = 0;
    HEARTH_GUARD(fleet_uint(colon + 1, 1, 65535, &p));
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return HEARTH_OK;
}
