/* Token buckets for the enrolment endpoint (ratelimit.h). Each table is a
 * fixed array searched in full: at the default 4096 entries that is a few
 * microseconds, well under the TLS handshake every request has already cost,
 * and it needs no hash an attacker could aim at one bucket chain. */
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "hearth/util.h"

typedef struct {
    uint64_t hash;          /* of key, to skip most comparisons; 0: free slot */
    int64_t tat_ms;         /* the bucket is full again at this time */
    int64_t seen_ms;        /* last request (for least-recently-used eviction) */
    char key[FLEET_RATE_KEY_MAX];
} rate_entry;

struct fleet_rate_table {
    fleet_rate_rule rule;
    size_t slots;
    rate_entry *e;
};

static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *k != '\0'; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ULL;
    }
    return h != 0 ? h : 1;
}

static hearth_status table_new(const fleet_rate_rule *rule, size_t slots, fleet_rate_table **out)
{
    *out = NULL;
    if (rule->burst == 0) return HEARTH_OK; /* no limit */
    fleet_rate_table *t = calloc(1, sizeof *t);
    rate_entry *e = calloc(slots, sizeof *e);
    if (t == NULL || e == NULL) {
        free(t);
        free(e);
        return hearth_err(HEARTH_ERR_NOMEM, "rate limit table of %zu entries", slots);
    }
    t->rule = *rule;
    t->slots = slots;
    t->e = e;
    *out = t;
    return HEARTH_OK;
}

static void table_free(fleet_rate_table *t)
{
    if (t == NULL) return;
    free(t->e);
    free(t);
}

hearth_status fleet_rate_init(fleet_rate *r, const fleet_rate_rule *device, const fleet_rate_rule *address,
                              size_t slots)
{
    memset(r, 0, sizeof *r);
    HEARTH_ENSURE(slots >= FLEET_RATE_SLOTS_MIN && slots <= FLEET_RATE_SLOTS_MAX,
                  hearth_err(HEARTH_ERR_RANGE, "rate limit table: %u..%u entries", FLEET_RATE_SLOTS_MIN,
                             FLEET_RATE_SLOTS_MAX));
    const fleet_rate_rule *rules[2] = {device, address};
    for (int i = 0; i < 2; i++)
        HEARTH_ENSURE(rules[i]->burst <= FLEET_RATE_BURST_MAX && rules[i]->refill_s >= 1 &&
                          rules[i]->refill_s <= FLEET_RATE_REFILL_MAX_S,
                      hearth_err(HEARTH_ERR_RANGE, "rate limit: burst 0..%u, refill 1..%u s",
                                 FLEET_RATE_BURST_MAX, FLEET_RATE_REFILL_MAX_S));
    HEARTH_GUARD(table_new(device, slots, &r->device));
    hearth_status st = table_new(address, slots, &r->address);
    if (st != HEARTH_OK) {
        table_free(r->device);
        r->device = NULL;
    }
    return st;
}

void fleet_rate_free(fleet_rate *r)
{
    table_free(r->device);
    table_free(r->address);
    r->device = r->address = NULL;
}

/* The entry for @p key: found, or a slot to (re)use with *fresh set (a free
 * slot, one whose bucket is full again, else the least recently used one,
 * counted in *evicted). */
static rate_entry *table_find(fleet_rate_table *t, const char *key, int64_t now_ms, bool *fresh,
                              unsigned long *evicted)
{
    uint64_t h = key_hash(key);
    rate_entry *spare = NULL, *lru = NULL;
    for (size_t i = 0; i < t->slots; i++) {
        rate_entry *e = &t->e[i];
        if (e->hash == h && strcmp(e->key, key) == 0) {
            *fresh = false;
            return e;
        }
        if (spare != NULL) continue;
        if (e->hash == 0 || e->tat_ms <= now_ms) spare = e;
        else if (lru == NULL || e->seen_ms < lru->seen_ms) lru = e;
    }
    *fresh = true;
    if (spare == NULL) {
        spare = lru;
        (*evicted)++;
    }
    return spare;
}

/* Would one more token fit? *wait_ms: how long until it would. */
static bool bucket_allows(const fleet_rate_rule *rule, int64_t tat_ms, int64_t now_ms, int64_t *wait_ms)
{
    int64_t t = (int64_t)rule->refill_s * 1000;
    int64_t tau = t * ((int64_t)rule->burst - 1); /* tolerance: burst - 1 intervals ahead */
    int64_t tat = tat_ms > now_ms ? tat_ms : now_ms;
    *wait_ms = tat - now_ms - tau;
    return *wait_ms <= 0;
}

bool fleet_rate_admit(fleet_rate *r, const char *device_key, const char *address_key, int64_t now_ms,
                      uint32_t *retry_after_s, const char **which)
{
    fleet_rate_table *tables[2] = {r->device, r->address};
    const char *keys[2] = {device_key, address_key};
    static const char *const names[2] = {"device", "address"};
    rate_entry *found[2] = {NULL, NULL};
    int64_t worst_ms = 0;
    const char *worst = NULL;
    *retry_after_s = 0;
    *which = NULL;
    for (int i = 0; i < 2; i++) {
        fleet_rate_table *t = tables[i];
        if (t == NULL) continue;
        char key[FLEET_RATE_KEY_MAX];
        /* An over-long key (not produced by enrol.c) is cut, never overrun. */
        size_t kl = strnlen(keys[i], sizeof key - 1);
        memcpy(key, keys[i], kl);
        key[kl] = '\0';
        bool fresh = false;
        rate_entry *e = table_find(t, key, now_ms, &fresh, &r->evicted);
        if (fresh) {
            memset(e, 0, sizeof *e);
            e->hash = key_hash(key);
            memcpy(e->key, key, kl + 1);
            e->tat_ms = now_ms;
        }
        e->seen_ms = now_ms;
        found[i] = e;
        int64_t wait = 0;
        if (!bucket_allows(&t->rule, e->tat_ms, now_ms, &wait) && wait > worst_ms) {
            worst_ms = wait;
            worst = names[i];
        }
    }
    if (worst != NULL) {
        r->refused++;
        int64_t s = (worst_ms + 999) / 1000;
        *retry_after_s = s < 1 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
        *which = worst;
        return false;
    }
    for (int i = 0; i < 2; i++) {
        if (found[i] == NULL) continue;
        int64_t tat = found[i]->tat_ms > now_ms ? found[i]->tat_ms : now_ms;
        found[i]->tat_ms = tat + (int64_t)tables[i]->rule.refill_s * 1000;
    }
    return true;
}
