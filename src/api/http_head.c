/*
 * HTTP/1.1 request heads (include/hearth/http.h): the pre-parser of
 * hearthd's input filter, whose rules are evhttp's (libevent 2.1), kept on
 * the conservative side: whatever could be read two ways is reported
 * opaque; and the bearer-token and octet-stream rules shared by the API
 * layer and hearthd's streaming upload.
 */
#include "hearth/http.h"

#include <string.h>
#include <strings.h>

static bool name_is(const char *p, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(p, want, n) == 0;
}

/* Keep a header value only if it fits whole and is given once: a truncated
 * token or media type must never be mistaken for the real one, and with
 * two values there is no telling which one the client meant (evhttp would
 * take the first, other parsers the last). Either way the value is
 * unusable: flagged, kept empty, and the caller refuses it. */
static void copy_value(char *dst, size_t cap, const char *v, size_t n, bool *unusable,
                       unsigned *seen)
{
    if (++*seen > 1 || *unusable || n >= cap) {
        *unusable = true;
        dst[0] = '\0';
        return;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static bool method_has_body(const char *m, size_t n)
{
    return (n == 4 && memcmp(m, "POST", 4) == 0) || (n == 3 && memcmp(m, "PUT", 3) == 0) ||
           (n == 5 && memcmp(m, "PATCH", 5) == 0);
}

int hearth_http_head_parse(const char *buf, size_t n, const char *upload_path,
                           hearth_http_head *h)
{
    memset(h, 0, sizeof *h);
    size_t pos = 0;
    const char *method = NULL;
    size_t mlen = 0;
    size_t uplen = strlen(upload_path);
    bool folded = false;
    unsigned n_auth = 0, n_ctype = 0;
    for (unsigned lineno = 0;; lineno++) {
        const char *nl = memchr(buf + pos, '\n', n - pos);
        if (nl == NULL) return HEARTH_HTTP_HEAD_MORE;
        const char *line = buf + pos;
        size_t llen = (size_t)(nl - line);
        if (llen > 0 && line[llen - 1] == '\r') llen--;
        pos = (size_t)(nl - buf) + 1;
        if (lineno == 0) {
            /* As evhttp 2.1.12 splits it: trailing spaces dropped, the
             * method ends at the first space, the version starts after the
             * LAST one, and the target is everything between (spaces
             * included), so "POST <upload path> X HTTP/1.1" is not the
             * upload for either. */
            size_t tl = llen;
            while (tl > 0 && line[tl - 1] == ' ') tl--;
            const char *sp1 = memchr(line, ' ', tl);
            if (sp1 == NULL) return HEARTH_HTTP_HEAD_OPAQUE;
            const char *tgt = sp1 + 1;
            const char *sp2 = memrchr(tgt, ' ', tl - (size_t)(tgt - line));
            if (sp2 == NULL || sp1 == line || sp2 == tgt) return HEARTH_HTTP_HEAD_OPAQUE;
            method = line;
            mlen = (size_t)(sp1 - line);
            size_t tlen = (size_t)(sp2 - tgt);
            const char *qm = memchr(tgt, '?', tlen);
            size_t plen = qm ? (size_t)(qm - tgt) : tlen;
            h->upload = mlen == 4 && memcmp(method, "POST", 4) == 0 && plen == uplen &&
                        memcmp(tgt, upload_path, plen) == 0;
            h->query = qm != NULL && tlen - plen > 1;
            continue;
        }
        if (llen == 0) break;
        if (line[0] == ' ' || line[0] == '\t') {
            folded = true;
            continue;
        }
        const char *colon = memchr(line, ':', llen);
        if (colon == NULL) return HEARTH_HTTP_HEAD_OPAQUE;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = llen - nlen - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
        if (name_is(line, nlen, "Content-Length")) {
            h->n_cl++;
            uint64_t val = 0;
            bool ok = vlen > 0 && vlen <= 19;
            for (size_t i = 0; ok && i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') ok = false;
                else val = val * 10 + (uint64_t)(v[i] - '0');
            }
            if (!ok) h->cl_bad = true;
            h->body = val;
        } else if (name_is(line, nlen, "Transfer-Encoding")) {
            h->te = true;
        } else if (name_is(line, nlen, "Expect")) {
            h->expect_continue = vlen == 12 && strncasecmp(v, "100-continue", 12) == 0;
        } else if (name_is(line, nlen, "Authorization")) {
            copy_value(h->auth, sizeof h->auth, v, vlen, &h->auth_long, &n_auth);
        } else if (name_is(line, nlen, "Content-Type")) {
            copy_value(h->ctype, sizeof h->ctype, v, vlen, &h->ctype_long, &n_ctype);
        }
    }
    h->len = pos;
    /* evhttp reads each line as a C string: a NUL cuts a line short, and a
     * line starting with NUL ends its header block where this parser sees
     * a header (a smuggling vector). No client sends NUL in a head. */
    bool nul = memchr(buf, '\0', pos) != NULL;
    bool body_headers = h->n_cl > 0 || h->te;
    if (folded || nul || h->te || h->n_cl > 1 || h->cl_bad ||
        (body_headers && !method_has_body(method, mlen)))
        h->opaque = true;
    /* Folded lines and NULs mean evhttp would read the headers (the token,
     * the length) differently: such an "upload" is left to evhttp too, with
     * its body cap, instead of being judged on a guess. */
    if (folded || nul) h->upload = false;
    if (h->opaque || h->n_cl == 0) h->body = 0;
    return HEARTH_HTTP_HEAD_OK;
}

bool hearth_http_bearer_token(const char *authorization, char out[HEARTH_TOKEN_STR_MAX])
{
    if (authorization == NULL) return false;
    static const char scheme[] = "Bearer ";
    if (strncasecmp(authorization, scheme, sizeof scheme - 1) != 0) return false;
    const char *t = authorization + sizeof scheme - 1;
    size_t len = strlen(t);
    if (len == 0 || len >= HEARTH_TOKEN_STR_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (!ok) return false;
    }
    memcpy(out, t, len + 1);
    return true;
}

bool hearth_http_is_octet_stream(const char *content_type)
{
    static const char want[] = "application/octet-stream";
    if (content_type == NULL || strncasecmp(content_type, want, sizeof want - 1) != 0)
        return false;
    char next = content_type[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ';
}
