/* Strict parsing of what the broker hands the device (hearth/link.h): the
 * command envelope and the broker address option. Nothing from the broker
 * is trusted more than a network request: the envelope is checked here
 * byte by byte, the body by the API's own schema afterwards. */
#include <stdio.h>
#include <string.h>

#include "hearth/link.h"
#include "hearth/json.h"
#include "hearth/util.h"

#define NEST_MAX 16 /* deepest "body" nesting the scanner follows (the API allows 4) */

typedef struct {
    const uint8_t *p;
    size_t n, i;
} scan;

static void ws(scan *s)
{
    while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' ||
                           s->p[s->i] == '\r'))
        s->i++;
}

/* A string starting at s->i ('"'); *esc: it held a backslash. */
static bool str(scan *s, size_t *start, size_t *len, bool *esc)
{
    if (s->i >= s->n || s->p[s->i] != '"') return false;
    s->i++;
    *start = s->i;
    *esc = false;
    while (s->i < s->n) {
        uint8_t c = s->p[s->i];
        if (c == '"') {
            *len = s->i - *start;
            s->i++;
            return true;
        }
        if (c < 0x20) return false;
        if (c == '\\') {
            *esc = true;
            s->i++;
            if (s->i >= s->n) return false;
        }
        s->i++;
    }
    return false;
}

/* Skip one value of any kind, returning its raw span; objects and arrays
 * are matched bracket by bracket without recursion. */
static bool value(scan *s, size_t *start, size_t *len)
{
    ws(s);
    *start = s->i;
    if (s->i >= s->n) return false;
    uint8_t c = s->p[s->i];
    if (c == '"') {
        size_t a, l;
        bool e;
        if (!str(s, &a, &l, &e)) return false;
    } else if (c == '{' || c == '[') {
        char stack[NEST_MAX];
        size_t d = 0;
        while (s->i < s->n) {
            c = s->p[s->i];
            if (c == '"') {
                size_t a, l;
                bool e;
                if (!str(s, &a, &l, &e)) return false;
                continue;
            }
            if (c == '{' || c == '[') {
                if (d >= NEST_MAX) return false;
                stack[d++] = (char)(c == '{' ? '}' : ']');
            } else if (c == '}' || c == ']') {
                if (d == 0 || stack[d - 1] != (char)c) return false;
                d--;
                if (d == 0) {
                    s->i++;
                    break;
                }
            }
            s->i++;
        }
        if (d != 0) return false;
    } else {
        while (s->i < s->n && strchr(",}] \t\r\n", s->p[s->i]) == NULL) s->i++;
        if (s->i == *start) return false;
    }
    *len = s->i - *start;
    return true;
}

static bool in_charset(const uint8_t *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0 || strchr(set, p[i]) == NULL) return false;
    return true;
}

#define ID_CHARSET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
#define PATH_CHARSET ID_CHARSET "/."

static hearth_status bad(const char *why)
{
    return hearth_err(HEARTH_ERR_INVALID, "command: %s", why);
}

hearth_status hearth_link_command_parse(const uint8_t *payload, size_t len, hearth_link_command *out)
{
    HEARTH_ENSURE(payload != NULL && out != NULL, HEARTH_ERR_INVALID);
    memset(out, 0, sizeof *out);
    if (len > HEARTH_LINK_CMD_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "command: payload over %d bytes", HEARTH_LINK_CMD_MAX);
    scan s = {payload, len, 0};
    ws(&s);
    if (s.i >= s.n || s.p[s.i] != '{') return bad("not a JSON object");
    s.i++;
    enum { K_V, K_ID, K_METHOD, K_PATH, K_BODY, K_N };
    static const char *const keys[K_N] = {"v", "id", "method", "path", "body"};
    size_t vs[K_N] = {0}, vl[K_N] = {0};
    bool seen[K_N] = {false}, vesc[K_N] = {false};
    ws(&s);
    if (s.i < s.n && s.p[s.i] == '}') return bad("empty object");
    for (;;) {
        ws(&s);
        size_t ks, kl;
        bool kesc;
        if (!str(&s, &ks, &kl, &kesc)) return bad("malformed member name");
        int k = -1;
        for (int j = 0; j < K_N && !kesc; j++)
            if (kl == strlen(keys[j]) && memcmp(s.p + ks, keys[j], kl) == 0) k = j;
        if (k < 0) return bad("unknown member");
        if (seen[k]) return bad("duplicate member");
        seen[k] = true;
        ws(&s);
        if (s.i >= s.n || s.p[s.i] != ':') return bad("malformed object");
        s.i++;
        ws(&s);
        if (k != K_BODY && k != K_V && s.i < s.n && s.p[s.i] == '"') {
            size_t a, l;
            if (!str(&s, &a, &l, &vesc[k])) return bad("malformed string");
            vs[k] = a;
            vl[k] = l;
            if (vesc[k]) return bad("escapes are not allowed in id, method or path");
            if (k == K_ID && l >= 1 && l <= HEARTH_LINK_REQID_MAX && in_charset(s.p + a, l, ID_CHARSET)) {
                memcpy(out->id, s.p + a, l);
                out->id[l] = '\0';
            }
        } else if (k == K_BODY || k == K_V) {
            if (!value(&s, &vs[k], &vl[k])) return bad("malformed value");
        } else {
            return bad("id, method and path must be strings");
        }
        ws(&s);
        if (s.i < s.n && s.p[s.i] == ',') {
            s.i++;
            continue;
        }
        if (s.i < s.n && s.p[s.i] == '}') {
            s.i++;
            break;
        }
        return bad("malformed object");
    }
    ws(&s);
    if (s.i != s.n) return bad("trailing bytes after the object");
    if (!seen[K_V] || vl[K_V] != 1 || s.p[vs[K_V]] != '1') return bad("\"v\" must be 1");
    if (!seen[K_ID] || out->id[0] == '\0') {
        out->id[0] = '\0';
        return bad("\"id\" must be 1..64 characters of [A-Za-z0-9_-]");
    }
    if (!seen[K_METHOD]) return bad("\"method\" is required");
    static const char *const methods[] = {"GET", "PUT", "POST", "DELETE"};
    for (size_t j = 0; j < sizeof methods / sizeof methods[0]; j++)
        if (vl[K_METHOD] == strlen(methods[j]) && memcmp(s.p + vs[K_METHOD], methods[j], vl[K_METHOD]) == 0)
            memcpy(out->method, methods[j], strlen(methods[j]) + 1);
    if (out->method[0] == '\0') return bad("\"method\" must be GET, PUT, POST or DELETE");
    if (!seen[K_PATH] || vl[K_PATH] < 6 || vl[K_PATH] > HEARTH_LINK_PATH_MAX ||
        memcmp(s.p + vs[K_PATH], "/api/", 5) != 0 || !in_charset(s.p + vs[K_PATH], vl[K_PATH], PATH_CHARSET))
        return bad("\"path\" must be an /api/ path of [A-Za-z0-9/_.-]");
    memcpy(out->path, s.p + vs[K_PATH], vl[K_PATH]);
    out->path[vl[K_PATH]] = '\0';
    if (strstr(out->path, "..") != NULL || strstr(out->path, "//") != NULL) return bad("\"path\" is not canonical");
    if (seen[K_BODY]) {
        if (s.p[vs[K_BODY]] != '{') return bad("\"body\" must be an object");
        if (strcmp(out->method, "GET") == 0 || strcmp(out->method, "DELETE") == 0)
            return bad("GET and DELETE take no body");
        out->body = s.p + vs[K_BODY];
        out->body_len = vl[K_BODY];
    }
    return HEARTH_OK;
}

hearth_status hearth_link_reply_format(const char *id, int status, const char *body, bool duplicate,
                                       char *buf, size_t cap, size_t *len)
{
    HEARTH_ENSURE(id != NULL && buf != NULL && cap > 0, HEARTH_ERR_INVALID);
    char idq[2 * HEARTH_LINK_REQID_MAX + 8];
    idq[0] = '\0';
    HEARTH_GUARD(hearth_json_escape(id, strlen(id), idq, sizeof idq));
    int n = snprintf(buf, cap, "{\"v\":1,\"id\":%s,\"status\":%d,\"body\":%s,\"duplicate\":%s}", idq, status,
                     body != NULL && body[0] != '\0' ? body : "null", duplicate ? "true" : "false");
    if (n < 0 || (size_t)n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "command reply too large");
    if (len != NULL) *len = (size_t)n;
    return HEARTH_OK;
}

hearth_status hearth_link_broker_parse(const char *text, hearth_link_broker *out)
{
    HEARTH_ENSURE(text != NULL && out != NULL, HEARTH_ERR_INVALID);
    memset(out, 0, sizeof *out);
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hl;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') return hearth_err(HEARTH_ERR_INVALID, "broker: use [IPV6]:PORT");
        h = text + 1;
        hl = (size_t)(close - h);
        if (!in_charset((const uint8_t *)h, hl, "0123456789abcdefABCDEF:.") || hl < 2)
            return hearth_err(HEARTH_ERR_INVALID, "broker: bad IPv6 address");
        colon = close + 1;
    } else {
        if (colon == NULL) return hearth_err(HEARTH_ERR_INVALID, "broker: use HOST:PORT");
        hl = (size_t)(colon - text);
        if (hl == 0 || !in_charset((const uint8_t *)h, hl,
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") ||
            h[0] == '-' || h[0] == '.')
            return hearth_err(HEARTH_ERR_INVALID, "broker: host must be a name or address");
    }
    if (hl > HEARTH_LINK_HOST_MAX) return hearth_err(HEARTH_ERR_INVALID, "broker: host name too long");
    const char *p = colon + 1;
    unsigned long port = 0;
    if (*p == '\0' || strlen(p) > 5) return hearth_err(HEARTH_ERR_INVALID, "broker: port must be 1..65535");
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') return hearth_err(HEARTH_ERR_INVALID, "broker: port must be 1..65535");
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535) return hearth_err(HEARTH_ERR_INVALID, "broker: port must be 1..65535");
    memcpy(out->host, h, hl);
    out->host[hl] = '\0';
    out->port = (uint16_t)port;
    return HEARTH_OK;
}

hearth_status hearth_link_update_parse(const uint8_t *payload, size_t len, hearth_link_update_hint *out)
{
    HEARTH_ENSURE(payload != NULL && out != NULL, HEARTH_ERR_INVALID);
    memset(out, 0, sizeof *out);
    static const hearth_json_field schema[] = {
        {.name = "v", .type = HEARTH_JSON_INT, .required = true, .min = 1, .max = 1},
        {.name = "version", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1, .max_len = 32,
         .charset = "0123456789.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-~"},
        {.name = "delay_s", .type = HEARTH_JSON_INT, .required = true, .min = 0, .max = 7 * 86400},
        {.name = "spread_s", .type = HEARTH_JSON_INT, .required = true, .min = 0, .max = 7 * 86400},
    };
    hearth_json_value v[4];
    hearth_json_doc *doc = NULL;
    char err[128];
    hearth_status st = hearth_json_parse((const char *)payload, len, schema, 4, v, &doc, err, sizeof err, NULL, 0);
    if (st != HEARTH_OK) return hearth_err(st, "update announcement: %s", err);
    memcpy(out->version, v[1].str, v[1].str_len);
    out->version[v[1].str_len] = '\0';
    out->delay_s = (uint32_t)v[2].i;
    out->spread_s = (uint32_t)v[3].i;
    hearth_json_doc_free(doc);
    return HEARTH_OK;
}

hearth_status hearth_link_update_due_ms(const hearth_link_update_hint *h, uint64_t *ms)
{
    HEARTH_ENSURE(h != NULL && ms != NULL, HEARTH_ERR_INVALID);
    uint32_t jitter = 0;
    if (h->spread_s > 0) HEARTH_GUARD(hearth_random_uniform(h->spread_s * 1000u + 1u, &jitter));
    *ms = (uint64_t)h->delay_s * 1000u + jitter;
    return HEARTH_OK;
}
