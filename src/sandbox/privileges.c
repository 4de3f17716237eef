/* Step 1 of the sandbox (include/hearth/sandbox.h): leave root for an
 * unprivileged user, clear every capability set, no_new_privs, no core
 * dumps; each result is read back, because a drop that silently did not
 * happen is the failure that matters (CERT POS37-C). */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hearth/sandbox.h"
#include "hearth/util.h"

#define PW_BUF 4096

static bool parse_id(const char *s, size_t n, unsigned long *out)
{
    if (n == 0 || n > 10) return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 0x7fffffffUL) return false;
    *out = v;
    return true;
}

hearth_status hearth_sandbox_user_parse(const char *spec, hearth_sandbox_user *out)
{
    if (spec == NULL || out == NULL || spec[0] == '\0' || strlen(spec) > 64)
        return hearth_err(HEARTH_ERR_INVALID, "--user needs NAME or UID[:GID]");
    struct passwd pw, *res = NULL;
    char buf[PW_BUF];
    const char *colon = strchr(spec, ':');
    unsigned long uid, gid;
    if (parse_id(spec, colon ? (size_t)(colon - spec) : strlen(spec), &uid)) {
        if (colon != NULL) {
            if (!parse_id(colon + 1, strlen(colon + 1), &gid))
                return hearth_err(HEARTH_ERR_INVALID, "--user %s: GID is not a number", spec);
        } else {
            gid = uid;
            if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res) == 0 && res != NULL)
                gid = res->pw_gid;
        }
    } else {
        if (colon != NULL)
            return hearth_err(HEARTH_ERR_INVALID, "--user %s: use NAME or UID[:GID]", spec);
        if (getpwnam_r(spec, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
            return hearth_err(HEARTH_ERR_NOT_FOUND, "--user %s: no such user", spec);
        uid = res->pw_uid;
        gid = res->pw_gid;
    }
    if (uid == 0 || gid == 0)
        return hearth_err(HEARTH_ERR_INVALID, "--user %s: uid and gid must not be 0 (root)", spec);
    out->uid = (uid_t)uid;
    out->gid = (gid_t)gid;
    return HEARTH_OK;
}

/* Drop the bounding set (needs CAP_SETPCAP) and the ambient set. */
static hearth_status drop_bounding(bool required)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot clear ambient capabilities: %s",
                          strerror(errno));
    for (unsigned long cap = 0; cap <= 63; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0) break; /* past the kernel's last capability */
        if (r == 0) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (!required && errno == EPERM) return HEARTH_OK; /* no CAP_SETPCAP */
            return hearth_err(HEARTH_ERR_INTERNAL, "cannot drop capability %lu from the bounding set: %s",
                              cap, strerror(errno));
        }
    }
    return HEARTH_OK;
}

/* true if @p d (from capget) holds no capability in any set. */
static bool caps_empty(const struct __user_cap_data_struct d[2])
{
    for (int i = 0; i < 2; i++)
        if (d[i].effective != 0 || d[i].permitted != 0 || d[i].inheritable != 0) return false;
    return true;
}

/* Clear every capability set. capset(2) is called only when something is
 * held: under the shipped units the process starts with none, and their
 * system-call filter can then refuse capset (in @privileged) altogether. */
static hearth_status clear_caps(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0xff, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot read capabilities: %s", strerror(errno));
    if (caps_empty(d)) return HEARTH_OK;
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot clear capabilities: %s", strerror(errno));
    memset(d, 0xff, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot read capabilities: %s", strerror(errno));
    if (!caps_empty(d)) return hearth_err(HEARTH_ERR_INTERNAL, "capabilities are still set after capset");
    return HEARTH_OK;
}

static hearth_status switch_user(const char *spec)
{
    hearth_sandbox_user u;
    HEARTH_GUARD(hearth_sandbox_user_parse(spec, &u));
    if (setgroups(1, &u.gid) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "setgroups: %s", strerror(errno));
    if (setresgid(u.gid, u.gid, u.gid) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "setresgid(%u): %s", (unsigned)u.gid, strerror(errno));
    if (setresuid(u.uid, u.uid, u.uid) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "setresuid(%u): %s", (unsigned)u.uid, strerror(errno));
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || r != u.uid || e != u.uid || s != u.uid ||
        getresgid(&gr, &ge, &gs) != 0 || gr != u.gid || ge != u.gid || gs != u.gid)
        return hearth_err(HEARTH_ERR_INTERNAL, "user ids are not what was set");
    /* The drop must be irreversible. */
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "root could be regained after the drop");
    return HEARTH_OK;
}

hearth_status hearth_sandbox_harden(const char *program)
{
    /* A parent's filter may already be on (filters survive exec). */
    if (!hearth_sandbox_seccomp_kills()) HEARTH_GUARD(hearth_sandbox_sigsys_install(program));
    /* Dropping the bounding set needs CAP_SETPCAP: required where the
     * process has it (root), best effort otherwise (no_new_privs below
     * means nothing can be gained from it). */
    HEARTH_GUARD(drop_bounding(geteuid() == 0));
    HEARTH_GUARD(clear_caps());
    /* After any uid change: changing credentials resets "dumpable". */
    HEARTH_GUARD(hearth_process_harden());
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot set no_new_privs: %s", strerror(errno));
    return HEARTH_OK;
}

hearth_status hearth_sandbox_drop_privileges(const char *program, const char *user_spec)
{
    if (!hearth_sandbox_seccomp_kills()) HEARTH_GUARD(hearth_sandbox_sigsys_install(program));
    bool root = geteuid() == 0 || getuid() == 0;
    if (root) {
        if (user_spec == NULL)
            return hearth_err(HEARTH_ERR_POLICY,
                              "refusing to run as root: give --user NAME|UID[:GID] (an "
                              "unprivileged user owning the state directory)");
        HEARTH_GUARD(drop_bounding(true));
        HEARTH_GUARD(switch_user(user_spec));
    } else if (user_spec != NULL) {
        hearth_sandbox_user u;
        HEARTH_GUARD(hearth_sandbox_user_parse(user_spec, &u));
        if (u.uid != getuid() || u.gid != getgid())
            return hearth_err(HEARTH_ERR_STATE,
                              "--user %s: not started as root, cannot switch user", user_spec);
    }
    HEARTH_GUARD(hearth_sandbox_harden(program));
    if (geteuid() == 0 || getuid() == 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "still root after the drop");
    return HEARTH_OK;
}
