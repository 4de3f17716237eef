/* Connection churn aggregation: one "connections" summary line per window
 * instead of one line per connection (see churn.h). Loop thread only. */
#include "churn.h"

#include <stdio.h>
#include <string.h>

#include "hearth/util.h"

void hearthd_churn_init(hearthd_churn *c)
{
    memset(c, 0, sizeof *c);
    c->since_ms = hearth_mono_ms();
}

void hearthd_churn_accepted(hearthd_churn *c)
{
    c->accepted++;
}

void hearthd_churn_closed(hearthd_churn *c, const char *reason)
{
    size_t i = 0;
    for (; i < HEARTHD_CHURN_REASONS; i++) {
        if (c->reason[i] == NULL) c->reason[i] = reason;
        if (c->reason[i] == reason || strcmp(c->reason[i], reason) == 0) break;
    }
    if (i < HEARTHD_CHURN_REASONS) c->closed[i]++;
    else c->other++;
}

void hearthd_churn_flush(hearthd_churn *c, int force)
{
    int64_t now = hearth_mono_ms();
    if (!force && now - c->since_ms < (int64_t)HEARTHD_CHURN_WINDOW_S * 1000) return;
    bool any = c->accepted > 0 || c->other > 0;
    for (size_t i = 0; i < HEARTHD_CHURN_REASONS; i++) any = any || c->closed[i] > 0;
    if (any) {
        /* key/value slots: window, accepted, each reason, other; unused
         * slots stay NULL and end the list early. */
        char val[HEARTHD_CHURN_REASONS + 3][24];
        char key[HEARTHD_CHURN_REASONS][48];
        const char *kv[2 * (HEARTHD_CHURN_REASONS + 3) + 1];
        size_t n = 0;
        snprintf(val[0], sizeof val[0], "%lld", (long long)((now - c->since_ms + 999) / 1000));
        kv[n++] = "window_s";
        kv[n++] = val[0];
        snprintf(val[1], sizeof val[1], "%llu", (unsigned long long)c->accepted);
        kv[n++] = "accepted";
        kv[n++] = val[1];
        for (size_t i = 0; i < HEARTHD_CHURN_REASONS; i++) {
            if (c->reason[i] == NULL || c->closed[i] == 0) continue;
            snprintf(key[i], sizeof key[i], "closed_%s", c->reason[i]);
            snprintf(val[2 + i], sizeof val[2 + i], "%llu", (unsigned long long)c->closed[i]);
            kv[n++] = key[i];
            kv[n++] = val[2 + i];
        }
        if (c->other > 0) {
            snprintf(val[2 + HEARTHD_CHURN_REASONS], sizeof val[0], "%llu",
                     (unsigned long long)c->other);
            kv[n++] = "closed_other";
            kv[n++] = val[2 + HEARTHD_CHURN_REASONS];
        }
        while (n < sizeof kv / sizeof kv[0]) kv[n++] = NULL;
        hearth_seclog(HEARTH_SEV_INFO, "connections", kv[0], kv[1], kv[2], kv[3], kv[4], kv[5],
                      kv[6], kv[7], kv[8], kv[9], kv[10], kv[11], kv[12], kv[13], kv[14], kv[15],
                      kv[16], kv[17], NULL);
    }
    memset(c, 0, sizeof *c);
    c->since_ms = now;
}
