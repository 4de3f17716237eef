/*
 * Pre-installed setup password (EN 303 645 5.1-1, 5.1-2).
 *
 * 16 symbols from a 32-symbol alphabet = 80 bits straight from the CSPRNG:
 * unique per device with overwhelming probability and not derivable from any
 * public value (serial, MAC): nothing but random bits goes in. The alphabet
 * drops 0/O and 1/I so a label can be read and typed without ambiguity.
 * Candidates that look trivial (runs, sequences, blocklisted, related to the
 * serial) are drawn again; this rejects ~0.13 % of draws and costs < 0.01 bit
 * of entropy (docs/provisioning.md).
 */
#include <string.h>

#include "hearth/auth.h"
#include "identity_internal.h"

static const char pw_alphabet[] = HEARTH_SETUP_PW_ALPHABET;
_Static_assert(sizeof pw_alphabet - 1 == 32, "setup password alphabet must have 32 symbols");

/* 10 CSPRNG bytes = 80 bits = exactly 16 five-bit symbols, so no modulo bias. */
static hearth_status csprng_symbols(uint8_t sym[HEARTH_SETUP_PW_SYMBOLS], void *arg)
{
    (void)arg;
    uint8_t rnd[10];
    HEARTH_GUARD(hearth_random(rnd, sizeof rnd));
    for (int i = 0; i < HEARTH_SETUP_PW_SYMBOLS; i++) {
        int bit = i * 5;
        unsigned v = ((unsigned)rnd[bit / 8] << 8) | (bit / 8 + 1 < 10 ? rnd[bit / 8 + 1] : 0);
        sym[i] = (uint8_t)((v >> (11 - bit % 8)) & 0x1f);
    }
    hearth_memzero(rnd, sizeof rnd);
    return HEARTH_OK;
}

/* Only the unit tests' build of this file (HEARTH_TEST_HOOKS, object library
 * hearth_identity_test_hooks) can replace the CSPRNG; shipped code always
 * draws from it. */
#ifdef HEARTH_TEST_HOOKS
static hearth_pw_symbol_source pw_source = csprng_symbols;
static void *pw_source_arg;
static unsigned last_draws;

void hearth_identity_test_set_pw_source(hearth_pw_symbol_source fn, void *arg)
{
    pw_source = fn != NULL ? fn : csprng_symbols;
    pw_source_arg = arg;
}

unsigned hearth_identity_test_last_draws(void)
{
    return last_draws;
}
#define PW_SOURCE pw_source
#define PW_SOURCE_ARG pw_source_arg
#define PW_DRAWS(n) (last_draws = (n))
#else
#define PW_SOURCE csprng_symbols
#define PW_SOURCE_ARG NULL
#define PW_DRAWS(n) ((void)0)
#endif

static char upper(char c)
{
    return (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
}

/* Copy @p in without '-' separators, upper-cased; returns the length or
 * SIZE_MAX if it does not fit. */
static size_t squeeze(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in; in++) {
        if (*in == '-') continue;
        if (n + 1 >= cap) return SIZE_MAX;
        out[n++] = upper(*in);
    }
    out[n] = '\0';
    return n;
}

static int alpha_index(char c)
{
    const char *p = strchr(pw_alphabet, c);
    return (p == NULL || c == '\0') ? -1 : (int)(p - pw_alphabet);
}

bool hearth_setup_password_is_weak(const char *pw, const char *serial)
{
    char s[HEARTH_SETUP_PW_MAX];
    size_t n = squeeze(pw, s, sizeof s);
    if (n == SIZE_MAX || n < HEARTH_SETUP_PW_SYMBOLS) return true;

    /* Runs of 4 equal symbols and ascending/descending runs of 4 (in the
     * alphabet or in ASCII order, so "2345", "ABCD", "DCBA" all count). */
    int same = 1, up = 1, down = 1, aup = 1, adown = 1, distinct = 0;
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!seen[c]) {
            seen[c] = true;
            distinct++;
        }
        if (i == 0) continue;
        int a = alpha_index(s[i]), b = alpha_index(s[i - 1]);
        same = s[i] == s[i - 1] ? same + 1 : 1;
        up = s[i] == s[i - 1] + 1 ? up + 1 : 1;
        down = s[i] == s[i - 1] - 1 ? down + 1 : 1;
        aup = (a >= 0 && b >= 0 && a == b + 1) ? aup + 1 : 1;
        adown = (a >= 0 && b >= 0 && a == b - 1) ? adown + 1 : 1;
        if (same >= 4 || up >= 4 || down >= 4 || aup >= 4 || adown >= 4) return true;
    }
    /* A low-variety string such as "ABABABAB..." is a pattern, not noise. */
    if (distinct <= 5) return true;
    /* Repeated groups ("XXXX-XXXX-XXXX-XXXX" with two equal groups). */
    for (size_t g = 0; g < n / 4; g++)
        for (size_t h = g + 1; h < n / 4; h++)
            if (memcmp(s + 4 * g, s + 4 * h, 4) == 0) return true;

    /* Blocklist of common/breached passwords (src/auth), in both forms. */
    if (hearth_pw_blocklisted(pw, strlen(pw)) || hearth_pw_blocklisted(s, n)) return true;
    for (size_t len = 8; len < n; len++)
        for (size_t off = 0; off + len <= n; off++)
            if (hearth_pw_blocklisted(s + off, len)) return true;

    /* Anything shared with the serial (public, printed on the box). */
    if (serial != NULL && serial[0] != '\0') {
        char ser[HEARTH_SERIAL_MAX * 2 + 1];
        size_t sn = squeeze(serial, ser, sizeof ser);
        if (sn == SIZE_MAX) return true;
        if (sn > 0 && sn <= n && strstr(s, ser) != NULL) return true;
        const size_t k = HEARTH_SETUP_PW_SERIAL_OVERLAP;
        for (size_t i = 0; sn >= k && i + k <= n; i++)
            for (size_t j = 0; j + k <= sn; j++)
                if (memcmp(s + i, ser + j, k) == 0) return true;
    }
    return false;
}

hearth_status hearth_setup_password_generate(const char *serial, char out[HEARTH_SETUP_PW_MAX])
{
    uint8_t sym[HEARTH_SETUP_PW_SYMBOLS];
    PW_DRAWS(0);
    for (unsigned draw = 0; draw < HEARTH_SETUP_PW_MAX_DRAWS; draw++) {
        PW_DRAWS(draw + 1);
        hearth_status st = PW_SOURCE(sym, PW_SOURCE_ARG);
        if (st != HEARTH_OK) {
            hearth_memzero(sym, sizeof sym);
            hearth_memzero(out, HEARTH_SETUP_PW_MAX);
            return st;
        }
        size_t o = 0;
        for (int i = 0; i < HEARTH_SETUP_PW_SYMBOLS; i++) {
            if (i > 0 && i % 4 == 0) out[o++] = '-';
            out[o++] = pw_alphabet[sym[i] & 0x1f];
        }
        out[o] = '\0';
        if (!hearth_setup_password_is_weak(out, serial)) {
            hearth_memzero(sym, sizeof sym);
            return HEARTH_OK;
        }
    }
    hearth_memzero(sym, sizeof sym);
    hearth_memzero(out, HEARTH_SETUP_PW_MAX);
    return hearth_err(HEARTH_ERR_INTERNAL,
                      "%d setup password candidates in a row were weak: CSPRNG failure?",
                      HEARTH_SETUP_PW_MAX_DRAWS);
}
