/*
 * Differential test: hearth_http_head_parse() (src/api/http_head.c) against
 * a real libevent evhttp server, the parser hearthd hands every request to
 * (EN 303 645 5.13-1: the input filter must never frame a request
 * differently from evhttp, or a request could be smuggled past it).
 *
 * For each case A (a seed of tests/fuzz/corpus/http_head, a deterministic
 * mutation of one, or a file named on the command line) that the pre-parser
 * tracks (OK, not opaque, body <= the 4 KiB cap), the stream
 *     A[0..len) + body bytes + "GET /marker-end HTTP/1.1 ..."
 * goes to an evhttp on 127.0.0.1 (port 0; same header/body caps and allowed
 * methods as hearthd, plain HTTP: TLS only wraps the same bytes). Accepted
 * outcomes:
 *   1. evhttp serves A's request with the same method, the same raw target
 *      and a body of exactly `body` bytes, then the marker as the next
 *      request, and nothing in between;
 *   2. the same first request, then the connection closes (the request
 *      asked for that: the reply says "Connection: close");
 *   3. evhttp refuses A (no request served) and closes the connection.
 * Anything else -- another request appearing, the marker missing while the
 * connection stays open (evhttp waits for bytes the filter thinks belong
 * to the next request), a different method, target or body length -- is a
 * framing disagreement and fails the test, printing the case.
 *
 * Usage: unit_http_head_evhttp [N_MUTATIONS [FILE|DIR ...]]
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hearth/api.h"
#include "hearth/http.h"
#include "hearth/json.h"

#define UP HEARTH_API_UPLOAD_PATH
#define MARKER "GET /marker-end HTTP/1.1\r\nHost: m\r\n\r\n"
#define MAX_SEEN 8
#define MAX_CASE 16384

typedef struct {
    char method[16];
    char uri[512];
    size_t body;
} seen_req;

typedef struct {
    struct event_base *base;
    struct evhttp *http;
    int port;
    seen_req seen[MAX_SEEN];
    int n_seen;
    bool marker;
    bool closed;
    bool timed_out;
    char reply[2048];
    size_t reply_len;
} diff_server;

static diff_server srv;
static int g_mutations = 3000;
static char **g_paths;
static int g_npaths;

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

static void on_request(struct evhttp_request *req, void *arg)
{
    diff_server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    if (uri != NULL && strcmp(uri, "/marker-end") == 0) {
        s->marker = true;
        event_base_loopbreak(s->base);
    } else if (s->n_seen < MAX_SEEN) {
        seen_req *r = &s->seen[s->n_seen];
        snprintf(r->method, sizeof r->method, "%s", method_name(evhttp_request_get_command(req)));
        snprintf(r->uri, sizeof r->uri, "%s", uri ? uri : "");
        r->body = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    }
    if (!s->marker) s->n_seen++;
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* The client end: collect replies, notice the server closing. */
static void on_client(evutil_socket_t fd, short what, void *arg)
{
    diff_server *s = arg;
    (void)what;
    char b[1024];
    ssize_t k = read(fd, b, sizeof b);
    if (k > 0) {
        size_t room = sizeof s->reply - 1 - s->reply_len;
        size_t take = (size_t)k < room ? (size_t)k : room;
        memcpy(s->reply + s->reply_len, b, take);
        s->reply_len += take;
        s->reply[s->reply_len] = '\0';
        return;
    }
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    s->closed = true;
    event_base_loopbreak(s->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    diff_server *s = arg;
    (void)fd, (void)what;
    s->timed_out = true;
    event_base_loopbreak(s->base);
}

static int setup(void **state)
{
    (void)state;
    /* evhttp may still answer a connection the client side already closed. */
    signal(SIGPIPE, SIG_IGN);
    srv.base = event_base_new();
    assert_non_null(srv.base);
    srv.http = evhttp_new(srv.base);
    assert_non_null(srv.http);
    evhttp_set_gencb(srv.http, on_request, &srv);
    /* hearthd's settings (daemon/server.c, hearthd_server_create). */
    evhttp_set_max_headers_size(srv.http, 8 * 1024);
    evhttp_set_max_body_size(srv.http, HEARTH_JSON_BODY_MAX);
    evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                             EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(srv.http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a, &al), 0);
    srv.port = ntohs(a.sin_port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    evhttp_free(srv.http);
    event_base_free(srv.base);
    return 0;
}

/* Send @p stream on a fresh connection; run the loop until the marker is
 * served, the server closes, or 500 ms pass. */
static void run_stream(const uint8_t *stream, size_t n)
{
    srv.n_seen = 0;
    srv.marker = srv.closed = srv.timed_out = false;
    srv.reply_len = 0;
    srv.reply[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    size_t off = 0;
    while (off < n) {
        ssize_t k = write(fd, stream + off, n - off);
        assert_true(k > 0);
        off += (size_t)k;
    }
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    struct event *ce = event_new(srv.base, fd, EV_READ | EV_PERSIST, on_client, &srv);
    struct event *te = evtimer_new(srv.base, on_timeout, &srv);
    assert_non_null(ce);
    assert_non_null(te);
    struct timeval tv = {0, 500 * 1000};
    event_add(ce, NULL);
    event_add(te, &tv);
    event_base_dispatch(srv.base);
    event_free(ce);
    event_free(te);
    close(fd);
}

static void print_case(const char *why, const uint8_t *d, size_t n)
{
    fprintf(stderr, "DISAGREEMENT: %s\n  case (%zu bytes): \"", why, n);
    for (size_t i = 0; i < n && i < 600; i++) {
        if (d[i] == '\r') fputs("\\r", stderr);
        else if (d[i] == '\n') fputs("\\n", stderr);
        else if (d[i] == '"' || d[i] == '\\') fprintf(stderr, "\\%c", d[i]);
        else if (isprint(d[i])) fputc(d[i], stderr);
        else fprintf(stderr, "\\x%02x", d[i]);
    }
    fprintf(stderr, "\"\n  evhttp: %d request(s) before the marker, marker %s, %s\n", srv.n_seen,
            srv.marker ? "served" : "not served",
            srv.closed ? "closed" : srv.timed_out ? "still open (timeout)" : "?");
    for (int i = 0; i < srv.n_seen && i < MAX_SEEN; i++)
        fprintf(stderr, "    #%d %s %s body %zu\n", i, srv.seen[i].method, srv.seen[i].uri,
                srv.seen[i].body);
}

typedef struct {
    unsigned tracked, agreed, refused, closed_after, disagreed, skipped;
} tally;

/* One case: 0 agreed/not applicable, 1 disagreement (printed). */
static int check_case(const uint8_t *d, size_t n, tally *t)
{
    hearth_http_head h;
    if (hearth_http_head_parse((const char *)d, n, UP, &h) != HEARTH_HTTP_HEAD_OK || h.opaque ||
        h.body > HEARTH_JSON_BODY_MAX) {
        t->skipped++;
        return 0;
    }
    t->tracked++;
    /* The filter's view of the request line: method SP target SP. */
    const uint8_t *eol = memchr(d, '\n', h.len);
    size_t tl = (size_t)(eol - d);
    if (tl > 0 && d[tl - 1] == '\r') tl--;
    while (tl > 0 && d[tl - 1] == ' ') tl--;
    const uint8_t *sp1 = memchr(d, ' ', tl);
    const uint8_t *sp2 = memrchr(sp1 + 1, ' ', tl - (size_t)(sp1 + 1 - d));
    char method[16] = "", target[512] = "";
    snprintf(method, sizeof method, "%.*s", (int)(sp1 - d), (const char *)d);
    snprintf(target, sizeof target, "%.*s", (int)(sp2 - sp1 - 1), (const char *)sp1 + 1);

    size_t total = h.len + (size_t)h.body + sizeof MARKER - 1;
    uint8_t *s = malloc(total);
    assert_non_null(s);
    memcpy(s, d, h.len);
    memset(s + h.len, 'b', (size_t)h.body);
    memcpy(s + h.len + h.body, MARKER, sizeof MARKER - 1);
    run_stream(s, total);
    free(s);

    const seen_req *f = &srv.seen[0];
    bool first_ok = srv.n_seen == 1 && strcmp(f->method, method) == 0 &&
                    strcmp(f->uri, target) == 0 && f->body == h.body;
    if (first_ok && srv.marker) {
        t->agreed++;
        return 0;
    }
    /* Closing after the first reply is evhttp's choice for "Connection:
     * close" and for versions before 1.1 (its reply then is not HTTP/1.1). */
    if (first_ok && srv.closed &&
        (strstr(srv.reply, "Connection: close") != NULL || strncmp(srv.reply, "HTTP/1.1 ", 9) != 0)) {
        t->closed_after++;
        return 0;
    }
    if (srv.n_seen == 0 && !srv.marker && srv.closed) {
        t->refused++;
        return 0;
    }
    char why[640];
    snprintf(why, sizeof why, "filter: %s %s body %llu len %zu", method, target,
             (unsigned long long)h.body, h.len);
    print_case(why, d, n);
    t->disagreed++;
    return 1;
}

/* ------------------------------------------------------------ case source */

static size_t read_file_into(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

typedef struct {
    uint8_t *d[2048];
    size_t n[2048];
    int count;
} seed_set;

static void add_path(seed_set *ss, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (dir == NULL) return;
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            add_path(ss, p);
        }
        closedir(dir);
        return;
    }
    if (ss->count >= 2048) return;
    uint8_t *b = malloc(MAX_CASE);
    assert_non_null(b);
    ss->n[ss->count] = read_file_into(path, b, MAX_CASE);
    ss->d[ss->count++] = b;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t bound)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return bound ? (uint32_t)(rng_state % bound) : 0;
}

/* Tokens that matter to HTTP framing. */
static const char *const toks[] = {
    "\r\n", "\n", "\r", " ", "\t", ":", "\0", "\r\n\r\n", "\n\n", "Content-Length: ",
    "Content-Length:", "Transfer-Encoding: chunked", "Connection: close", "Connection: keep-alive",
    "Expect: 100-continue", "0", "5", "10", "+", "-", "?", "/", "POST", "GET", "PUT", "HEAD",
    "PATCH", " HTTP/1.1", " HTTP/1.0", UP, "\r\n ", "\x0b", "\x0c", "%00", "#", "GET / HTTP/1.1\r\n",
};

static size_t mutate(uint8_t *b, size_t n, size_t cap)
{
    int rounds = 1 + (int)rnd(4);
    for (int r = 0; r < rounds; r++) {
        uint32_t op = rnd(4);
        size_t at = n ? rnd((uint32_t)n + 1) : 0;
        if (op == 0 && n > 0) { /* delete a short run */
            size_t k = 1 + rnd(4);
            if (at >= n) at = n - 1;
            if (at + k > n) k = n - at;
            memmove(b + at, b + at + k, n - at - k);
            n -= k;
        } else if (op == 1 && n > 0) { /* overwrite a byte */
            if (at >= n) at = n - 1;
            b[at] = (uint8_t)rnd(256);
        } else { /* insert a token */
            const char *tk = toks[rnd(sizeof toks / sizeof toks[0])];
            size_t k = tk[0] == '\0' ? 1 : strlen(tk);
            if (n + k > cap) continue;
            memmove(b + at + k, b + at, n - at);
            memcpy(b + at, tk, k);
            n += k;
        }
    }
    return n;
}

static void test_5_13_1_same_framing_as_evhttp(void **state)
{
    (void)state;
    seed_set ss = {.count = 0};
    const char *src = getenv("HEARTH_SOURCE_DIR");
    char corpus[1024];
    snprintf(corpus, sizeof corpus, "%s/tests/fuzz/corpus/http_head", src ? src : ".");
    add_path(&ss, corpus);
    for (int i = 0; i < g_npaths; i++) add_path(&ss, g_paths[i]);
    assert_true(ss.count > 0);
    tally t = {0};
    int bad = 0;
    for (int i = 0; i < ss.count; i++) bad += check_case(ss.d[i], ss.n[i], &t);
    uint8_t *m = malloc(MAX_CASE);
    assert_non_null(m);
    for (int i = 0; i < g_mutations; i++) {
        int k = (int)rnd((uint32_t)ss.count);
        size_t n = ss.n[k] < MAX_CASE ? ss.n[k] : MAX_CASE;
        memcpy(m, ss.d[k], n);
        n = mutate(m, n, MAX_CASE);
        bad += check_case(m, n, &t);
    }
    free(m);
    for (int i = 0; i < ss.count; i++) free(ss.d[i]);
    fprintf(stderr,
            "cases %d: tracked %u (agreed + marker %u, agreed + close %u, refused by evhttp %u, "
            "DISAGREED %u), not tracked %u\n",
            ss.count + g_mutations, t.tracked, t.agreed, t.closed_after, t.refused, t.disagreed,
            t.skipped);
    /* The comparison must have compared something real. */
    assert_true(t.agreed > 0);
    assert_int_equal(bad, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end != '\0' || v < 0 || v > 10000000) {
            fprintf(stderr, "usage: %s [N_MUTATIONS [FILE|DIR ...]]\n", argv[0]);
            return 2;
        }
        g_mutations = (int)v;
        g_paths = argv + 2;
        g_npaths = argc - 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_13_1_same_framing_as_evhttp),
    };
    return cmocka_run_group_tests_name("http_head_evhttp", tests, setup, teardown);
}
