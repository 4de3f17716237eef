/* A lexical pre-scan of an untrusted JSON payload before cJSON sees it:
 * bounded size, valid UTF-8, no NUL or byte-order mark, bounded nesting
 * (checked before any recursion), strings without raw control characters
 * and numbers in RFC 8259's grammar (cJSON would take 01, +1, .5 or 1.).
 * cJSON then builds the tree; fleet_json_dupkeys() refuses duplicate keys
 * anywhere in it. */
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet_json.h"
#include "hearth/json.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of the number at p[0..n) in RFC 8259 grammar, 0 if malformed. */
static size_t number_len(const char *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-') i++;
    if (i >= n || !is_digit(p[i])) return 0;
    if (p[i] == '0') {
        i++;
    } else {
        while (i < n && is_digit(p[i])) i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !is_digit(p[i])) return 0;
        while (i < n && is_digit(p[i])) i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        if (i >= n || !is_digit(p[i])) return 0;
        while (i < n && is_digit(p[i])) i++;
    }
    if (i < n && (is_digit(p[i]) || p[i] == '.' || p[i] == 'e' || p[i] == 'E')) return 0;
    return i;
}

hearth_status fleet_json_prescan(const char *p, size_t n, size_t max, unsigned depth_max)
{
    if (n == 0) return hearth_err(HEARTH_ERR_INVALID, "empty payload");
    if (n > max) return hearth_err(HEARTH_ERR_TOO_LARGE, "payload larger than %zu bytes", max);
    if (memchr(p, '\0', n) != NULL) return hearth_err(HEARTH_ERR_INVALID, "NUL byte in payload");
    if (!hearth_json_utf8_valid(p, n)) return hearth_err(HEARTH_ERR_INVALID, "payload is not UTF-8");
    if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF)
        return hearth_err(HEARTH_ERR_INVALID, "byte-order mark");
    unsigned depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '"') {
            for (i++; i < n && p[i] != '"'; i++) {
                if ((unsigned char)p[i] < 0x20) return hearth_err(HEARTH_ERR_INVALID, "control character in string");
                if (p[i] == '\\') {
                    i++;
                    if (i < n && p[i] == 'u' && i + 4 < n && strncmp(p + i + 1, "0000", 4) == 0)
                        return hearth_err(HEARTH_ERR_INVALID, "NUL escape in string");
                }
            }
            if (i >= n) return hearth_err(HEARTH_ERR_INVALID, "unterminated string");
        } else if (c == '{' || c == '[') {
            if (++depth > depth_max) return hearth_err(HEARTH_ERR_INVALID, "nested deeper than %u", depth_max);
        } else if (c == '}' || c == ']') {
            if (depth == 0) return hearth_err(HEARTH_ERR_INVALID, "unbalanced brackets");
            depth--;
        } else if (c == '-' || is_digit(c)) {
            size_t l = number_len(p + i, n - i);
            if (l == 0) return hearth_err(HEARTH_ERR_INVALID, "malformed number");
            i += l - 1;
        }
    }
    return HEARTH_OK;
}

/* Recursive, but only as deep as fleet_json_prescan() allowed (6 levels). */
hearth_status fleet_json_dupkeys(const cJSON *node, unsigned *budget) // NOLINT(misc-no-recursion)
{
    for (const cJSON *c = node != NULL ? node->child : NULL; c != NULL; c = c->next) {
        if (*budget == 0) return hearth_err(HEARTH_ERR_TOO_LARGE, "too many JSON values");
        (*budget)--;
        if (cJSON_IsObject(node))
            for (const cJSON *d = c->next; d != NULL; d = d->next)
                if (c->string != NULL && d->string != NULL && strcmp(c->string, d->string) == 0)
                    return hearth_err(HEARTH_ERR_INVALID, "duplicate key");
        HEARTH_GUARD(fleet_json_dupkeys(c, budget));
    }
    return HEARTH_OK;
}

hearth_status fleet_json_load(const char *p, size_t n, size_t max, unsigned depth_max, cJSON **out)
{
    *out = NULL;
    HEARTH_GUARD(fleet_json_prescan(p, n, max, depth_max));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, false);
    if (root == NULL) return hearth_err(HEARTH_ERR_INVALID, "not JSON");
    for (const char *q = end; q != NULL && q < p + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
            cJSON_Delete(root);
            return hearth_err(HEARTH_ERR_INVALID, "trailing data after JSON");
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hearth_err(HEARTH_ERR_INVALID, "payload is not a JSON object");
    }
    unsigned budget = 4096;
    hearth_status st = fleet_json_dupkeys(root, &budget);
    if (st != HEARTH_OK) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return HEARTH_OK;
}
