/* Unit tests for src/sandbox (5.6-7): each test forks a child, applies a
 * policy in it and shows that what the policy forbids fails while what it
 * allows still works; the child reports through its exit status. Built twice:
 * unit.sandbox (the build's HEARTH_SECCOMP_KILL) and unit.sandbox_kill (the
 * sandbox compiled with HEARTH_SECCOMP_KILL=1), so both modes are shown in
 * every build. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "hearth/sandbox.h"

/* Child failure codes: the first check that failed. */
#define CHILD_OK 0

typedef int (*child_fn)(void *arg);

/* Run @p fn in a child; returns its wait status. */
static int in_child(child_fn fn, void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(fn(arg));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void expect_exit(int status, int code)
{
    if (!WIFEXITED(status)) fprintf(stderr, "child: signal %d\n", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != code) fprintf(stderr, "child: failed check %d\n", WEXITSTATUS(status));
    assert_int_equal(WEXITSTATUS(status), code);
}

/* ------------------------------------------------------------ users */

static void test_user_parse(void **state)
{
    (void)state;
    hearth_sandbox_user u;
    assert_int_equal(hearth_sandbox_user_parse("4321:8765", &u), HEARTH_OK);
    assert_int_equal(u.uid, 4321);
    assert_int_equal(u.gid, 8765);
    assert_int_equal(hearth_sandbox_user_parse("4321", &u), HEARTH_OK);
    assert_int_equal(u.uid, 4321);
    assert_int_equal(hearth_sandbox_user_parse("nobody", &u), HEARTH_OK);
    assert_true(u.uid != 0 && u.gid != 0);
    /* root is not a drop; garbage is refused. */
    assert_int_equal(hearth_sandbox_user_parse("root", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_user_parse("0", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_user_parse("4321:0", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_user_parse("4321:", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_user_parse("4321:x", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_user_parse("99999999999", &u), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_sandbox_user_parse("no-such-user-hearth", &u), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_sandbox_user_parse("", &u), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_user_parse(NULL, &u), HEARTH_ERR_INVALID);
}

/* A status line's value from /proc/PID/status, as a number (base 16 for Cap*). */
static unsigned long long pid_status_field(pid_t pid, const char *name, int base)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    if (f == NULL) return ~0ULL;
    char line[256];
    unsigned long long v = ~0ULL;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') v = strtoull(line + n + 1, NULL, base);
    fclose(f);
    return v;
}

/* The same for the calling process. */
static unsigned long long status_field(const char *name, int base)
{
    return pid_status_field(getpid(), name, base);
}

static int child_root_without_user(void *arg)
{
    (void)arg;
    if (hearth_sandbox_drop_privileges("t", NULL) != HEARTH_ERR_POLICY) return 1;
    if (getuid() != 0) return 2; /* refused means: nothing changed */
    return CHILD_OK;
}

static int child_drop(void *arg)
{
    (void)arg;
    if (hearth_sandbox_drop_privileges("t", "4321:8765") != HEARTH_OK) return 1;
    if (getuid() != 4321 || geteuid() != 4321 || getgid() != 8765 || getegid() != 8765) return 2;
    if (setuid(0) == 0 || setgid(0) == 0) return 3;
    gid_t groups[4];
    if (getgroups(4, groups) != 1 || groups[0] != 8765) return 4;
    if (status_field("CapEff", 16) != 0 || status_field("CapPrm", 16) != 0 ||
        status_field("CapBnd", 16) != 0 || status_field("CapAmb", 16) != 0 ||
        status_field("CapInh", 16) != 0)
        return 5;
    if (status_field("NoNewPrivs", 10) != 1) return 6;
    /* Root's files are now out of reach (no CAP_DAC_OVERRIDE). */
    if (open("/etc/shadow", O_RDONLY) >= 0 || errno != EACCES) return 7;
    return CHILD_OK;
}

static int child_wrong_user_unprivileged(void *arg)
{
    (void)arg;
    /* As a plain user, --user naming someone else is an error. */
    if (hearth_sandbox_drop_privileges("t", "4321:8765") != HEARTH_OK) return 1;
    if (hearth_sandbox_drop_privileges("t", "4322:8765") != HEARTH_ERR_STATE) return 2;
    if (hearth_sandbox_drop_privileges("t", "4321:8765") != HEARTH_OK) return 3;
    return CHILD_OK;
}

static void test_drop(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "# not root: the privilege drop is shown by the integration tests\n");
        skip();
    }
    expect_exit(in_child(child_root_without_user, NULL), CHILD_OK);
    expect_exit(in_child(child_drop, NULL), CHILD_OK);
    expect_exit(in_child(child_wrong_user_unprivileged, NULL), CHILD_OK);
}

/* ---------------------------------------------------------- landlock */

typedef struct {
    char root[64];
    char allowed[128];
    char ro[128];
    char other[128];
    int port; /* a listening TCP port on 127.0.0.1 */
} ll_fixture;

static int write_file(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    ssize_t w = write(fd, "x\n", 2);
    close(fd);
    return w == 2 ? 0 : -1;
}

static bool can_open(const char *dir, const char *name, int flags)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, flags | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    return fd >= 0;
}

static bool tcp_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    return r == 0;
}

static int child_landlock(void *arg)
{
    ll_fixture *f = arg;
    hearth_sandbox_path paths[] = {
        {f->allowed, HEARTH_SANDBOX_WRITE},
        {f->ro, HEARTH_SANDBOX_READ},
        {"/nonexistent/hearth-sandbox", HEARTH_SANDBOX_READ}, /* skipped, not an error */
    };
    uint16_t ports[] = {1}; /* an allowed port that is not the listener's */
    hearth_sandbox_fs_policy p = {.program = "t", .paths = paths, .npaths = 3, .restrict_tcp = true,
                                  .connect_ports = ports, .nconnect_ports = 1, .scope = true};
    /* Before: everything is reachable (the checks below mean something). */
    if (!can_open(f->other, "secret", O_RDONLY) || !tcp_connect(f->port)) return 1;
    if (hearth_sandbox_landlock(&p) != HEARTH_OK) return 2;
    if (!can_open(f->allowed, "data", O_RDWR)) return 3;
    if (write_file(f->allowed, "new") != 0) return 4;
    if (!can_open(f->ro, "conf", O_RDONLY)) return 5;
    if (can_open(f->ro, "conf", O_WRONLY) || errno != EACCES) return 6;
    if (write_file(f->ro, "new") == 0) return 7;
    if (can_open(f->other, "secret", O_RDONLY) || errno != EACCES) return 8;
    if (can_open("/etc", "passwd", O_RDONLY)) return 9;
    if (tcp_connect(f->port)) return 10; /* ABI 4: TCP connect only to port 1 */
    char *const av[] = {"/bin/true", NULL};
    execv("/bin/true", av);
    if (errno != EACCES) return 11;
    return CHILD_OK;
}

static void test_landlock(void **state)
{
    (void)state;
    int abi = hearth_sandbox_landlock_abi();
    fprintf(stderr, "# landlock ABI %d\n", abi);
    if (abi < 4) {
        fprintf(stderr, "# landlock ABI < 4 on this kernel: not testable here\n");
        skip();
    }
    ll_fixture f;
    snprintf(f.root, sizeof f.root, "/tmp/hearth-sandbox.XXXXXX");
    assert_non_null(mkdtemp(f.root));
    snprintf(f.allowed, sizeof f.allowed, "%s/allowed", f.root);
    snprintf(f.ro, sizeof f.ro, "%s/ro", f.root);
    snprintf(f.other, sizeof f.other, "%s/other", f.root);
    assert_int_equal(mkdir(f.allowed, 0700), 0);
    assert_int_equal(mkdir(f.ro, 0700), 0);
    assert_int_equal(mkdir(f.other, 0700), 0);
    assert_int_equal(write_file(f.allowed, "data"), 0);
    assert_int_equal(write_file(f.ro, "conf"), 0);
    assert_int_equal(write_file(f.other, "secret"), 0);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 8), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    f.port = ntohs(a.sin_port);
    expect_exit(in_child(child_landlock, &f), CHILD_OK);
    close(ls);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f.root);
    assert_int_equal(system(cmd), 0);
}

/* ----------------------------------------------------------- seccomp */

static const char test_list[] = "# test list\n"
                                "write\n"
                                "close\n"
                                "socket a0=AF_UNIX a1&0xf=1   # unix stream sockets only\n";

static int child_seccomp_calls(void *arg)
{
    (void)arg;
    const char *lists[] = {test_list};
    if (hearth_sandbox_seccomp("t", lists, 1) != HEARTH_OK) return 1;
    /* Allowed call and allowed arguments work. */
    int s = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return 2;
    if (syscall(SYS_close, s) != 0) return 3;
    /* Listed call, forbidden arguments: refused. */
    errno = 0;
    if (syscall(SYS_socket, AF_INET, SOCK_STREAM, 0) != -1 || errno != ENOSYS) return 4;
    errno = 0;
    if (syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0) != -1 || errno != ENOSYS) return 5;
    /* Unlisted call: refused (release mode) or the process dies (kill mode). */
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != ENOSYS) return 6;
    errno = 0;
    if (syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY) != -1 || errno != ENOSYS) return 7;
    return CHILD_OK;
}

static void skip_without_filter(void)
{
    if (!hearth_sandbox_seccomp_enabled()) {
        fprintf(stderr, "# sanitizer build: no seccomp filter (unit.sandbox_kill shows it)\n");
        skip();
    }
}

static void test_seccomp(void **state)
{
    (void)state;
    skip_without_filter();
    /* The status check reads /proc through open/read: allow them there. */
    static const char readable[] = "openat\nread\nfstat\nnewfstatat\nlseek\nbrk\nmmap\nmunmap\n";
    const char *lists[] = {test_list, readable};
    assert_int_equal(hearth_sandbox_seccomp_count(lists, 2), 11);
    int status = in_child(child_seccomp_calls, NULL);
    if (hearth_sandbox_seccomp_kills()) {
        /* The first forbidden call (socket(AF_INET)) killed it. */
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
    } else {
        expect_exit(status, CHILD_OK);
    }
}

/* The filter as the kernel reports it, read by the parent from outside the
 * filtered child: the child only writes "ready", then waits for the parent
 * to close the pipe (read, write and exit are all it needs, so the check
 * also holds in a sanitizer build, whose runtime makes calls of its own). */
static void test_seccomp_status(void **state)
{
    (void)state;
    skip_without_filter();
    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(done[1]);
        const char *lists[] = {test_list, "read\n"};
        char c = hearth_sandbox_seccomp("t", lists, 2) == HEARTH_OK ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1) _exit(1);
        while (read(done[0], &c, 1) > 0) {}
        /* The raw call: a sanitizer's _exit() runs its leak check, which
         * stops the world with calls this filter does not allow. */
        syscall(SYS_exit_group, CHILD_OK);
    }
    close(ready[1]);
    close(done[0]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    unsigned long long sc = pid_status_field(pid, "Seccomp", 10);
    unsigned long long nnp = pid_status_field(pid, "NoNewPrivs", 10);
    close(done[1]);
    close(ready[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(sc, 2);
    assert_int_equal(nnp, 1);
    expect_exit(status, CHILD_OK);
}

static void test_seccomp_lists(void **state)
{
    (void)state;
    assert_int_equal(hearth_sandbox_seccomp_check("read\n\n# c\n  write  # w\nclose"), HEARTH_OK);
    /* arm-only names are known (skipped on other architectures). */
    assert_int_equal(hearth_sandbox_seccomp_check("_llseek\nmmap2\n"), HEARTH_OK);
    assert_int_equal(hearth_sandbox_seccomp_check("no_such_call\n"), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_seccomp_check("socket a6=1\n"), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_seccomp_check("socket a0=AF_BOGUS\n"), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_seccomp_check("socket a0=\n"), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_seccomp_check("socket a0&1=1|2\n"), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_sandbox_seccomp_check("Read\n"), HEARTH_ERR_INVALID);
    const char *bad[] = {"read\nnope\n"};
    assert_int_equal(hearth_sandbox_seccomp_count(bad, 1), -1);
    const char *dup[] = {"read\nread\nwrite\n", "write\n_llseek\n"};
    assert_int_equal(hearth_sandbox_seccomp_count(dup, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_parse),     cmocka_unit_test(test_drop),
        cmocka_unit_test(test_landlock),       cmocka_unit_test(test_seccomp),
        cmocka_unit_test(test_seccomp_status), cmocka_unit_test(test_seccomp_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
