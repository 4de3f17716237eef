/* The personal fields of the security-event log (docs/security-log.md):
 * which fields are personal, sealing and opening their values
 * (AES-256-GCM, OpenSSL), and a file line as an admin reads it.
 *
 * A sealed value is "hse1:" + base64url(nonce 12 | ciphertext | tag 16).
 * Its associated data is "hearth.seclog.v1" 0 name 0 template, where the
 * template is the whole line with every sealed value written as "": a value
 * moved to another field or line, or a line whose other fields were edited,
 * does not open. */
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "hearth/util.h"
#include "seclog_internal.h"

#define AAD_LABEL "hearth.seclog.v1"
#define NONCE_LEN 12
#define TAG_LEN 16
#define PREFIX_LEN (sizeof HEARTH_SECLOG_SEALED_PREFIX - 1)
#define MEMBERS_MAX 64
#define NAME_MAX_LEN 64

bool hearth_seclog_field_personal(const char *k)
{
    if (k == NULL) return false;
    /* "by": the user who did it (user_deleted, factory_reset_requested, ...). */
    static const char *const names[] = {"user", "username", "by", "source", "addr", "address", "ip",
                                        "peer", "host", "client", "remote", NULL};
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(k, names[i]) == 0) return true;
    static const char *const suffixes[] = {"_ip", "_addr", "_address", "_user", NULL};
    size_t kl = strlen(k);
    for (size_t i = 0; suffixes[i] != NULL; i++) {
        size_t sl = strlen(suffixes[i]);
        if (kl > sl && strcmp(k + kl - sl, suffixes[i]) == 0) return true;
    }
    return false;
}

/* AES-256-GCM in place over @p len bytes; AAD = label 0 name 0 tmpl. */
static bool gcm(bool enc, const uint8_t *key, const uint8_t *nonce, const char *name,
                const char *tmpl, uint8_t *data, size_t len, uint8_t *tag)
{
    static const uint8_t zero = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0;
    bool ok = c != NULL && len <= SECLOG_VALUE_MAX &&
              EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
              EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, NULL, &ol, (const uint8_t *)AAD_LABEL, (int)strlen(AAD_LABEL)) == 1 &&
              EVP_CipherUpdate(c, NULL, &ol, &zero, 1) == 1 &&
              EVP_CipherUpdate(c, NULL, &ol, (const uint8_t *)name, (int)strlen(name)) == 1 &&
              EVP_CipherUpdate(c, NULL, &ol, &zero, 1) == 1 &&
              EVP_CipherUpdate(c, NULL, &ol, (const uint8_t *)tmpl, (int)strlen(tmpl)) == 1 &&
              (len == 0 || EVP_CipherUpdate(c, data, &ol, data, (int)len) == 1);
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    if (ok) ok = EVP_CipherFinal_ex(c, data + (len > 0 ? (size_t)ol : 0), &fl) == 1;
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

hearth_status hearth_seclog_field_seal(const uint8_t *key, const char *name, const char *tmpl,
                                       const char *value, size_t value_len, char *out, size_t cap)
{
    HEARTH_ENSURE(key != NULL && name != NULL && tmpl != NULL && value != NULL && out != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "seal: missing argument"));
    HEARTH_ENSURE(value_len <= SECLOG_VALUE_MAX,
                  hearth_err(HEARTH_ERR_TOO_LARGE, "seal: value over %d bytes", SECLOG_VALUE_MAX));
    HEARTH_ENSURE(cap > PREFIX_LEN, hearth_err(HEARTH_ERR_TOO_LARGE, "seal: buffer too small"));
    uint8_t buf[NONCE_LEN + SECLOG_VALUE_MAX + TAG_LEN];
    HEARTH_GUARD(hearth_random(buf, NONCE_LEN));
    memcpy(buf + NONCE_LEN, value, value_len);
    hearth_status st = HEARTH_OK;
    if (!gcm(true, key, buf, name, tmpl, buf + NONCE_LEN, value_len, buf + NONCE_LEN + value_len))
        st = hearth_err(HEARTH_ERR_CRYPTO, "AES-256-GCM failed");
    if (st == HEARTH_OK) {
        memcpy(out, HEARTH_SECLOG_SEALED_PREFIX, PREFIX_LEN);
        st = hearth_b64url_encode(buf, NONCE_LEN + value_len + TAG_LEN, out + PREFIX_LEN,
                                  cap - PREFIX_LEN);
    }
    hearth_memzero(buf, sizeof buf);
    if (st != HEARTH_OK) out[0] = '\0';
    return st;
}

hearth_status hearth_seclog_field_open(const uint8_t *key, const char *name, const char *tmpl,
                                       const char *sealed, size_t sealed_len, char *out,
                                       size_t cap, size_t *out_len)
{
    HEARTH_ENSURE(key != NULL && name != NULL && tmpl != NULL && sealed != NULL && out != NULL &&
                      out_len != NULL && cap > 0,
                  hearth_err(HEARTH_ERR_INVALID, "open: missing argument"));
    out[0] = '\0';
    HEARTH_ENSURE(sealed_len > PREFIX_LEN && memcmp(sealed, HEARTH_SECLOG_SEALED_PREFIX, PREFIX_LEN) == 0,
                  hearth_err(HEARTH_ERR_INVALID, "not a sealed value"));
    uint8_t buf[NONCE_LEN + SECLOG_VALUE_MAX + TAG_LEN];
    size_t n = 0;
    if (hearth_b64url_decode(sealed + PREFIX_LEN, sealed_len - PREFIX_LEN, buf, sizeof buf, &n) !=
            HEARTH_OK ||
        n < NONCE_LEN + TAG_LEN)
        return hearth_err(HEARTH_ERR_INVALID, "not a sealed value");
    size_t len = n - NONCE_LEN - TAG_LEN;
    HEARTH_ENSURE(len < cap, hearth_err(HEARTH_ERR_TOO_LARGE, "open: buffer too small"));
    if (!gcm(false, key, buf, name, tmpl, buf + NONCE_LEN, len, buf + NONCE_LEN + len)) {
        hearth_memzero(buf, sizeof buf);
        return hearth_err(HEARTH_ERR_TAMPERED, "the field %s does not open (other key or changed)",
                          name);
    }
    memcpy(out, buf + NONCE_LEN, len);
    out[len] = '\0';
    *out_len = len;
    hearth_memzero(buf, sizeof buf);
    return HEARTH_OK;
}

/* ------------------------------------------------------ reading a line */

typedef struct {
    size_t ks, ke; /* the key's characters (between its quotes) */
    size_t vs, ve; /* the value token, quotes included */
    bool str;
} member;

static bool hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Past a JSON string starting at line[*i] == '"'. Only what hearth_seclog
 * writes: printable ASCII and the escapes \" \\ \/ \b \f \n \r \t \u00XX. */
static bool skip_string(const char *line, size_t len, size_t *i)
{
    size_t p = *i + 1;
    while (p < len && line[p] != '"') {
        unsigned char c = (unsigned char)line[p];
        if (c < 0x20 || c > 0x7e) return false;
        if (c != '\\') {
            p++;
            continue;
        }
        if (p + 1 >= len) return false;
        char e = line[p + 1];
        if (e == 'u') {
            /* hearth_seclog writes \u00XX only (a byte); no surrogates. */
            if (p + 6 > len || line[p + 2] != '0' || line[p + 3] != '0' || !hex_digit(line[p + 4]) ||
                !hex_digit(line[p + 5]))
                return false;
            p += 6;
        } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
            p += 2;
        } else {
            return false;
        }
    }
    if (p >= len) return false;
    *i = p + 1;
    return true;
}

static bool digits(const char *s, size_t len, size_t *i)
{
    size_t from = *i;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') (*i)++;
    return *i > from;
}

/* Past a JSON number, true, false or null at line[*i]. */
static bool skip_bare(const char *line, size_t len, size_t *i)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if (*i + wl <= len && memcmp(line + *i, words[w], wl) == 0) {
            *i += wl;
            return true;
        }
    }
    size_t p = *i;
    if (p < len && line[p] == '-') p++;
    if (p < len && line[p] == '0') {
        p++;
    } else if (p >= len || line[p] < '1' || line[p] > '9' || !digits(line, len, &p)) {
        return false;
    }
    if (p < len && line[p] == '.') {
        p++;
        if (!digits(line, len, &p)) return false;
    }
    if (p < len && (line[p] == 'e' || line[p] == 'E')) {
        p++;
        if (p < len && (line[p] == '+' || line[p] == '-')) p++;
        if (!digits(line, len, &p)) return false;
    }
    *i = p;
    return true;
}

/* The members of a flat object {"k":"v"|bare,...}; false if it is not one. */
static bool scan(const char *line, size_t len, member *m, size_t *count)
{
    size_t i = 0, n = 0;
    if (len < 2 || line[0] != '{') return false;
    i = 1;
    if (line[i] == '}') {
        *count = 0;
        return i + 1 == len;
    }
    for (;;) {
        if (n == MEMBERS_MAX || i >= len || line[i] != '"') return false;
        m[n].ks = i + 1;
        if (!skip_string(line, len, &i)) return false;
        m[n].ke = i - 1;
        if (i >= len || line[i] != ':') return false;
        i++;
        m[n].vs = i;
        if (i < len && line[i] == '"') {
            if (!skip_string(line, len, &i)) return false;
            m[n].str = true;
        } else {
            if (!skip_bare(line, len, &i)) return false;
            m[n].str = false;
        }
        m[n].ve = i;
        n++;
        if (i < len && line[i] == ',') {
            i++;
            continue;
        }
        if (i < len && line[i] == '}' && i + 1 == len) break;
        return false;
    }
    *count = n;
    return true;
}

/* Is member @p mb a sealed value of a personal field? Its name into @p name. */
static bool is_sealed(const char *line, const member *mb, char name[NAME_MAX_LEN])
{
    size_t kl = mb->ke - mb->ks;
    if (!mb->str || kl == 0 || kl >= NAME_MAX_LEN || memchr(line + mb->ks, '\\', kl) != NULL)
        return false;
    memcpy(name, line + mb->ks, kl);
    name[kl] = '\0';
    size_t vl = mb->ve - mb->vs;
    return hearth_seclog_field_personal(name) && vl > PREFIX_LEN + 2 &&
           memcmp(line + mb->vs + 1, HEARTH_SECLOG_SEALED_PREFIX, PREFIX_LEN) == 0;
}

static bool put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + n >= cap) return false;
    memcpy(out + *o, s, n);
    *o += n;
    out[*o] = '\0';
    return true;
}

hearth_status hearth_seclog_line_open(const uint8_t *key, const char *line, char *out, size_t cap,
                                      size_t *unreadable)
{
    HEARTH_ENSURE(line != NULL && out != NULL && cap > 0,
                  hearth_err(HEARTH_ERR_INVALID, "line: missing argument"));
    out[0] = '\0';
    if (unreadable != NULL) *unreadable = 0;
    size_t len = strlen(line);
    member m[MEMBERS_MAX];
    size_t n = 0;
    if (len > HEARTH_SECLOG_FILE_LINE_MAX || !scan(line, len, m, &n))
        return hearth_err(HEARTH_ERR_INVALID, "not a security-log line");
    /* The template: the line with every sealed value as "". */
    char tmpl[HEARTH_SECLOG_FILE_LINE_MAX + 1];
    char name[NAME_MAX_LEN];
    bool sealed[MEMBERS_MAX];
    size_t t = 0, from = 0;
    for (size_t i = 0; i < n; i++) {
        sealed[i] = is_sealed(line, &m[i], name);
        if (!sealed[i]) continue;
        memcpy(tmpl + t, line + from, m[i].vs - from);
        t += m[i].vs - from;
        memcpy(tmpl + t, "\"\"", 2);
        t += 2;
        from = m[i].ve;
    }
    memcpy(tmpl + t, line + from, len - from);
    tmpl[t + len - from] = '\0';

    size_t o = 0, bad = 0;
    char bad_names[MEMBERS_MAX * (NAME_MAX_LEN + 3) + 32];
    size_t bo = 0;
    from = 0;
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < n && st == HEARTH_OK; i++) {
        if (!sealed[i]) continue;
        (void)is_sealed(line, &m[i], name);
        if (!put(out, cap, &o, line + from, m[i].vs - from)) st = HEARTH_ERR_TOO_LARGE;
        char val[SECLOG_VALUE_MAX + 1];
        size_t vl = 0;
        if (st == HEARTH_OK && key != NULL &&
            hearth_seclog_field_open(key, name, tmpl, line + m[i].vs + 1, m[i].ve - m[i].vs - 2, val,
                                     sizeof val, &vl) == HEARTH_OK) {
            char esc[SECLOG_VALUE_MAX * 6 + 16];
            size_t el = seclog_put_str(esc, sizeof esc, 0, val, vl);
            if (!put(out, cap, &o, esc, el)) st = HEARTH_ERR_TOO_LARGE;
            hearth_memzero(esc, sizeof esc);
        } else if (st == HEARTH_OK) {
            if (!put(out, cap, &o, "\"" HEARTH_SECLOG_UNREADABLE "\"",
                     sizeof HEARTH_SECLOG_UNREADABLE + 1))
                st = HEARTH_ERR_TOO_LARGE;
            bo += (size_t)snprintf(bad_names + bo, sizeof bad_names - bo, "%s\"%s\"", bad ? "," : "",
                                   name);
            bad++;
        }
        hearth_memzero(val, sizeof val);
        from = m[i].ve;
    }
    if (st == HEARTH_OK && bad > 0) {
        /* Everything up to the closing brace, then the list. */
        if (!put(out, cap, &o, line + from, len - 1 - from) ||
            !put(out, cap, &o, ",\"unreadable\":[", 15) ||
            !put(out, cap, &o, bad_names, bo) || !put(out, cap, &o, "]}", 2))
            st = HEARTH_ERR_TOO_LARGE;
    } else if (st == HEARTH_OK && !put(out, cap, &o, line + from, len - from)) {
        st = HEARTH_ERR_TOO_LARGE;
    }
    if (st != HEARTH_OK) {
        hearth_memzero(out, cap);
        out[0] = '\0';
        return hearth_err(st, "the opened line does not fit %zu bytes", cap);
    }
    if (unreadable != NULL) *unreadable = bad;
    return HEARTH_OK;
}
