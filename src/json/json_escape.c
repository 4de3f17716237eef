/* UTF-8 validation and JSON string escaping for building responses.
 * Kept apart from the parser so response code does not depend on cJSON. */
#include <string.h>

#include "hearth/json.h"

bool hearth_json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;       /* no overlongs */
            else if (c == 0xED) hi = 0x9F;  /* no UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;       /* no overlongs */
            else if (c == 0xF4) hi = 0x8F;  /* nothing above U+10FFFF */
        } else {
            return false;                   /* C0, C1, F5..FF, stray continuation */
        }
        if (len - i - 1 < need) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
        }
        i += need + 1;
    }
    return true;
}

hearth_status hearth_json_escape(const char *in, size_t len, char *out, size_t cap)
{
    if (out == NULL || cap == 0 || (in == NULL && len > 0)) {
        return hearth_err(HEARTH_ERR_INVALID, "json_escape: bad arguments");
    }
    size_t start = strnlen(out, cap);
    if (start == cap) return hearth_err(HEARTH_ERR_INVALID, "json_escape: output not terminated");
    if (len > 0 && memchr(in, 0, len) != NULL) {
        return hearth_err(HEARTH_ERR_INVALID, "json_escape: NUL in input");
    }
    if (!hearth_json_utf8_valid(in, len)) {
        return hearth_err(HEARTH_ERR_INVALID, "json_escape: input is not valid UTF-8");
    }
    static const char hex[] = "0123456789abcdef";
    size_t o = start;
    /* Room for the opening quote, checked like every other byte below. */
    if (cap - o < 2) goto too_large;
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char esc[6];
        size_t el = 0;
        switch (c) {
        case '"': esc[0] = '\\'; esc[1] = '"'; el = 2; break;
        case '\\': esc[0] = '\\'; esc[1] = '\\'; el = 2; break;
        case '\n': esc[0] = '\\'; esc[1] = 'n'; el = 2; break;
        case '\r': esc[0] = '\\'; esc[1] = 'r'; el = 2; break;
        case '\t': esc[0] = '\\'; esc[1] = 't'; el = 2; break;
        default:
            /* Controls and DEL are always escaped; <, > and & too, so a
             * response is also safe if a browser ever renders it as HTML. */
            if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
                esc[0] = '\\';
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xf];
                el = 6;
            } else {
                esc[0] = (char)c;
                el = 1;
            }
        }
        /* Keep one byte for the closing quote and one for the NUL. */
        if (cap - o < el + 2) goto too_large;
        memcpy(out + o, esc, el);
        o += el;
    }
    if (cap - o < 2) goto too_large;
    out[o++] = '"';
    out[o] = '\0';
    return HEARTH_OK;

too_large:
    out[start] = '\0';
    return hearth_err(HEARTH_ERR_TOO_LARGE, "json_escape: output buffer too small");
}
