/* Size and byte-set limits on untrusted input, checked in one place so every
 * parser refuses an oversized object or a bad text field the same way. */
#include <string.h>

#include "hearth/util.h"

hearth_status hearth_cursor_init_max(hearth_cursor *c, const void *data, size_t len, size_t max,
                                     hearth_status too_large, const char *what)
{
    hearth_cursor_init(c, data, 0);
    if (len > max)
        return hearth_err(too_large, "%s of %zu bytes (max %zu)", what, len, max);
    hearth_cursor_init(c, data, len);
    return HEARTH_OK;
}

static bool byte_ok(unsigned char c, hearth_text_bytes bytes)
{
    if (bytes == HEARTH_TEXT_GRAPHIC_ASCII) return c > 0x20 && c < 0x7f;
    return c >= 0x20 && c != 0x7f;
}

hearth_status hearth_text_check(const char *s, size_t max, hearth_text_bytes bytes,
                                hearth_status too_long, const char *what, size_t *len)
{
    if (s == NULL || s[0] == '\0') return hearth_err(HEARTH_ERR_INVALID, "%s is empty", what);
    size_t n = strnlen(s, max + 1);
    if (n > max) return hearth_err(too_long, "%s longer than %zu bytes", what, max);
    for (size_t i = 0; i < n; i++) {
        if (byte_ok((unsigned char)s[i], bytes)) continue;
        if (bytes == HEARTH_TEXT_GRAPHIC_ASCII)
            return hearth_err(HEARTH_ERR_INVALID, "%s holds a space, control or non-ASCII byte",
                              what);
        return hearth_err(HEARTH_ERR_INVALID, "%s contains a control byte", what);
    }
    if (len != NULL) *len = n;
    return HEARTH_OK;
}
