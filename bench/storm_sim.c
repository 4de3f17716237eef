/* storm_sim: a reconnect storm against a real MQTT broker on loopback.
 *
 * One process, one epoll loop (no thread per device): N simulated devices,
 * each with its own TCP connection doing a real MQTT CONNECT (3.1.1 or 5)
 * and reading the CONNACK, over plain TCP or, with --tls-ca/--tls-cert/
 * --tls-key, over mutual TLS (OpenSSL 3, non-blocking handshakes in the same
 * loop; every handshake is a full one: no tickets, no session cache, the
 * broker's certificate verified against the CA and 127.0.0.1, the client
 * certificate presented; every device presents the same one). One
 * policy per run:
 *   hearth  hearth_backoff (include/hearth/backoff.h) with its defaults;
 *   fixed   libmosquitto's default: reconnect 1 s after every loss or
 *           failure, no jitter;
 *   exp     plain exponential without jitter: 1 s doubling to 120 s, reset
 *           on success.
 * Scenario: every device connects (setup, paced, not measured), all stay up
 * for --hold-ms (so Hearth's connections count as stable), then the broker
 * is stopped (--stop-cmd), kept down for --outage-ms, restarted
 * (--start-cmd, which returns once the broker listens) and the run ends
 * when every device has its CONNACK again (or after --max-recovery-ms).
 *
 * An "attempt" is one connect() a device starts (refused at once while the
 * broker is down, or a CONNACK, a refusal code, a TLS failure or a timeout
 * while it is up; the 10 s timeout covers TCP, TLS and CONNACK); the kernel's SYN retransmissions inside one attempt are not
 * attempts. Attempts are split by their start time: during the outage,
 * after the restart (= the moment the broker is launched; attempts refused
 * while it starts up count as after the restart, and are also printed on
 * their own).
 *
 * --time-scale K divides every policy time (backoff windows, stable time,
 * first delay, the fixed 1 s, the exponential 1..120 s, the connect
 * timeout) by K, so the bounded ctest can run the same scenario in seconds;
 * the peak rates are then counted over 1/K s windows ("per scaled second",
 * K = 1: per second).
 *
 * Output: key=value summary lines on stdout; with --curve FILE, one line
 * per 100 ms bin: seconds since the stop, attempts started, CONNACKs
 * received, devices up, broker CPU % (from /proc/<pid>/stat).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hearth/backoff.h"

enum policy { POL_HEARTH, POL_FIXED, POL_EXP };
enum dstate { D_WAIT, D_CONNECTING, D_TLS, D_CONNACK, D_UP };

typedef struct {
    enum dstate st;
    int fd;
    SSL *ssl;           /* TLS mode, from the TCP connection on */
    uint32_t gen;       /* timer generation: stale heap entries are skipped */
    uint32_t exp_n;     /* exp policy: failures since the last success */
    hearth_backoff bo;  /* hearth policy */
    uint8_t in[16];
    size_t in_len;
    uint32_t attempts_outage, attempts_after;
    uint32_t refused_after; /* of attempts_after: refused, nothing listening yet */
    bool attempt_after;     /* the current attempt started after the restart */
    int64_t up_at;      /* CONNACK time after the restart (0: not yet) */
} device;

typedef struct {
    int64_t due;
    uint32_t dev, gen;
} timer;

static struct {
    enum policy pol;
    unsigned n;
    int port, mqtt;
    int64_t outage_ms, hold_ms, max_recovery_ms, setup_rate, scale;
    const char *stop_cmd, *start_cmd, *pidfile, *curve;
    const char *tls_ca, *tls_cert, *tls_key;
    unsigned src_ips;
} opt = {.pol = POL_HEARTH, .n = 10000, .port = 1883, .mqtt = 5, .outage_ms = 60000,
         .hold_ms = 31000, .max_recovery_ms = 600000, .setup_rate = 2000, .scale = 1, .src_ips = 16};

static device *devs;
static timer *heap;
static size_t heap_n, heap_cap;
static int ep;
static SSL_CTX *tls_ctx; /* NULL: plain TCP */
static uint64_t tls_failures; /* handshakes that failed (not timeouts) */

/* Phases: setup (initial connects), hold, outage, recovery. */
enum phase { P_SETUP, P_HOLD, P_OUTAGE, P_RECOVERY };
static enum phase phase = P_SETUP;
static int64_t t_stop, t_restart;
static unsigned n_up, n_back;

/* Per-bin counters (10 ms bins from the stop: 1000 s). */
#define BIN_MS 10
#define BINS_MAX 100000
static uint32_t bin_attempts[BINS_MAX], bin_connacks[BINS_MAX], bin_up[BINS_MAX];
static double bin_cpu[BINS_MAX];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
    fprintf(stderr, "storm_sim: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* ------------------------------------------------------------ timer heap */

static void heap_push(int64_t due, uint32_t dev)
{
    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 4096;
        heap = realloc(heap, heap_cap * sizeof *heap);
        if (!heap) die("realloc");
    }
    size_t i = heap_n++;
    timer t = {due, dev, ++devs[dev].gen};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p].due <= t.due) break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = t;
}

static timer heap_pop(void)
{
    timer top = heap[0], last = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= heap_n) break;
        if (c + 1 < heap_n && heap[c + 1].due < heap[c].due) c++;
        if (last.due <= heap[c].due) break;
        heap[i] = heap[c];
        i = c;
    }
    if (heap_n > 0) heap[i] = last;
    return top;
}

/* ------------------------------------------------------------- policies */

static int64_t scaled(uint64_t ms)
{
    return (int64_t)(ms / (uint64_t)opt.scale);
}

static void policy_init(device *d)
{
    if (opt.pol != POL_HEARTH) return;
    hearth_backoff_config c;
    hearth_backoff_config_default(&c, "storm");
    c.base_ms = (uint64_t)scaled(c.base_ms);
    c.cap_ms = (uint64_t)scaled(c.cap_ms);
    c.refused_base_ms = (uint64_t)scaled(c.refused_base_ms);
    c.refused_cap_ms = (uint64_t)scaled(c.refused_cap_ms);
    c.stable_ms = (uint64_t)scaled(c.stable_ms);
    c.first_max_ms = (uint64_t)scaled(c.first_max_ms);
    if (hearth_backoff_init(&d->bo, &c) != HEARTH_OK) {
        fprintf(stderr, "storm_sim: backoff config rejected (time scale too large?)\n");
        exit(2);
    }
}

/* Delay after a failed attempt (refused, timeout, CONNACK refusal). */
static int64_t policy_failed(device *d, int connack_code)
{
    switch (opt.pol) {
    case POL_HEARTH: {
        hearth_backoff_reason why = connack_code > 0 ? hearth_backoff_reason_mqtt(connack_code, opt.mqtt == 5)
                                                     : HEARTH_BACKOFF_FAILED;
        return (int64_t)hearth_backoff_failed(&d->bo, why, 0);
    }
    case POL_FIXED: return scaled(1000);
    case POL_EXP:
    default: {
        int64_t w = d->exp_n >= 7 ? 120000 : (int64_t)1000 << d->exp_n;
        if (w > 120000) w = 120000;
        if (d->exp_n < 64) d->exp_n++;
        return scaled((uint64_t)w);
    }
    }
}

/* Delay after the broker closed a connection that was up. The broker
 * closing every connection is what a restart looks like from a device: the
 * Hearth policy treats a broker-side close as fleet-wide. */
static int64_t policy_lost(device *d)
{
    switch (opt.pol) {
    case POL_HEARTH: return (int64_t)hearth_backoff_disconnected(&d->bo, true);
    case POL_FIXED: return scaled(1000);
    case POL_EXP:
    default: return policy_failed(d, 0);
    }
}

static void policy_connected(device *d)
{
    if (opt.pol == POL_HEARTH) hearth_backoff_connected(&d->bo);
    d->exp_n = 0;
}

/* ---------------------------------------------------------------- MQTT */

static size_t mqtt_connect_packet(uint8_t *p, unsigned id)
{
    char cid[24];
    int cl = snprintf(cid, sizeof cid, "storm-%06u", id);
    uint8_t var[16];
    size_t vl = 0;
    var[vl++] = 0;
    var[vl++] = 4;
    memcpy(var + vl, "MQTT", 4);
    vl += 4;
    var[vl++] = (uint8_t)(opt.mqtt == 5 ? 5 : 4);
    var[vl++] = 0x02; /* clean session / clean start */
    var[vl++] = 0x07; /* keep alive 1800 s: longer than any run */
    var[vl++] = 0x08;
    if (opt.mqtt == 5) var[vl++] = 0; /* no properties */
    size_t rem = vl + 2 + (size_t)cl;
    size_t n = 0;
    p[n++] = 0x10;
    p[n++] = (uint8_t)rem; /* < 128 */
    memcpy(p + n, var, vl);
    n += vl;
    p[n++] = 0;
    p[n++] = (uint8_t)cl;
    memcpy(p + n, cid, (size_t)cl);
    return n + (size_t)cl;
}

/* ---------------------------------------------------------- the devices */

static void bin_add(uint32_t *bins, int64_t t)
{
    if (phase < P_OUTAGE) return;
    int64_t b = (t - t_stop) / BIN_MS;
    if (b >= 0 && b < BINS_MAX) bins[b]++;
}

static void dev_close(device *d)
{
    if (d->ssl != NULL) {
        SSL_free(d->ssl); /* no close_notify: a device that gives up or loses the link just closes */
        d->ssl = NULL;
        ERR_clear_error();
    }
    if (d->fd >= 0) {
        close(d->fd); /* also leaves the epoll set */
        d->fd = -1;
    }
    d->in_len = 0;
}

static void dev_wait(uint32_t i, int64_t delay)
{
    device *d = &devs[i];
    dev_close(d);
    d->st = D_WAIT;
    heap_push(now_ms() + (delay < 0 ? 0 : delay), i);
}

static void dev_fail(uint32_t i, int connack_code)
{
    dev_wait(i, policy_failed(&devs[i], connack_code));
}

static void dev_attempt(uint32_t i)
{
    device *d = &devs[i];
    int64_t t = now_ms();
    if (phase == P_OUTAGE) d->attempts_outage++;
    else if (phase == P_RECOVERY) d->attempts_after++;
    d->attempt_after = phase == P_RECOVERY;
    bin_add(bin_attempts, t);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000100u + 1 + i % opt.src_ips)};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) die("bind");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    d->fd = fd;
    d->in_len = 0;
    int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
    if (r != 0 && errno != EINPROGRESS) {
        if (errno == ECONNREFUSED && d->attempt_after) d->refused_after++;
        dev_fail(i, 0); /* refused at once: the broker is down */
        return;
    }
    d->st = D_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    heap_push(t + scaled(10000), i); /* connect + CONNACK timeout */
}

static void want(uint32_t i, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = i};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, devs[i].fd, &ev) != 0) die("epoll_ctl");
}

/* The MQTT CONNECT, then wait for the CONNACK. */
static void send_connect(uint32_t i)
{
    device *d = &devs[i];
    uint8_t pkt[64];
    size_t n = mqtt_connect_packet(pkt, i);
    /* One small write into an empty socket buffer: it goes whole or the
     * attempt fails. */
    bool ok = d->ssl != NULL ? SSL_write(d->ssl, pkt, (int)n) == (int)n
                             : send(d->fd, pkt, n, MSG_NOSIGNAL) == (ssize_t)n;
    if (!ok) {
        dev_fail(i, 0);
        return;
    }
    d->st = D_CONNACK;
    want(i, EPOLLIN);
}

/* Advance a non-blocking TLS handshake. */
static void tls_step(uint32_t i)
{
    device *d = &devs[i];
    ERR_clear_error();
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
        send_connect(i);
        return;
    }
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ) want(i, EPOLLIN);
    else if (e == SSL_ERROR_WANT_WRITE) want(i, EPOLLOUT);
    else {
        tls_failures++;
        dev_fail(i, 0);
    }
}

/* recv() or SSL_read(): > 0 bytes, 0 the peer closed (or TLS failed),
 * -1 with errno EAGAIN nothing to read yet (also a TLS record that carried
 * no application data, such as a TLS 1.3 NewSessionTicket). */
static ssize_t dev_read(device *d, uint8_t *buf, size_t cap)
{
    if (d->ssl == NULL) return recv(d->fd, buf, cap, 0);
    ERR_clear_error();
    int r = SSL_read(d->ssl, buf, (int)cap);
    if (r > 0) return r;
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

static void dev_event(uint32_t i, uint32_t events)
{
    device *d = &devs[i];
    if (d->st == D_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0 || (events & EPOLLERR)) {
            if (err == ECONNREFUSED && d->attempt_after) d->refused_after++;
            dev_fail(i, 0);
            return;
        }
        if (tls_ctx != NULL) {
            d->ssl = SSL_new(tls_ctx);
            if (d->ssl == NULL || SSL_set_fd(d->ssl, d->fd) != 1) die("SSL_new");
            SSL_set_connect_state(d->ssl);
            d->st = D_TLS;
            tls_step(i);
            return;
        }
        send_connect(i);
        return;
    }
    if (d->st == D_TLS) {
        tls_step(i);
        return;
    }
    uint8_t buf[64];
    ssize_t r = dev_read(d, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (d->st == D_UP) {
        if (r > 0) return; /* nothing is expected; ignore */
        /* The broker closed the connection. */
        dev_wait(i, policy_lost(d));
        n_up--;
        return;
    }
    if (r <= 0) {
        dev_fail(i, 0);
        return;
    }
    size_t take = (size_t)r;
    if (take > sizeof d->in - d->in_len) take = sizeof d->in - d->in_len;
    memcpy(d->in + d->in_len, buf, take);
    d->in_len += take;
    if (d->in_len < 4) return;
    /* CONNACK: 0x20, remaining length, flags, return/reason code. */
    if (d->in[0] != 0x20) {
        dev_fail(i, 0);
        return;
    }
    int code = d->in[3];
    if (code != 0) {
        dev_fail(i, code);
        return;
    }
    d->st = D_UP;
    d->gen++; /* cancel the timeout */
    n_up++;
    int64_t t = now_ms();
    bin_add(bin_connacks, t);
    if (phase == P_RECOVERY && d->up_at == 0) {
        d->up_at = t;
        n_back++;
    }
    policy_connected(d);
}

static void dev_timer(uint32_t i)
{
    device *d = &devs[i];
    if (d->st == D_WAIT) {
        dev_attempt(i);
        return;
    }
    if (d->st == D_CONNECTING || d->st == D_TLS || d->st == D_CONNACK) dev_fail(i, 0); /* timed out */
}

/* ---------------------------------------------------------- the broker */

static long clk_tck;

/* A small text file's contents, NUL-terminated (empty on failure). */
static void read_text(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
}

static int broker_pid(void)
{
    char buf[32];
    read_text(opt.pidfile, buf, sizeof buf);
    long v = strtol(buf, NULL, 10);
    return v > 0 && v < 1 << 30 ? (int)v : 0;
}

/* utime + stime of @p pid in ticks (-1: gone). */
static long long broker_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    read_text(path, buf, sizeof buf);
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* After ")": field 3 (state) ... field 14 utime, field 15 stime. */
    p += 2;
    for (int field = 3; field < 14; field++) {
        p = strchr(p, ' ');
        if (!p) return -1;
        p++;
    }
    char *e;
    unsigned long long ut = strtoull(p, &e, 10);
    if (e == p || *e != ' ') return -1;
    unsigned long long st = strtoull(e + 1, NULL, 10);
    return (long long)(ut + st);
}

static long broker_hwm_kib(int pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    read_text(path, buf, sizeof buf);
    const char *p = strstr(buf, "VmHWM:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

/* The broker commands run beside the event loop (a blocking system()
 * would hold every device's due retry and release them in one burst). */
static pid_t cmd_spawn(const char *cmd)
{
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* true once @p pid exited (exit 2 if it failed). */
static bool cmd_done(pid_t pid, const char *what)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0) return false;
    if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "storm_sim: the %s command failed\n", what);
        exit(2);
    }
    return true;
}

/* ------------------------------------------------------------------ main */

/* The client side of mutual TLS: TLS 1.2 or 1.3, the broker verified
 * (CA, 127.0.0.1), our certificate presented, full handshakes only. */
static void tls_init(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (tls_ctx == NULL || SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(tls_ctx, opt.tls_ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(tls_ctx, opt.tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_ctx, opt.tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_ctx) != 1 ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(tls_ctx), "127.0.0.1") != 1) {
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "storm_sim: TLS set-up failed\n");
        exit(2);
    }
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_RELEASE_BUFFERS);
}

static int64_t arg_i64(const char *s)
{
    char *e;
    long long v = strtoll(s, &e, 10);
    if (*e || v < 0) {
        fprintf(stderr, "storm_sim: bad number %s\n", s);
        exit(2);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: storm_sim --policy hearth|fixed|exp --port P --stop-cmd CMD --start-cmd CMD\n"
                    "  --pidfile FILE [--devices N] [--mqtt 5|3] [--outage-ms MS] [--hold-ms MS]\n"
                    "  [--max-recovery-ms MS] [--setup-rate N] [--time-scale K] [--curve FILE]\n"
                    "  [--tls-ca FILE --tls-cert FILE --tls-key FILE]   (mutual TLS)\n");
    exit(2);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--policy")) {
            if (!strcmp(v, "hearth")) opt.pol = POL_HEARTH;
            else if (!strcmp(v, "fixed")) opt.pol = POL_FIXED;
            else if (!strcmp(v, "exp")) opt.pol = POL_EXP;
            else usage();
        } else if (!strcmp(a, "--devices")) opt.n = (unsigned)arg_i64(v);
        else if (!strcmp(a, "--port")) opt.port = (int)arg_i64(v);
        else if (!strcmp(a, "--mqtt")) opt.mqtt = (int)arg_i64(v);
        else if (!strcmp(a, "--outage-ms")) opt.outage_ms = arg_i64(v);
        else if (!strcmp(a, "--hold-ms")) opt.hold_ms = arg_i64(v);
        else if (!strcmp(a, "--max-recovery-ms")) opt.max_recovery_ms = arg_i64(v);
        else if (!strcmp(a, "--setup-rate")) opt.setup_rate = arg_i64(v);
        else if (!strcmp(a, "--time-scale")) opt.scale = arg_i64(v);
        else if (!strcmp(a, "--stop-cmd")) opt.stop_cmd = v;
        else if (!strcmp(a, "--start-cmd")) opt.start_cmd = v;
        else if (!strcmp(a, "--pidfile")) opt.pidfile = v;
        else if (!strcmp(a, "--curve")) opt.curve = v;
        else if (!strcmp(a, "--tls-ca")) opt.tls_ca = v;
        else if (!strcmp(a, "--tls-cert")) opt.tls_cert = v;
        else if (!strcmp(a, "--tls-key")) opt.tls_key = v;
        else usage();
    }
    if (!opt.stop_cmd || !opt.start_cmd || !opt.pidfile || opt.n == 0 || opt.scale == 0 ||
        opt.setup_rate == 0 || (opt.mqtt != 5 && opt.mqtt != 3) ||
        (opt.tls_ca != NULL) != (opt.tls_cert != NULL) || (opt.tls_ca != NULL) != (opt.tls_key != NULL))
        usage();
    if (opt.tls_ca != NULL) tls_init();
    clk_tck = sysconf(_SC_CLK_TCK);
    devs = calloc(opt.n, sizeof *devs);
    if (!devs) die("calloc");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    /* Setup: paced initial connects (not measured). */
    int64_t t0 = now_ms();
    for (uint32_t i = 0; i < opt.n; i++) {
        devs[i].fd = -1;
        policy_init(&devs[i]);
        heap_push(t0 + (int64_t)i * 1000 / opt.setup_rate, i);
    }
    int64_t t_all_up = 0, t_end = 0, last_bin = -1;
    int bpid = 0;
    long long cpu_at_restart = 0, cpu_last = 0, cpu_at_end = -1;
    long hwm = -1;
    pid_t stop_pid = 0, start_pid = 0;
    bool stopped = false;
    struct epoll_event evs[1024];
    for (;;) {
        int64_t t = now_ms();
        /* Phase changes. */
        if (phase == P_SETUP && n_up == opt.n) {
            phase = P_HOLD;
            t_all_up = t;
            fprintf(stderr, "storm_sim: %u devices up after %" PRId64 " ms; holding %" PRId64 " ms\n", opt.n,
                    t - t0, opt.hold_ms);
        } else if (phase == P_HOLD && t - t_all_up >= opt.hold_ms) {
            phase = P_OUTAGE;
            t_stop = t;
            stop_pid = cmd_spawn(opt.stop_cmd);
            fprintf(stderr, "storm_sim: stopping the broker; outage %" PRId64 " ms\n", opt.outage_ms);
        } else if (phase == P_OUTAGE && !stopped) {
            stopped = cmd_done(stop_pid, "stop");
        } else if (phase == P_OUTAGE && t - t_stop >= opt.outage_ms) {
            /* The restart is the moment the broker is launched: from here
             * on every attempt counts as after the restart, including any
             * refused while it starts up. */
            start_pid = cmd_spawn(opt.start_cmd);
            t_restart = t;
            phase = P_RECOVERY;
        } else if (phase == P_RECOVERY && start_pid != 0 && cmd_done(start_pid, "start")) {
            start_pid = 0;
            bpid = broker_pid(); /* a new process: all its CPU time is recovery */
            cpu_at_restart = cpu_last = 0;
            fprintf(stderr, "storm_sim: broker restarted (pid %d), listening %" PRId64 " ms after the stop\n",
                    bpid, now_ms() - t_stop);
        } else if (phase == P_RECOVERY && start_pid == 0 &&
                   (n_back == opt.n || t - t_restart >= opt.max_recovery_ms)) {
            t_end = t;
            break;
        }
        /* Per-bin broker CPU and the up count. */
        if (phase >= P_OUTAGE) {
            int64_t b = (t - t_stop) / BIN_MS;
            if (b != last_bin && b < BINS_MAX) {
                for (int64_t x = last_bin < 0 ? 0 : last_bin; x < b; x++) bin_up[x] = n_up;
                if (phase == P_RECOVERY && bpid > 0) {
                    long long c = broker_cpu_ticks(bpid);
                    if (c >= 0 && last_bin >= 0) {
                        /* Spread over the bins since the last sample. */
                        double pct = (double)(c - cpu_last) * 100.0 / (double)clk_tck * 1000.0 /
                                     (double)(BIN_MS * (b - last_bin));
                        for (int64_t x = last_bin; x < b; x++) bin_cpu[x] = pct;
                        cpu_last = c;
                    }
                }
                last_bin = b;
            }
        }
        /* Due timers. */
        while (heap_n > 0 && heap[0].due <= t) {
            timer tm = heap_pop();
            if (tm.gen != devs[tm.dev].gen) continue;
            dev_timer(tm.dev);
        }
        int timeout = BIN_MS;
        if (heap_n > 0) {
            int64_t w = heap[0].due - now_ms();
            if (w < timeout) timeout = w < 0 ? 0 : (int)w;
        }
        int ne = epoll_wait(ep, evs, 1024, timeout);
        if (ne < 0 && errno != EINTR) die("epoll_wait");
        for (int k = 0; k < ne; k++) dev_event(evs[k].data.u32, evs[k].events);
    }
    if (bpid > 0) {
        cpu_at_end = broker_cpu_ticks(bpid);
        hwm = broker_hwm_kib(bpid);
    }
    for (int64_t x = last_bin < 0 ? 0 : last_bin; x < BINS_MAX && x <= (t_end - t_stop) / BIN_MS; x++)
        bin_up[x] = n_up;

    /* Summary. */
    const char *pname = opt.pol == POL_HEARTH ? "hearth" : opt.pol == POL_FIXED ? "fixed" : "exp";
    uint64_t att_out = 0, att_after = 0, ref_after = 0;
    uint32_t max_after = 0;
    int64_t *ups = malloc(opt.n * sizeof *ups);
    unsigned nb = 0;
    for (unsigned i = 0; i < opt.n; i++) {
        att_out += devs[i].attempts_outage;
        att_after += devs[i].attempts_after;
        ref_after += devs[i].refused_after;
        if (devs[i].attempts_after > max_after) max_after = devs[i].attempts_after;
        if (devs[i].up_at) ups[nb++] = devs[i].up_at - t_restart;
    }
    qsort(ups, nb, sizeof *ups, cmp_i64);
    /* Peaks over 1 s windows (1/K s when time-scaled), sliding over the
     * 10 ms bins. */
    int64_t nbins = (t_end - t_stop) / BIN_MS + 1;
    if (nbins > BINS_MAX) nbins = BINS_MAX;
    int64_t win = 1000 / opt.scale / BIN_MS;
    if (win < 1) win = 1;
    uint32_t peak_att = 0, peak_out = 0, peak_after = 0, peak_ack = 0;
    int64_t restart_bin = (t_restart - t_stop) / BIN_MS;
    for (int64_t b = 0; b + win <= nbins; b++) {
        uint32_t s = 0, a = 0;
        for (int64_t k = 0; k < win; k++) {
            s += bin_attempts[b + k];
            a += bin_connacks[b + k];
        }
        if (s > peak_att) peak_att = s;
        if (b + win <= restart_bin && s > peak_out) peak_out = s;
        if (b >= restart_bin && s > peak_after) peak_after = s;
        if (a > peak_ack) peak_ack = a;
    }
    printf("policy=%s\n", pname);
    printf("tls=%s\ntls_failures=%" PRIu64 "\n", tls_ctx != NULL ? "mutual" : "none", tls_failures);
    printf("devices=%u\nmqtt=%d\noutage_ms=%" PRId64 "\ntime_scale=%" PRId64 "\n", opt.n, opt.mqtt,
           t_restart - t_stop, opt.scale);
    printf("peak_attempts_per_s=%u\npeak_attempts_per_s_outage=%u\npeak_attempts_per_s_after=%u\n", peak_att,
           peak_out, peak_after);
    printf("peak_connacks_per_s=%u\n", peak_ack);
    printf("attempts_outage=%" PRIu64 "\nattempts_after=%" PRIu64 "\n", att_out, att_after);
    printf("attempts_after_refused_starting=%" PRIu64 "\nattempts_per_device_after_reaching_broker=%.3f\n", ref_after,
           (double)(att_after - ref_after) / opt.n);
    printf("attempts_per_device_outage=%.3f\nattempts_per_device_after=%.3f\nmax_attempts_device_after=%u\n",
           (double)att_out / opt.n, (double)att_after / opt.n, max_after);
    printf("back=%u\n", nb);
    printf("t99_ms=%" PRId64 "\nt100_ms=%" PRId64 "\n",
           nb >= opt.n - opt.n / 100 ? ups[(opt.n * 99 + 99) / 100 - 1] : -1,
           nb == opt.n ? ups[nb - 1] : -1);
    double cpu_peak = 0;
    for (int64_t b = restart_bin; b + 100 <= nbins; b++) {
        double s = 0;
        for (int k = 0; k < 100; k++) s += bin_cpu[b + k];
        if (s / 100 > cpu_peak) cpu_peak = s / 100;
    }
    printf("broker_cpu_peak_pct_1s=%.0f\n", cpu_peak);
    printf("broker_cpu_s=%.2f\nbroker_peak_rss_kib=%ld\n",
           cpu_at_restart >= 0 && cpu_at_end >= 0 ? (double)(cpu_at_end - cpu_at_restart) / (double)clk_tck : -1.0,
           hwm);
    printf("recovery_ms=%" PRId64 "\n", t_end - t_restart);
    if (opt.curve) {
        FILE *f = fopen(opt.curve, "w");
        if (!f) die(opt.curve);
        fprintf(f, "# policy=%s devices=%u restart_s=%.1f\n"
                   "# per 100 ms: t_s attempts_per_s connacks_per_s up broker_cpu_pct attempts_last_1s\n",
                pname, opt.n, (double)(t_restart - t_stop) / 1000.0);
        for (int64_t b = 0; b + 10 <= nbins; b += 10) {
            uint32_t s = 0, a = 0;
            double cpu = 0;
            for (int k = 0; k < 10; k++) {
                s += bin_attempts[b + k];
                a += bin_connacks[b + k];
                cpu += bin_cpu[b + k];
            }
            uint32_t last = 0;
            for (int64_t k = b + 10 - 100 < 0 ? 0 : b + 10 - 100; k < b + 10; k++) last += bin_attempts[k];
            fprintf(f, "%.1f %u %u %u %.1f %u\n", (double)b * BIN_MS / 1000.0, s * 10, a * 10, bin_up[b + 9],
                    cpu / 10, last);
        }
        fclose(f);
    }
    free(ups);
    SSL_CTX_free(tls_ctx);
    return nb == opt.n ? 0 : 1;
}
