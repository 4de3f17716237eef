/* hearth-fetch: the HTTP half of one transfer from the update repository,
 * in its own process (EN 303 645 5.6-6 minimised code, 5.6-7 least
 * privilege; docs/architecture.md "Update transfers").
 *
 * Why a separate program: the repository's HTTP responses are untrusted
 * input, and libcurl brings ~25 shared libraries with it; neither belongs
 * in the always-running daemon that holds the password database, the
 * secure store and the device key. hearthd (src/updater/transport.c)
 * resolves the repository's name, connects, and does the TLS client
 * handshake with the device key itself (src/updater/tls_client.c); this
 * program gets only the PLAINTEXT of that connection, as a descriptor, and
 * no key, certificate or path. It is started per transfer either by hearthd
 * (spawned, stdin and stdout a socket to hearthd, empty environment,
 * nothing else open) or by systemd for each connection to
 * hearth-fetch.socket (its own user, no network; hearthd's --fetch-socket).
 *
 * Sandbox: started by hearthd, it runs inside the Landlock rules and
 * no_new_privs hearthd applied before exec (src/updater/transport.c); in
 * both modes it then confines itself once libcurl is initialised and
 * before it reads its request (sandbox_self(): Landlock with no path, no
 * TCP, and the seccomp allow-list fetch/hearth-fetch.seccomp).
 *
 * It reads ONE request record from stdin, whose first byte carries its end
 * of the plaintext connection as SCM_RIGHTS (format:
 * include/hearth/fetch_proto.h), speaks HTTP/1.1 over it with libcurl
 * (which opens no socket, connects nowhere and resolves nothing: the
 * connection is handed to it through CURLOPT_OPENSOCKETFUNCTION and
 * CURL_SOCKOPT_ALREADY_CONNECTED, the name pinned with CURLOPT_RESOLVE),
 * writes the body to stdout as DATA frames, ends with one RESULT frame and
 * exits 0.
 *
 * HTTP policy, unchanged from when this program also did TLS: http only
 * inside the relay, no redirects, no content decoding (a compressed body
 * could expand without bound), no proxy; every byte counted against the
 * size the signed manifest allows (an announced Content-Length above it
 * stops the transfer before any body byte); a resumed transfer must be a
 * 206 from exactly the requested offset; a stalled transfer is abandoned.
 * A 429/503's Retry-After is parsed here, not in hearthd, and reported in
 * the RESULT frame as seconds (capped) or as invalid (retry_hint()).
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
#include <sys/socket.h>
#include <unistd.h>

#include "hearth/common.h"
#include "hearth/fetch_proto.h"
#include "hearth/sandbox.h"
#include "hearth/util.h"

/* The allow-list, embedded at build time from fetch/hearth-fetch.seccomp. */
extern const char hearth_fetch_seccomp[];

/* The name libcurl is given for the repository inside the relay: pinned to
 * a fixed address with CURLOPT_RESOLVE, so it never asks a resolver; the
 * Host header carries the real authority. */
#define RELAY_HOST "hearth-repository"

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

/* ------------------------------------------------------------ transfer */

typedef struct {
    const hearth_fetch_request *req;
    int conn;                /* the plaintext connection; -1 once libcurl has it */
    CURL *curl;
    hearth_status st;        /* first failure seen in a callback */
    bool checked_status;
    bool parent_gone;        /* stdout write failed: exit without a result */
    bool overflow;
    long http_code;
    uint64_t received;
    /* The last response's Retry-After and Date values, raw (bounded);
     * *_len > HEARTH_FETCH_HTTP_DATE_MAX: present but too long. */
    char retry_after[HEARTH_FETCH_HTTP_DATE_MAX];
    size_t retry_after_len;
    bool has_retry_after;
    char date[HEARTH_FETCH_HTTP_DATE_MAX];
    size_t date_len;
    bool has_date;
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

/* Keep a header's value (after the colon, without the line end). */
static void keep_value(const char *v, size_t n, char *out, size_t *out_len, bool *has)
{
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n')) n--;
    *has = true;
    *out_len = n;
    if (n <= HEARTH_FETCH_HTTP_DATE_MAX) memcpy(out, v, n);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userp)
{
    xfer *x = userp;
    size_t n = size * nitems;
    static const char cl[] = "content-length:";
    static const char cr[] = "content-range:";
    static const char ra[] = "retry-after:";
    static const char dt[] = "date:";
    if (n > 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): forget the previous one's. */
        x->has_retry_after = x->has_date = false;
    } else if (n > sizeof ra - 1 && strncasecmp(buf, ra, sizeof ra - 1) == 0) {
        keep_value(buf + sizeof ra - 1, n - (sizeof ra - 1), x->retry_after, &x->retry_after_len,
                   &x->has_retry_after);
    } else if (n > sizeof dt - 1 && strncasecmp(buf, dt, sizeof dt - 1) == 0) {
        keep_value(buf + sizeof dt - 1, n - (sizeof dt - 1), x->date, &x->date_len, &x->has_date);
    } else if (n > sizeof cl - 1 && strncasecmp(buf, cl, sizeof cl - 1) == 0) {
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

/* The relay connection once libcurl has it (see connect() below). */
static int g_relay_fd = -1;

/* libcurl asks for a socket: it gets the relay connection, once. */
static curl_socket_t open_relay(void *userp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)addr;
    xfer *x = userp;
    if (purpose != CURLSOCKTYPE_IPCXN || x->conn < 0) return CURL_SOCKET_BAD;
    g_relay_fd = x->conn;
    x->conn = -1;
    return g_relay_fd;
}

/* This program's connect(), which the dynamic linker binds libcurl's calls
 * to in place of libc's. libcurl 7.88.0 and 7.88.1 (Debian 12) call
 * connect() even when CURLOPT_SOCKOPTFUNCTION answered
 * CURL_SOCKOPT_ALREADY_CONNECTED (curl issue #10626, fixed in 8.0.0), which
 * on the relay socketpair fails with EINVAL. The relay connection is
 * connected already: that call succeeds without a system call. Every other
 * connect() in this process fails, as it must (the seccomp filter refuses
 * the system call as well). */
__attribute__((visibility("default"))) int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    (void)addr;
    (void)len;
    if (g_relay_fd >= 0 && fd == g_relay_fd) return 0;
    errno = EPERM;
    return -1;
}

/* ...and it is connected already: no connect(), no socket options. */
static int relay_connected(void *userp, curl_socket_t fd, curlsocktype purpose)
{
    (void)userp;
    (void)fd;
    (void)purpose;
    return CURL_SOCKOPT_ALREADY_CONNECTED;
}

/* Disable everything we do not use; abort on the first failure. */
#define SETOPT(h, o, v)                                                                    \
    do {                                                                                   \
        if (curl_easy_setopt((h), (o), (v)) != CURLE_OK) {                                 \
            st = hearth_err(HEARTH_ERR_INTERNAL, "libcurl option " #o " refused");         \
            goto done;                                                                     \
        }                                                                                  \
    } while (0)

/* "Host: name[:port]" as an https client would send it, and the internal
 * URL with the request's path. */
static hearth_status relay_names(const hearth_fetch_request *r, char *host_hdr, size_t hcap,
                                 char *url, size_t ucap)
{
    hearth_fetch_url u;
    HEARTH_GUARD(hearth_fetch_url_split(r->url, &u));
    char port[8] = "";
    if (u.port != 443) snprintf(port, sizeof port, ":%u", (unsigned)u.port);
    int l = snprintf(host_hdr, hcap, "Host: %s%s%s%s", u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "", port);
    int m = snprintf(url, ucap, "http://" RELAY_HOST "%s", u.path[0] != '\0' ? u.path : "/");
    if (l < 0 || (size_t)l >= hcap || m < 0 || (size_t)m >= ucap)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "request URL too long");
    return HEARTH_OK;
}

/* Runs the transfer; returns its status and fills @p x. */
static hearth_status transfer(const hearth_fetch_request *r, xfer *x)
{
    hearth_status st = HEARTH_OK;
    char host_hdr[HEARTH_FETCH_HOST_MAX + 32];
    char url[HEARTH_FETCH_REQ_URL_MAX + 32];
    HEARTH_GUARD(relay_names(r, host_hdr, sizeof host_hdr, url, sizeof url));
    CURL *h = curl_easy_init();
    if (h == NULL) return hearth_err(HEARTH_ERR_NOMEM, "libcurl handle");
    x->curl = h;
    char range[48];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *resolve = curl_slist_append(NULL, RELAY_HOST ":80:127.0.0.1");
    struct curl_slist *hdrs = curl_slist_append(NULL, host_hdr);
    if (resolve == NULL || hdrs == NULL) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        goto done;
    }

    SETOPT(h, CURLOPT_URL, url);
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "http");
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http");
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(h, CURLOPT_PROXY, "");
    SETOPT(h, CURLOPT_NOPROXY, "*");
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(h, CURLOPT_USERAGENT, "hearth-updater");
    SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
    /* The relay connection is the only connection: no DNS, no connect. */
    SETOPT(h, CURLOPT_RESOLVE, resolve);
    SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, open_relay);
    SETOPT(h, CURLOPT_OPENSOCKETDATA, x);
    SETOPT(h, CURLOPT_SOCKOPTFUNCTION, relay_connected);
    SETOPT(h, CURLOPT_FORBID_REUSE, 1L);
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
    curl_slist_free_all(resolve);
    curl_slist_free_all(hdrs);
    x->curl = NULL;
    return st;
}

/* A busy repository's hint (429/503 + Retry-After), validated here so
 * hearthd never parses the header: seconds, bounded, or "invalid". An
 * HTTP-date is taken relative to the response's own Date when that is
 * valid (a device whose clock is off still waits as long as the repository
 * meant), else to this machine's clock. */
static void retry_hint(const xfer *x, hearth_fetch_result *res)
{
    if ((x->http_code != 429 && x->http_code != 503) || !x->has_retry_after) return;
    uint32_t s = 0;
    if (hearth_http_retry_hint(x->retry_after, x->retry_after_len, x->has_date ? x->date : NULL, x->date_len,
                               &s) == HEARTH_OK) {
        res->retry_after = true;
        res->retry_after_s = s;
    } else {
        res->retry_after_bad = true;
    }
    hearth_err_clear();
}

/* ------------------------------------------------------------ main */

/* Process-level hardening that needs no privileges: no core dumps and no
 * same-user ptrace, no privilege gain through exec, and death with the
 * parent (when hearthd spawned it). */
static bool harden_self(void)
{
    if (hearth_process_harden() != HEARTH_OK) return false; /* no core, no ptrace */
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* A closed parent socket shows up as EPIPE from write(), not a signal. */
    (void)signal(SIGPIPE, SIG_IGN);
    return true;
}

/* The program's own sandbox, installed once libcurl is initialised (which
 * reads OpenSSL's configuration) and before a byte of the request is read:
 * Landlock with no path at all (no file can be opened, none executed), no
 * TCP bind or connect, no signals to or abstract sockets of processes
 * outside; then the seccomp allow-list (no open, socket, connect, execve,
 * ptrace, fork). In the default mode hearthd has already confined the
 * process it started (src/updater/transport.c); started by systemd under
 * its own user (hearth-fetch.socket), this is the program's own line. */
static hearth_status sandbox_self(void)
{
    hearth_sandbox_fs_policy fs = {.program = "hearth-fetch", .restrict_tcp = true, .scope = true};
    HEARTH_GUARD(hearth_sandbox_landlock(&fs));
    const char *const lists[] = {hearth_fetch_seccomp};
    return hearth_sandbox_seccomp("hearth-fetch", lists, 1);
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
    xfer x = {.req = &req, .conn = -1, .st = HEARTH_OK};

    hearth_status st = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK
                           ? HEARTH_OK
                           : hearth_err(HEARTH_ERR_INTERNAL, "libcurl initialisation failed");
    if (st == HEARTH_OK) st = sandbox_self();
    if (st == HEARTH_OK) st = hearth_fetch_request_recv(STDIN_FILENO, &in, &x.conn);
    if (st == HEARTH_OK) st = hearth_fetch_request_decode(in.data, in.len, &req);
    if (st == HEARTH_OK && x.conn < 0)
        st = hearth_err(HEARTH_ERR_INVALID, "request came without the repository connection");
    if (st == HEARTH_OK) st = transfer(&req, &x);
    curl_global_cleanup();
    if (x.conn >= 0) close(x.conn);
    hearth_buf_free(&in);
    hearth_fetch_request_clear(&req);
    if (x.parent_gone) return 1;
    hearth_fetch_result res = {.status = st,
                               .http_code = x.http_code,
                               .received = x.received,
                               .overflow = x.overflow};
    if (st != HEARTH_OK) snprintf(res.msg, sizeof res.msg, "%s", hearth_err_msg());
    retry_hint(&x, &res);
    if (send_result(&res) != HEARTH_OK) return 1;
    return 0;
}
