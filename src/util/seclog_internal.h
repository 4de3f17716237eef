/* Shared by seclog.c (the writer) and seclog_fields.c (sealing, reading). */
#ifndef HEARTH_SECLOG_INTERNAL_H
#define HEARTH_SECLOG_INTERNAL_H

#include <stddef.h>

/** Bytes of a value that are logged (longer values are cut). */
#define SECLOG_VALUE_MAX 128

/** Append @p s (at most @p n bytes, up to SECLOG_VALUE_MAX, stopping at a
 * NUL) as a JSON string at @p o of @p out; stops early rather than pass
 * @p cap - 2. Returns the new offset. */
size_t seclog_put_str(char *out, size_t cap, size_t o, const char *s, size_t n);

#endif
