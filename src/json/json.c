/* Strict, schema-driven validation of JSON request bodies (EN 303 645 5.13-1).
 *
 * Two layers, so the reviewed cJSON parser only ever sees small, well-formed
 * input:
 *  1. prescan(): a single linear pass over the raw bytes (no recursion) that
 *     enforces the size cap, UTF-8, the RFC 8259 token grammar (strings,
 *     numbers, literals, whitespace), the nesting depth limit, an object at
 *     the top level and nothing after it. cJSON is lenient where JSON is not
 *     (it skips any byte <= 0x20 as whitespace, accepts "01" and "1.", and
 *     truncates strings at an escaped NUL), and it recurses before checking
 *     depth, so those rules are enforced here first.
 *  2. cJSON builds the tree from a NUL-terminated copy; validate_fields()
 *     then checks every member against the schema.
 * Bodies carry passwords: the copy is wiped, and every block cJSON allocates
 * in this process is wiped when freed (its allocation hooks are
 * hearth_wipe_malloc/free, installed before main()), on every path: success,
 * schema failure, and cJSON giving up half-way through a tree.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hearth/json.h"
#include "hearth/util.h"

/* Installed before main(), while the process has one thread and no cJSON
 * block exists yet, so no block allocated one way is freed the other. Every
 * cJSON user in a program that links this module (device.json, update
 * status) gets the wiping allocator too; they free with cJSON_Delete and
 * cJSON_free as cJSON requires. */
__attribute__((constructor)) static void json_wipe_hooks(void)
{
    cJSON_Hooks h = {.malloc_fn = hearth_wipe_malloc, .free_fn = hearth_wipe_free};
    cJSON_InitHooks(&h);
}

struct hearth_json_doc {
    cJSON *root;
};

/* Largest integer a double holds exactly: beyond it "int" values are lossy. */
#define JSON_INT_EXACT_MAX 9007199254740992.0

typedef struct {
    char *err;
    size_t errcap;
    char *field;
    size_t fieldcap;
} err_sink;

/* Names may come from the client: keep printable ASCII only and at most 64
 * bytes, so the caller can echo them in a response or a log without further
 * care (and a truncation can never split a UTF-8 sequence). */
static void sanitize_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = name; p != NULL && *p != '\0' && o + 1 < cap && o < 64; p++) {
        unsigned char c = (unsigned char)*p;
        out[o++] = (char)((c >= 0x20 && c < 0x7f) ? c : '?');
    }
    out[o] = '\0';
}

static hearth_status fail(err_sink *e, hearth_status st, const char *field, const char *fmt, ...)
    HEARTH_PRINTF(4, 5);

static hearth_status fail(err_sink *e, hearth_status st, const char *field, const char *fmt, ...)
{
    if (e->err != NULL && e->errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->err, e->errcap, fmt, ap);
        va_end(ap);
        if (n < 0) e->err[0] = '\0';
    }
    if (e->field != NULL && e->fieldcap > 0) sanitize_name(field, e->field, e->fieldcap);
    /* Also the thread's reason, for callers that only log hearth_err_msg(). */
    return hearth_err(st, "%s", (e->err != NULL && e->errcap > 0) ? e->err : "invalid JSON body");
}

/* ------------------------------------------------------------ pre-scan */

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A token that is not a string or structural character must be followed by
 * whitespace, a separator, a closing bracket or the end. */
static bool at_delim(const unsigned char *p, size_t len, size_t i)
{
    return i == len || is_ws(p[i]) || p[i] == ',' || p[i] == ']' || p[i] == '}' || p[i] == ':';
}

/* Scan a string starting at the opening quote p[*i]; leave *i after the
 * closing quote. */
static hearth_status scan_string(err_sink *e, const unsigned char *p, size_t len, size_t *i)
{
    size_t k = *i + 1;
    while (k < len) {
        unsigned char c = p[k];
        if (c == '"') {
            *i = k + 1;
            return HEARTH_OK;
        }
        if (c < 0x20) {
            return fail(e, HEARTH_ERR_INVALID, "", "request body has a control character inside a string (escape it)");
        }
        if (c != '\\') {
            k++;
            continue;
        }
        if (k + 1 >= len) break;
        unsigned char x = p[k + 1];
        if (x == 'u') {
            if (len - k < 6 || !is_hex(p[k + 2]) || !is_hex(p[k + 3]) || !is_hex(p[k + 4]) ||
                !is_hex(p[k + 5])) {
                return fail(e, HEARTH_ERR_INVALID, "", "request body has a bad \\u escape");
            }
            if (p[k + 2] == '0' && p[k + 3] == '0' && p[k + 4] == '0' && p[k + 5] == '0') {
                return fail(e, HEARTH_ERR_INVALID, "", "request body contains an escaped NUL character");
            }
            k += 6;
        } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' ||
                   x == 'r' || x == 't') {
            k += 2;
        } else {
            return fail(e, HEARTH_ERR_INVALID, "", "request body has an invalid escape sequence");
        }
    }
    return fail(e, HEARTH_ERR_INVALID, "", "request body has an unterminated string");
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static hearth_status scan_number(err_sink *e, const unsigned char *p, size_t len, size_t *i)
{
    size_t k = *i;
    if (k < len && p[k] == '-') k++;
    if (k < len && p[k] == '0') {
        k++;
    } else if (k < len && p[k] >= '1' && p[k] <= '9') {
        while (k < len && is_digit(p[k])) k++;
    } else {
        goto bad;
    }
    if (k < len && p[k] == '.') {
        k++;
        if (k >= len || !is_digit(p[k])) goto bad;
        while (k < len && is_digit(p[k])) k++;
    }
    if (k < len && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < len && (p[k] == '+' || p[k] == '-')) k++;
        if (k >= len || !is_digit(p[k])) goto bad;
        while (k < len && is_digit(p[k])) k++;
    }
    if (!at_delim(p, len, k)) goto bad;
    *i = k;
    return HEARTH_OK;
bad:
    return fail(e, HEARTH_ERR_INVALID, "", "request body has a malformed number");
}

static hearth_status prescan(err_sink *e, const unsigned char *p, size_t len)
{
    size_t i = 0;
    unsigned depth = 0;
    bool started = false;
    while (i < len) {
        unsigned char c = p[i];
        if (is_ws(c)) {
            i++;
            continue;
        }
        if (started && depth == 0) {
            return fail(e, HEARTH_ERR_INVALID, "", "request body has data after the JSON object");
        }
        if (!started && c != '{') {
            return fail(e, HEARTH_ERR_INVALID, "", "request body must be a JSON object");
        }
        started = true;
        switch (c) {
        case '{':
        case '[':
            if (++depth > HEARTH_JSON_DEPTH_MAX) {
                return fail(e, HEARTH_ERR_INVALID, "", "request body nests deeper than %d levels",
                            HEARTH_JSON_DEPTH_MAX);
            }
            i++;
            break;
        case '}':
        case ']':
            /* Bracket matching itself is left to cJSON; only count here. */
            if (depth == 0) return fail(e, HEARTH_ERR_INVALID, "", "request body is not valid JSON");
            depth--;
            i++;
            break;
        case ',':
        case ':':
            i++;
            break;
        case '"':
            HEARTH_GUARD(scan_string(e, p, len, &i));
            break;
        case 't':
        case 'f':
        case 'n': {
            const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
            size_t ll = strlen(lit);
            if (len - i < ll || memcmp(p + i, lit, ll) != 0 || !at_delim(p, len, i + ll)) {
                return fail(e, HEARTH_ERR_INVALID, "", "request body is not valid JSON");
            }
            i += ll;
            break;
        }
        default:
            if (c == '-' || is_digit(c)) {
                HEARTH_GUARD(scan_number(e, p, len, &i));
                break;
            }
            return fail(e, HEARTH_ERR_INVALID, "", "request body is not valid JSON");
        }
    }
    if (!started) return fail(e, HEARTH_ERR_INVALID, "", "request body must be a JSON object");
    if (depth != 0) return fail(e, HEARTH_ERR_INVALID, "", "request body is truncated");
    return HEARTH_OK;
}

/* ------------------------------------------------------ field checks */

/* printable UTF-8: no C0 controls, no DEL, no C1 controls (U+0080..U+009F). */
static bool printable_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) return false;
        if (p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) return false;
    }
    return true;
}

static bool in_charset(const char *s, size_t len, const char *charset)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0 || c >= 0x80 || strchr(charset, c) == NULL) return false;
    }
    return true;
}

static hearth_status check_string(err_sink *e, const hearth_json_field *f, const cJSON *item,
                                  hearth_json_value *v)
{
    const char *s = cJSON_IsString(item) ? item->valuestring : NULL;
    if (s == NULL) return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' must be a string", f->name);
    size_t n = strlen(s);
    if (!hearth_json_utf8_valid(s, n)) {
        return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' is not valid UTF-8", f->name);
    }
    if (n < f->min_len || n > f->max_len) {
        return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' must be %zu to %zu bytes long",
                    f->name, f->min_len, f->max_len);
    }
    if (f->charset != NULL ? !in_charset(s, n, f->charset) : !printable_utf8(s, n)) {
        return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' contains a character that is not allowed",
                    f->name);
    }
    if (f->enum_values != NULL) {
        bool found = false;
        char list[160];
        size_t lo = 0;
        list[0] = '\0';
        for (const char *const *ev = f->enum_values; *ev != NULL; ev++) {
            if (strcmp(*ev, s) == 0) found = true;
            int w = snprintf(list + lo, sizeof list - lo, "%s%s", lo ? ", " : "", *ev);
            if (w > 0 && (size_t)w < sizeof list - lo) lo += (size_t)w;
        }
        if (!found) {
            return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' must be one of: %s", f->name, list);
        }
    }
    v->str = s;
    v->str_len = n;
    return HEARTH_OK;
}

static hearth_status check_number(err_sink *e, const hearth_json_field *f, const cJSON *item,
                                  hearth_json_value *v)
{
    bool is_int = f->type == HEARTH_JSON_INT;
    const char *what = is_int ? "an integer" : "a number";
    double d = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    bool ok = cJSON_IsNumber(item) && isfinite(d) && d >= f->min && d <= f->max;
    if (ok && is_int) ok = d == floor(d) && fabs(d) <= JSON_INT_EXACT_MAX;
    if (!ok) {
        return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' must be %s between %.15g and %.15g",
                    f->name, what, f->min, f->max);
    }
    v->num = d;
    if (is_int) v->i = (int64_t)d;
    return HEARTH_OK;
}

static hearth_status check_field(err_sink *e, const hearth_json_field *f, const cJSON *item,
                                 hearth_json_value *v)
{
    switch (f->type) {
    case HEARTH_JSON_STRING:
        return check_string(e, f, item, v);
    case HEARTH_JSON_INT:
    case HEARTH_JSON_NUMBER:
        return check_number(e, f, item, v);
    case HEARTH_JSON_BOOL:
        if (!cJSON_IsBool(item)) {
            return fail(e, HEARTH_ERR_INVALID, f->name, "field '%s' must be true or false", f->name);
        }
        v->b = cJSON_IsTrue(item);
        return HEARTH_OK;
    }
    return fail(e, HEARTH_ERR_INTERNAL, f->name, "field '%s' has an unknown schema type", f->name);
}

static hearth_status validate_fields(err_sink *e, const cJSON *root, const hearth_json_field *schema,
                                     size_t n, hearth_json_value *values)
{
    if (!cJSON_IsObject(root)) return fail(e, HEARTH_ERR_INVALID, "", "request body must be a JSON object");
    for (const cJSON *m = root->child; m != NULL; m = m->next) {
        const char *key = m->string != NULL ? m->string : "";
        size_t idx = n;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(schema[i].name, key) == 0) {
                idx = i;
                break;
            }
        }
        if (idx == n) {
            char shown[65];
            sanitize_name(key, shown, sizeof shown);
            return fail(e, HEARTH_ERR_INVALID, key, "unknown field '%s'", shown);
        }
        if (values[idx].present) {
            return fail(e, HEARTH_ERR_INVALID, key, "field '%s' appears more than once", schema[idx].name);
        }
        HEARTH_GUARD(check_field(e, &schema[idx], m, &values[idx]));
        values[idx].present = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (schema[i].required && !values[i].present) {
            return fail(e, HEARTH_ERR_INVALID, schema[i].name, "field '%s' is required", schema[i].name);
        }
    }
    return HEARTH_OK;
}

/* ------------------------------------------------------------- entry */

hearth_status hearth_json_parse(const char *body, size_t len, const hearth_json_field *schema,
                                size_t n, hearth_json_value *values, hearth_json_doc **doc,
                                char *err, size_t errcap, char *err_field, size_t fieldcap)
{
    err_sink e = {err, errcap, err_field, fieldcap};
    if (err != NULL && errcap > 0) err[0] = '\0';
    if (err_field != NULL && fieldcap > 0) err_field[0] = '\0';
    if (doc == NULL || (n > 0 && (schema == NULL || values == NULL)) || (body == NULL && len > 0)) {
        return fail(&e, HEARTH_ERR_INTERNAL, "", "json_parse: bad arguments");
    }
    *doc = NULL;
    if (n > 0) memset(values, 0, n * sizeof *values);
    for (size_t i = 0; i < n; i++) {
        if (schema[i].name == NULL) return fail(&e, HEARTH_ERR_INTERNAL, "", "json_parse: unnamed schema field");
    }

    if (len > HEARTH_JSON_BODY_MAX) {
        return fail(&e, HEARTH_ERR_TOO_LARGE, "", "request body exceeds %d bytes", HEARTH_JSON_BODY_MAX);
    }
    if (len == 0) return fail(&e, HEARTH_ERR_INVALID, "", "request body is empty");
    if (memchr(body, 0, len) != NULL) {
        return fail(&e, HEARTH_ERR_INVALID, "", "request body contains a NUL byte");
    }
    if (!hearth_json_utf8_valid(body, len)) {
        return fail(&e, HEARTH_ERR_INVALID, "", "request body is not valid UTF-8");
    }
    HEARTH_GUARD(prescan(&e, (const unsigned char *)body, len));

    /* cJSON gets a NUL-terminated private copy: its length-bounded entry
     * point has had out-of-bounds read bugs, a terminated buffer has none.
     * On the heap and wiped (not a stack array left behind with the
     * password in it). */
    char *copy = hearth_wipe_malloc(len + 1);
    if (copy == NULL) return fail(&e, HEARTH_ERR_NOMEM, "", "out of memory");
    memcpy(copy, body, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, true);
    hearth_wipe_free(copy);
    if (root == NULL) {
        /* cJSON reports allocation failure and syntax errors alike; the
         * pre-scan accepted the tokens, so this is a structure error. */
        return fail(&e, HEARTH_ERR_INVALID, "", "request body is not valid JSON");
    }
    hearth_status st = validate_fields(&e, root, schema, n, values);
    if (st != HEARTH_OK) {
        cJSON_Delete(root);
        if (n > 0) memset(values, 0, n * sizeof *values);
        return st;
    }
    hearth_json_doc *d = malloc(sizeof *d);
    if (d == NULL) {
        cJSON_Delete(root);
        if (n > 0) memset(values, 0, n * sizeof *values);
        return fail(&e, HEARTH_ERR_NOMEM, "", "out of memory");
    }
    d->root = root;
    *doc = d;
    return HEARTH_OK;
}

void hearth_json_doc_free(hearth_json_doc *doc)
{
    if (doc == NULL) return;
    cJSON_Delete(doc->root);
    free(doc);
}
