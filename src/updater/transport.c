/* HTTPS client for the update repository.
 *
 * Why libcurl with these options: the repository is authenticated by the
 * manufacturer CA alone (no system trust store, so a public CA cannot vouch
 * for a fake repository), the device authenticates with its own certificate
 * and the private key is handed to libcurl from memory (CURLOPT_SSLKEY_BLOB)
 * so it never touches the file system; TLS 1.2+ with AEAD suites only
 * (EN 303 645 5.5-1, TR 103 621 6.10 example 1). No redirects, no content
 * decoding (a compressed body could expand without bound), every byte
 * counted against the size the signed manifest allows. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "transport.h"

/* TLS 1.2 suites: ECDHE + AEAD only. TLS 1.3 suites are all AEAD. */
#define UPD_TLS12_CIPHERS                                                                  \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                         \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"                           \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
    g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

hearth_status upd_http_global_init(void)
{
    pthread_once(&g_once, global_init_once);
    if (g_init_rc != CURLE_OK) return hearth_err(HEARTH_ERR_INTERNAL, "libcurl initialisation failed");
    return HEARTH_OK;
}

size_t upd_pem_len(size_t der_len)
{
    size_t b64 = 4 * ((der_len + 2) / 3);
    size_t lines = (b64 + 63) / 64;
    return sizeof("-----BEGIN PRIVATE KEY-----\n") - 1 + b64 + lines +
           sizeof("-----END PRIVATE KEY-----\n") - 1 + 1;
}

hearth_status upd_der_to_pem(const uint8_t *der, size_t der_len, char *out, size_t cap,
                             size_t *out_len)
{
    static const char head[] = "-----BEGIN PRIVATE KEY-----\n";
    static const char tail[] = "-----END PRIVATE KEY-----\n";
    HEARTH_ENSURE(der != NULL && out != NULL && der_len > 0, HEARTH_ERR_INVALID);
    if (cap < upd_pem_len(der_len)) return hearth_err(HEARTH_ERR_TOO_LARGE, "PEM buffer too small");
    size_t o = 0;
    memcpy(out, head, sizeof head - 1);
    o += sizeof head - 1;
    /* 48 input bytes -> one 64-character line, encoded straight into out. */
    for (size_t i = 0; i < der_len; i += 48) {
        size_t n = der_len - i < 48 ? der_len - i : 48;
        int w = EVP_EncodeBlock((unsigned char *)out + o, der + i, (int)n);
        if (w <= 0) return hearth_err(HEARTH_ERR_CRYPTO, "base64 encoding failed");
        o += (size_t)w;
        out[o++] = '\n';
    }
    memcpy(out + o, tail, sizeof tail - 1);
    o += sizeof tail - 1;
    out[o] = '\0';
    *out_len = o;
    return HEARTH_OK;
}

typedef struct {
    uint64_t offset;     /* requested start */
    uint64_t max_bytes;  /* body bytes allowed */
    upd_sink_fn sink;
    void *arg;
    CURL *curl;
    hearth_status sink_st;
    bool checked_status;
    upd_http_result *res;
} stream_ctx;

/* Parse "Content-Range: bytes A-B/T" start; -1 on malformed. */
static int64_t content_range_start(const char *v, size_t n)
{
    static const char pfx[] = "bytes ";
    if (n < sizeof pfx - 1 || strncasecmp(v, pfx, sizeof pfx - 1) != 0) return -1;
    uint64_t a = 0;
    size_t i = sizeof pfx - 1;
    size_t digits = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9' && digits < 19; i++, digits++)
        a = a * 10 + (uint64_t)(v[i] - '0');
    if (digits == 0 || i >= n || v[i] != '-') return -1;
    return (int64_t)a;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userp)
{
    stream_ctx *c = userp;
    size_t n = size * nitems;
    static const char cl[] = "content-length:";
    static const char cr[] = "content-range:";
    if (n > sizeof cl - 1 && strncasecmp(buf, cl, sizeof cl - 1) == 0) {
        /* Announced more than the manifest allows: stop before any body
         * byte is accepted (endless-data attack). */
        uint64_t v = 0;
        size_t i = sizeof cl - 1, digits = 0;
        while (i < n && buf[i] == ' ') i++;
        for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
            if (++digits > 19) {
                c->res->overflow = true;
                return 0;
            }
            v = v * 10 + (uint64_t)(buf[i] - '0');
        }
        if (digits > 0 && v > c->max_bytes) {
            c->res->overflow = true;
            return 0;
        }
    } else if (n > sizeof cr - 1 && strncasecmp(buf, cr, sizeof cr - 1) == 0) {
        size_t i = sizeof cr - 1;
        while (i < n && buf[i] == ' ') i++;
        int64_t start = content_range_start(buf + i, n - i);
        if (start < 0 || (uint64_t)start != c->offset) {
            c->sink_st = hearth_err(HEARTH_ERR_IO, "server resumed at the wrong offset");
            return 0;
        }
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    stream_ctx *c = userp;
    size_t n = size * nmemb;
    if (!c->checked_status) {
        long code = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
        c->res->http_code = code;
        c->checked_status = true;
        long want = c->offset > 0 ? 206 : 200;
        if (code != want) {
            c->sink_st = hearth_err(code == 404 ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_IO,
                                    "repository answered HTTP %ld", code);
            return 0;
        }
    }
    if (n > c->max_bytes - c->res->received) {
        /* More than the signed manifest allows: abort now, before writing. */
        c->res->overflow = true;
        return 0;
    }
    hearth_status st = c->sink((const uint8_t *)data, n, c->arg);
    if (st != HEARTH_OK) {
        c->sink_st = st;
        return 0;
    }
    c->res->received += n;
    return n;
}

static int on_progress(void *userp, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    const upd_tls *t = userp;
    return (t->should_abort != NULL && t->should_abort(t->abort_arg)) ? 1 : 0;
}

/* Disable everything we do not use; abort on the first failure. */
#define SETOPT(h, o, v)                                                                    \
    do {                                                                                   \
        if (curl_easy_setopt((h), (o), (v)) != CURLE_OK) {                                 \
            st = hearth_err(HEARTH_ERR_INTERNAL, "libcurl option " #o " refused");         \
            goto done;                                                                     \
        }                                                                                  \
    } while (0)

hearth_status upd_http_stream(const upd_tls *tls, const char *url, uint64_t offset,
                              uint64_t max_bytes, upd_sink_fn sink, void *arg,
                              upd_http_result *res)
{
    HEARTH_ENSURE(tls != NULL && url != NULL && sink != NULL && res != NULL, HEARTH_ERR_INVALID);
    HEARTH_ENSURE(tls->ca_path != NULL && tls->cert_path != NULL && tls->key_pem != NULL,
                  HEARTH_ERR_INVALID);
    memset(res, 0, sizeof *res);
    if (strncmp(url, "https://", 8) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "update repository must be https://");
    HEARTH_GUARD(upd_http_global_init());

    hearth_status st = HEARTH_OK;
    CURL *h = curl_easy_init();
    if (h == NULL) return hearth_err(HEARTH_ERR_NOMEM, "libcurl handle");
    stream_ctx c = {.offset = offset, .max_bytes = max_bytes, .sink = sink, .arg = arg,
                    .curl = h, .sink_st = HEARTH_OK, .res = res};
    char range[48];
    struct curl_blob key = {.data = (void *)tls->key_pem, .len = tls->key_pem_len,
                            .flags = CURL_BLOB_NOCOPY};
    char errbuf[CURL_ERROR_SIZE] = "";

    SETOPT(h, CURLOPT_URL, url);
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "https");
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(h, CURLOPT_USERAGENT, "hearth-updater");
    /* Trust only the manufacturer CA (no system CA bundle or directory). */
    SETOPT(h, CURLOPT_CAINFO, tls->ca_path);
    SETOPT(h, CURLOPT_CAPATH, (char *)NULL);
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SETOPT(h, CURLOPT_SSL_CIPHER_LIST, UPD_TLS12_CIPHERS);
    SETOPT(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    if (tls->pinned_pubkey != NULL && tls->pinned_pubkey[0] != '\0')
        SETOPT(h, CURLOPT_PINNEDPUBLICKEY, tls->pinned_pubkey);
    /* Client certificate; the key comes from memory only. */
    SETOPT(h, CURLOPT_SSLCERT, tls->cert_path);
    SETOPT(h, CURLOPT_SSLCERTTYPE, "PEM");
    SETOPT(h, CURLOPT_SSLKEY_BLOB, &key);
    SETOPT(h, CURLOPT_SSLKEYTYPE, "PEM");
    SETOPT(h, CURLOPT_CONNECTTIMEOUT, tls->connect_timeout_s > 0 ? tls->connect_timeout_s : 20L);
    SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(h, CURLOPT_LOW_SPEED_TIME, tls->stall_timeout_s > 0 ? tls->stall_timeout_s : 30L);
    SETOPT(h, CURLOPT_BUFFERSIZE, 64L * 1024L);
    SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, &c);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, &c);
    if (tls->should_abort != NULL) {
        SETOPT(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        SETOPT(h, CURLOPT_XFERINFODATA, (void *)tls);
        SETOPT(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (offset > 0) {
        int l = snprintf(range, sizeof range, "%llu-", (unsigned long long)offset);
        if (l < 0 || (size_t)l >= sizeof range) {
            st = hearth_err(HEARTH_ERR_INTERNAL, "range");
            goto done;
        }
        SETOPT(h, CURLOPT_RANGE, range);
    }

    CURLcode rc = curl_easy_perform(h);
    if (!c.checked_status) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->http_code);
    if (c.sink_st != HEARTH_OK) {
        st = c.sink_st;
    } else if (res->overflow || rc == CURLE_FILESIZE_EXCEEDED) {
        res->overflow = true;
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "repository sent more than the manifest allows");
    } else if (rc != CURLE_OK) {
        res->tls_failed = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
                          rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
                          rc == CURLE_SSL_CERTPROBLEM;
        st = hearth_err(HEARTH_ERR_IO, "download failed: %s%s%s", curl_easy_strerror(rc),
                        errbuf[0] ? ": " : "", errbuf);
    } else if (!c.checked_status) {
        /* Empty body: still check the status. */
        long want = offset > 0 ? 206 : 200;
        if (res->http_code != want)
            st = hearth_err(res->http_code == 404 ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_IO,
                            "repository answered HTTP %ld", res->http_code);
    }
done:
    curl_easy_cleanup(h);
    return st;
}
