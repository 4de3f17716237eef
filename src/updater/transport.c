/* HTTPS client for the update repository: the parent side.
 *
 * Why two processes: the repository's HTTP is untrusted input, and libcurl
 * brings ~25 shared libraries (gnutls, krb5, ldap, nghttp2, ssh2, ...) with
 * it. Run inside hearthd, both would share an address space with the
 * password database, the secure store and the device key. So hearthd does
 * only what needs the key -- the TLS client handshake, with the policy in
 * tls_client.c -- and relays the plaintext (relay.c) to hearth-fetch
 * (fetch/hearth_fetch.c, EN 303 645 5.6-6, 5.6-7), which speaks HTTP over it
 * with no key, no network access and no view of the state directory. This
 * file starts the helper (spawned per transfer, or by systemd per
 * connection to the --fetch-socket), hands it the request and its end of
 * the plaintext connection, and parses what it sends back as hostile input
 * (a compromised helper must not be able to corrupt the daemon: every frame
 * is bounded, the body is counted and capped here again, and the helper is
 * killed and reaped -- or its connection dropped -- on any deviation). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hearth/sandbox.h"
#include "transport.h"

#ifndef HEARTH_FETCH_INSTALL_PATH
#define HEARTH_FETCH_INSTALL_PATH "/usr/libexec/hearth/hearth-fetch"
#endif

static pthread_mutex_t g_prog_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_prog[PATH_MAX];

hearth_status upd_http_global_init(void)
{
    /* Nothing to initialise in the daemon any more (libcurl lives in
     * hearth-fetch); kept so callers need not change. */
    return HEARTH_OK;
}

hearth_status upd_http_set_fetch_program(const char *path)
{
    pthread_mutex_lock(&g_prog_mu);
    hearth_status st = HEARTH_OK;
    if (path == NULL) {
        g_prog[0] = '\0';
    } else if (path[0] != '/') {
        st = hearth_err(HEARTH_ERR_INVALID, "hearth-fetch path must be absolute");
    } else {
        int l = snprintf(g_prog, sizeof g_prog, "%s", path);
        if (l < 0 || (size_t)l >= sizeof g_prog) {
            g_prog[0] = '\0';
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "hearth-fetch path too long");
        }
    }
    pthread_mutex_unlock(&g_prog_mu);
    return st;
}

static bool executable(const char *p)
{
    return p[0] == '/' && access(p, X_OK) == 0;
}

static hearth_status copy_path(char *out, size_t cap, const char *p)
{
    int l = snprintf(out, cap, "%s", p);
    if (l < 0 || (size_t)l >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "hearth-fetch path too long");
    return HEARTH_OK;
}

hearth_status upd_http_fetch_program(char *out, size_t cap)
{
    HEARTH_ENSURE(out != NULL && cap > 0, HEARTH_ERR_INVALID);
    char set[PATH_MAX];
    pthread_mutex_lock(&g_prog_mu);
    memcpy(set, g_prog, sizeof set);
    pthread_mutex_unlock(&g_prog_mu);
    /* An explicit choice is honoured or refused, never silently replaced by
     * another program. */
    if (set[0] != '\0') {
        if (!executable(set)) return hearth_err(HEARTH_ERR_STATE, "hearth-fetch %s is not executable", set);
        return copy_path(out, cap, set);
    }
    const char *env = secure_getenv(HEARTH_FETCH_ENV);
    if (env != NULL && env[0] != '\0') {
        if (!executable(env))
            return hearth_err(HEARTH_ERR_STATE, HEARTH_FETCH_ENV " %s is not an executable absolute path", env);
        return copy_path(out, cap, env);
    }
    /* Deliberately no search next to /proc/self/exe: in a product that is
     * the slot's payload directory, where a file the bundle does not list
     * is not verified by hearth-boot -- whoever could plant one there would
     * be handed the device key. The install location is on the read-only
     * root file system. */
    if (executable(HEARTH_FETCH_INSTALL_PATH)) return copy_path(out, cap, HEARTH_FETCH_INSTALL_PATH);
#ifdef HEARTH_FETCH_BUILD_PATH
    /* Development builds (HEARTH_FETCH_BUILD_TREE=ON, off for product
     * images): the build tree's helper, also for programs copied elsewhere
     * such as into a test's A/B slot. */
    if (executable(HEARTH_FETCH_BUILD_PATH)) return copy_path(out, cap, HEARTH_FETCH_BUILD_PATH);
#endif
    return hearth_err(HEARTH_ERR_STATE, "hearth-fetch not found (set " HEARTH_FETCH_ENV ")");
}

/* ------------------------------------------------------------ the helper */

/* One running helper. */
typedef struct {
    pid_t pid;              /* spawned helper; -1: none (or started by systemd) */
    pthread_t spawner;      /* the confined thread that spawned it (see spawn_child) */
    bool have_spawner;
    int hold;               /* write end of the pipe the spawner waits on; -1: none */
    int fd;                 /* our end of its stdin/stdout (non-blocking) */
    const upd_tls *tls;
    upd_relay *relay;       /* pumped while waiting; may be NULL */
    int64_t idle_deadline;  /* monotonic ms; pushed forward by every byte */
    int64_t idle_ms;
} child_ctx;

/* Let the spawner thread end (the helper is reaped or was never started). */
static void release_spawner(child_ctx *c)
{
    if (c->hold >= 0) {
        close(c->hold);
        c->hold = -1;
    }
    if (c->have_spawner) {
        pthread_join(c->spawner, NULL);
        c->have_spawner = false;
    }
}

/* Kill (if still running) and reap: no zombies on any path. A helper
 * started by systemd is ended by dropping its connection. */
static void child_kill(child_ctx *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {}
        c->pid = -1;
    }
    release_spawner(c);
}

static hearth_status set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return hearth_err(HEARTH_ERR_IO, "fcntl: %s", strerror(errno));
    return HEARTH_OK;
}

/* The program interpreter (PT_INTERP) of this program, which is the one that
 * loads hearth-fetch too (same toolchain, same system): the kernel opens it
 * for execution, so Landlock must allow executing it. NULL for a static
 * program. */
static const char *program_interpreter(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t n = (size_t)getauxval(AT_PHNUM);
    uintptr_t load = 0;
    for (size_t i = 0; ph != NULL && i < n; i++)
        if (ph[i].p_type == PT_PHDR) load = (uintptr_t)ph - ph[i].p_vaddr;
    for (size_t i = 0; ph != NULL && i < n; i++)
        if (ph[i].p_type == PT_INTERP) return (const char *)(load + ph[i].p_vaddr);
    return NULL;
}

/* What a spawned helper may still touch: the dynamic loader's files, the
 * libraries and OpenSSL's configuration (read), the helper program and the
 * program interpreter that loads it (execute); nothing else -- not the state
 * directory, not /proc, not a shell. Plus no TCP bind or connect (Landlock
 * ABI 4+), no signals to and no abstract unix sockets of processes outside
 * (ABI 6+). */
static size_t helper_paths(const char *prog, hearth_sandbox_path *out, size_t cap)
{
    static const hearth_sandbox_path base[] = {
        {"/usr/lib", HEARTH_SANDBOX_READ},   {"/lib", HEARTH_SANDBOX_READ},
        {"/lib64", HEARTH_SANDBOX_READ},     {"/usr/lib64", HEARTH_SANDBOX_READ},
        {"/etc/ld.so.cache", HEARTH_SANDBOX_READ}, {"/etc/ssl/openssl.cnf", HEARTH_SANDBOX_READ},
    };
    size_t n = sizeof base / sizeof base[0];
    if (cap < n + 2) return 0;
    memcpy(out, base, sizeof base);
    out[n++] = (hearth_sandbox_path){prog, HEARTH_SANDBOX_EXEC};
    const char *interp = program_interpreter();
    if (interp != NULL) out[n++] = (hearth_sandbox_path){interp, HEARTH_SANDBOX_EXEC};
    return n;
}

/* One spawn, done by a thread of its own (spawn_confined). */
typedef struct {
    const char *prog;
    int sock;      /* becomes the helper's stdin and stdout */
    int devnull;   /* becomes its stderr */
    int ready;     /* the thread writes one byte here when the spawn is done */
    int hold;      /* the thread's: it waits here until the helper is reaped, then closes it */
    pid_t pid;
    hearth_status st;
    char msg[256];
} spawn_job;

static int spawn_in_sandbox(const spawn_job *j, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&at);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    rc = posix_spawn_file_actions_adddup2(&fa, j->sock, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, j->sock, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, j->devnull, 2);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&at, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&at, &none);
    if (rc == 0) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (rc == 0) {
        char *const argv[] = {(char *)"hearth-fetch", NULL};
        char *const envp[] = {NULL};
        rc = posix_spawn(pid, j->prog, &fa, &at, argv, envp);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* Confine THIS thread -- Landlock and no_new_privs are per thread, and a
 * process inherits them from the thread that starts it -- then spawn the
 * helper, which starts inside those restrictions whatever program it is.
 * The rest of hearthd is unaffected, and nothing but exec runs between
 * clone and exec (posix_spawn), so no fork-safety question arises in the
 * multi-threaded daemon. The thread then waits until the helper is reaped:
 * a child's PR_SET_PDEATHSIG fires when the THREAD that created it ends. */
static void *spawn_confined(void *arg)
{
    spawn_job *j = arg;
    int hold = j->hold, ready = j->ready;
    hearth_sandbox_path paths[16];
    hearth_sandbox_fs_policy pol = {.program = "hearthd (hearth-fetch)",
                                    .paths = paths,
                                    .npaths = helper_paths(j->prog, paths, sizeof paths / sizeof paths[0]),
                                    .restrict_tcp = true,
                                    .scope = true};
    j->st = pol.npaths > 0 ? hearth_sandbox_landlock(&pol)
                           : hearth_err(HEARTH_ERR_INTERNAL, "hearth-fetch sandbox paths");
    if (j->st == HEARTH_OK) {
        int rc = spawn_in_sandbox(j, &j->pid);
        if (rc != 0) j->st = hearth_err(HEARTH_ERR_IO, "cannot start hearth-fetch %s: %s", j->prog, strerror(rc));
    }
    bool ok = j->st == HEARTH_OK;
    if (!ok) snprintf(j->msg, sizeof j->msg, "%s", hearth_err_msg());
    char b = 1;
    while (write(ready, &b, 1) < 0 && errno == EINTR) {} /* j is not ours after this */
    while (ok && read(hold, &b, 1) < 0 && errno == EINTR) {}
    close(hold);
    return NULL;
}

/* Start the helper with the socket as stdin and stdout, /dev/null as
 * stderr, every other descriptor closed, default signal dispositions, an
 * empty environment (no proxy variables, no SSLKEYLOGFILE, nothing the
 * daemon's environment could leak), no_new_privs and the Landlock
 * restrictions of helper_paths(), applied by hearthd so that they hold for
 * whatever program runs (spawn_confined). */
static hearth_status spawn_child(const char *prog, child_ctx *c)
{
    int sv[2] = {-1, -1}, hold[2] = {-1, -1}, ready[2] = {-1, -1};
    spawn_job j = {.prog = prog, .devnull = -1, .pid = -1, .st = HEARTH_OK};
    hearth_status st = HEARTH_OK;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(hold, O_CLOEXEC) != 0 ||
        pipe2(ready, O_CLOEXEC) != 0)
        st = hearth_err(HEARTH_ERR_IO, "socketpair: %s", strerror(errno));
    if (st == HEARTH_OK && (j.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        st = hearth_err(HEARTH_ERR_IO, "/dev/null: %s", strerror(errno));
    if (st == HEARTH_OK) {
        j.sock = sv[1];
        j.ready = ready[1];
        j.hold = hold[0];
        int rc = pthread_create(&c->spawner, NULL, spawn_confined, &j);
        if (rc != 0) {
            st = hearth_err(HEARTH_ERR_IO, "cannot start hearth-fetch: %s", strerror(rc));
        } else {
            hold[0] = -1; /* the thread's now */
            c->have_spawner = true;
            c->hold = hold[1];
            hold[1] = -1;
            char b;
            while (read(ready[0], &b, 1) < 0 && errno == EINTR) {}
            st = j.st;
            if (st != HEARTH_OK) st = hearth_err(st, "%s", j.msg);
            c->pid = j.pid;
        }
    }
    int *fds[] = {&sv[1], &hold[0], &hold[1], &ready[0], &ready[1], &j.devnull};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        /* cppcheck-suppress shadowVariable ; nothing is declared here (cppcheck 2.10 misparse) */
        if (*fds[i] >= 0) close(*fds[i]);
    }
    if (st == HEARTH_OK) {
        c->fd = sv[0];
        st = set_nonblock(c->fd);
    } else if (sv[0] >= 0) {
        close(sv[0]);
    }
    if (st != HEARTH_OK) child_kill(c);
    return st;
}

/* --fetch-socket: systemd (hearth-fetch.socket, Accept=yes) starts a fresh
 * helper as its own user for this connection, with the connection as its
 * stdin and stdout. The connect is to a local socket: it does not block in
 * practice, and a missing listener fails at once. */
static hearth_status connect_child(const char *path, child_ctx *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sa.sun_path)
        return hearth_err(HEARTH_ERR_INVALID, "hearth-fetch socket path too long");
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "socket: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        hearth_status st = hearth_err(HEARTH_ERR_IO, "cannot reach hearth-fetch at %s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    c->fd = fd;
    hearth_status st = set_nonblock(fd);
    if (st != HEARTH_OK) child_kill(c);
    return st;
}

/* Wait until the helper's socket is ready for @p events, pumping the relay
 * meanwhile, polling should_abort every 200 ms and enforcing the idle
 * deadline. */
static hearth_status wait_ready(child_ctx *c, short events)
{
    for (;;) {
        if (c->tls->should_abort != NULL && c->tls->should_abort(c->tls->abort_arg))
            return hearth_err(HEARTH_ERR_IO, "download aborted (shutting down)");
        int64_t left = c->idle_deadline - hearth_mono_ms();
        if (left <= 0) return hearth_err(HEARTH_ERR_IO, "hearth-fetch stalled");
        struct pollfd p[3] = {{.fd = c->fd, .events = events}};
        nfds_t np = 1;
        if (c->relay != NULL) {
            upd_relay_pump(c->relay);
            upd_relay_pollfds(c->relay, p + 1);
            np = 3;
        }
        int r = poll(p, np, left < 200 ? (int)left : 200);
        if (r < 0 && errno != EINTR) return hearth_err(HEARTH_ERR_IO, "poll: %s", strerror(errno));
        if (r > 0 && p[0].revents != 0) return HEARTH_OK;
    }
}

static hearth_status send_all(child_ctx *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            HEARTH_GUARD(wait_ready(c, POLLOUT));
            continue;
        }
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch did not take the request");
    }
    return HEARTH_OK;
}

/* The request record, its first byte carrying the helper's end of the
 * plaintext connection, then end of stream. */
static hearth_status send_request(child_ctx *c, const hearth_buf *req, int helper_end)
{
    size_t sent = 0;
    for (;;) {
        hearth_status st = hearth_fetch_request_send_fd(c->fd, req->data, req->len, helper_end, &sent);
        if (st == HEARTH_OK) break;
        if (st != HEARTH_ERR_BUSY) return st;
        HEARTH_GUARD(wait_ready(c, POLLOUT));
    }
    HEARTH_GUARD(send_all(c, req->data + sent, req->len - sent));
    if (shutdown(c->fd, SHUT_WR) != 0) return hearth_err(HEARTH_ERR_IO, "shutdown: %s", strerror(errno));
    return HEARTH_OK;
}

/* Read exactly @p n bytes. *eof_at_start tells a clean end of stream before
 * the first byte (NULL: any end of stream is an error). */
static hearth_status read_exact(child_ctx *c, uint8_t *p, size_t n, bool *eof_at_start)
{
    size_t got = 0;
    if (eof_at_start != NULL) *eof_at_start = false;
    while (got < n) {
        ssize_t r = recv(c->fd, p + got, n - got, 0);
        if (r > 0) {
            got += (size_t)r;
            c->idle_deadline = hearth_mono_ms() + c->idle_ms;
            continue;
        }
        if (r == 0) {
            if (got == 0 && eof_at_start != NULL) {
                *eof_at_start = true;
                return HEARTH_OK;
            }
            return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent a truncated frame");
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return hearth_err(HEARTH_ERR_IO, "reading from hearth-fetch: %s", strerror(errno));
        HEARTH_GUARD(wait_ready(c, POLLIN));
    }
    return HEARTH_OK;
}

/* Frames until the RESULT, then end of stream; the body goes to the sink. */
static hearth_status read_frames(child_ctx *c, uint64_t max_bytes, upd_sink_fn sink, void *arg,
                                 upd_http_result *res, hearth_fetch_result *fr)
{
    uint8_t *frame = malloc(HEARTH_FETCH_FRAME_DATA_MAX);
    if (frame == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    bool have_result = false;
    while (st == HEARTH_OK && !have_result) {
        uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN];
        bool eof = false;
        st = read_exact(c, hdr, sizeof hdr, &eof);
        if (st != HEARTH_OK) break;
        if (eof) {
            st = hearth_err(HEARTH_ERR_IO, "hearth-fetch ended without a result");
            break;
        }
        uint8_t type = 0;
        uint32_t len = 0;
        st = hearth_fetch_frame_parse(hdr, &type, &len);
        if (st != HEARTH_OK) break;
        if (type == HEARTH_FETCH_FRAME_DATA) {
            /* Defence in depth: the helper enforces max_bytes too, but a
             * compromised helper must not get past it either. */
            if (len > max_bytes - res->received) {
                res->overflow = true;
                st = hearth_err(HEARTH_ERR_TOO_LARGE, "repository sent more than the manifest allows");
                break;
            }
            st = read_exact(c, frame, len, NULL);
            if (st != HEARTH_OK) break;
            st = sink(frame, len, arg);
            if (st != HEARTH_OK) break; /* keep the sink's status */
            res->received += len;
        } else {
            st = read_exact(c, frame, len, NULL);
            if (st != HEARTH_OK) break;
            st = hearth_fetch_result_decode(frame, len, fr);
            if (st != HEARTH_OK) break;
            res->http_code = fr->http_code;
            res->overflow = res->overflow || fr->overflow;
            res->retry_after = fr->retry_after;
            res->retry_after_s = fr->retry_after_s;
            res->retry_after_bad = fr->retry_after_bad;
            have_result = true;
        }
    }
    free(frame);
    if (st == HEARTH_OK) {
        /* Nothing may follow the result. */
        uint8_t extra;
        bool eof = false;
        st = read_exact(c, &extra, 1, &eof);
        if (st == HEARTH_OK && !eof) st = hearth_err(HEARTH_ERR_IO, "hearth-fetch sent data after its result");
    }
    return st;
}

/* A spawned helper exits right after its result: give it a moment, then
 * kill it; anything but exit 0 fails the transfer. */
static hearth_status reap_child(child_ctx *c)
{
    if (c->pid <= 0) return HEARTH_OK;
    int wst = 0;
    pid_t w = 0;
    for (int i = 0; i < 200; i++) {
        w = waitpid(c->pid, &wst, WNOHANG);
        if (w != 0 && !(w < 0 && errno == EINTR)) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (w == c->pid) c->pid = -1;
    child_kill(c);
    if (w <= 0 || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch did not exit cleanly");
    return HEARTH_OK;
}

hearth_status upd_fetch_run(const upd_tls *tls, upd_relay *relay, int helper_end, const char *url,
                            uint64_t offset, uint64_t max_bytes, upd_sink_fn sink, void *arg,
                            upd_http_result *res)
{
    hearth_status st = HEARTH_OK;
    if (tls == NULL || url == NULL || sink == NULL || res == NULL) st = HEARTH_ERR_INVALID;
    long ct = tls != NULL && tls->connect_timeout_s > 0 ? tls->connect_timeout_s : 20L;
    long stall = tls != NULL && tls->stall_timeout_s > 0 ? tls->stall_timeout_s : 30L;
    hearth_fetch_request rq = {.url = url, .offset = offset, .max_bytes = max_bytes,
                               .stall_timeout_s = (uint32_t)stall};
    hearth_buf req;
    hearth_buf_init(&req, HEARTH_FETCH_REQ_MAX);
    hearth_fetch_url u;
    if (st == HEARTH_OK) st = hearth_fetch_url_split(url, &u);
    if (st == HEARTH_OK) st = hearth_fetch_request_encode(&rq, &req);
    char prog[PATH_MAX];
    if (st == HEARTH_OK && tls->fetch_socket == NULL) st = upd_http_fetch_program(prog, sizeof prog);
    child_ctx c = {.pid = -1, .fd = -1, .hold = -1, .tls = tls, .relay = relay,
                   .idle_ms = (int64_t)(ct + stall + 15) * 1000};
    c.idle_deadline = hearth_mono_ms() + c.idle_ms;
    if (st == HEARTH_OK)
        st = tls->fetch_socket != NULL ? connect_child(tls->fetch_socket, &c) : spawn_child(prog, &c);
    if (st == HEARTH_OK) st = send_request(&c, &req, helper_end);
    hearth_buf_free(&req);
    close(helper_end); /* the helper has its copy; ours must not keep the stream open */

    hearth_fetch_result fr = {.status = HEARTH_ERR_INTERNAL};
    if (st == HEARTH_OK) st = read_frames(&c, max_bytes, sink, arg, res, &fr);
    if (st != HEARTH_OK) {
        child_kill(&c);
        return st;
    }
    close(c.fd);
    c.fd = -1;
    HEARTH_GUARD(reap_child(&c));
    if (fr.status == HEARTH_OK && fr.received != res->received)
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch reported %llu bytes but sent %llu",
                          (unsigned long long)fr.received, (unsigned long long)res->received);
    if (fr.status != HEARTH_OK) return hearth_err(fr.status, "%s", fr.msg[0] ? fr.msg : "download failed");
    return HEARTH_OK;
}

hearth_status upd_http_stream(const upd_tls *tls, const char *url, uint64_t offset,
                              uint64_t max_bytes, upd_sink_fn sink, void *arg,
                              upd_http_result *res)
{
    HEARTH_ENSURE(tls != NULL && tls->ctx != NULL && url != NULL && sink != NULL && res != NULL,
                  HEARTH_ERR_INVALID);
    memset(res, 0, sizeof *res);
    hearth_fetch_url u;
    HEARTH_GUARD(hearth_fetch_url_split(url, &u));
    if (tls->fetch_socket == NULL) {
        /* No connection to the repository when there is no helper to use it. */
        char prog[PATH_MAX];
        HEARTH_GUARD(upd_http_fetch_program(prog, sizeof prog));
    }
    long ct = tls->connect_timeout_s > 0 ? tls->connect_timeout_s : 20L;
    upd_tls_conn conn;
    HEARTH_GUARD(upd_tls_connect(tls->ctx, &u, tls->pinned_pubkey, ct, tls->should_abort,
                                 tls->abort_arg, &conn, &res->tls_failed));
    hearth_status st = HEARTH_OK;
    int sv[2] = {-1, -1};
    upd_relay *relay = calloc(1, sizeof *relay);
    if (relay == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (st == HEARTH_OK && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        st = hearth_err(HEARTH_ERR_IO, "socketpair: %s", strerror(errno));
    if (st == HEARTH_OK) st = set_nonblock(sv[0]);
    if (st == HEARTH_OK) {
        relay->conn = &conn;
        relay->plain = sv[0];
        int helper_end = sv[1];
        sv[1] = -1; /* upd_fetch_run() closes it */
        st = upd_fetch_run(tls, relay, helper_end, url, offset, max_bytes, sink, arg, res);
    }
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0) close(sv[i]);
    free(relay);
    upd_tls_close(&conn);
    return st;
}
