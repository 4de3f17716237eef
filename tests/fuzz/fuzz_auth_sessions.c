/* libFuzzer harness for the session record ("auth.sessions"), decoded by
 * hearth_auth_open() through auth_load_sessions()/dec_sessions() in
 * src/auth/records.c (reached via the hearth_auth_test_decode_sessions hook):
 * evidence for 5.13-1 (stored data validated) and 5.4-1 (records read back
 * from the secure store are checked).
 *
 * Input: byte 0 picks sessions_max (1..256), the rest is the record.
 * Checked:
 *  - an independent parser of the documented layout (u8 version 1, u16 n
 *    <= 256, n x (32-byte token hash, u8 len 1..32, name [a-z0-9._-],
 *    u64 created, u64 expires), nothing after) is the oracle: the decode
 *    succeeds exactly when the record is valid;
 *  - a malformed record leaves NO session (auth_open's fail-safe), the
 *    re-encoded state being the empty record;
 *  - a valid one keeps min(n, sessions_max) sessions, all taken unchanged
 *    from the record, none older than one it dropped; with n <= max the
 *    real encoder gives back the input byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

#define ENTRY_MIN (32 + 1 + 1 + 16)
#define LIMIT 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

typedef struct {
    const uint8_t *p; /* start of the entry */
    size_t len;       /* its encoded length */
    int64_t created;
} entry;

/* Parse into @p e (up to LIMIT); returns the count or -1 if malformed. */
static int parse(const uint8_t *v, size_t len, entry *e)
{
    if (len < 3 || v[0] != 1) return -1;
    size_t n = be(v + 1, 2), pos = 3;
    if (n > LIMIT) return -1;
    for (size_t i = 0; i < n; i++) {
        if (len - pos < ENTRY_MIN) return -1;
        size_t ul = v[pos + 32];
        if (ul < 1 || ul > HEARTH_USERNAME_MAX || len - pos < ENTRY_MIN - 1 + ul) return -1;
        for (size_t k = 0; k < ul; k++) {
            uint8_t c = v[pos + 33 + k];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-'))
                return -1;
        }
        e[i].p = v + pos;
        e[i].len = ENTRY_MIN - 1 + ul;
        e[i].created = (int64_t)be(v + pos + 33 + ul, 8);
        pos += e[i].len;
    }
    return pos == len ? (int)n : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint32_t max = (uint32_t)data[0] + 1;
    const uint8_t *val = data + 1;
    size_t len = size - 1;
    static entry in[LIMIT], out[LIMIT];

    uint32_t kept = 12345;
    hearth_buf re;
    hearth_buf_init(&re, 1 << 16);
    hearth_status st = hearth_auth_test_decode_sessions(val, len, max, &kept, &re);
    int n = parse(val, len, in);
    check((st == HEARTH_OK) == (n >= 0));
    int m = parse(re.data, re.len, out);
    check(m >= 0 && (uint32_t)m == kept);
    if (st != HEARTH_OK) {
        check(st == HEARTH_ERR_INVALID || st == HEARTH_ERR_UNSUPPORTED);
        check(kept == 0);
    } else {
        check(kept == ((uint32_t)n < max ? (uint32_t)n : max));
        if ((uint32_t)n <= max) check(re.len == len && memcmp(re.data, val, len) == 0);
        /* Kept sessions are a sub-multiset of the record's. */
        static uint8_t used[LIMIT];
        memset(used, 0, sizeof used);
        int64_t min_kept = INT64_MAX;
        for (int i = 0; i < m; i++) {
            int found = -1;
            for (int j = 0; j < n && found < 0; j++)
                if (!used[j] && in[j].len == out[i].len &&
                    memcmp(in[j].p, out[i].p, in[j].len) == 0)
                    found = j;
            check(found >= 0);
            used[found] = 1;
            if (out[i].created < min_kept) min_kept = out[i].created;
        }
        /* The oldest were dropped. */
        for (int j = 0; j < n; j++)
            if (!used[j]) check(in[j].created <= min_kept);
    }
    hearth_buf_free(&re);
    hearth_err_clear();
    return 0;
}
