/*
 * sandbox_probe: a test-only LD_PRELOAD library that plays an attacker who
 * has taken over a sandboxed Hearth program (tests/integration/test_sandbox_*.sh).
 * It is built only with the tests and never installed; build.no_test_hooks
 * style: nothing in a shipped program refers to it.
 *
 * The constructor only opens the report file (HEARTH_PROBE_REPORT) while the
 * program can still open it. The attack runs later, in the program's own
 * thread, the first time that thread calls pthread_create() (hearthd: the
 * main thread starting the applications) or sigtimedwait() (hearth-boot's
 * supervision loop) *after* /proc/self/status shows the seccomp filter: so
 * it has exactly the program's credentials, Landlock domain and filters.
 *
 * Every attempt writes one line "ok|FAIL <what>: <detail>"; "probe-done" ends
 * the report. What to try comes from the environment:
 *   HEARTH_PROBE_DENY=P1:P2:..  files that must not open (read)
 *   HEARTH_PROBE_ALLOW=P        a file that must open (the control)
 *   HEARTH_PROBE_TCP=PORT       a 127.0.0.1 listener it must not connect to
 *   HEARTH_PROBE_BIND=1         it must not bind a TCP port
 *   HEARTH_PROBE_EXEC=PATH      a program it must not execute
 *   HEARTH_PROBE_PROGRAM=NAME   attack only in the program of that name
 * and always the calls its seccomp list refuses (setuid(0), ptrace of its
 * parent, an AF_PACKET socket): refused with ENOSYS in the
 * release mode, or the process is killed (HEARTH_SECCOMP_KILL=ON).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report_fd = -1;
static int done;

__attribute__((constructor)) static void probe_init(void)
{
    const char *p = getenv("HEARTH_PROBE_REPORT");
    if (p != NULL) report_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof b - 2) n = (int)sizeof b - 2;
    b[n++] = '\n';
    ssize_t w = write(report_fd, b, (size_t)n);
    (void)w;
}

static void expect(int ok, const char *what, int err)
{
    say("%s %s: %s (%s)", ok ? "ok  " : "FAIL", what, ok ? "refused" : "ALLOWED", strerror(err));
}

static int sandboxed(void)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char b[4096];
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) return 0;
    b[n] = '\0';
    /* The sanitizer build has no filter (docs/sandbox.md): there the
     * sandbox's last step is Landlock, whose domain shows nowhere in
     * /proc; no_new_privs and a non-root uid are the sign it is done. */
    if (getenv("HEARTH_PROBE_NO_FILTER") != NULL)
        return strstr(b, "\nNoNewPrivs:\t1") != NULL && getuid() != 0;
    return strstr(b, "\nSeccomp:\t2") != NULL;
}

static void attack(void)
{
    say("probe-start %s uid=%u", program_invocation_short_name, (unsigned)getuid());
    const char *deny = getenv("HEARTH_PROBE_DENY");
    if (deny != NULL) {
        char list[4096];
        snprintf(list, sizeof list, "%s", deny);
        for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            int e = errno;
            if (fd >= 0) close(fd);
            char what[300];
            snprintf(what, sizeof what, "open %s", p);
            expect(fd < 0, what, fd < 0 ? e : 0);
        }
    }
    const char *allow = getenv("HEARTH_PROBE_ALLOW");
    if (allow != NULL) {
        int fd = open(allow, O_RDONLY | O_CLOEXEC);
        say("%s control: open %s %s", fd >= 0 ? "ok  " : "FAIL", allow,
            fd >= 0 ? "works" : strerror(errno));
        if (fd >= 0) close(fd);
    }
    const char *tcp = getenv("HEARTH_PROBE_TCP");
    if (tcp != NULL) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(tcp, NULL, 10))};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = s >= 0 ? connect(s, (struct sockaddr *)&a, sizeof a) : -1;
        int e = errno;
        say("%s socket(AF_INET) for the attempt: %s", s >= 0 ? "ok  " : "FAIL", s >= 0 ? "works" : strerror(e));
        if (s >= 0) close(s);
        char what[64];
        snprintf(what, sizeof what, "connect 127.0.0.1:%s", tcp);
        expect(r != 0, what, r != 0 ? e : 0);
    }
    const char *ex = getenv("HEARTH_PROBE_EXEC");
    if (ex != NULL) {
        pid_t pid = fork();
        if (pid == 0) {
            char *const av[] = {(char *)ex, "-c", "exit 42", NULL};
            execv(ex, av);
            _exit(errno & 0x3f);
        }
        int st = 0;
        if (pid > 0) waitpid(pid, &st, 0);
        int ran = pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 42;
        char what[300];
        snprintf(what, sizeof what, "execve %s", ex);
        expect(pid > 0 && !ran, what, pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 0);
    }
    /* The seccomp refusals last: in kill mode the first one ends the process. */
    say("seccomp-next");
    if (getenv("HEARTH_PROBE_BIND") != NULL) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = s >= 0 ? bind(s, (struct sockaddr *)&a, sizeof a) : -1;
        int e = errno;
        if (s >= 0) close(s);
        expect(r != 0, "bind a TCP port", r != 0 ? e : 0);
    }
    errno = 0;
    int r = setuid(0);
    expect(r != 0, "setuid(0)", errno);
    errno = 0;
    long pr = syscall(SYS_ptrace, PTRACE_ATTACH, getppid(), 0, 0);
    expect(pr != 0, "ptrace(PTRACE_ATTACH, parent)", errno);
    errno = 0;
    int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    expect(ps < 0, "socket(AF_PACKET)", errno);
    if (ps >= 0) close(ps);
    say("probe-done");
}

static void maybe_attack(void)
{
    const char *only = getenv("HEARTH_PROBE_PROGRAM"); /* e.g. hearth-boot, not its child */
    if (report_fd < 0 || __atomic_load_n(&done, __ATOMIC_SEQ_CST) ||
        (only != NULL && strcmp(only, program_invocation_short_name) != 0) || !sandboxed())
        return;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST)) return;
    attack();
}

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (real == NULL) real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT, "pthread_create");
    maybe_attack();
    return real(t, a, fn, arg);
}

int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    static int (*real)(const sigset_t *, siginfo_t *, const struct timespec *);
    if (real == NULL) real = (int (*)(const sigset_t *, siginfo_t *, const struct timespec *))dlsym(RTLD_NEXT, "sigtimedwait");
    maybe_attack();
    return real(set, info, timeout);
}
