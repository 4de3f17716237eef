/* hearth-fetch-intruder: a hostile replacement for hearth-fetch, for
 * tests/integration/test_fetch_boundary.sh. TEST ONLY: built with the
 * tests, never installed.
 *
 * The real hearthd starts it exactly as it starts hearth-fetch (through
 * HEARTH_FETCH_PROGRAM, or per connection to --fetch-socket), so it stands
 * for a hearth-fetch that a hostile repository has taken over: it does NOT
 * sandbox itself, and it tries everything the boundary must stop (EN 303 645
 * 5.6-7, 5.4-1):
 *   - read the storage key, the secure store and the keys/ directory of the
 *     device state (the state directory is the path of the repository URL,
 *     which the test chooses so the intruder knows where to look);
 *   - read hearthd's memory through /proc/<parent>/mem and ptrace-attach
 *     to it (mode a: hearthd is the parent);
 *   - open a TCP socket and connect to the repository's port directly;
 *   - execve /bin/sh (in a child, so a shell that starts is reported);
 *   - find key material in the request it was sent.
 * It reports each outcome in the one channel it is given: an HTTP request
 * over the plaintext connection hearthd passed, which hearthd relays over
 * TLS to the test's nginx, whose access log records the request line
 * (GET /intruder-report?...). A helper that never ran writes no such line,
 * so the test cannot pass without it. Then it answers hearthd with a
 * RESULT frame saying it is an intruder. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hearth/common.h"
#include "hearth/fetch_proto.h"
#include "hearth/util.h"

static char report[2048];
static size_t report_len;

static void add(const char *key, const char *val)
{
    int l = snprintf(report + report_len, sizeof report - report_len, "%s%s=%s",
                     report_len ? "&" : "", key, val);
    if (l > 0 && (size_t)l < sizeof report - report_len) report_len += (size_t)l;
}

/* "ok" when @p rc shows success, else the errno name's number. */
static void outcome(const char *key, int rc, int err)
{
    char v[32];
    if (rc >= 0) snprintf(v, sizeof v, "ok");
    else snprintf(v, sizeof v, "errno%d", err);
    add(key, v);
}

static void try_open(const char *key, const char *state, const char *rel, int flags)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", state, rel);
    int fd = open(p, flags | O_CLOEXEC);
    int e = errno;
    /* Reading a byte is what counts for a file; opening for a directory. */
    if (fd >= 0 && !(flags & O_DIRECTORY)) {
        char b;
        if (read(fd, &b, 1) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    outcome(key, fd, e);
    if (fd >= 0) close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    hearth_buf in;
    hearth_buf_init(&in, HEARTH_FETCH_REQ_MAX);
    int conn = -1;
    if (hearth_fetch_request_recv(0, &in, &conn) != HEARTH_OK || conn < 0) return 3;
    hearth_fetch_request rq;
    if (hearth_fetch_request_decode(in.data, in.len, &rq) != HEARTH_OK) return 4;
    hearth_fetch_url u;
    if (hearth_fetch_url_split(rq.url, &u) != HEARTH_OK) return 5;

    /* The state directory: the URL's path up to the object hearthd asked
     * for (".../keyset.hks" or ".../<hw>/latest.hbm"). */
    char state[2048];
    snprintf(state, sizeof state, "%s", u.path);
    char *cut = strstr(state, "/keyset.hks");
    if (cut == NULL) cut = strrchr(state, '/');
    if (cut != NULL) *cut = '\0';

    char v[64];
    snprintf(v, sizeof v, "%d", (int)getuid());
    add("uid", v);
    snprintf(v, sizeof v, "%zu", in.len);
    add("req_len", v);
    add("req_pem", (memmem(in.data, in.len, "PRIVATE KEY", 11) != NULL ||
                    memmem(in.data, in.len, "-----BEGIN", 10) != NULL)
                       ? "1"
                       : "0");
    try_open("storage_key", state, "keys/storage.key", O_RDONLY);
    try_open("keys_dir", state, "keys", O_RDONLY | O_DIRECTORY);
    try_open("store", state, "data", O_RDONLY | O_DIRECTORY);
    try_open("device_json", state, "device.json", O_RDONLY);

    /* hearthd's pid from the connection it handed over (SO_PEERCRED):
     * getppid() is not on hearthd's allow-list, which this process runs
     * under in mode (a), and in mode (b) the parent is the socket
     * activator, not hearthd. */
    struct ucred cred;
    socklen_t credlen = sizeof cred;
    pid_t parent = getsockopt(STDIN_FILENO, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0 ? cred.pid : -1;
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/mem", (int)parent);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    outcome("proc_mem", fd, errno);
    if (fd >= 0) close(fd);
    /* In a child: the call is not on hearthd's seccomp allow-list, which
     * this process inherits, and in a kill-mode build (CI) the filter ends
     * the caller. The report says which: errnoN, or "sigsys" when the
     * filter killed the attempt. */
    pid_t tracer = fork();
    if (tracer == 0) {
        long pr = ptrace(PTRACE_ATTACH, parent, NULL, NULL);
        if (pr == 0) {
            ptrace(PTRACE_DETACH, parent, NULL, NULL);
            _exit(0);
        }
        _exit(errno != 0 ? errno : 255);
    }
    int ts = 0;
    if (tracer < 0) {
        outcome("ptrace", -1, errno);
    } else if (waitpid(tracer, &ts, 0) != tracer) {
        add("ptrace", "unknown");
    } else if (WIFSIGNALED(ts) && WTERMSIG(ts) == SIGSYS) {
        add("ptrace", "sigsys");
    } else if (WIFEXITED(ts)) {
        outcome("ptrace", WEXITSTATUS(ts) == 0 ? 0 : -1, WEXITSTATUS(ts));
    } else {
        add("ptrace", "unknown");
    }

    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    outcome("socket", s, errno);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(u.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int cr = s >= 0 ? connect(s, (struct sockaddr *)&sa, sizeof sa) : -1;
    outcome("connect", cr, s >= 0 ? errno : EBADF);
    if (s >= 0) close(s);

    /* In a child, so that a shell that does start cannot end the report:
     * exit 0 is the shell's, anything else the errno execve failed with. */
    pid_t kid = fork();
    if (kid == 0) {
        char *const argv[] = {(char *)"sh", (char *)"-c", (char *)"exit 0", NULL};
        char *const envp[] = {NULL};
        execve("/bin/sh", argv, envp);
        _exit(errno != 0 ? errno : 255);
    }
    int ws = 0;
    if (kid < 0) {
        outcome("exec", -1, errno);
    } else if (waitpid(kid, &ws, 0) == kid && WIFEXITED(ws)) {
        outcome("exec", WEXITSTATUS(ws) == 0 ? 0 : -1, WEXITSTATUS(ws));
    } else {
        add("exec", "unknown");
    }

    /* The report, through the one connection it was given. */
    char req[3072];
    int l = snprintf(req, sizeof req, "GET /intruder-report?%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     report, u.host);
    if (l > 0) (void)!write(conn, req, (size_t)l);
    char buf[4096];
    while (read(conn, buf, sizeof buf) > 0) {}
    close(conn);

    uint8_t out[HEARTH_FETCH_FRAME_RESULT_MAX];
    size_t len = 0;
    hearth_fetch_result res = {.status = HEARTH_ERR_IO};
    snprintf(res.msg, sizeof res.msg, "intruder reported");
    if (hearth_fetch_result_encode(&res, out, sizeof out, &len) == HEARTH_OK) {
        uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN];
        hearth_fetch_frame_header(hdr, HEARTH_FETCH_FRAME_RESULT, (uint32_t)len);
        (void)!write(1, hdr, sizeof hdr);
        (void)!write(1, out, len);
    }
    hearth_fetch_request_clear(&rq);
    hearth_buf_free(&in);
    return 0;
}
