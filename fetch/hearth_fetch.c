/* hearth-fetch: one HTTPS transfer from the update repository, in its own
 * process (EN 303 645 5.6-6 minimised code, 5.6-7 least privilege).
 *
 * Why a separate program: parsing untrusted HTTP and TLS, and the ~25 shared
 * libraries libcurl brings, do not belong in the always-running daemon that
 * holds the password database and the secure store. hearthd's updater
 * (src/updater/transport.c) spawns this program per transfer with a clean
 * environment, the socket to the parent as stdin and stdout, and nothing
 * else open. It reads ONE request record from stdin (format in
 * src/updater/transport.h; the device key PEM travels here, never in argv,
 * the environment or a file), performs the transfer, writes the body to
 * stdout as DATA frames and ends with one RESULT frame, then exits 0.
 *
 * TLS policy, unchanged from the in-process transport: the repository is
 * authenticated by the manufacturer CA alone (no system trust store, so a
 * public CA cannot vouch for a fake repository), optionally pinned to a
 * public key; the device authenticates with its certificate and the key
 * handed to libcurl from memory (CURLOPT_SSLKEY_BLOB); TLS 1.2+ with AEAD
 * suites only (TR 103 621 6.10 example 1); https only, no redirects, no
 * content decoding (a compressed body could expand without bound); every
 * byte counted against the size the signed manifest allows; a resumed
 * transfer must be a 206 from exactly the requested offset; a stalled
 * transfer is abandoned.
 *
 * Usage: hearth-fetch  (no arguments; request on stdin, frames on stdout). */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "hearth/common.h"
#include "hearth/fetch_proto.h"
#include "hearth/util.h"

/* TLS 1.2 suites: ECDHE + AEAD only. TLS 1.3 suites are all AEAD. */
#define FETCH_TLS12_CIPHERS                                                                \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                         \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"                           \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

/* ------------------------------------------------------------ output */

static hearth_status send_frame(uint8_t type, const void *p, size_t n)
{
    /* A failed write means the parent is gone: nobody to tell. */
    uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN];
    hearth_fetch_frame_header(hdr, type, (uint32_t)n);
    HEARTH_GUARD(hearth_fd_write_all(STDOUT_FILENO, hdr, sizeof hdr, "stdout"));
    return n > 0 ? hearth_fd_write_all(STDOUT_FILENO, p, n, "stdout") : HEARTH_OK;
}

static hearth_status send_result(const hearth_fetch_result *r)
{
    uint8_t out[HEARTH_FETCH_FRAME_RESULT_MAX];
    size_t len = 0;
    HEARTH_GUARD(hearth_fetch_result_encode(r, out, sizeof out, &len));
    return send_frame(HEARTH_FETCH_FRAME_RESULT, out, len);
}

/* ------------------------------------------------------------ request */

static hearth_status read_stdin(hearth_buf *in)
{
    uint8_t chunk[4096];
    for (;;) {
        ssize_t r = read(STDIN_FILENO, chunk, sizeof chunk);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            return hearth_err(HEARTH_ERR_IO, "reading the request: %s", strerror(errno));
        }
        if (hearth_buf_append(in, chunk, (size_t)r) != HEARTH_OK) {
            hearth_memzero(chunk, sizeof chunk);
            return hearth_err(HEARTH_ERR_TOO_LARGE, "request too large");
        }
    }
    hearth_memzero(chunk, sizeof chunk);
    return HEARTH_OK;
}

/* ------------------------------------------------------------ transfer */

typedef struct {
    const hearth_fetch_request *req;
    CURL *curl;
    hearth_status st;        /* first failure seen in a callback */
    bool checked_status;
    bool parent_gone;        /* stdout write failed: exit without a result */
    bool overflow;
    long http_code;
    uint64_t received;
} xfer;

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
    xfer *x = userp;
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
                x->overflow = true;
                return 0;
            }
            v = v * 10 + (uint64_t)(buf[i] - '0');
        }
        if (digits > 0 && v > x->req->max_bytes) {
            x->overflow = true;
            return 0;
        }
    } else if (n > sizeof cr - 1 && strncasecmp(buf, cr, sizeof cr - 1) == 0) {
        size_t i = sizeof cr - 1;
        while (i < n && buf[i] == ' ') i++;
        int64_t start = content_range_start(buf + i, n - i);
        if (start < 0 || (uint64_t)start != x->req->offset) {
            x->st = hearth_err(HEARTH_ERR_IO, "server resumed at the wrong offset");
            return 0;
        }
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if (!x->checked_status) {
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        x->http_code = code;
        x->checked_status = true;
        long want = x->req->offset > 0 ? 206 : 200;
        if (code != want) {
            x->st = hearth_err(code == 404 ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_IO,
                               "repository answered HTTP %ld", code);
            return 0;
        }
    }
    if (n > x->req->max_bytes - x->received) {
        /* More than the signed manifest allows: abort now, before sending. */
        x->overflow = true;
        return 0;
    }
    for (size_t o = 0; o < n;) {
        size_t k = n - o < HEARTH_FETCH_FRAME_DATA_MAX ? n - o : HEARTH_FETCH_FRAME_DATA_MAX;
        if (send_frame(HEARTH_FETCH_FRAME_DATA, data + o, k) != HEARTH_OK) {
            x->parent_gone = true;
            return 0;
        }
        o += k;
    }
    x->received += n;
    return n;
}

/* Disable everything we do not use; abort on the first failure. */
#define SETOPT(h, o, v)                                                                    \
    do {                                                                                   \
        if (curl_easy_setopt((h), (o), (v)) != CURLE_OK) {                                 \
            st = hearth_err(HEARTH_ERR_INTERNAL, "libcurl option " #o " refused");         \
            goto done;                                                                     \
        }                                                                                  \
    } while (0)

/* Runs the transfer; returns its status and fills @p x. */
static hearth_status transfer(const hearth_fetch_request *r, xfer *x, bool *tls_failed)
{
    hearth_status st = HEARTH_OK;
    *tls_failed = false;
    CURL *h = curl_easy_init();
    if (h == NULL) return hearth_err(HEARTH_ERR_NOMEM, "libcurl handle");
    x->curl = h;
    char range[48];
    /* NOCOPY: libcurl reads the key from our buffer, which main() wipes;
     * a copy inside libcurl would be freed unwiped. */
    struct curl_blob key = {.data = (void *)r->key, .len = r->key_len, .flags = CURL_BLOB_NOCOPY};
    char errbuf[CURL_ERROR_SIZE] = "";

    SETOPT(h, CURLOPT_URL, r->url);
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "https");
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(h, CURLOPT_USERAGENT, "hearth-updater");
    /* Trust only the manufacturer CA (no system CA bundle or directory). */
    SETOPT(h, CURLOPT_CAINFO, r->ca_path);
    SETOPT(h, CURLOPT_CAPATH, (char *)NULL);
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SETOPT(h, CURLOPT_SSL_CIPHER_LIST, FETCH_TLS12_CIPHERS);
    SETOPT(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    if (r->pinned_pubkey != NULL) SETOPT(h, CURLOPT_PINNEDPUBLICKEY, r->pinned_pubkey);
    /* Client certificate; the key comes from memory only. */
    SETOPT(h, CURLOPT_SSLCERT, r->cert_path);
    SETOPT(h, CURLOPT_SSLCERTTYPE, "PEM");
    SETOPT(h, CURLOPT_SSLKEY_BLOB, &key);
    SETOPT(h, CURLOPT_SSLKEYTYPE, "PEM");
    SETOPT(h, CURLOPT_CONNECTTIMEOUT, (long)r->connect_timeout_s);
    SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(h, CURLOPT_LOW_SPEED_TIME, (long)r->stall_timeout_s);
    SETOPT(h, CURLOPT_BUFFERSIZE, 64L * 1024L);
    SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_bytes);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, x);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, x);
    if (r->offset > 0) {
        int l = snprintf(range, sizeof range, "%llu-", (unsigned long long)r->offset);
        if (l < 0 || (size_t)l >= sizeof range) {
            st = hearth_err(HEARTH_ERR_INTERNAL, "range");
            goto done;
        }
        SETOPT(h, CURLOPT_RANGE, range);
    }

    CURLcode rc = curl_easy_perform(h);
    if (!x->checked_status) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->http_code);
    if (x->st != HEARTH_OK) {
        st = x->st;
    } else if (x->parent_gone) {
        st = HEARTH_ERR_IO;
    } else if (x->overflow || rc == CURLE_FILESIZE_EXCEEDED) {
        x->overflow = true;
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "repository sent more than the manifest allows");
    } else if (rc != CURLE_OK) {
        *tls_failed = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
                      rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
                      rc == CURLE_SSL_CERTPROBLEM;
        st = hearth_err(HEARTH_ERR_IO, "download failed: %s%s%s", curl_easy_strerror(rc),
                        errbuf[0] ? ": " : "", errbuf);
    } else if (!x->checked_status) {
        /* Empty body: still check the status. */
        long want = r->offset > 0 ? 206 : 200;
        if (x->http_code != want)
            st = hearth_err(x->http_code == 404 ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_IO,
                            "repository answered HTTP %ld", x->http_code);
    }
done:
    curl_easy_cleanup(h);
    x->curl = NULL;
    return st;
}

/* ------------------------------------------------------------ main */

/* Process-level hardening that needs no privileges: no core dumps and no
 * same-user ptrace (the device key is in memory), no privilege gain through
 * exec, and death with the parent. Sandboxing (seccomp, a dedicated user,
 * namespaces) is a documented follow-up (docs/updates.md). */
static bool harden_self(void)
{
    if (hearth_process_harden() != HEARTH_OK) return false; /* no core, no ptrace */
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* A closed parent socket shows up as EPIPE from write(), not a signal. */
    signal(SIGPIPE, SIG_IGN);
    return true;
}

int main(int argc, char **argv)
{
    (void)argv;
    if (!harden_self()) {
        fprintf(stderr, "hearth-fetch: %s\n", hearth_err_msg());
        return 1;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: hearth-fetch  (request on stdin; run by hearthd's updater)\n");
        return 2;
    }
    hearth_buf in;
    hearth_buf_init(&in, HEARTH_FETCH_REQ_MAX);
    hearth_fetch_request req;
    memset(&req, 0, sizeof req);
    xfer x = {.req = &req, .st = HEARTH_OK};
    bool tls_failed = false;

    hearth_status st = read_stdin(&in);
    if (st == HEARTH_OK) st = hearth_fetch_request_decode(in.data, in.len, &req);
    if (st == HEARTH_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        st = hearth_err(HEARTH_ERR_INTERNAL, "libcurl initialisation failed");
    else if (st == HEARTH_OK) {
        st = transfer(&req, &x, &tls_failed);
        curl_global_cleanup();
    }
    /* The key is no longer needed: wipe it (and the whole request) before
     * anything else happens. */
    hearth_buf_free(&in);
    hearth_fetch_request_clear(&req);
    if (x.parent_gone) return 1;
    hearth_fetch_result res = {.status = st,
                               .http_code = x.http_code,
                               .received = x.received,
                               .overflow = x.overflow,
                               .tls_failed = tls_failed};
    if (st != HEARTH_OK) snprintf(res.msg, sizeof res.msg, "%s", hearth_err_msg());
    if (send_result(&res) != HEARTH_OK) return 1;
    return 0;
}
