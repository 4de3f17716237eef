/* A sensor's text as a reading: one strict number parser for every driver. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/port.h"

static void printable(const char *text, size_t len, char *raw, size_t cap)
{
    size_t r = 0;
    for (size_t i = 0; i < len && r + 1 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        raw[r++] = (char)((c >= 0x20 && c < 0x7f) ? c : '?');
    }
    raw[r] = '\0';
}

hearth_status hearth_reading_parse(const char *text, size_t len, hearth_reading *out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output for the reading");
    out->value = 0.0;
    out->raw[0] = '\0';
    if (text == NULL) return hearth_err(HEARTH_ERR_INVALID, "no reading");
    printable(text, len, out->raw, sizeof out->raw);
    /* Exactly one decimal number, optionally followed by one newline. No
     * leading space, no hex floats, no inf/nan, nothing after it. */
    if (len > 0 && text[len - 1] == '\n') len--;
    if (len == 0 || len >= HEARTH_READING_RAW_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "a reading is one number");
    char buf[HEARTH_READING_RAW_MAX];
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
        if (!ok) return hearth_err(HEARTH_ERR_INVALID, "a reading is one decimal number");
        buf[i] = c;
    }
    buf[len] = '\0';
    errno = 0;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(v))
        return hearth_err(HEARTH_ERR_INVALID, "a reading is one finite decimal number");
    out->value = v;
    return HEARTH_OK;
}
