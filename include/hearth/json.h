/**
 * @file json.h
 * @brief Strict, schema-driven validation of JSON request bodies
 *        (EN 303 645 5.13-1) on top of cJSON, plus a safe string escaper for
 *        building responses.
 *
 * Every API request body is ONE flat JSON object whose fields are described
 * by a caller-supplied schema. Anything the schema does not allow is rejected
 * with a short message a client can act on; nothing is coerced (no "1" for 1,
 * no 0/1 for false/true, no 1.5 for an integer). A lexical pre-scan of the raw
 * bytes runs before cJSON sees the input, so size, encoding, nesting depth and
 * token grammar are bounded before any recursion happens.
 */
#ifndef HEARTH_JSON_H
#define HEARTH_JSON_H

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Type a schema field requires. */
typedef enum {
    HEARTH_JSON_STRING = 1, /**< JSON string */
    HEARTH_JSON_INT,        /**< JSON number with an integral value */
    HEARTH_JSON_NUMBER,     /**< any finite JSON number */
    HEARTH_JSON_BOOL        /**< true / false only */
} hearth_json_type;

/** One allowed field of a request object. */
typedef struct {
    const char *name;        /**< field name */
    hearth_json_type type;   /**< required JSON type */
    bool required;           /**< missing -> rejected */
    size_t min_len, max_len; /**< strings: byte length bounds (inclusive) */
    double min, max;         /**< numbers/ints: inclusive range */
    const char *charset;     /**< strings: NULL = any printable UTF-8 without control
                                  chars; else the allowed ASCII chars */
    const char *const *enum_values; /**< strings: NULL or NULL-terminated list of
                                         allowed values */
} hearth_json_field;

/** The validated value of one schema field. */
typedef struct {
    bool present;            /**< the field was in the body */
    const char *str;         /**< strings: NUL-terminated, points into the parsed
                                  document (valid until hearth_json_doc_free) */
    size_t str_len;          /**< strings: byte length */
    int64_t i;               /**< ints: the value */
    double num;              /**< ints and numbers: the value */
    bool b;                  /**< bools: the value */
} hearth_json_value;

#define HEARTH_JSON_BODY_MAX 4096 /**< largest accepted body, bytes */
#define HEARTH_JSON_DEPTH_MAX 4   /**< deepest accepted nesting (top object = 1) */

/** A parsed document; owns the cJSON tree that hearth_json_value::str points into. */
typedef struct hearth_json_doc hearth_json_doc;

/**
 * Parse @p body as ONE JSON object, validate it against the schema and fill
 * @p values[i] for @p schema[i].
 *
 * Rejects: body > HEARTH_JSON_BODY_MAX (HEARTH_ERR_TOO_LARGE), empty body,
 * invalid UTF-8, NUL bytes (raw or as \\u0000), a byte-order mark, nesting
 * deeper than HEARTH_JSON_DEPTH_MAX (checked by a pre-scan BEFORE cJSON
 * recurses), numbers outside the RFC 8259 grammar (01, +1, .5, 1.), raw
 * control characters in strings, trailing garbage, non-object top level,
 * duplicate keys, unknown fields, missing required fields, wrong types (an
 * int field rejects 1.5 and "1"; a bool rejects 0/1; null is never accepted),
 * out-of-range numbers, NaN/inf, too long/short strings, disallowed
 * characters, values not in the enum list.
 *
 * @param[in]  body      request body, @p len bytes, need not be NUL-terminated
 * @param[in]  len       body length
 * @param[in]  schema    allowed fields; names must be distinct
 * @param[in]  n         number of schema entries (and of @p values)
 * @param[out] values    one entry per schema field; zeroed on failure
 * @param[out] doc       on success the document to free with hearth_json_doc_free();
 *                       NULL on failure
 * @param[out] err       on failure a short NUL-terminated message naming the field,
 *                       e.g. "field 'target_c' must be a number between 5 and 30";
 *                       may be NULL if @p errcap is 0
 * @param[in]  errcap    capacity of @p err
 * @param[out] err_field on failure the offending field name ("" if the error is not
 *                       about one field). Names taken from the client (unknown or
 *                       duplicate keys) are reduced to printable ASCII and
 *                       truncated. May be NULL if @p fieldcap is 0
 * @param[in]  fieldcap  capacity of @p err_field
 * @return HEARTH_OK, HEARTH_ERR_INVALID, HEARTH_ERR_TOO_LARGE or HEARTH_ERR_NOMEM
 */
hearth_status hearth_json_parse(const char *body, size_t len, const hearth_json_field *schema,
                                size_t n, hearth_json_value *values, hearth_json_doc **doc,
                                char *err, size_t errcap, char *err_field,
                                size_t fieldcap) HEARTH_MUST_CHECK;

/**
 * Free a document returned by hearth_json_parse(). NULL is allowed. Its
 * strings (passwords included) are wiped: a program linking this module has
 * cJSON allocate through hearth_wipe_malloc/hearth_wipe_free (util.h) for
 * the whole process, set up before main(); free cJSON output with cJSON_free.
 */
void hearth_json_doc_free(hearth_json_doc *doc);

/**
 * Small helper for building responses safely: APPEND a JSON string literal,
 * surrounding quotes included, for the @p len bytes at @p in to the
 * NUL-terminated string already in @p out (start with out[0] = '\0').
 * '"', '\\', control characters and DEL are escaped, and so are '<', '>' and
 * '&' (as \\u003c...) so the output is also safe inside HTML; other non-ASCII
 * is kept as UTF-8. Fails with HEARTH_ERR_INVALID if @p in is not valid UTF-8
 * or holds a NUL, and HEARTH_ERR_TOO_LARGE if the result (plus NUL) does not
 * fit in @p cap; on failure the string in @p out is left unchanged.
 */
hearth_status hearth_json_escape(const char *in, size_t len, char *out,
                                 size_t cap) HEARTH_MUST_CHECK;

/** true if @p s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool hearth_json_utf8_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
