/* Shared helpers of the build-time generators: gen.h. */
#include "gen.h"

#include <stdarg.h>
#include <stdlib.h>

static const char *gen_name = "generator";

void gen_set_name(const char *name)
{
    gen_name = name;
}

void gen_die(const char *what, const char *detail)
{
    fprintf(stderr, "%s: %s%s%s\n", gen_name, what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

char *gen_read_file(const char *path, size_t max, size_t *len)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL) gen_die("cannot open", path);
    char *buf = malloc(max + 1);
    if (buf == NULL) gen_die("out of memory", path);
    size_t n = fread(buf, 1, max + 1, in);
    (void)fclose(in); /* read-only: nothing to lose */
    if (n == 0 || n > max) gen_die("empty or too large", path);
    buf[n] = '\0';
    *len = n;
    return buf;
}

void gen_text_init(gen_text *t, size_t cap, const char *what)
{
    t->buf = calloc(1, cap);
    if (t->buf == NULL) gen_die("out of memory", what);
    t->len = 0;
    t->cap = cap;
    t->what = what;
}

void gen_text_add(gen_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) gen_die("too long", t->what);
    t->len += (size_t)n;
}

void gen_fmt(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) gen_die("name too long", out);
}

const char *gen_need_str(const cJSON *o, const char *key, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        fprintf(stderr, "%s: %s: \"%s\" must be a non-empty string\n", gen_name, where, key);
        exit(1);
    }
    return v->valuestring;
}

void gen_c_string(FILE *f, const char *s, size_t n)
{
    (void)fputs("\"", f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') (void)fputs(i + 1 < n ? "\\n\"\n    \"" : "\\n", f);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\%03o", c);
        else (void)fputc(c, f);
    }
    (void)fputs("\"", f);
}
