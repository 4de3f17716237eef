/*
 * hearth-boot: the secure-boot stage of a Hearth device (EN 303 645 5.7-1,
 * 5.7-2, 5.3-2, 5.3-9, 5.3-10). docs/boot.md describes the flow.
 *
 *   hearth-boot --state DIR --trust TRUSTDIR [--keyset FILE] [--confirm-timeout S]
 *               [--recovery-interval S] [--threads N] [--program NAME] [--once]
 *               [-- extra args for the slot program]
 *
 * At every start it reads the authenticated boot state, chooses a slot
 * (hearth_slots_choose), verifies it completely against the read-only trust
 * anchor (root keys -> key set -> manifest signature -> every payload chunk,
 * in parallel), persists the decision BEFORE launching (a trial attempt is
 * spent even if the power fails during the trial), and runs the slot's
 * program as a supervised child. Nothing from a slot runs unless it verified
 * and its security version is at or above the device minimum, and no key set
 * older than the boot state's key-set floor is used (ALERT keyset_rollback).
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
#include "hearth/slots.h"
#include "hearth/util.h"

#define BOOT_DEFAULT_PROGRAM "hearthd"
#define BOOT_DEFAULT_KEYSET "keyset"
#define BOOT_DEFAULT_CONFIRM_TIMEOUT 60
#define BOOT_DEFAULT_RECOVERY_INTERVAL 30
#define BOOT_TERM_GRACE_MS 5000
#define BOOT_POLL_MS 200
#define BOOT_BACKOFF_MAX_S 60
#define BOOT_EXTRA_ARGS_MAX 32

extern char **environ;

typedef struct {
    const char *state;
    const char *trust_dir;
    char keyset_path[PATH_MAX];
    const char *program;
    int confirm_timeout;
    int recovery_interval;
    unsigned threads;
    bool once;
    bool verify_only;
    char **extra;
    int nextra;
    /* runtime */
    hearth_slots *slots;
    hearth_trust *trust;
    hearth_keyset *ks;
    char ks_why[256];               /* why there is no usable key set (c->ks NULL) */
    char model[HEARTH_BUNDLE_ID_MAX + 1];
    char hw_id[HEARTH_BUNDLE_ID_MAX + 1];
    sigset_t sigs;
    int prog_fd[HEARTH_SLOT_COUNT]; /* program opened before verification */
    char last_trial_failure[128];   /* why the current trial ended, for the revert event */
} boot_ctx;

static volatile int stop_requested;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hearth-boot --state DIR --trust TRUSTDIR [--keyset FILE]\n"
            "                   [--confirm-timeout S] [--recovery-interval S] [--threads N]\n"
            "                   [--program NAME] [--once] [--verify-only]\n"
            "                   [-- extra args for the program]\n"
            "  --trust            read-only trust anchor: root public keys (*.pub),\n"
            "                     optional 'threshold', and the key set (default TRUSTDIR/%s)\n"
            "  --confirm-timeout  seconds a trial boot has to confirm (default %d)\n"
            "  --once             in recovery mode exit with status %d instead of retrying\n"
            "  --verify-only      decide and verify as at start-up, print the slot that would\n"
            "                     boot, change nothing and launch nothing (health check)\n",
            BOOT_DEFAULT_KEYSET, BOOT_DEFAULT_CONFIRM_TIMEOUT, HEARTH_SLOTS_EXIT_RECOVERY);
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
    if (c->state == NULL || c->trust_dir == NULL) {
        usage(stderr);
        return 2;
    }
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
                              BOOT_DEFAULT_KEYSET);
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

/* "payload 'hearthd' chunk 3 ..." -> "hearthd", so the alert names the file. */
static void file_from_reason(const char *reason, char *file, size_t cap)
{
    file[0] = '\0';
    const char *q = strchr(reason, '\'');
    const char *e = q ? strchr(q + 1, '\'') : NULL;
    if (q && e && (size_t)(e - q - 1) < cap) {
        memcpy(file, q + 1, (size_t)(e - q - 1));
        file[e - q - 1] = '\0';
    }
}

static void close_prog_fds(boot_ctx *c, int keep)
{
    for (int s = 0; s < HEARTH_SLOT_COUNT; s++) {
        if (s == keep || c->prog_fd[s] < 0) continue;
        close(c->prog_fd[s]);
        c->prog_fd[s] = -1;
    }
}

/*
 * Verify one slot completely. The program file is opened FIRST and its inode
 * compared after verification, and it is later executed through that very
 * descriptor, so swapping the file by rename between check and use fails.
 */
static void verify_slot(boot_ctx *c, int slot, hearth_slot_check *chk, char *version,
                        size_t vcap, char *reason, size_t rcap)
{
    char dir[PATH_MAX], prog[PATH_MAX];
    memset(chk, 0, sizeof *chk);
    chk->checked = true;
    version[0] = reason[0] = '\0';
    if (c->prog_fd[slot] >= 0) close(c->prog_fd[slot]);
    c->prog_fd[slot] = -1;
    if (hearth_slots_path(c->slots, slot, dir, sizeof dir) != HEARTH_OK ||
        snprintf(prog, sizeof prog, "%s/%s/%s", dir, HEARTH_SLOT_PAYLOAD_DIR, c->program) >=
            (int)sizeof prog) {
        snprintf(reason, rcap, "slot path too long");
        return;
    }
    if (c->ks == NULL) {
        snprintf(reason, rcap, "no verified key set: %.200s", c->ks_why);
        return;
    }
    int fd = open(prog, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(reason, rcap, "program '%s' missing: %s", c->program, strerror(errno));
        return;
    }
    hearth_bundle_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.model = c->model; /* always checked: read_device_ids() requires both */
    pol.hw_id = c->hw_id;
    pol.ignore_expiry = true; /* expiry guards installation, it must not brick a device */
    hearth_manifest *m = NULL;
    int64_t t0 = hearth_mono_ms();
    hearth_status st = hearth_slot_verify_dir(dir, c->ks, &pol, c->threads, &m);
    int64_t t1 = hearth_mono_ms();
    if (st != HEARTH_OK) {
        snprintf(reason, rcap, "%s: %s", hearth_status_name(st), hearth_err_msg());
        close(fd);
        return;
    }
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(prog, &b) != 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino || !S_ISREG(a.st_mode)) {
        snprintf(reason, rcap, "program '%s' replaced during verification", c->program);
        close(fd);
        hearth_manifest_free(m);
        return;
    }
    chk->valid = true;
    chk->security_version = m->security_version;
    snprintf(version, vcap, "%s", m->sw_version);
    c->prog_fd[slot] = fd;
    char ms[24], sv[24];
    snprintf(ms, sizeof ms, "%lld", (long long)(t1 - t0));
    snprintf(sv, sizeof sv, "%llu", (unsigned long long)m->security_version);
    hearth_seclog(HEARTH_SEV_INFO, "slot_verified", "slot", hearth_slot_name(slot), "version",
                  m->sw_version, "security_version", sv, "ms", ms, NULL);
    hearth_manifest_free(m);
}

/* ----------------------------------------------------------- decision */

typedef struct {
    hearth_boot_choice choice;
    char reason[256]; /* recovery reason */
} boot_decision;

static void move_aside_bad_state(boot_ctx *c)
{
    char from[PATH_MAX], to[PATH_MAX];
    if (hearth_path_join(from, sizeof from, c->state, "boot/state") != HEARTH_OK) return;
    int n = snprintf(to, sizeof to, "%s/boot/state.bad.%lld", c->state,
                     (long long)hearth_time_now());
    if (n < 0 || (size_t)n >= sizeof to) return;
    if (rename(from, to) == 0) {
        char d[PATH_MAX];
        if (hearth_path_join(d, sizeof d, c->state, "boot") == HEARTH_OK &&
            hearth_fs_sync_dir(d) != HEARTH_OK)
            fprintf(stderr, "hearth-boot: %s\n", hearth_err_msg());
    }
}

/* True if the kept alerts already hold this finding: a recovery loop
 * re-verifies every interval and must not flush older alerts out of the
 * ring with repeats (the whole ring is searched, as one pass may record
 * several findings: the key set, then each slot). */
static bool alert_known(const hearth_boot_state *bs, int slot, const char *reason)
{
    for (unsigned i = 0; i < bs->n_alerts; i++) {
        const hearth_slot_alert *al = &bs->alerts[i];
        if (al->slot == slot && strncmp(al->reason, reason, sizeof al->reason - 1) == 0)
            return true;
    }
    return false;
}

/*
 * Compare the loaded key set with the boot state's key-set floor. Below the
 * floor: ALERT "keyset_rollback" (events.log and the boot state, one record
 * per distinct finding so a recovery loop does not flush older alerts) and
 * the key set is dropped, so nothing verifies with it. Above: @p raise gets
 * its version (hearth-boot loaded and verified that very file, so raising
 * can never put the floor above the key set the device has).
 */
static void check_keyset_floor(boot_ctx *c, hearth_boot_state *bs, uint64_t *raise)
{
    uint64_t v = hearth_keyset_version(c->ks);
    if (v >= bs->min_keyset_version) {
        *raise = v;
        return;
    }
    char vs[24], fs[24], reason[HEARTH_SLOTS_REASON_MAX + 1];
    snprintf(vs, sizeof vs, "%llu", (unsigned long long)v);
    snprintf(fs, sizeof fs, "%llu", (unsigned long long)bs->min_keyset_version);
    snprintf(reason, sizeof reason, "keyset_rollback: key set version %s is below the floor %s",
             vs, fs);
    hearth_seclog(HEARTH_SEV_ALERT, "keyset_rollback", "file", c->keyset_path, "version", vs,
                  "minimum", fs, NULL);
    fprintf(stderr, "hearth-boot: ALERT key set %s refused: %s\n", c->keyset_path, reason);
    const char *base = strrchr(c->keyset_path, '/');
    base = base != NULL ? base + 1 : c->keyset_path;
    if (!alert_known(bs, HEARTH_SLOT_NONE, reason))
        hearth_boot_state_add_alert(bs, HEARTH_SLOT_NONE, hearth_time_now(), base, reason);
    /* Short, so the slot alerts that follow still name the cause. */
    snprintf(c->ks_why, sizeof c->ks_why, "%s", reason);
    hearth_keyset_free(c->ks);
    c->ks = NULL;
}

static hearth_status decide(boot_ctx *c, boot_decision *d)
{
    memset(d, 0, sizeof *d);
    int lock = -1;
    HEARTH_GUARD(hearth_slots_lock(c->slots, &lock));
    hearth_boot_state bs, next;
    hearth_status st = hearth_slots_read(c->slots, &bs);
    if (st != HEARTH_OK) {
        /* Missing or unauthentic state: alert, keep the evidence, and decide
         * from scratch (highest valid security version, docs/boot.md). */
        char why[HEARTH_SLOTS_REASON_MAX + 1];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        const char *ev = st == HEARTH_ERR_NOT_FOUND ? "boot_state_missing" : "boot_state_tampered";
        hearth_seclog(HEARTH_SEV_ALERT, ev, "reason", why, NULL);
        fprintf(stderr, "hearth-boot: %s: %s\n", ev, why);
        if (st != HEARTH_ERR_NOT_FOUND) move_aside_bad_state(c);
        hearth_boot_state_init_empty(&bs);
        hearth_boot_state_add_alert(&bs, HEARTH_SLOT_NONE, hearth_time_now(), "boot/state", why);
    }
    /* Key-set anti-rollback (5.3-9/5.3-10, TUF rollback of metadata): a
     * root-signed but OLDER key set (e.g. one in which a since-revoked
     * signing key is still active) is refused like any verification failure:
     * without it no slot verifies, so hearth-boot falls back / enters
     * recovery. A newer verified key set raises the floor (persisted below). */
    uint64_t ks_raise = 0;
    if (c->ks != NULL) check_keyset_floor(c, &bs, &ks_raise);
    hearth_boot_state prior = bs;
    hearth_slot_check checks[HEARTH_SLOT_COUNT];
    char versions[HEARTH_SLOT_COUNT][HEARTH_SLOTS_VERSION_MAX + 1];
    memset(checks, 0, sizeof checks);
    memset(versions, 0, sizeof versions);
    for (int guard = 0; guard < 4; guard++) {
        HEARTH_GUARD_GOTO(st, hearth_slots_choose(&bs, checks, &next, &d->choice), out);
        if (d->choice.action != HEARTH_BOOT_NEED_VERIFY) break;
        int s = d->choice.slot;
        char reason[256];
        verify_slot(c, s, &checks[s], versions[s], sizeof versions[s], reason, sizeof reason);
        if (!checks[s].valid) {
            char file[HEARTH_SLOTS_FILE_MAX + 1];
            file_from_reason(reason, file, sizeof file);
            if (prior.slot[s].verify == HEARTH_SLOT_INSTALLING) {
                /* An install that never finished is not an unauthorised change. */
                hearth_seclog(HEARTH_SEV_WARNING, "slot_incomplete", "slot",
                              hearth_slot_name(s), "reason", reason, NULL);
            } else {
                hearth_seclog(HEARTH_SEV_ALERT, "software_integrity_violation", "slot",
                              hearth_slot_name(s), "file", file, "reason", reason, NULL);
                fprintf(stderr, "hearth-boot: ALERT slot %s failed verification: %s\n",
                        hearth_slot_name(s), reason);
                /* One record per distinct finding (alert_known). */
                if (!alert_known(&bs, s, reason))
                    hearth_boot_state_add_alert(&bs, s, hearth_time_now(), file, reason);
            }
        } else if (checks[s].security_version < bs.min_security_version) {
            char sv[24], mv[24];
            snprintf(sv, sizeof sv, "%llu", (unsigned long long)checks[s].security_version);
            snprintf(mv, sizeof mv, "%llu", (unsigned long long)bs.min_security_version);
            hearth_seclog(HEARTH_SEV_WARNING, "rollback_blocked", "slot", hearth_slot_name(s),
                          "security_version", sv, "minimum", mv, NULL);
            fprintf(stderr, "hearth-boot: slot %s security version %s is below the minimum %s\n",
                    hearth_slot_name(s), sv, mv);
        }
        if (d->choice.action == HEARTH_BOOT_NEED_VERIFY && guard == 3) {
            st = hearth_err(HEARTH_ERR_INTERNAL, "boot decision did not converge");
            goto out;
        }
    }
    if (ks_raise > next.min_keyset_version) next.min_keyset_version = ks_raise;
    for (int s = 0; s < HEARTH_SLOT_COUNT; s++) {
        if (!checks[s].checked || !checks[s].valid) continue;
        memcpy(next.slot[s].version, versions[s], sizeof next.slot[s].version);
        next.slot[s].verified_at = hearth_time_now();
    }
    if (d->choice.reverted || d->choice.rejected) {
        next.last_reverted_at = hearth_time_now();
        const char *why = d->choice.rejected ? "failed verification or below minimum"
                          : c->last_trial_failure[0] ? c->last_trial_failure
                                                     : "boot attempts exhausted";
        hearth_seclog(HEARTH_SEV_WARNING, "update_reverted", "slot",
                      hearth_slot_name(d->choice.reverted_slot), "reason", why, "back_to",
                      hearth_slot_name(next.active), NULL);
        fprintf(stderr, "hearth-boot: update in slot %s reverted: %s\n",
                hearth_slot_name(d->choice.reverted_slot), why);
        c->last_trial_failure[0] = '\0';
    }
    if (d->choice.action == HEARTH_BOOT_RECOVERY) {
        snprintf(d->reason, sizeof d->reason, "no slot verifies at or above security version %llu",
                 (unsigned long long)next.min_security_version);
    }
    if (c->verify_only) goto out; /* health check: change nothing */
    /* Persist BEFORE launching: the spent attempt survives a power cut. */
    hearth_fault_point("boot.persist");
    st = hearth_slots_write(c->slots, &next);
out:
    hearth_slots_unlock(lock);
    return st;
}

/* ----------------------------------------------------------- recovery */

static void enter_recovery(boot_ctx *c, const char *reason)
{
    char p[PATH_MAX], body[512];
    int n = snprintf(body, sizeof body, "time: %lld\nreason: %s\n", (long long)hearth_time_now(),
                     reason);
    if (hearth_path_join(p, sizeof p, c->state, "boot/recovery") == HEARTH_OK && n > 0 &&
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
    if (hearth_path_join(p, sizeof p, c->state, "boot/recovery") == HEARTH_OK &&
        unlink(p) == 0)
        hearth_seclog(HEARTH_SEV_INFO, "recovery_left", NULL);
}

/* --------------------------------------------------------- supervision */

static pid_t launch(boot_ctx *c, int slot)
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
    fflush(NULL);
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
    int fd = c->prog_fd[slot];
    /* Everything above 2 is close-on-exec; the program descriptor too, which
     * fexecve handles for ELF programs. */
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

/* ---------------------------------------------------------------- main */

static void load_trust(boot_ctx *c)
{
    hearth_trust_free(c->trust);
    hearth_keyset_free(c->ks);
    c->trust = NULL;
    c->ks = NULL;
    c->ks_why[0] = '\0';
    if (hearth_trust_load_dir(c->trust_dir, &c->trust) != HEARTH_OK) {
        /* Bounded: the reason ends up in the slots' alert records. */
        snprintf(c->ks_why, sizeof c->ks_why, "trust anchor: %.200s", hearth_err_msg());
        fprintf(stderr, "hearth-boot: trust anchor %s: %s\n", c->trust_dir, hearth_err_msg());
        return;
    }
    /* The key set sits in the read-only trust anchor. Its expiry guards
     * installs, not boots: verify it as of its own creation time so an
     * expired key set never bricks an installed, verified system. */
    hearth_keyset *raw = NULL;
    int64_t when = 0;
    if (hearth_keyset_load(c->keyset_path, NULL, 0, 0, &raw) == HEARTH_OK)
        when = hearth_keyset_created(raw);
    hearth_keyset_free(raw);
    /* The key-set floor is checked in decide(), against the authenticated
     * boot state read under its lock. */
    if (hearth_keyset_load(c->keyset_path, c->trust, 0, when > 0 ? when : 0, &c->ks) !=
        HEARTH_OK) {
        snprintf(c->ks_why, sizeof c->ks_why, "key set: %.200s", hearth_err_msg());
        fprintf(stderr, "hearth-boot: key set %s: %s\n", c->keyset_path, hearth_err_msg());
        c->ks = NULL;
    }
}

int main(int argc, char **argv)
{
    boot_ctx c;
    memset(&c, 0, sizeof c);
    c.prog_fd[0] = c.prog_fd[1] = -1;
    int rc = parse_args(&c, argc, argv);
    if (rc != 0) return rc;

    /* Signals are taken synchronously (sigtimedwait) so supervision is one loop. */
    sigemptyset(&c.sigs);
    sigaddset(&c.sigs, SIGTERM);
    sigaddset(&c.sigs, SIGINT);
    sigaddset(&c.sigs, SIGHUP);
    sigaddset(&c.sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &c.sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char logp[PATH_MAX];
    if (hearth_path_join(logp, sizeof logp, c.state, "events.log") != HEARTH_OK ||
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
    int backoff = 1;
    int exit_code = 0;
    while (!stop_requested) {
        boot_decision d;
        /* Reload before every decision: the updater in the slot may have
         * rotated the key set (and raised the key-set floor) before asking
         * for a restart, and a technician may have repaired things while in
         * recovery. A few signature checks, negligible next to a slot. */
        load_trust(&c);
        if (decide(&c, &d) != HEARTH_OK) {
            snprintf(d.reason, sizeof d.reason, "boot state could not be written: %s",
                     hearth_err_msg());
            d.choice.action = HEARTH_BOOT_RECOVERY;
            d.choice.slot = HEARTH_SLOT_NONE;
        }
        if (c.verify_only) {
            if (d.choice.action == HEARTH_BOOT_RECOVERY) {
                printf("recovery: %s\n", d.reason);
                exit_code = HEARTH_SLOTS_EXIT_RECOVERY;
            } else {
                printf("would boot slot %s (%s): verified\n", hearth_slot_name(d.choice.slot),
                       d.choice.action == HEARTH_BOOT_TRIAL      ? "trial"
                       : d.choice.action == HEARTH_BOOT_FALLBACK ? "fallback"
                                                                 : "active");
            }
            break;
        }
        if (d.choice.action == HEARTH_BOOT_RECOVERY) {
            close_prog_fds(&c, HEARTH_SLOT_NONE);
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
        close_prog_fds(&c, slot);
        const char *mode = trial ? "trial" : d.choice.action == HEARTH_BOOT_FALLBACK ? "fallback"
                                                                                     : "active";
        hearth_seclog(HEARTH_SEV_INFO, "boot_slot", "slot", hearth_slot_name(slot), "mode", mode,
                      NULL);
        fprintf(stderr, "hearth-boot: booting slot %s (%s)\n", hearth_slot_name(slot), mode);
        int64_t started = hearth_mono_ms();
        pid_t pid = launch(&c, slot);
        close(c.prog_fd[slot]);
        c.prog_fd[slot] = -1;
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
    close_prog_fds(&c, HEARTH_SLOT_NONE);
    hearth_keyset_free(c.ks);
    hearth_trust_free(c.trust);
    hearth_slots_close(c.slots);
    hearth_seclog_close();
    return exit_code;
}
