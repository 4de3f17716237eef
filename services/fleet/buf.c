/* A growable text buffer with a hard maximum, for the report and the
 * anomaly evidence. An append that does not fit marks the buffer failed;
 * callers check once at the end. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "hearth/json.h"

void fleet_buf_init(fleet_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void fleet_buf_free(fleet_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static bool reserve(fleet_buf *b, size_t n)
{
    if (b->failed) return false;
    if (n > b->max || b->len + n + 1 > b->max) {
        b->failed = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap) return true;
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    if (cap > b->max) cap = b->max;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void fleet_buf_add(fleet_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void fleet_buf_str(fleet_buf *b, const char *s) { fleet_buf_add(b, s, strlen(s)); }

void fleet_buf_printf(fleet_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = true;
        return;
    }
    fleet_buf_add(b, tmp, (size_t)n);
}

void fleet_buf_json_str(fleet_buf *b, const char *s)
{
    /* hearth_json_escape appends to a NUL-terminated string: give it room
     * for the worst case (6 bytes per input byte, quotes, NUL). */
    size_t n = strlen(s);
    if (n > (b->max / 6)) {
        b->failed = true;
        return;
    }
    size_t need = n * 6 + 3;
    if (!reserve(b, need)) return;
    b->p[b->len] = '\0';
    if (hearth_json_escape(s, n, b->p + b->len, need) != HEARTH_OK) {
        b->failed = true;
        return;
    }
    b->len += strlen(b->p + b->len);
}

void fleet_buf_html(fleet_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<': fleet_buf_str(b, "&lt;"); break;
        case '>': fleet_buf_str(b, "&gt;"); break;
        case '&': fleet_buf_str(b, "&amp;"); break;
        case '"': fleet_buf_str(b, "&quot;"); break;
        case '\'': fleet_buf_str(b, "&#39;"); break;
        default: fleet_buf_add(b, s, 1); break;
        }
    }
}
