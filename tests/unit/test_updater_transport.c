/* The daemon side of the hearth-fetch process separation
 * (src/updater/transport.c) against a hostile helper, the real
 * hearth-fetch against hostile request records, and the shared wire codecs
 * (include/hearth/fetch_proto.h) both sides call.
 *
 * Why: the helper parses untrusted HTTP/TLS; if it is ever compromised,
 * what it sends back must not be able to corrupt the daemon, get more body
 * bytes past it than the signed manifest allows, hang it, or leave zombies
 * (EN 303 645 5.13-1 input validation between processes, 5.3-10 the
 * transfer's bounds). It also checks that the request carries no key, that
 * the helper gets an empty environment, no inherited descriptors and
 * exactly one passed connection, and that the real helper speaks the HTTP
 * policy (status, 206 from exactly the offset, size bound, no redirects, no
 * decoding) over a plaintext connection it is handed; the boundary itself
 * (sandbox, other user) is attacked in tests/integration/test_fetch_boundary.sh. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hearth/common.h"
#include "hearth/fetch_proto.h"
#include "hearth/util.h"
#include "updater/transport.h"

#ifndef HOSTILE_FETCH
#error "HOSTILE_FETCH must name the hostile helper"
#endif
#ifndef REAL_FETCH
#error "REAL_FETCH must name hearth-fetch"
#endif

typedef struct {
    hearth_buf got;
    int calls;
    hearth_status fail_with; /* returned from the first call when set */
} sink_ctx;

static hearth_status sink(const uint8_t *d, size_t n, void *arg)
{
    sink_ctx *s = arg;
    s->calls++;
    if (s->fail_with != HEARTH_OK) return s->fail_with;
    return hearth_buf_append(&s->got, d, n);
}

static int g_abort_polls;
static bool abort_after_3(void *arg)
{
    (void)arg;
    return ++g_abort_polls > 3;
}

static upd_tls tls_for(void)
{
    upd_tls t = {.connect_timeout_s = 2, .stall_timeout_s = 2};
    return t;
}

/* One transfer of @p url over a plaintext connection the test holds the
 * other end of (@p peer; -1: closed at once). */
static hearth_status run_url(const upd_tls *t, const char *url, uint64_t offset, uint64_t max,
                             sink_ctx *s, upd_http_result *res, int *peer)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    memset(res, 0, sizeof *res);
    hearth_status st = upd_fetch_run(t, NULL, sv[1], url, offset, max, sink, s, res);
    if (peer != NULL) *peer = sv[0];
    else close(sv[0]);
    return st;
}

/* Run one transfer against the hostile helper in @p mode. */
static hearth_status run(const char *mode, uint64_t max, sink_ctx *s, upd_http_result *res,
                         int64_t *ms, const upd_tls *tls_override)
{
    char url[128];
    snprintf(url, sizeof url, "https://hostile.invalid/%s", mode);
    upd_tls t = tls_override != NULL ? *tls_override : tls_for();
    hearth_buf_init(&s->got, 1 << 20);
    int64_t t0 = hearth_mono_ms();
    hearth_status st = run_url(&t, url, 0, max, s, res, NULL);
    *ms = hearth_mono_ms() - t0;
    return st;
}

/* No child of the test process may be left behind, exited or not. */
static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(upd_http_set_fetch_program(HOSTILE_FETCH), HEARTH_OK);
    return 0;
}

/* ------------------------------------------------------ positive controls */

static void test_5_13_1_well_behaved_helper_accepted(void **state)
{
    (void)state;
    sink_ctx s = {0};
    upd_http_result r;
    int64_t ms;
    assert_int_equal(run("ok", 100, &s, &r, &ms, NULL), HEARTH_OK);
    assert_int_equal(s.got.len, 11);
    assert_memory_equal(s.got.data, "hello world", 11);
    assert_int_equal(r.received, 11);
    assert_int_equal(r.http_code, 200);
    assert_false(r.overflow);
    assert_false(r.tls_failed);
    hearth_buf_free(&s.got);
    /* The largest legal frame passes too. */
    sink_ctx s2 = {0};
    assert_int_equal(run("full", HEARTH_FETCH_FRAME_DATA_MAX, &s2, &r, &ms, NULL), HEARTH_OK);
    assert_int_equal(s2.got.len, HEARTH_FETCH_FRAME_DATA_MAX);
    hearth_buf_free(&s2.got);
    assert_no_children();
}

/* The helper gets no key: the request bytes hold no PEM; argv carries
 * nothing, the environment is empty, no descriptor beyond 0-2 is inherited
 * and exactly one connection is passed with the request. */
static void test_5_6_7_helper_gets_no_key_clean_env_one_fd(void **state)
{
    (void)state;
    /* A descriptor the helper must not inherit. */
    int leak[2];
    assert_int_equal(pipe(leak), 0);
    setenv("HEARTH_TEST_SECRET", "must-not-leak", 1);
    sink_ctx s = {0};
    upd_http_result r;
    int64_t ms;
    assert_int_equal(run("inspect", 4096, &s, &r, &ms, NULL), HEARTH_OK);
    unsetenv("HEARTH_TEST_SECRET");
    close(leak[0]);
    close(leak[1]);
    char want[512];
    size_t req_len = 4 + 2 + strlen("https://hostile.invalid/inspect") + 8 + 8 + 4;
    int l = snprintf(want, sizeof want, "argc=1 env=0 fds=0 conn=1 offset=0 max=4096 req=%zu key=0", req_len);
    assert_int_equal(s.got.len, (size_t)l);
    assert_memory_equal(s.got.data, want, (size_t)l);
    hearth_buf_free(&s.got);
    assert_no_children();
}

static void test_5_3_10_helper_error_reported_and_sanitised(void **state)
{
    (void)state;
    sink_ctx s = {0};
    upd_http_result r;
    int64_t ms;
    assert_int_equal(run("notfound", 100, &s, &r, &ms, NULL), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(r.http_code, 404);
    /* Control characters from the helper never reach the logs. */
    const char *m = hearth_err_msg();
    assert_non_null(strstr(m, "answered"));
    for (const char *p = m; *p; p++) assert_true(*p >= 0x20 && *p < 0x7f);
    /* Only hearthd's own handshake can say TLS failed: the retired flag
     * from a helper is refused as an unknown flag. */
    assert_int_equal(run("tlsflag", 100, &s, &r, &ms, NULL), HEARTH_ERR_IO);
    assert_false(r.tls_failed);
    assert_int_equal(s.calls, 0);
    hearth_buf_free(&s.got);
    assert_no_children();
}

/* ------------------------------------------------------ hostile helpers */

typedef struct {
    const char *mode;
    uint64_t max;
    hearth_status want;
} hostile_case;

static void expect_rejected(const hostile_case *c, sink_ctx *s, upd_http_result *r)
{
    int64_t ms;
    hearth_status st = run(c->mode, c->max, s, r, &ms, NULL);
    if (st != c->want) fail_msg("mode %s: got %s (%s), want %s", c->mode, hearth_status_name(st),
                                hearth_err_msg(), hearth_status_name(c->want));
    /* The helpers sleep 30 s after misbehaving: the parent must not wait. */
    if (ms > 5000) fail_msg("mode %s: took %lld ms", c->mode, (long long)ms);
    assert_no_children();
}

static void test_5_13_1_oversized_and_malformed_frames_rejected(void **state)
{
    (void)state;
    static const hostile_case cases[] = {
        {"oversize", 1 << 20, HEARTH_ERR_IO},    {"hugelen", 1 << 20, HEARTH_ERR_IO},
        {"empty", 1 << 20, HEARTH_ERR_IO},       {"badtype", 1 << 20, HEARTH_ERR_IO},
        {"bigresult", 1 << 20, HEARTH_ERR_IO},   {"badstatus", 1 << 20, HEARTH_ERR_IO},
        {"badflags", 1 << 20, HEARTH_ERR_IO},    {"trailing", 1 << 20, HEARTH_ERR_IO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sink_ctx s = {0};
        upd_http_result r;
        expect_rejected(&cases[i], &s, &r);
        /* Nothing from a bad frame reaches the sink. */
        assert_int_equal(s.calls, 0);
        hearth_buf_free(&s.got);
    }
}

static void test_5_13_1_truncated_frames_rejected(void **state)
{
    (void)state;
    static const hostile_case cases[] = {
        {"truncated", 1 << 20, HEARTH_ERR_IO},
        {"truncated-hdr", 1 << 20, HEARTH_ERR_IO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sink_ctx s = {0};
        upd_http_result r;
        expect_rejected(&cases[i], &s, &r);
        assert_int_equal(s.calls, 0);
        hearth_buf_free(&s.got);
    }
}

/* The parent enforces max_bytes itself: a helper ignoring it gets no byte
 * past the limit into the sink. */
static void test_5_3_10_more_than_max_bytes_cut_off(void **state)
{
    (void)state;
    hostile_case c = {"toomuch", 100, HEARTH_ERR_TOO_LARGE};
    sink_ctx s = {0};
    upd_http_result r;
    expect_rejected(&c, &s, &r);
    assert_true(r.overflow);
    assert_int_equal(s.got.len, 64);
    assert_int_equal(r.received, 64);
    hearth_buf_free(&s.got);
}

static void test_5_13_1_helper_without_result_rejected(void **state)
{
    (void)state;
    static const hostile_case cases[] = {
        {"noresult", 1 << 20, HEARTH_ERR_IO}, /* exits 0 after data */
        {"killed", 1 << 20, HEARTH_ERR_IO},   /* dies by SIGKILL */
        {"lie", 1 << 20, HEARTH_ERR_IO},      /* claims more than it sent */
        {"exitcode", 1 << 20, HEARTH_ERR_IO}, /* result, then a failure exit */
        {"lingers", 1 << 20, HEARTH_ERR_IO},  /* result, then never exits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sink_ctx s = {0};
        upd_http_result r;
        expect_rejected(&cases[i], &s, &r);
        hearth_buf_free(&s.got);
    }
}

/* A failing sink (tampered chunk) stops the helper at once and its status
 * is the result. */
static void test_5_3_10_sink_failure_kills_helper(void **state)
{
    (void)state;
    sink_ctx s = {.fail_with = HEARTH_ERR_TAMPERED};
    upd_http_result r;
    int64_t ms;
    assert_int_equal(run("slow", 1 << 20, &s, &r, &ms, NULL), HEARTH_ERR_TAMPERED);
    assert_int_equal(s.calls, 1);
    assert_int_equal(r.received, 0);
    assert_true(ms < 5000);
    hearth_buf_free(&s.got);
    assert_no_children();
}

/* Shutdown: should_abort is polled while the helper is silent. */
static void test_5_3_10_abort_and_stall_kill_helper(void **state)
{
    (void)state;
    upd_tls t = tls_for();
    t.should_abort = abort_after_3;
    g_abort_polls = 0;
    sink_ctx s = {0};
    upd_http_result r;
    int64_t ms;
    assert_int_equal(run("hang", 1 << 20, &s, &r, &ms, &t), HEARTH_ERR_IO);
    assert_true(ms < 3000);
    assert_true(g_abort_polls > 3);
    assert_no_children();
    hearth_buf_free(&s.got);
}

/* ------------------------------------------------------ program lookup */

static void test_fetch_program_resolution(void **state)
{
    (void)state;
    char p[4096];
    assert_int_equal(upd_http_fetch_program(p, sizeof p), HEARTH_OK);
    assert_string_equal(p, HOSTILE_FETCH);
    assert_int_equal(upd_http_set_fetch_program("relative/hearth-fetch"), HEARTH_ERR_INVALID);
    /* An explicit but missing program is an error, never replaced. */
    assert_int_equal(upd_http_set_fetch_program("/nonexistent/hearth-fetch"), HEARTH_OK);
    assert_int_equal(upd_http_fetch_program(p, sizeof p), HEARTH_ERR_STATE);
    upd_tls t = tls_for();
    sink_ctx s = {0};
    upd_http_result r;
    assert_int_equal(run_url(&t, "https://hostile.invalid/ok", 0, 10, &s, &r, NULL), HEARTH_ERR_STATE);
    /* The environment variable when nothing is set explicitly. */
    assert_int_equal(upd_http_set_fetch_program(NULL), HEARTH_OK);
    setenv(HEARTH_FETCH_ENV, REAL_FETCH, 1);
    assert_int_equal(upd_http_fetch_program(p, sizeof p), HEARTH_OK);
    assert_string_equal(p, REAL_FETCH);
    setenv(HEARTH_FETCH_ENV, "hearth-fetch", 1);
    assert_int_equal(upd_http_fetch_program(p, sizeof p), HEARTH_ERR_STATE);
    unsetenv(HEARTH_FETCH_ENV);
#ifdef FETCH_BUILD_TREE
    /* Default search in a development build: the build tree's helper. */
    assert_int_equal(upd_http_fetch_program(p, sizeof p), HEARTH_OK);
    assert_string_equal(p, REAL_FETCH);
#endif
    /* Non-https never spawns anything. */
    assert_int_equal(run_url(&t, "http://127.0.0.1/x", 0, 10, &s, &r, NULL), HEARTH_ERR_POLICY);
    assert_int_equal(upd_http_set_fetch_program(HOSTILE_FETCH), HEARTH_OK);
    assert_no_children();
}

/* ------------------------------------------------------ the real helper */

/* Run @p prog with @p in on its stdin socket, the first byte carrying
 * @p nfds descriptors; collect stdout and the exit status. */
static int run_prog(const char *prog, const uint8_t *in, size_t n, const int *fds, size_t nfds,
                    uint8_t *out, size_t cap, size_t *out_len)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        close(sv[0]);
        close(sv[1]);
        char *const argv[] = {(char *)"hearth-fetch", NULL};
        char *const envp[] = {NULL};
        execve(prog, argv, envp);
        _exit(127);
    }
    close(sv[1]);
    signal(SIGPIPE, SIG_IGN);
    size_t o = 0;
    if (nfds > 0 && n > 0) {
        union {
            struct cmsghdr a;
            char b[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        memset(&ctl, 0, sizeof ctl);
        struct iovec iov = {.iov_base = (void *)in, .iov_len = 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                           .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
        assert_int_equal(sendmsg(sv[0], &m, 0), 1);
        o = 1;
    }
    if (n > o) (void)!write(sv[0], in + o, n - o);
    shutdown(sv[0], SHUT_WR);
    *out_len = 0;
    for (;;) {
        ssize_t r = read(sv[0], out + *out_len, cap - *out_len);
        if (r <= 0) break;
        *out_len += (size_t)r;
        if (*out_len == cap) break;
    }
    close(sv[0]);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The helper's output for a bad request must be exactly one RESULT frame
 * with @p want, and no DATA. */
static void expect_real_rejects_fds(const uint8_t *in, size_t n, const int *fds, size_t nfds,
                                    hearth_status want)
{
    uint8_t out[1024];
    size_t len = 0;
    int rc = run_prog(REAL_FETCH, in, n, fds, nfds, out, sizeof out, &len);
    assert_int_equal(rc, 0);
    assert_true(len >= HEARTH_FETCH_FRAME_HDR_LEN + 19);
    assert_int_equal(out[0], HEARTH_FETCH_FRAME_RESULT);
    uint32_t fl = hearth_be32_get(out + 1);
    assert_int_equal(len, HEARTH_FETCH_FRAME_HDR_LEN + fl);
    int32_t st = (int32_t)hearth_be32_get(out + 5);
    if (st != want) fail_msg("helper answered %d, want %d", st, want);
}

static void expect_real_rejects(const uint8_t *in, size_t n, hearth_status want)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    expect_real_rejects_fds(in, n, sv, 1, want);
    close(sv[0]);
    close(sv[1]);
}

static void put_req(hearth_buf *b, const char *url, uint32_t stall)
{
    assert_int_equal(hearth_buf_u32(b, HEARTH_FETCH_MAGIC), HEARTH_OK);
    assert_int_equal(hearth_buf_u16(b, (uint16_t)strlen(url)), HEARTH_OK);
    assert_int_equal(hearth_buf_append(b, url, strlen(url)), HEARTH_OK);
    assert_int_equal(hearth_buf_u64(b, 0), HEARTH_OK);
    assert_int_equal(hearth_buf_u64(b, 100), HEARTH_OK);
    assert_int_equal(hearth_buf_u32(b, stall), HEARTH_OK);
}

static void test_5_13_1_real_helper_rejects_bad_requests(void **state)
{
    (void)state;
    hearth_buf b;
    /* Garbage and an empty request. */
    expect_real_rejects((const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, HEARTH_ERR_INVALID);
    expect_real_rejects(NULL, 0, HEARTH_ERR_INVALID);
    /* A plain-http URL: refused by the helper too (defence in depth). */
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    put_req(&b, "http://127.0.0.1:1/x", 2);
    expect_real_rejects(b.data, b.len, HEARTH_ERR_POLICY);
    hearth_buf_free(&b);
    /* User info, a bad port, a control character in the path. */
    static const char *const bad_urls[] = {"https://user@repo.example/x", "https://repo.example:0/x",
                                           "https://repo.example:99999/x", "https://repo.example/a b",
                                           "https://[::1/x", "https:///x"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
        put_req(&b, bad_urls[i], 2);
        expect_real_rejects(b.data, b.len, HEARTH_ERR_INVALID);
        hearth_buf_free(&b);
    }
    /* Truncated, and trailing bytes. */
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    put_req(&b, "https://127.0.0.1:1/x", 2);
    expect_real_rejects(b.data, b.len - 1, HEARTH_ERR_INVALID);
    assert_int_equal(hearth_buf_u8(&b, 0), HEARTH_OK);
    expect_real_rejects(b.data, b.len, HEARTH_ERR_INVALID);
    hearth_buf_free(&b);
    /* A stall timeout the helper would not honour. */
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    put_req(&b, "https://127.0.0.1:1/x", 0);
    expect_real_rejects(b.data, b.len, HEARTH_ERR_RANGE);
    hearth_buf_free(&b);
    /* NUL inside the URL. */
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    put_req(&b, "https://127.0.0.1:1/x", 2);
    b.data[4 + 2 + 9] = '\0';
    expect_real_rejects(b.data, b.len, HEARTH_ERR_INVALID);
    /* A valid record without the connection, and with two descriptors. */
    expect_real_rejects_fds(b.data, b.len, NULL, 0, HEARTH_ERR_INVALID);
    hearth_buf_free(&b);
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    put_req(&b, "https://127.0.0.1:1/x", 2);
    expect_real_rejects_fds(b.data, b.len, NULL, 0, HEARTH_ERR_INVALID);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    expect_real_rejects_fds(b.data, b.len, sv, 2, HEARTH_ERR_INVALID);
    close(sv[0]);
    close(sv[1]);
    hearth_buf_free(&b);
    /* Over the request bound. */
    static uint8_t huge[HEARTH_FETCH_REQ_MAX + 100];
    memset(huge, 'A', sizeof huge);
    expect_real_rejects(huge, sizeof huge, HEARTH_ERR_TOO_LARGE);
}

/* ------------------------------------------- the real helper's HTTP policy */

typedef struct {
    hearth_status st;
    sink_ctx s;
    upd_http_result r;
    char request[2048]; /* what the helper sent over the plaintext connection */
} http_case;

/* The real helper against a scripted repository: @p response is queued on
 * the plaintext connection before the helper starts (so no server thread is
 * needed), then what the helper wrote there is collected. */
static void real_http(const char *url, uint64_t offset, uint64_t max, const char *response,
                      http_case *hc)
{
    assert_int_equal(upd_http_set_fetch_program(REAL_FETCH), HEARTH_OK);
    memset(hc, 0, sizeof *hc);
    hearth_buf_init(&hc->s.got, 1 << 20);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    size_t rl = strlen(response);
    assert_int_equal(write(sv[0], response, rl), (ssize_t)rl);
    shutdown(sv[0], SHUT_WR);
    upd_tls t = tls_for();
    hc->st = upd_fetch_run(&t, NULL, sv[1], url, offset, max, sink, &hc->s, &hc->r);
    ssize_t n = read(sv[0], hc->request, sizeof hc->request - 1);
    hc->request[n > 0 ? n : 0] = '\0';
    close(sv[0]);
    assert_int_equal(upd_http_set_fetch_program(HOSTILE_FETCH), HEARTH_OK);
    assert_no_children();
}

/* real_http() that must succeed with exactly @p body in the sink. */
static void real_http_ok(const char *url, uint64_t offset, const char *response, const char *body,
                         size_t body_len, http_case *hc)
{
    real_http(url, offset, 100, response, hc);
    if (hc->st != HEARTH_OK) fail_msg("%s: %s", url, hearth_err_msg());
    assert_int_equal(hc->s.got.len, body_len);
    assert_memory_equal(hc->s.got.data, body, body_len);
}

static void test_5_3_10_real_helper_http_over_passed_connection(void **state)
{
    (void)state;
    http_case hc;
    /* A plain GET: the request line carries the path, the Host header the
     * URL's authority, and the body arrives. */
    real_http_ok("https://repo.example:8443/hw/latest.hbm", 0,
                 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", 5, &hc);
    assert_non_null(strstr(hc.request, "GET /hw/latest.hbm HTTP/1.1\r\n"));
    assert_non_null(strstr(hc.request, "\r\nHost: repo.example:8443\r\n"));
    assert_null(strstr(hc.request, "Accept-Encoding"));
    hearth_buf_free(&hc.s.got);
    /* The default port is not named, as an https client would send it. */
    real_http_ok("https://repo.example/x", 0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", "x", 1, &hc);
    assert_non_null(strstr(hc.request, "\r\nHost: repo.example\r\n"));
    hearth_buf_free(&hc.s.got);
    /* Resume: a Range request, and a 206 from exactly that offset. */
    real_http_ok("https://repo.example/x", 5,
                 "HTTP/1.1 206 Partial\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 5\r\n\r\nworld",
                 "world", 5, &hc);
    assert_non_null(strstr(hc.request, "\r\nRange: bytes=5-\r\n"));
    hearth_buf_free(&hc.s.got);
    /* A compressed body reaches the sink as sent: no decoding. */
    real_http_ok("https://repo.example/x", 0,
                 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x08",
                 "\x1f\x8b\x08\x08", 4, &hc);
    hearth_buf_free(&hc.s.got);
}

static void test_5_3_10_real_helper_http_policy_refusals(void **state)
{
    (void)state;
    static const struct {
        uint64_t offset, max;
        const char *response;
        hearth_status want;
        bool overflow;
    } cases[] = {
        /* A resume answered from another offset, or with the whole object. */
        {5, 100, "HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\r\nhelloworld",
         HEARTH_ERR_IO, false},
        {5, 100, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhelloworld", HEARTH_ERR_IO, false},
        /* Not found, and a redirect that must not be followed. */
        {0, 100, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", HEARTH_ERR_NOT_FOUND, false},
        {0, 100, "HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n",
         HEARTH_ERR_IO, false},
        /* More announced, or sent, than allowed. */
        {0, 4, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", HEARTH_ERR_TOO_LARGE, true},
        {0, 4, "HTTP/1.1 200 OK\r\n\r\nhello", HEARTH_ERR_TOO_LARGE, true},
        /* A short body (the repository's connection ended early). */
        {0, 100, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhello", HEARTH_ERR_IO, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_case hc;
        real_http("https://repo.example/x", cases[i].offset, cases[i].max, cases[i].response, &hc);
        if (hc.st != cases[i].want)
            fail_msg("case %zu: got %s (%s)", i, hearth_status_name(hc.st), hearth_err_msg());
        assert_int_equal(hc.r.overflow, cases[i].overflow);
        assert_true(hc.s.got.len <= cases[i].max);
        hearth_buf_free(&hc.s.got);
    }
}

/* Unknown arguments are a usage error; nothing is read or fetched. */
static void test_real_helper_takes_no_arguments(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *const argv[] = {(char *)"hearth-fetch", (char *)"https://example.invalid/", NULL};
        char *const envp[] = {NULL};
        execve(REAL_FETCH, argv, envp);
        _exit(127);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 2);
}

/* The request codec both programs call: what the updater encodes the helper
 * decodes field for field, and every cut-short record is refused. */
static void test_5_13_1_fetch_proto_request_round_trip(void **state)
{
    (void)state;
    hearth_fetch_request in = {.url = "https://repo.example/hw/latest.hbm",
                               .offset = 4096,
                               .max_bytes = 1u << 20,
                               .stall_timeout_s = 30};
    hearth_buf b;
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    assert_int_equal(hearth_fetch_request_encode(&in, &b), HEARTH_OK);
    hearth_fetch_request out;
    assert_int_equal(hearth_fetch_request_decode(b.data, b.len, &out), HEARTH_OK);
    assert_string_equal(out.url, in.url);
    assert_true(out.offset == in.offset && out.max_bytes == in.max_bytes);
    assert_int_equal(out.stall_timeout_s, 30);
    hearth_fetch_request_clear(&out);
    assert_null(out.url);
    /* Every truncation is refused, and leaves nothing to release. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_not_equal(hearth_fetch_request_decode(b.data, n, &out), HEARTH_OK);
        assert_null(out.url);
    }
    /* A timeout the helper would not honour. */
    hearth_buf_free(&b);
    in.stall_timeout_s = HEARTH_FETCH_TIMEOUT_MAX_S + 1;
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    assert_int_equal(hearth_fetch_request_encode(&in, &b), HEARTH_OK);
    assert_int_equal(hearth_fetch_request_decode(b.data, b.len, &out), HEARTH_ERR_RANGE);
    hearth_buf_free(&b);
    /* Oversized fields are refused on the encoding side already. */
    static char long_url[HEARTH_FETCH_REQ_URL_MAX + 2];
    memset(long_url, 'a', sizeof long_url - 1);
    memcpy(long_url, "https://", 8);
    in.url = long_url;
    hearth_buf_init(&b, HEARTH_FETCH_REQ_MAX);
    assert_int_equal(hearth_fetch_request_encode(&in, &b), HEARTH_ERR_TOO_LARGE);
    hearth_buf_free(&b);
    /* The URL parser both sides share. */
    hearth_fetch_url u;
    assert_int_equal(hearth_fetch_url_split("https://[fe80::1]:8443/a?b=c", &u), HEARTH_OK);
    assert_string_equal(u.host, "fe80::1");
    assert_true(u.ipv6 && u.port == 8443);
    assert_string_equal(u.path, "/a?b=c");
    assert_int_equal(hearth_fetch_url_split("https://repo.example", &u), HEARTH_OK);
    assert_true(!u.ipv6 && u.port == 443 && u.path[0] == '\0');
    assert_int_equal(hearth_fetch_url_split("HTTPS://repo.example/", &u), HEARTH_ERR_POLICY);
    assert_int_equal(hearth_fetch_url_split("https://repo.example:443x/", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_fetch_url_split("https://repo.example/\x7f", &u), HEARTH_ERR_INVALID);
}

/* The result codec: round trip, the text made printable and cut to its
 * bound, anything outside the format refused. */
static void test_5_13_1_fetch_proto_result_round_trip(void **state)
{
    (void)state;
    hearth_fetch_result in = {.status = HEARTH_ERR_NOT_FOUND, .http_code = 404, .received = 7,
                              .overflow = true};
    snprintf(in.msg, sizeof in.msg, "no\x1b[31m such\n file");
    uint8_t buf[HEARTH_FETCH_FRAME_RESULT_MAX];
    size_t len = 0;
    assert_int_equal(hearth_fetch_result_encode(&in, buf, sizeof buf, &len), HEARTH_OK);
    hearth_fetch_result out;
    assert_int_equal(hearth_fetch_result_decode(buf, len, &out), HEARTH_OK);
    assert_int_equal(out.status, HEARTH_ERR_NOT_FOUND);
    assert_int_equal(out.http_code, 404);
    assert_true(out.received == 7 && out.overflow);
    assert_string_equal(out.msg, "no?[31m such? file");
    /* A code outside 1..999 is sent as none. */
    in.http_code = 1000;
    assert_int_equal(hearth_fetch_result_encode(&in, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(hearth_fetch_result_decode(buf, len, &out), HEARTH_OK);
    assert_int_equal(out.http_code, 0);
    /* Every truncation, a trailing byte, an unknown flag, a positive
     * status and a code above 999 are refused. */
    for (size_t n = 0; n < len; n++) assert_int_equal(hearth_fetch_result_decode(buf, n, &out), HEARTH_ERR_IO);
    buf[len] = 0;
    assert_int_equal(hearth_fetch_result_decode(buf, len + 1, &out), HEARTH_ERR_IO);
    uint8_t bad[HEARTH_FETCH_FRAME_RESULT_MAX];
    memcpy(bad, buf, len);
    bad[16] = 0x80; /* flags */
    assert_int_equal(hearth_fetch_result_decode(bad, len, &out), HEARTH_ERR_IO);
    bad[16] = 0x02; /* the retired "TLS failed" flag */
    assert_int_equal(hearth_fetch_result_decode(bad, len, &out), HEARTH_ERR_IO);
    memcpy(bad, buf, len);
    hearth_be32_put(bad, 1); /* status > 0 */
    assert_int_equal(hearth_fetch_result_decode(bad, len, &out), HEARTH_ERR_IO);
    memcpy(bad, buf, len);
    hearth_be32_put(bad + 4, 1000); /* http code */
    assert_int_equal(hearth_fetch_result_decode(bad, len, &out), HEARTH_ERR_IO);
    /* Frame headers: bounds per type, no other type. */
    uint8_t h[HEARTH_FETCH_FRAME_HDR_LEN];
    uint8_t type = 0;
    uint32_t flen = 0;
    hearth_fetch_frame_header(h, HEARTH_FETCH_FRAME_DATA, HEARTH_FETCH_FRAME_DATA_MAX);
    assert_int_equal(hearth_fetch_frame_parse(h, &type, &flen), HEARTH_OK);
    assert_int_equal(type, HEARTH_FETCH_FRAME_DATA);
    assert_int_equal(flen, HEARTH_FETCH_FRAME_DATA_MAX);
    hearth_fetch_frame_header(h, HEARTH_FETCH_FRAME_DATA, HEARTH_FETCH_FRAME_DATA_MAX + 1);
    assert_int_equal(hearth_fetch_frame_parse(h, &type, &flen), HEARTH_ERR_IO);
    hearth_fetch_frame_header(h, HEARTH_FETCH_FRAME_DATA, 0);
    assert_int_equal(hearth_fetch_frame_parse(h, &type, &flen), HEARTH_ERR_IO);
    hearth_fetch_frame_header(h, HEARTH_FETCH_FRAME_RESULT, HEARTH_FETCH_FRAME_RESULT_MAX + 1);
    assert_int_equal(hearth_fetch_frame_parse(h, &type, &flen), HEARTH_ERR_IO);
    hearth_fetch_frame_header(h, 3, 1);
    assert_int_equal(hearth_fetch_frame_parse(h, &type, &flen), HEARTH_ERR_IO);
}

/* Retry-After (RFC 9110 10.2.3): delta-seconds or an HTTP-date in any of
 * its three forms, capped at 24 h; hostile values refused, none steering
 * the device for longer than the cap. */
static void test_5_9_3_retry_after_parser(void **state)
{
    (void)state;
    int64_t t = 0;
    /* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example). */
    assert_int_equal(hearth_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), HEARTH_OK);
    assert_true(t == 784111777);
    assert_int_equal(hearth_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), HEARTH_OK);
    assert_true(t == 784111777);
    assert_int_equal(hearth_http_date_parse("Sun Nov  6 08:49:37 1994", 24, &t), HEARTH_OK);
    assert_true(t == 784111777);
    assert_int_equal(hearth_http_date_parse("Thu, 29 Feb 2024 23:59:59 GMT", 29, &t), HEARTH_OK);
    assert_true(t == 1709251199);
    static const char *const bad_dates[] = {
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT", "Thu, 29 Feb 2023 10:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ", "Sun, 06 Nov 1969 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "", "1994-11-06T08:49:37Z"};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++)
        if (hearth_http_date_parse(bad_dates[i], strlen(bad_dates[i]), &t) != HEARTH_ERR_INVALID)
            fail_msg("date %zu accepted: '%s'", i, bad_dates[i]);
    static const struct {
        const char *v;
        hearth_status want;
        uint32_t s;
    } cases[] = {
        {"120", HEARTH_OK, 120},
        {" 0\t", HEARTH_OK, 0},
        {"86400", HEARTH_OK, 86400},
        {"86401", HEARTH_OK, 86400},                         /* capped */
        {"99999999999999999999999999999", HEARTH_OK, 86400}, /* overflow: capped */
        {"Sun, 06 Nov 1994 08:59:37 GMT", HEARTH_OK, 600},   /* 10 min after "now" */
        {"Sun, 06 Nov 1994 08:00:00 GMT", HEARTH_OK, 0},     /* in the past */
        {"Sun, 06 Nov 2094 08:49:37 GMT", HEARTH_OK, 86400}, /* a century: capped */
        {"-5", HEARTH_ERR_INVALID, 0},
        {"+5", HEARTH_ERR_INVALID, 0},
        {"5.5", HEARTH_ERR_INVALID, 0},
        {"5 s", HEARTH_ERR_INVALID, 0},
        {"0x10", HEARTH_ERR_INVALID, 0},
        {"", HEARTH_ERR_INVALID, 0},
        {"   ", HEARTH_ERR_INVALID, 0},
        {"soon", HEARTH_ERR_INVALID, 0},
        {"120\r\nX-Injected: 1", HEARTH_ERR_INVALID, 0},
        {"00000000000000000000000000000000000000000000000000000000000000001", HEARTH_ERR_INVALID, 0}, /* > 64 bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t s = 77;
        hearth_status st = hearth_http_retry_after_parse(cases[i].v, strlen(cases[i].v), 784111777, &s);
        if (st != cases[i].want || s != cases[i].s)
            fail_msg("case %zu '%s': got %s %u, want %s %u", i, cases[i].v, hearth_status_name(st), s,
                     hearth_status_name(cases[i].want), cases[i].s);
    }
    /* The codec carries it, bounded, and refuses both flags or a value
     * above the cap from a hostile helper. */
    hearth_fetch_result in = {.status = HEARTH_ERR_IO, .http_code = 503, .retry_after = true, .retry_after_s = 3600};
    uint8_t buf[HEARTH_FETCH_FRAME_RESULT_MAX];
    size_t len = 0;
    hearth_fetch_result out;
    assert_int_equal(hearth_fetch_result_encode(&in, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(hearth_fetch_result_decode(buf, len, &out), HEARTH_OK);
    assert_true(out.retry_after && out.retry_after_s == 3600 && !out.retry_after_bad);
    for (size_t n = 0; n < len; n++) assert_int_equal(hearth_fetch_result_decode(buf, n, &out), HEARTH_ERR_IO);
    hearth_be32_put(buf + len - 4, HEARTH_FETCH_RETRY_AFTER_MAX_S + 1);
    assert_int_equal(hearth_fetch_result_decode(buf, len, &out), HEARTH_ERR_IO);
    buf[16] |= HEARTH_FETCH_RESULT_RETRY_AFTER_BAD;
    hearth_be32_put(buf + len - 4, 10);
    assert_int_equal(hearth_fetch_result_decode(buf, len, &out), HEARTH_ERR_IO);
    in.retry_after_s = HEARTH_FETCH_RETRY_AFTER_MAX_S + 1;
    assert_int_equal(hearth_fetch_result_encode(&in, buf, sizeof buf, &len), HEARTH_ERR_INVALID);
    in = (hearth_fetch_result){.status = HEARTH_ERR_IO, .http_code = 503, .retry_after_bad = true};
    assert_int_equal(hearth_fetch_result_encode(&in, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(hearth_fetch_result_decode(buf, len, &out), HEARTH_OK);
    assert_true(!out.retry_after && out.retry_after_bad);
}

/* The real helper reports a 429/503's Retry-After (relative to the
 * response's Date), flags an invalid one, and ignores it on other codes. */
static void test_5_9_3_real_helper_reports_retry_after(void **state)
{
    (void)state;
    static const struct {
        const char *response;
        bool ra, bad;
        uint32_t s;
    } cases[] = {
        {"HTTP/1.1 503 Busy\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n", true, false, 120},
        {"HTTP/1.1 429 Slow down\r\nretry-after:  7200 \r\nContent-Length: 0\r\n\r\n", true, false, 7200},
        {"HTTP/1.1 503 Busy\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
         "Retry-After: Sun, 06 Nov 1994 09:49:37 GMT\r\nContent-Length: 0\r\n\r\n", true, false, 3600},
        {"HTTP/1.1 503 Busy\r\nRetry-After: 999999999\r\nContent-Length: 0\r\n\r\n", true, false, 86400},
        {"HTTP/1.1 503 Busy\r\nRetry-After: -1\r\nContent-Length: 0\r\n\r\n", false, true, 0},
        {"HTTP/1.1 503 Busy\r\nRetry-After: tomorrow\r\nContent-Length: 0\r\n\r\n", false, true, 0},
        {"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", false, false, 0},
        {"HTTP/1.1 500 Oops\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n", false, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_case hc;
        real_http("https://repo.example/x", 0, 100, cases[i].response, &hc);
        if (hc.st != HEARTH_ERR_IO || hc.r.retry_after != cases[i].ra || hc.r.retry_after_bad != cases[i].bad ||
            hc.r.retry_after_s != cases[i].s)
            fail_msg("case %zu: %s ra=%d bad=%d s=%u", i, hearth_status_name(hc.st), hc.r.retry_after,
                     hc.r.retry_after_bad, hc.r.retry_after_s);
        hearth_buf_free(&hc.s.got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_5_13_1_well_behaved_helper_accepted, setup),
        cmocka_unit_test_setup(test_5_6_7_helper_gets_no_key_clean_env_one_fd, setup),
        cmocka_unit_test_setup(test_5_3_10_helper_error_reported_and_sanitised, setup),
        cmocka_unit_test_setup(test_5_13_1_oversized_and_malformed_frames_rejected, setup),
        cmocka_unit_test_setup(test_5_13_1_truncated_frames_rejected, setup),
        cmocka_unit_test_setup(test_5_3_10_more_than_max_bytes_cut_off, setup),
        cmocka_unit_test_setup(test_5_13_1_helper_without_result_rejected, setup),
        cmocka_unit_test_setup(test_5_3_10_sink_failure_kills_helper, setup),
        cmocka_unit_test_setup(test_5_3_10_abort_and_stall_kill_helper, setup),
        cmocka_unit_test_setup(test_fetch_program_resolution, setup),
        cmocka_unit_test(test_5_13_1_real_helper_rejects_bad_requests),
        cmocka_unit_test(test_real_helper_takes_no_arguments),
        cmocka_unit_test_setup(test_5_3_10_real_helper_http_over_passed_connection, setup),
        cmocka_unit_test_setup(test_5_3_10_real_helper_http_policy_refusals, setup),
        cmocka_unit_test(test_5_13_1_fetch_proto_request_round_trip),
        cmocka_unit_test(test_5_13_1_fetch_proto_result_round_trip),
        cmocka_unit_test(test_5_9_3_retry_after_parser),
        cmocka_unit_test_setup(test_5_9_3_real_helper_reports_retry_after, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
