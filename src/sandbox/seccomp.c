/* Step 3 of the sandbox (include/hearth/sandbox.h): a libseccomp allow-list
 * built from one or more list texts (one data file per program). Unlisted
 * calls kill the process (HEARTH_SECCOMP_KILL, CI) or fail with ENOSYS and
 * are logged from a SIGSYS handler (release): allow-lists break when glibc
 * changes (sshd was killed by clock_nanosleep under glibc 2.31, by rseq
 * under 2.35); a device should lose one call, visibly, not its service. */
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#include "hearth/sandbox.h"
#include "hearth/util.h"

#define LINE_MAX_LEN 256
#define ARGS_MAX 6
#define VALUES_MAX 8

bool hearth_sandbox_seccomp_kills(void)
{
#ifdef HEARTH_SECCOMP_KILL
    return true;
#else
    return false;
#endif
}

bool hearth_sandbox_seccomp_enabled(void)
{
#ifdef HEARTH_SECCOMP_OFF
    return false;
#else
    return true;
#endif
}

/* ------------------------------------------------------------ the lists */

typedef struct {
    unsigned arg;
    bool masked;
    uint64_t mask;
    uint64_t values[VALUES_MAX];
    unsigned nvalues;
} arg_rule;

typedef struct {
    char name[64];
    arg_rule args[ARGS_MAX];
    unsigned nargs;
} list_line;

static const struct {
    const char *name;
    uint64_t value;
} symbols[] = {
    {"AF_UNIX", AF_UNIX}, {"AF_INET", AF_INET}, {"AF_INET6", AF_INET6}, {"AF_NETLINK", AF_NETLINK},
};

static bool parse_value(const char *s, size_t n, uint64_t *out)
{
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++)
        if (strlen(symbols[i].name) == n && strncmp(s, symbols[i].name, n) == 0) {
            *out = symbols[i].value;
            return true;
        }
    char tmp[32];
    if (n == 0 || n >= sizeof tmp || s[0] < '0' || s[0] > '9') return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(tmp, &end, 0);
    if (errno != 0 || *end != '\0') return false;
    *out = v;
    return true;
}

/* One argument rule "aN=V1|V2" or "aN&MASK=V". */
static bool parse_arg(const char *tok, size_t n, arg_rule *r)
{
    memset(r, 0, sizeof *r);
    if (n < 4 || tok[0] != 'a' || tok[1] < '0' || tok[1] > '5') return false;
    r->arg = (unsigned)(tok[1] - '0');
    const char *p = tok + 2, *end = tok + n;
    if (*p == '&') {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL || !parse_value(p + 1, (size_t)(eq - p - 1), &r->mask)) return false;
        r->masked = true;
        p = eq;
    }
    if (*p != '=') return false;
    p++;
    while (p <= end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *stop = bar ? bar : end;
        if (r->nvalues == VALUES_MAX || (r->masked && r->nvalues == 1)) return false;
        if (!parse_value(p, (size_t)(stop - p), &r->values[r->nvalues++])) return false;
        if (bar == NULL) break;
        p = bar + 1;
    }
    return r->nvalues > 0;
}

/* Parse one line; false on a syntax error. Empty/comment lines: name[0]=0. */
static bool parse_line(const char *s, size_t n, list_line *l)
{
    memset(l, 0, sizeof *l);
    const char *hash = memchr(s, '#', n);
    if (hash) n = (size_t)(hash - s);
    size_t i = 0, tok = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        size_t b = i;
        while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r') i++;
        if (i == b) break;
        if (tok == 0) {
            if (i - b >= sizeof l->name) return false;
            for (size_t k = b; k < i; k++)
                if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') || s[k] == '_'))
                    return false;
            memcpy(l->name, s + b, i - b);
        } else {
            if (l->nargs == ARGS_MAX || !parse_arg(s + b, i - b, &l->args[l->nargs++])) return false;
        }
        tok++;
    }
    return true;
}

static bool name_known(const char *name)
{
    static const uint32_t arches[] = {SCMP_ARCH_NATIVE, SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64,
                                      SCMP_ARCH_ARM, SCMP_ARCH_X86};
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (seccomp_syscall_resolve_name_arch(arches[i], name) != __NR_SCMP_ERROR) return true;
    return false;
}

typedef hearth_status (*line_fn)(const list_line *l, void *arg);

/* Call @p fn for every rule line of @p list. */
static hearth_status each_line(const char *list, line_fn fn, void *arg)
{
    if (list == NULL) return hearth_err(HEARTH_ERR_INVALID, "seccomp: no list");
    unsigned lineno = 0;
    for (const char *p = list; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        list_line l;
        if (n >= LINE_MAX_LEN || !parse_line(p, n, &l))
            return hearth_err(HEARTH_ERR_INVALID, "seccomp list line %u: cannot parse \"%.60s\"",
                              lineno, p);
        if (l.name[0] != '\0') {
            if (!name_known(l.name))
                return hearth_err(HEARTH_ERR_INVALID, "seccomp list line %u: unknown system call %s",
                                  lineno, l.name);
            HEARTH_GUARD(fn(&l, arg));
        }
        p += n;
        if (*p == '\n') p++;
    }
    return HEARTH_OK;
}

static hearth_status check_fn(const list_line *l, void *arg)
{
    (void)l;
    (void)arg;
    return HEARTH_OK;
}

hearth_status hearth_sandbox_seccomp_check(const char *list)
{
    return each_line(list, check_fn, NULL);
}

/* ------------------------------------------------------- the filter */

/* Add the rules of one line: every argument rule must hold (AND); a rule
 * with several values becomes one libseccomp rule per combination. */
static hearth_status add_fn(const list_line *l, void *arg)
{
    scmp_filter_ctx ctx = arg;
    int nr = seccomp_syscall_resolve_name(l->name);
    if (nr == __NR_SCMP_ERROR) return HEARTH_OK; /* not on this architecture */
    unsigned idx[ARGS_MAX] = {0};
    for (;;) {
        struct scmp_arg_cmp cmp[ARGS_MAX];
        for (unsigned a = 0; a < l->nargs; a++) {
            const arg_rule *r = &l->args[a];
            cmp[a] = r->masked ? (struct scmp_arg_cmp){r->arg, SCMP_CMP_MASKED_EQ, r->mask, r->values[0]}
                               : (struct scmp_arg_cmp){r->arg, SCMP_CMP_EQ, r->values[idx[a]], 0};
        }
        int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, l->nargs, cmp);
        if (rc != 0 && rc != -EEXIST)
            return hearth_err(HEARTH_ERR_INVALID, "seccomp: rule for %s: %s", l->name, strerror(-rc));
        unsigned a = 0;
        while (a < l->nargs && ++idx[a] >= (l->args[a].masked ? 1 : l->args[a].nvalues)) idx[a++] = 0;
        if (a == l->nargs) break;
    }
    return HEARTH_OK;
}

/* The program name and the SIGSYS handler (release mode). */
static char g_prog[32] = "hearth";

static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
    while (*s != '\0' && at < cap) b[at++] = *s++;
    return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
    (void)sig;
    int saved = errno;
    char b[128], num[12];
    size_t at = put_str(b, 0, sizeof b, g_prog);
    at = put_str(b, at, sizeof b, ": seccomp: refused system call ");
    unsigned v = (unsigned)si->si_syscall;
    int k = (int)sizeof num;
    num[--k] = '\0';
    do {
        num[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && k > 0);
    at = put_str(b, at, sizeof b, num + k);
    at = put_str(b, at, sizeof b, " (ENOSYS)\n");
    ssize_t w = write(STDERR_FILENO, b, at);
    (void)w;
    ucontext_t *uc = uc_;
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__i386__)
    uc->uc_mcontext.gregs[REG_EAX] = -ENOSYS;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#elif defined(__arm__)
    uc->uc_mcontext.arm_r0 = (unsigned long)-ENOSYS;
#else
#error "seccomp release mode: set the return register for this architecture"
#endif
    errno = saved;
}

hearth_status hearth_sandbox_sigsys_install(const char *program)
{
    if (program != NULL) snprintf(g_prog, sizeof g_prog, "%s", program);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    if (sigaction(SIGSYS, &sa, NULL) != 0 || sigprocmask(SIG_UNBLOCK, &sys, NULL) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "seccomp: SIGSYS handler: %s", strerror(errno));
    return HEARTH_OK;
}

static hearth_status build(const char *const *lists, size_t nlists, uint32_t def,
                           scmp_filter_ctx *out)
{
    scmp_filter_ctx ctx = seccomp_init(def);
    if (ctx == NULL) return hearth_err(HEARTH_ERR_NOMEM, "seccomp: init failed");
    /* What the SIGSYS handler and any exit need, whatever the lists say. */
    hearth_status st = each_line("rt_sigreturn\nsigreturn\nexit\nexit_group\n", add_fn, ctx);
    for (size_t i = 0; i < nlists && st == HEARTH_OK; i++) st = each_line(lists[i], add_fn, ctx);
    if (st != HEARTH_OK) {
        seccomp_release(ctx);
        return st;
    }
    *out = ctx;
    return HEARTH_OK;
}

/* Distinct native system-call numbers (a bitmap over the number range). */
#define NR_MAX 1024
typedef struct {
    uint8_t seen[NR_MAX / 8];
    int count;
} counter;

static hearth_status count_fn(const list_line *l, void *arg)
{
    counter *c = arg;
    int nr = seccomp_syscall_resolve_name(l->name);
    if (nr >= 0 && nr < NR_MAX && !(c->seen[nr / 8] & (1u << (nr % 8)))) {
        c->seen[nr / 8] |= (uint8_t)(1u << (nr % 8));
        c->count++;
    }
    return HEARTH_OK;
}

int hearth_sandbox_seccomp_count(const char *const *lists, size_t nlists)
{
    if (lists == NULL && nlists > 0) return -1;
    counter c;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < nlists; i++)
        if (each_line(lists[i], count_fn, &c) != HEARTH_OK) return -1;
    return c.count;
}

hearth_status hearth_sandbox_seccomp(const char *program, const char *const *lists, size_t nlists)
{
    if (lists == NULL || nlists == 0) return hearth_err(HEARTH_ERR_INVALID, "seccomp: no list");
    /* cppcheck-suppress knownConditionTrueFalse ; a build option (sanitizer build) */
    if (!hearth_sandbox_seccomp_enabled()) {
        for (size_t i = 0; i < nlists; i++) HEARTH_GUARD(hearth_sandbox_seccomp_check(lists[i]));
        fprintf(stderr, "%s: seccomp: no filter in the sanitizer build (docs/sandbox.md)\n",
                program ? program : "hearth");
        return HEARTH_OK;
    }
    snprintf(g_prog, sizeof g_prog, "%s", program ? program : "hearth");
    uint32_t def = hearth_sandbox_seccomp_kills() ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_TRAP;
    scmp_filter_ctx ctx = NULL;
    HEARTH_GUARD(build(lists, nlists, def, &ctx));
    hearth_status st = HEARTH_OK;
    /* cppcheck-suppress knownConditionTrueFalse ; a build option (HEARTH_SECCOMP_KILL) */
    if (!hearth_sandbox_seccomp_kills()) st = hearth_sandbox_sigsys_install(program);
    /* cppcheck-suppress knownConditionTrueFalse ; not in every build (above) */
    if (st == HEARTH_OK && (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) != 0 ||
                            seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0))
        st = hearth_err(HEARTH_ERR_INTERNAL, "seccomp: cannot set filter attributes");
    int rc = st == HEARTH_OK ? seccomp_load(ctx) : 0;
    if (rc != 0) st = hearth_err(HEARTH_ERR_INTERNAL, "seccomp: load: %s", strerror(-rc));
    seccomp_release(ctx);
    return st;
}
