/* Password policy for user-chosen passwords, after NIST SP 800-63B 5.1.1.2:
 * length and a blocklist instead of composition rules (EN 303 645 5.1-1,
 * TR 103 621 6.1 example 3: memorable passwords of adequate strength).
 * Checks, in order: length, UTF-8 validity, control characters, blocklist
 * (with common variants), trivial patterns, username, serial. */
#include <string.h>

#include "auth_internal.h"
#include "blocklist_data.h" /* generated at build time by blocklist_gen.c */

#define VARIANT_MIN 4 /* shortest blocklisted core worth rejecting variants of */

static void lower_copy(const char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        out[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
}

/* Binary search of an already lower-cased, NUL-terminated candidate. */
static bool blocklist_has(const char *lc)
{
    size_t lo = 0, hi = HEARTH_BLOCKLIST_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(hearth_blocklist_words[mid], lc);
        if (c == 0) return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool hearth_pw_blocklisted(const char *pw, size_t len)
{
    char lc[HEARTH_PW_MAX + 1];
    if (pw == NULL || len == 0 || len > HEARTH_PW_MAX || memchr(pw, '\0', len) != NULL)
        return false;
    lower_copy(pw, len, lc);
    bool hit = blocklist_has(lc);
    hearth_memzero(lc, sizeof lc);
    return hit;
}

static bool is_alpha(char c)
{
    return c >= 'a' && c <= 'z';
}

/* The letters-only core: "!!monkey2024" -> "monkey". */
static size_t core_of(const char *s, size_t n, char *out)
{
    size_t b = 0, e = n;
    while (b < e && !is_alpha(s[b])) b++;
    while (e > b && !is_alpha(s[e - 1])) e--;
    memcpy(out, s + b, e - b);
    out[e - b] = '\0';
    return e - b;
}

/* Undo the usual l33t substitutions; @p one is what '1' stands for. */
static void deleet(const char *s, size_t n, char *out, char one)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '@': case '4': c = 'a'; break;
        case '0': c = 'o'; break;
        case '1': case '!': case '|': c = one; break;
        case '3': c = 'e'; break;
        case '$': case '5': c = 's'; break;
        case '7': case '+': c = 't'; break;
        case '9': c = 'g'; break;
        case '8': c = 'b'; break;
        default: break;
        }
        out[i] = c;
    }
    out[n] = '\0';
}

/* Blocklisted as such, or a blocklisted word with digits/symbols around it,
 * or in l33t spelling ("P@ssw0rd!", "thermostat2024"). */
static bool blocklisted_variant(const char *lc, size_t n)
{
    char a[HEARTH_PW_MAX + 1], b[HEARTH_PW_MAX + 1];
    bool hit = blocklist_has(lc);
    size_t cn = core_of(lc, n, a);
    if (!hit && cn >= VARIANT_MIN && cn < n) hit = blocklist_has(a);
    for (int k = 0; k < 2 && !hit; k++) {
        char one = k == 0 ? 'i' : 'l';
        deleet(lc, n, a, one); /* whole password de-l33ted */
        if (blocklist_has(a)) hit = true;
        size_t m = core_of(a, n, b);
        if (!hit && m >= VARIANT_MIN && blocklist_has(b)) hit = true;
        cn = core_of(lc, n, b); /* core first, then de-l33ted */
        deleet(b, cn, a, one);
        if (!hit && cn >= VARIANT_MIN && blocklist_has(a)) hit = true;
    }
    hearth_memzero(a, sizeof a);
    hearth_memzero(b, sizeof b);
    return hit;
}

/* Keyboard rows and columns (QWERTY, QWERTZ, AZERTY, keypad) walked forward;
 * the reverse direction is checked too. */
static const char *const walks[] = {
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "qwertyuiopasdfghjklzxcvbnm",
    "!@#$%^&*()",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "qazwsxedcrfvtgbyhnujmikolp",
    "zaqxswcdevfrbgtnhymjukilop",
    "7894561230",
    "1472583690",
    "7418529630",
};

static bool in_walk(const char *s, size_t n)
{
    for (size_t w = 0; w < sizeof walks / sizeof walks[0]; w++) {
        size_t wl = strlen(walks[w]);
        if (n > wl) continue;
        for (size_t off = 0; off + n <= wl; off++) {
            bool fwd = true, rev = true;
            for (size_t i = 0; i < n && (fwd || rev); i++) {
                if (s[i] != walks[w][off + i]) fwd = false;
                if (s[i] != walks[w][off + n - 1 - i]) rev = false;
            }
            if (fwd || rev) return true;
        }
    }
    return false;
}

static bool is_sequence(const char *s, size_t n)
{
    if (n < 3) return false;
    int d = (unsigned char)s[1] - (unsigned char)s[0];
    if (d != 1 && d != -1) return false;
    for (size_t i = 2; i < n; i++)
        if ((unsigned char)s[i] - (unsigned char)s[i - 1] != d) return false;
    return true;
}

static bool trivial_segment(const char *s, size_t n, int depth);

/* The recursion is bounded: depth 0 calls trivial_segment with depth 1,
 * which does not come back here (NOLINTs: misc-no-recursion). */
/* "aaaaaaaa", "abababab", "qwertyqwerty": a period no longer than 4, or a
 * period that is itself trivial, repeated at least twice. */
static bool is_repetition(const char *s, size_t n, int depth) // NOLINT(misc-no-recursion)
{
    for (size_t p = 1; p <= n / 2; p++) {
        bool periodic = true;
        for (size_t i = p; i < n && periodic; i++)
            if (s[i] != s[i - p]) periodic = false;
        if (periodic && (p <= 4 || (depth == 0 && trivial_segment(s, p, 1)))) return true;
    }
    return false;
}

static bool trivial_segment(const char *s, size_t n, int depth) // NOLINT(misc-no-recursion)
{
    if (n < 3) return false;
    return is_sequence(s, n) || in_walk(s, n) || is_repetition(s, n, depth);
}

/* Trivial as a whole, or two trivial pieces ("qwerty123456", "aaaa1234"). */
static bool is_trivial(const char *lc, size_t n)
{
    if (trivial_segment(lc, n, 0)) return true;
    for (size_t k = 3; k + 3 <= n; k++)
        if (trivial_segment(lc, k, 0) && trivial_segment(lc + k, n - k, 0)) return true;
    return false;
}

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) and no
 * control characters (C0, DEL, C1), which cannot be typed reliably and would
 * end up in logs or terminals. */
static hearth_status check_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t need;
        unsigned char c = s[i];
        if (c < 0x80) {
            cp = c;
            need = 0;
        } else if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            need = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            need = 3;
        } else {
            return hearth_err(HEARTH_ERR_POLICY, "password is not valid UTF-8");
        }
        if (n - i - 1 < need) return hearth_err(HEARTH_ERR_POLICY, "password is not valid UTF-8");
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return hearth_err(HEARTH_ERR_POLICY, "password is not valid UTF-8");
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return hearth_err(HEARTH_ERR_POLICY, "password is not valid UTF-8");
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            return hearth_err(HEARTH_ERR_POLICY, "password contains control characters");
        i += need + 1;
    }
    return HEARTH_OK;
}

/* Case-insensitive (ASCII) substring search. */
static bool contains_ci(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn) return false;
    for (size_t off = 0; off + nn <= hn; off++) {
        size_t i = 0;
        for (; i < nn; i++) {
            char a = hay[off + i], b = needle[i];
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
        }
        if (i == nn) return true;
    }
    return false;
}

static hearth_status policy_lc(const char *lc, size_t len, const char *username,
                               const char *serial)
{
    if (blocklisted_variant(lc, len))
        return hearth_err(HEARTH_ERR_POLICY,
                          "password is too common: it is in the list of common or breached "
                          "passwords (or a simple variant of one)");
    if (is_trivial(lc, len))
        return hearth_err(HEARTH_ERR_POLICY,
                          "password is a trivial pattern (repeated characters, a sequence or a "
                          "keyboard walk)");
    /* Containment for names of 3+ characters; a 1-2 character name would
     * otherwise forbid most passwords, so it is only rejected when equal. */
    if (username != NULL) {
        size_t un = strnlen(username, HEARTH_USERNAME_MAX + 1);
        if ((un >= 3 && contains_ci(lc, len, username, un)) ||
            (un > 0 && un == len && contains_ci(lc, len, username, un)))
            return hearth_err(HEARTH_ERR_POLICY, "password must not contain the user name");
    }
    if (serial != NULL) {
        size_t sn = strnlen(serial, 256);
        if ((sn >= 4 && contains_ci(lc, len, serial, sn)) ||
            (sn > 0 && sn == len && contains_ci(lc, len, serial, sn)))
            return hearth_err(HEARTH_ERR_POLICY,
                              "password must not contain the device serial number");
    }
    return HEARTH_OK;
}

hearth_status hearth_pw_policy_check(const char *pw, size_t len, const char *username,
                                     const char *serial)
{
    HEARTH_ENSURE(pw != NULL, HEARTH_ERR_INVALID);
    if (len < HEARTH_PW_MIN)
        return hearth_err(HEARTH_ERR_POLICY, "password is too short: use at least %d characters",
                          HEARTH_PW_MIN);
    if (len > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_POLICY, "password is too long: at most %d bytes",
                          HEARTH_PW_MAX);
    HEARTH_GUARD(check_utf8((const unsigned char *)pw, len));
    char lc[HEARTH_PW_MAX + 1];
    lower_copy(pw, len, lc);
    hearth_status st = policy_lc(lc, len, username, serial);
    hearth_memzero(lc, sizeof lc);
    return st;
}
