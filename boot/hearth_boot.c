/*
 * hearth-boot: the secure-boot stage of a Hearth device (EN 303 645 5.7-1,
 * 5.7-2, 5.3-2, 5.3-9, 5.3-10). docs/boot.md describes the flow.
 *
 *   hearth-boot --state DIR [--trust TRUSTDIR] [--keyset FILE] [--confirm-timeout S]
 *               [--recovery-interval S] [--threads N] [--program NAME] [--once]
 *               [--user NAME|UID[:GID]] [-- extra args for the slot program]
 *
 * This program is the thin part: arguments, signals, launch and
 * supervision. The decision before every launch is the library's
 * hearth_boot_decide() (src/slots/boot_decide.c), which the tests drive too:
 * it reads the authenticated boot state, checks the key set against its
 * floor, chooses a slot, verifies it completely against the read-only trust
 * anchor (root keys -> key set -> manifest signature -> every payload chunk,
 * in parallel), and persists the decision BEFORE launching (a trial attempt
 * is spent even if the power fails during the trial). The program it hands
 * back is a sealed in-memory copy whose bytes are the ones verified; it is
 * run with fexecve(), so a rewrite of the slot file after verification
 * cannot change what runs. Nothing from a slot runs unless it verified and
 * its security version is at or above the device minimum, and no key set
 * older than the boot state's key-set floor is used (ALERT keyset_rollback).
 *
 * Least privilege (docs/sandbox.md): with --user it drops to that user
 * first (the program it launches then runs as that user too); started as
 * root without it, it keeps uid 0 but clears every capability. Either way
 * no_new_privs, no core dumps, and after the root of trust is open, before
 * any slot is read: Landlock (the state, the trust anchor, what the
 * launched program needs) and a seccomp allow-list that is the union of its
 * own list and the device program's (filters survive exec and stack).
 *
 * Exit status: 0 clean stop (SIGTERM, or the program exited 0);
 * 1 fatal error (event log cannot be opened); 2 usage error;
 * 3 recovery mode with --once or --verify-only, or no root of trust
 * (HEARTH_SLOTS_EXIT_RECOVERY).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hearth/bundle.h"
#include "hearth/layout.h"
#include "hearth/sandbox.h"
#include "hearth/slots.h"
#include "hearth/store.h"
#include "hearth/updater.h"
#include "hearth/util.h"

#define BOOT_DEFAULT_PROGRAM "hearthd"
#define BOOT_DEFAULT_CONFIRM_TIMEOUT 60
#define BOOT_DEFAULT_RECOVERY_INTERVAL 30
#define BOOT_TERM_GRACE_MS 5000
#define BOOT_POLL_MS 200
#define BOOT_BACKOFF_MAX_S 60
#define BOOT_EXTRA_ARGS_MAX 64 /* the updater's and the link's options (8 brokers) fit */
#define BOOT_SANDBOX_PATHS 128
#define BOOT_SANDBOX_PORTS 4

/* Embedded at build time (hearth_seccomp_list): boot/hearth-boot.seccomp
 * followed by daemon/hearthd.seccomp, the program it launches. */
extern const char hearth_boot_seccomp[];

typedef struct {
    const char *state;
    const char *trust_dir;
    char keyset_path[PATH_MAX];
    const char *program;
    const char *user;
    int confirm_timeout;
    int recovery_interval;
    unsigned threads;
    bool once;
    bool verify_only;
    char **extra;
    int nextra;
    /* runtime */
    hearth_slots *slots;
    char model[HEARTH_BUNDLE_ID_MAX + 1];
    char hw_id[HEARTH_BUNDLE_ID_MAX + 1];
    sigset_t sigs;
    char last_trial_failure[128];   /* why the current trial ended, for the revert event */
} boot_ctx;

static volatile int stop_requested;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hearth-boot --state DIR [--trust TRUSTDIR] [--keyset FILE]\n"
            "                   [--confirm-timeout S] [--recovery-interval S] [--threads N]\n"
            "                   [--program NAME] [--once] [--verify-only]\n"
            "                   [--user NAME|UID[:GID]] [-- extra args for the program]\n"
            "  --user             unprivileged user to run as (and the program it launches);\n"
            "                     it must own the state directory\n"
            "  --trust            read-only trust anchor: root public keys (*.pub),\n"
            "                     optional 'threshold', and the key set (default TRUSTDIR/%s);\n"
            "                     default %s (outside the device state)\n"
            "  --confirm-timeout  seconds a trial boot has to confirm (default %d)\n"
            "  --once             in recovery mode exit with status %d instead of retrying\n"
            "  --verify-only      decide and verify as at start-up, print the slot that would\n"
            "                     boot, change nothing and launch nothing (health check)\n",
            HEARTH_TRUST_KEYSET_FILE, hearth_trust_default_dir(), BOOT_DEFAULT_CONFIRM_TIMEOUT,
            HEARTH_SLOTS_EXIT_RECOVERY);
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int parse_args(boot_ctx *c, int argc, char **argv)
{
    const char *keyset = NULL;
    c->program = BOOT_DEFAULT_PROGRAM;
    c->confirm_timeout = BOOT_DEFAULT_CONFIRM_TIMEOUT;
    c->recovery_interval = BOOT_DEFAULT_RECOVERY_INTERVAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (strcmp(a, "--") == 0) {
            c->extra = argv + i + 1;
            c->nextra = argc - i - 1;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--once") == 0) {
            c->once = true;
            continue;
        }
        if (strcmp(a, "--verify-only") == 0) {
            c->verify_only = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "hearth-boot: %s needs a value\n", a);
            return 2;
        }
        const char *val = argv[++i];
        if (strcmp(a, "--state") == 0) {
            c->state = val;
        } else if (strcmp(a, "--trust") == 0) {
            c->trust_dir = val;
        } else if (strcmp(a, "--keyset") == 0) {
            keyset = val;
        } else if (strcmp(a, "--program") == 0) {
            c->program = val;
        } else if (strcmp(a, "--user") == 0) {
            c->user = val;
        } else if (strcmp(a, "--confirm-timeout") == 0 && parse_int(val, 1, 86400, &v)) {
            c->confirm_timeout = (int)v;
        } else if (strcmp(a, "--recovery-interval") == 0 && parse_int(val, 1, 86400, &v)) {
            c->recovery_interval = (int)v;
        } else if (strcmp(a, "--threads") == 0 && parse_int(val, 0, 64, &v)) {
            c->threads = (unsigned)v;
        } else {
            fprintf(stderr, "hearth-boot: bad option or value: %s %s\n", a, val);
            return 2;
        }
    }
    if (c->state == NULL) {
        usage(stderr);
        return 2;
    }
    /* The trust anchor lives on the read-only system configuration, never
     * in the writable state (build option HEARTH_TRUST_DIR). */
    if (c->trust_dir == NULL) c->trust_dir = hearth_trust_default_dir();
    if (c->nextra > BOOT_EXTRA_ARGS_MAX) {
        fprintf(stderr, "hearth-boot: at most %d extra arguments\n", BOOT_EXTRA_ARGS_MAX);
        return 2;
    }
    /* The program name is a payload name: no path separators, no dot files. */
    if (c->program[0] == '\0' || c->program[0] == '.' || strchr(c->program, '/') != NULL) {
        fprintf(stderr, "hearth-boot: --program must be a payload name\n");
        return 2;
    }
    int n = keyset ? snprintf(c->keyset_path, sizeof c->keyset_path, "%s", keyset)
                   : snprintf(c->keyset_path, sizeof c->keyset_path, "%s/%s", c->trust_dir,
                              HEARTH_TRUST_KEYSET_FILE);
    if (n < 0 || (size_t)n >= sizeof c->keyset_path) {
        fprintf(stderr, "hearth-boot: key set path too long\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ helpers */

/* Sleep up to @p ms, returning early (true) if SIGTERM/SIGINT/SIGHUP came. */
static bool wait_signal(boot_ctx *c, int64_t ms, int *got)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    siginfo_t si;
    int s = sigtimedwait(&c->sigs, &si, &ts);
    if (got) *got = s;
    if (s == SIGTERM || s == SIGINT || s == SIGHUP) {
        stop_requested = 1;
        return true;
    }
    return false;
}

/* Device model / hardware id, so a slot for another product is refused:
 * from the device configuration hearth_slots_open() authenticated, where
 * both are required (the model check is never switched off). */
static bool read_device_ids(boot_ctx *c)
{
    const hearth_device_config *cfg = hearth_slots_device_config(c->slots);
    if (cfg == NULL || cfg->model[0] == '\0' || cfg->hw_id[0] == '\0') return false;
    snprintf(c->model, sizeof c->model, "%s", cfg->model);
    snprintf(c->hw_id, sizeof c->hw_id, "%s", cfg->hw_id);
    return true;
}

/* ----------------------------------------------------------- recovery */

static void enter_recovery(boot_ctx *c, const char *reason)
{
    char p[PATH_MAX], body[512];
    int n = snprintf(body, sizeof body, "time: %lld\nreason: %s\n", (long long)hearth_time_now(),
                     reason);
    if (hearth_layout_path(c->state, HEARTH_LAYOUT_BOOT_RECOVERY, p, sizeof p) == HEARTH_OK && n > 0 &&
        hearth_fs_write_atomic(p, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1,
                               0600) != HEARTH_OK)
        fprintf(stderr, "hearth-boot: cannot write %s: %s\n", p, hearth_err_msg());
    /* 5.7-2: alert, and nothing from the slots runs, so nothing is on the
     * network; hearth-boot itself never opens a socket. */
    hearth_seclog(HEARTH_SEV_ALERT, "recovery_mode", "reason", reason, NULL);
    fprintf(stderr, "hearth-boot: RECOVERY MODE: %s\n", reason);
}

static void leave_recovery(boot_ctx *c)
{
    char p[PATH_MAX];
    if (hearth_layout_path(c->state, HEARTH_LAYOUT_BOOT_RECOVERY, p, sizeof p) == HEARTH_OK &&
        unlink(p) == 0)
        hearth_seclog(HEARTH_SEV_INFO, "recovery_left", NULL);
}

/* --------------------------------------------------------- supervision */

static pid_t launch(boot_ctx *c, int slot, int fd)
{
    char slotname[2] = {hearth_slot_name(slot)[0], '\0'};
    char *argv[6 + BOOT_EXTRA_ARGS_MAX + 1];
    int a = 0;
    argv[a++] = (char *)c->program;
    argv[a++] = (char *)"--state";
    argv[a++] = (char *)c->state;
    argv[a++] = (char *)"--slot";
    argv[a++] = slotname;
    for (int i = 0; i < c->nextra; i++) argv[a++] = c->extra[i];
    argv[a] = NULL;
    (void)fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid; /* parent, or -1 */
    /* Child: own process group (so a timeout kills everything it started),
     * default signals, no inherited descriptors beyond stdio, no shell. */
    setpgid(0, 0);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Everything above 2 is close-on-exec; the program descriptor too (the
     * sealed, verified copy), which fexecve handles for ELF programs. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int f = 3; f < 1024; f++)
            if (f != fd) close(f);
    }
    fexecve(fd, argv, environ);
    fprintf(stderr, "hearth-boot: exec of slot %s program failed: %s\n", slotname,
            strerror(errno));
    _exit(127);
}

typedef enum { CHILD_EXIT_OK, CHILD_RESTART, CHILD_FAILED, CHILD_TIMEOUT, CHILD_STOPPED } child_end;

static bool trial_confirmed(boot_ctx *c, int slot)
{
    hearth_boot_state bs;
    if (hearth_slots_read(c->slots, &bs) != HEARTH_OK) return false;
    return bs.active == slot && bs.pending == HEARTH_SLOT_NONE;
}

static child_end supervise(boot_ctx *c, pid_t pid, int slot, bool trial, int *status_out)
{
    int64_t start = hearth_mono_ms();
    int64_t deadline = start + (int64_t)c->confirm_timeout * 1000;
    int64_t kill_at = 0;
    bool confirmed = !trial, timed_out = false;
    int status = 0;
    for (;;) {
        int got = 0;
        if (wait_signal(c, BOOT_POLL_MS, &got) && kill_at == 0) {
            kill(-pid, SIGTERM); /* forward to the program's process group */
            kill_at = hearth_mono_ms() + BOOT_TERM_GRACE_MS;
        }
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (!confirmed && trial_confirmed(c, slot)) {
            confirmed = true;
            hearth_seclog(HEARTH_SEV_INFO, "update_accepted", "slot", hearth_slot_name(slot),
                          NULL);
            fprintf(stderr, "hearth-boot: slot %s confirmed\n", hearth_slot_name(slot));
        }
        if (r == pid) break;
        int64_t now = hearth_mono_ms();
        if (!confirmed && !timed_out && kill_at == 0 && now >= deadline) {
            timed_out = true;
            snprintf(c->last_trial_failure, sizeof c->last_trial_failure,
                     "not confirmed within %d s", c->confirm_timeout);
            hearth_seclog(HEARTH_SEV_WARNING, "update_trial_timeout", "slot",
                          hearth_slot_name(slot), NULL);
            fprintf(stderr, "hearth-boot: slot %s not confirmed within %d s, stopping it\n",
                    hearth_slot_name(slot), c->confirm_timeout);
            kill(-pid, SIGTERM);
            kill_at = now + BOOT_TERM_GRACE_MS;
        }
        if (kill_at != 0 && now >= kill_at) {
            kill(-pid, SIGKILL);
            kill_at = now + 3600 * 1000; /* SIGKILL cannot be ignored: just reap */
        }
    }
    kill(-pid, SIGKILL); /* anything the program left behind in its group */
    *status_out = status;
    if (stop_requested) return CHILD_STOPPED;
    if (timed_out) return CHILD_TIMEOUT;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return CHILD_EXIT_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == HEARTH_SLOTS_EXIT_RESTART) return CHILD_RESTART;
    if (trial && !confirmed) {
        if (WIFSIGNALED(status))
            snprintf(c->last_trial_failure, sizeof c->last_trial_failure,
                     "crashed (signal %d) before confirming", WTERMSIG(status));
        else
            snprintf(c->last_trial_failure, sizeof c->last_trial_failure,
                     "exited %d before confirming", WEXITSTATUS(status));
    }
    return CHILD_FAILED;
}

/* A trial that timed out is over: no more attempts (revert on next decide). */
static hearth_status end_trial_fn(hearth_boot_state *bs, void *arg)
{
    int slot = *(int *)arg;
    if (bs->pending != slot) return HEARTH_ERR_NOT_FOUND; /* confirmed meanwhile: keep */
    bs->attempts_left = 0;
    hearth_fault_point("boot.end_trial");
    return HEARTH_OK;
}

/* ------------------------------------------------------------- sandbox */

/* Privileges: to --user, or, as root without it, uid 0 without capabilities. */
static hearth_status boot_drop(const boot_ctx *c)
{
    if (c->user == NULL && geteuid() == 0) {
        fprintf(stderr, "hearth-boot: running as root without --user: every capability is "
                        "cleared, but uid 0 still owns root's files; give --user\n");
        return hearth_sandbox_harden("hearth-boot");
    }
    return hearth_sandbox_drop_privileges("hearth-boot", c->user);
}

/* Landlock: what hearth-boot and the program it launches touch (Landlock
 * and seccomp are inherited across fork and exec; the launched program
 * narrows them further with its own). No TCP restriction here: the device
 * program binds its listener after the launch. */
static hearth_status boot_sandbox(const boot_ctx *c)
{
    static char fetch[PATH_MAX];
    hearth_sandbox_path paths[BOOT_SANDBOX_PATHS];
    size_t n = hearth_sandbox_system_paths(paths, BOOT_SANDBOX_PATHS);
    if (n == 0) return hearth_err(HEARTH_ERR_INTERNAL, "sandbox: path table too small");
    paths[n++] = (hearth_sandbox_path){c->state, HEARTH_SANDBOX_WRITE};
    paths[n++] = (hearth_sandbox_path){c->trust_dir, HEARTH_SANDBOX_READ};
    paths[n++] = (hearth_sandbox_path){c->keyset_path, HEARTH_SANDBOX_READ};
    /* The launched program reads its own /proc/<pid> (its telemetry:
     * /proc/self/net/ and status), which this domain's "/proc/self", this
     * process's directory, does not cover; it narrows the rule to its own
     * /proc/self in its own domain. Other users' /proc entries stay behind
     * the kernel's ptrace access checks (and ProtectProc= under systemd). */
    paths[n++] = (hearth_sandbox_path){"/proc", HEARTH_SANDBOX_READ};
    const char *trace = hearth_fault_trace_file();
    if (trace != NULL)
        paths[n++] = (hearth_sandbox_path){trace, HEARTH_SANDBOX_WRITE | HEARTH_SANDBOX_CREATE};
    /* The launched device program's: hearth-fetch, and the directory of
     * every file its arguments name (they come from the service
     * configuration, not from a slot; the program narrows this to its own
     * needs with its own Landlock domain). */
    if (hearth_updater_fetch_program(fetch, sizeof fetch) == HEARTH_OK)
        paths[n++] = (hearth_sandbox_path){fetch, HEARTH_SANDBOX_EXEC};
    hearth_sandbox_option_dirs(c->nextra, c->extra, NULL, paths, BOOT_SANDBOX_PATHS, &n);
    uint16_t ports[BOOT_SANDBOX_PORTS];
    size_t np = 0;
    hearth_platform_sandbox(paths, BOOT_SANDBOX_PATHS, &n, ports, BOOT_SANDBOX_PORTS, &np);
    hearth_sandbox_fs_policy fs = {
        .program = "hearth-boot", .paths = paths, .npaths = n, .scope = true};
    HEARTH_GUARD(hearth_sandbox_landlock(&fs));
    const char *lists[] = {hearth_boot_seccomp};
    return hearth_sandbox_seccomp("hearth-boot", lists, 1);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    /* First: the boot state key is derived from the storage root key. */
    if (hearth_process_harden() != HEARTH_OK) {
        fprintf(stderr, "hearth-boot: %s\n", hearth_err_msg());
        return 1;
    }
    boot_ctx c;
    memset(&c, 0, sizeof c);
    int rc = parse_args(&c, argc, argv);
    if (rc != 0) return rc;
    if (boot_drop(&c) != HEARTH_OK) {
        fprintf(stderr, "hearth-boot: %s\n", hearth_err_msg());
        return 1;
    }

    /* Signals are taken synchronously (sigtimedwait) so supervision is one loop. */
    sigemptyset(&c.sigs);
    sigaddset(&c.sigs, SIGTERM);
    sigaddset(&c.sigs, SIGINT);
    sigaddset(&c.sigs, SIGHUP);
    sigaddset(&c.sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &c.sigs, NULL);
    (void)signal(SIGPIPE, SIG_IGN);

    char logp[PATH_MAX];
    if (hearth_layout_path(c.state, HEARTH_LAYOUT_EVENTS_LOG, logp, sizeof logp) != HEARTH_OK ||
        hearth_seclog_open(logp) != HEARTH_OK) {
        fprintf(stderr, "hearth-boot: cannot open event log: %s\n", hearth_err_msg());
        return 1;
    }
    if (hearth_slots_open(c.state, &c.slots) != HEARTH_OK || !read_device_ids(&c)) {
        /* Without the root of trust and an authenticated device
         * configuration nothing can be checked: recovery. */
        char why[256];
        snprintf(why, sizeof why, "cannot open device configuration or root of trust: %s",
                 hearth_err_msg());
        fprintf(stderr, "hearth-boot: %s\n", why);
        hearth_seclog(HEARTH_SEV_ALERT, "recovery_mode", "reason", why, NULL);
        hearth_slots_close(c.slots);
        hearth_seclog_close();
        return HEARTH_SLOTS_EXIT_RECOVERY;
    }

    /* The root of trust is open, nothing from a slot has been read yet. */
    if (boot_sandbox(&c) != HEARTH_OK) {
        fprintf(stderr, "hearth-boot: cannot apply the sandbox: %s\n", hearth_err_msg());
        hearth_seclog(HEARTH_SEV_ALERT, "sandbox_failed", "reason", hearth_err_msg(), NULL);
        hearth_slots_close(c.slots);
        hearth_seclog_close();
        return 1;
    }

    int backoff = 1;
    int exit_code = 0;
    while (!stop_requested) {
        /* The decision (docs/boot.md), the library's and shared with the
         * tests: reloads the trust anchor and key set every time (the
         * updater may have rotated it, a technician may have repaired
         * things), verifies what it needs, persists BEFORE any launch and
         * hands over the chosen program as a sealed, verified copy. */
        hearth_boot_opts opts = {
            .trust_dir = c.trust_dir,
            .keyset_path = c.keyset_path,
            .model = c.model,
            .hw_id = c.hw_id,
            .program = c.program,
            .threads = c.threads,
            .verify_only = c.verify_only,
            .trial_failure = c.last_trial_failure,
        };
        hearth_boot_decision d;
        if (hearth_boot_decide(c.slots, &opts, &d) != HEARTH_OK) {
            snprintf(d.reason, sizeof d.reason, "boot state could not be written: %s",
                     hearth_err_msg());
            d.choice.action = HEARTH_BOOT_RECOVERY;
            d.choice.slot = HEARTH_SLOT_NONE;
        }
        if (d.choice.reverted || d.choice.rejected) c.last_trial_failure[0] = '\0';
        if (c.verify_only) {
            if (d.choice.action == HEARTH_BOOT_RECOVERY) {
                printf("recovery: %s\n", d.reason);
                exit_code = HEARTH_SLOTS_EXIT_RECOVERY;
            } else {
                printf("would boot slot %s (%s): verified\n", hearth_slot_name(d.choice.slot),
                       hearth_boot_action_name(d.choice.action));
            }
            hearth_boot_decision_clear(&d);
            break;
        }
        if (d.choice.action == HEARTH_BOOT_RECOVERY) {
            hearth_boot_decision_clear(&d);
            enter_recovery(&c, d.reason);
            if (c.once) {
                exit_code = HEARTH_SLOTS_EXIT_RECOVERY;
                break;
            }
            if (wait_signal(&c, (int64_t)c.recovery_interval * 1000, NULL)) break;
            continue;
        }
        leave_recovery(&c);
        int slot = d.choice.slot;
        bool trial = d.choice.action == HEARTH_BOOT_TRIAL;
        const char *mode = hearth_boot_action_name(d.choice.action);
        hearth_seclog(HEARTH_SEV_INFO, "boot_slot", "slot", hearth_slot_name(slot), "mode", mode,
                      NULL);
        fprintf(stderr, "hearth-boot: booting slot %s (%s)\n", hearth_slot_name(slot), mode);
        int64_t started = hearth_mono_ms();
        /* Between verification and launch: the racing-writer test stops
         * here (HEARTH_FAULT_STOP_AT) and rewrites the slot's program. */
        hearth_fault_point("boot.launch");
        pid_t pid = launch(&c, slot, d.program_fd);
        hearth_boot_decision_clear(&d);
        if (pid < 0) {
            fprintf(stderr, "hearth-boot: fork: %s\n", strerror(errno));
            if (wait_signal(&c, 1000, NULL)) break;
            continue;
        }
        int status = 0;
        child_end end = supervise(&c, pid, slot, trial, &status);
        if (end == CHILD_STOPPED || end == CHILD_EXIT_OK) break;
        if (end == CHILD_RESTART) {
            backoff = 1;
            continue;
        }
        if (end == CHILD_TIMEOUT) {
            hearth_status st = hearth_slots_update(c.slots, end_trial_fn, &slot);
            if (st != HEARTH_OK && st != HEARTH_ERR_NOT_FOUND)
                fprintf(stderr, "hearth-boot: cannot end trial: %s\n", hearth_err_msg());
            continue;
        }
        /* CHILD_FAILED */
        char how[32];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
        hearth_seclog(HEARTH_SEV_WARNING, "slot_program_failed", "slot", hearth_slot_name(slot),
                      "how", how, NULL);
        if (trial) continue; /* the spent attempt was persisted before launch */
        if (hearth_mono_ms() - started > BOOT_BACKOFF_MAX_S * 1000) backoff = 1;
        if (wait_signal(&c, (int64_t)backoff * 1000, NULL)) break;
        backoff = backoff * 2 > BOOT_BACKOFF_MAX_S ? BOOT_BACKOFF_MAX_S : backoff * 2;
    }
    hearth_slots_close(c.slots);
    hearth_seclog_close();
    return exit_code;
}
