/* libFuzzer harness for hearth_json_parse (EN 303 645 5.13-1): arbitrary
 * bytes against a fixed schema shaped like the real API's requests. Beyond
 * "no crash / no sanitizer report" it checks the contract: on success every
 * required field is present and every value obeys its schema (bounds,
 * charset, enum, UTF-8, finite, integral); on failure nothing is returned.
 * Also drives hearth_json_escape on the same bytes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/json.h"

static const char *const MODES[] = {"off", "heat", NULL};

static const hearth_json_field SCHEMA[] = {
    {.name = "target_c", .type = HEARTH_JSON_NUMBER, .required = true, .min = 5, .max = 30},
    {.name = "mode", .type = HEARTH_JSON_STRING, .min_len = 1, .max_len = 8, .enum_values = MODES},
    {.name = "username", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1, .max_len = 32,
     .charset = "abcdefghijklmnopqrstuvwxyz0123456789._-"},
    {.name = "password", .type = HEARTH_JSON_STRING, .min_len = 8, .max_len = 128},
    {.name = "count", .type = HEARTH_JSON_INT, .min = -5, .max = 1000},
    {.name = "enabled", .type = HEARTH_JSON_BOOL},
};
#define NFIELDS (sizeof SCHEMA / sizeof SCHEMA[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

static void check_value(const hearth_json_field *f, const hearth_json_value *v)
{
    if (!v->present) {
        check(!f->required);
        check(v->str == NULL);
        return;
    }
    switch (f->type) {
    case HEARTH_JSON_STRING:
        check(v->str != NULL);
        check(strlen(v->str) == v->str_len);
        check(v->str_len >= f->min_len && v->str_len <= f->max_len);
        check(hearth_json_utf8_valid(v->str, v->str_len));
        for (size_t k = 0; k < v->str_len; k++) {
            unsigned char c = (unsigned char)v->str[k];
            check(c >= 0x20 && c != 0x7f);
            if (f->charset != NULL) check(c < 0x80 && strchr(f->charset, c) != NULL);
        }
        if (f->enum_values != NULL) {
            int found = 0;
            for (const char *const *e = f->enum_values; *e != NULL; e++) found |= strcmp(*e, v->str) == 0;
            check(found);
        }
        break;
    case HEARTH_JSON_INT:
        check((double)v->i == v->num);
        /* fall through */
    case HEARTH_JSON_NUMBER:
        check(isfinite(v->num) && v->num >= f->min && v->num <= f->max);
        break;
    case HEARTH_JSON_BOOL:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_json_value v[NFIELDS];
    hearth_json_doc *doc = (hearth_json_doc *)&v; /* must be overwritten */
    char err[128], field[72];
    hearth_status st = hearth_json_parse((const char *)data, size, SCHEMA, NFIELDS, v, &doc, err,
                                         sizeof err, field, sizeof field);
    if (st == HEARTH_OK) {
        check(doc != NULL);
        check(size <= HEARTH_JSON_BODY_MAX);
        check(hearth_json_utf8_valid((const char *)data, size));
        for (size_t i = 0; i < NFIELDS; i++) check_value(&SCHEMA[i], &v[i]);
        hearth_json_doc_free(doc);
    } else {
        check(st == HEARTH_ERR_INVALID || st == HEARTH_ERR_TOO_LARGE || st == HEARTH_ERR_NOMEM);
        check(doc == NULL);
        check(err[0] != '\0' && strlen(err) < sizeof err);
        check(strlen(field) < sizeof field);
        for (size_t k = 0; field[k] != '\0'; k++) check(field[k] >= 0x20 && field[k] < 0x7f);
        for (size_t i = 0; i < NFIELDS; i++) check(!v[i].present);
    }

    /* The escaper: valid output or an untouched buffer. */
    static char out[2 * HEARTH_JSON_BODY_MAX];
    memcpy(out, "x", 2);
    size_t n = size < HEARTH_JSON_BODY_MAX ? size : HEARTH_JSON_BODY_MAX;
    hearth_status es = hearth_json_escape((const char *)data, n, out, sizeof out);
    if (es == HEARTH_OK) {
        size_t l = strlen(out);
        check(l >= 3 && out[1] == '"' && out[l - 1] == '"');
        check(hearth_json_utf8_valid(out, l));
        for (size_t k = 0; k < l; k++) {
            unsigned char c = (unsigned char)out[k];
            check(c >= 0x20 && c != 0x7f && c != '<' && c != '>' && c != '&');
        }
    } else {
        check(strcmp(out, "x") == 0);
    }
    return 0;
}
