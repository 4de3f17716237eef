/*
 * Shared helpers of the build-time generators (host tools, never installed,
 * never linked into a device program): the telemetry schema generator and
 * the privacy inventory generator turn a JSON source of truth into C tables
 * and Markdown. Each fails the build with a message naming what is wrong.
 */
#ifndef HEARTH_GEN_H
#define HEARTH_GEN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

/** Name used in messages ("telemetry schema_gen"); set once in main(). */
void gen_set_name(const char *name);

/** Print "NAME: WHAT[: DETAIL]" and exit(1). */
void gen_die(const char *what, const char *detail) __attribute__((noreturn));

/** Read a whole file (1..@p max bytes), NUL-terminated, into a heap
 * buffer; dies on error. */
char *gen_read_file(const char *path, size_t max, size_t *len);

/** A text accumulated in a fixed-capacity buffer; dies when full. */
typedef struct {
    char *buf;
    size_t len, cap;
    const char *what; /* named in the message when full */
} gen_text;

void gen_text_init(gen_text *t, size_t cap, const char *what);
void gen_text_add(gen_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** snprintf that dies on truncation. */
void gen_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** The non-empty string member @p key of @p o; dies naming @p where. */
const char *gen_need_str(const cJSON *o, const char *key, const char *where);

/** Write @p n bytes of @p s as one C string literal, a source line per
 * text line (the final newline stays on the last line). */
void gen_c_string(FILE *f, const char *s, size_t n);

#endif
