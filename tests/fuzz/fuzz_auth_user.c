/* libFuzzer harness for account records ("auth.user.<name>"), decoded by
 * hearth_auth_open() through auth_load_user()/dec_user() in src/auth/records.c
 * (reached via the hearth_auth_test_decode_user hook): evidence for 5.13-1
 * (stored data validated) and 5.4-1 (records read back from the secure
 * store are checked, not trusted blindly).
 *
 * Input: byte 0 = length L of the user name, then L bytes of name (the
 * record is "auth.user." + name), then the record value. Checked:
 *  - an independent parser of the documented layout (u8 version 1, u8 role
 *    1|2, u64 created, u16 len 1..127, that many non-NUL hash bytes, nothing
 *    after) plus the name syntax [a-z0-9._-]{1,32} is the oracle: the decode
 *    succeeds exactly when both are valid;
 *  - success loads exactly one account and the real encoder gives back the
 *    input byte for byte (the format is canonical); failure loads none. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

#define PREFIX "auth.user."

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

static int name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > HEARTH_USERNAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int record_valid(const uint8_t *v, size_t len)
{
    if (len < 12 || v[0] != 1 || (v[1] != HEARTH_ROLE_USER && v[1] != HEARTH_ROLE_ADMIN))
        return 0;
    size_t hl = (size_t)v[10] << 8 | v[11];
    if (hl < 1 || hl >= HEARTH_PW_HASH_MAX || len != 12 + hl) return 0;
    return memchr(v + 12, 0, hl) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t nl = data[0];
    if (size < 1 + nl) return 0;
    char name[sizeof PREFIX + 256];
    memcpy(name, PREFIX, strlen(PREFIX));
    memcpy(name + strlen(PREFIX), data + 1, nl);
    name[strlen(PREFIX) + nl] = '\0';
    const uint8_t *val = data + 1 + nl;
    size_t len = size - 1 - nl;

    uint32_t loaded = 7;
    hearth_buf re;
    hearth_buf_init(&re, 4096);
    hearth_status st = hearth_auth_test_decode_user(name, val, len, &loaded, &re);
    int valid = name_valid(name + strlen(PREFIX)) && record_valid(val, len);
    check((st == HEARTH_OK) == valid);
    if (st == HEARTH_OK) {
        check(loaded == 1);
        check(re.len == len && memcmp(re.data, val, len) == 0);
    } else {
        check(st == HEARTH_ERR_INVALID || st == HEARTH_ERR_UNSUPPORTED);
        check(loaded == 0);
        check(re.len == 0);
        check(hearth_err_msg()[0] != '\0');
    }
    hearth_buf_free(&re);
    hearth_err_clear();
    return 0;
}
