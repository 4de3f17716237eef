/**
 * @file sandbox.h
 * @brief Least privilege for Hearth's programs (EN 303 645 5.6-7, 5.4-1):
 *        privilege drop, process hardening, Landlock file (and TCP) rules and
 *        seccomp system-call allow-lists. docs/sandbox.md has the design.
 *
 * The order a program applies them in (every step only ever removes rights):
 *
 *  1. hearth_sandbox_drop_privileges(): started as root, switch to the
 *     unprivileged user (setgroups, setresgid, setresuid; verify root cannot
 *     be regained), clear every capability (effective, permitted,
 *     inheritable, ambient, bounding), no_new_privs, no core dumps, not
 *     dumpable. Refuses to run as root without a user.
 *  2. hearth_sandbox_landlock(): the paths the program may still touch, with
 *     read / read-write / execute rights; on Landlock ABI 4+ optionally no
 *     TCP bind and TCP connect only to listed ports; on ABI 6+ no signals
 *     and no abstract unix sockets outside the sandbox. Applies to the
 *     calling thread and everything it starts later: call it before any
 *     thread is created.
 *  3. hearth_sandbox_seccomp(): an allow-list of system calls (the union of
 *     one or more list texts, see below) for every thread of the process.
 *
 * hearth_sandbox_apply() does all three in that order for a program that
 * can do them at one point.
 *
 * Everything survives fork() and execve() and stacks: a program started by
 * a sandboxed program gets at most the intersection of both sandboxes.
 *
 * **Allow-list text** (one data file per program, embedded at build time by
 * the CMake function hearth_seccomp_list(), docs/sandbox.md): one system call
 * name per line, `#` starts a comment; optionally followed by argument
 * rules `aN=V1|V2|...` (argument N, 0..5, must equal one of the values) or
 * `aN&MASK=V` (argument N masked with MASK must equal V). Values are
 * numbers (C syntax) or one of the names AF_UNIX, AF_INET, AF_INET6,
 * AF_NETLINK. Several rules on one line must all hold; several lines for one
 * call are alternatives. Names this architecture does not have are skipped.
 *
 * **Unlisted calls**: with the build option HEARTH_SECCOMP_KILL=ON the
 * process is killed (SIGSYS, SCMP_ACT_KILL_PROCESS): CI finds missing
 * entries. OFF (default, release): the call fails with ENOSYS and one line
 * `PROGRAM: seccomp: refused system call N` is written to stderr from a
 * SIGSYS handler (async-signal-safe), so a glibc change breaks one call,
 * visibly, not the device.
 */
#ifndef HEARTH_SANDBOX_H
#define HEARTH_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An unprivileged user to run as (parsed from NAME or UID[:GID]). */
typedef struct {
    uid_t uid;
    gid_t gid;
} hearth_sandbox_user;

/**
 * Parse @p spec: a user name from the password database (its primary
 * group), or a numeric `UID` (its password-database group, else GID = UID)
 * or `UID:GID`. Root (uid or gid 0) is refused: it is not a drop.
 * @return HEARTH_OK, HEARTH_ERR_INVALID (syntax, root) or
 *         HEARTH_ERR_NOT_FOUND (no such user name).
 */
hearth_status hearth_sandbox_user_parse(const char *spec,
                                        hearth_sandbox_user *out) HEARTH_MUST_CHECK;

/**
 * Step 1. Drop to @p user_spec (hearth_sandbox_user_parse() syntax) and
 * harden the process; @p program names it in messages.
 *
 * As root: requires @p user_spec (HEARTH_ERR_POLICY without: "refusing to
 * run as root"); drops the capability bounding set and the ambient set,
 * then setgroups({gid}), setresgid, setresuid, and verifies setuid(0) and
 * setgid(0) fail. Not root: @p user_spec must be NULL or the current user
 * (HEARTH_ERR_STATE otherwise); the bounding set is dropped if the process
 * may (CAP_SETPCAP), else left: with no_new_privs nothing can be gained
 * from it. Either way: every capability set cleared (capset), RLIMIT_CORE
 * 0, not dumpable (hearth_process_harden()), PR_SET_NO_NEW_PRIVS, and all
 * of it read back and checked.
 * @return HEARTH_OK; any failure means the caller must not continue.
 */
hearth_status hearth_sandbox_drop_privileges(const char *program,
                                             const char *user_spec) HEARTH_MUST_CHECK;

/**
 * The hardening half of step 1 without a user switch: every capability set
 * cleared (the bounding set too where the process may, i.e. as root),
 * RLIMIT_CORE 0, not dumpable, no_new_privs; read back and checked.
 * hearth_sandbox_drop_privileges() calls it; hearth-boot calls it alone when
 * started as root without --user (docs/sandbox.md says why).
 */
hearth_status hearth_sandbox_harden(const char *program) HEARTH_MUST_CHECK;

/** Landlock rights on one path (combine with |). */
enum {
    HEARTH_SANDBOX_READ = 1u << 0,  /**< read files, list directories */
    HEARTH_SANDBOX_WRITE = 1u << 1, /**< read-write: also write, truncate, create,
                                         remove, rename (no device nodes) */
    HEARTH_SANDBOX_EXEC = 1u << 2,  /**< execute files (execve; mapping a library
                                         executable needs only READ) */
    HEARTH_SANDBOX_CREATE = 1u << 3, /**< a file: create it (empty, 0600) if it is
                                          missing, so the rule can be made */
};

/** One path and what may be done below it (a file or a directory tree). */
typedef struct {
    const char *path;
    unsigned rights; /**< HEARTH_SANDBOX_READ | WRITE | EXEC */
} hearth_sandbox_path;

/**
 * The system paths every dynamically linked Hearth program needs, read-only:
 * the library directories (read: mapping a library executable needs no
 * execute right), the program interpreter (PT_INTERP of this program,
 * execute: a program this one starts is loaded by it), the loader cache,
 * the name-service and time-zone files, OpenSSL's configuration,
 * /dev/urandom and /dev/null, this process's /proc/self, and the CPU list
 * in /sys. Fills at most @p cap entries of @p out (strings are static).
 * @return the number of entries, or 0 if @p cap is too small.
 */
size_t hearth_sandbox_system_paths(hearth_sandbox_path *out, size_t cap);

/**
 * For every `@p option VALUE` pair in @p argv where VALUE is an absolute
 * path or KEY=absolute path (e.g. `--port-option relay_file=/run/hw/relay`),
 * add the path's directory read-write to @p out (*n used of @p cap): the
 * files a program is told to write on its command line (the sim port
 * creates and removes its button file, so its directory, not the file).
 * The strings live as long as the process (at most 48 per process); a file
 * directly in / is skipped. @p option NULL: every argument in @p argv[0..argc)
 * that is such a path (hearth-boot, for the program it launches).
 */
void hearth_sandbox_option_dirs(int argc, char *const *argv, const char *option,
                                hearth_sandbox_path *out, size_t cap, size_t *n);

/** Landlock policy of a program (step 2). */
typedef struct {
    const char *program;             /**< for messages */
    const hearth_sandbox_path *paths; /**< the only paths left; missing ones are skipped */
    size_t npaths;
    /** Restrict TCP (Landlock ABI 4+): no bind(), connect() only to the
     *  ports in connect_ports (none: no TCP connect at all). */
    bool restrict_tcp;
    const uint16_t *connect_ports;
    size_t nconnect_ports;
    /** ABI 6+: no signals to, no abstract unix sockets of, processes outside
     *  this sandbox (its own children stay reachable). */
    bool scope;
} hearth_sandbox_fs_policy;

/**
 * The Landlock ABI version of the running kernel (LANDLOCK_CREATE_RULESET_VERSION),
 * 0 when Landlock is not available (not built in, disabled at boot).
 */
int hearth_sandbox_landlock_abi(void);

/**
 * Step 2. Restrict the calling thread and everything it starts to @p p with
 * every access right the kernel's ABI supports; what the ABI cannot enforce
 * (no Landlock at all, truncate before ABI 3, TCP before 4, device ioctl
 * before 5, scoping before 6) is reported on stderr, one line each, and
 * is not an error. A path in @p p that does not exist is skipped (reported).
 * Sets no_new_privs if not yet set.
 * @return HEARTH_OK, or an error when the kernel supports Landlock and the
 *         rules cannot be installed (the caller must not continue).
 */
hearth_status hearth_sandbox_landlock(const hearth_sandbox_fs_policy *p) HEARTH_MUST_CHECK;

/**
 * Check an allow-list text (syntax above) without installing it: every line
 * parses and every name is a system call libseccomp knows on some
 * architecture. @return HEARTH_OK or HEARTH_ERR_INVALID (line in the message).
 */
hearth_status hearth_sandbox_seccomp_check(const char *list) HEARTH_MUST_CHECK;

/**
 * Step 3. Install a seccomp filter allowing the union of the @p nlists
 * allow-list texts in @p lists, for every thread of the process (TSYNC).
 * Unlisted calls: see the file comment (HEARTH_SECCOMP_KILL). Sets
 * no_new_privs if not yet set.
 * @return HEARTH_OK, HEARTH_ERR_INVALID (a list does not parse) or
 *         HEARTH_ERR_INTERNAL (the filter cannot be loaded).
 */
hearth_status hearth_sandbox_seccomp(const char *program, const char *const *lists,
                                     size_t nlists) HEARTH_MUST_CHECK;

/**
 * Install the release mode's SIGSYS handler (refused call -> ENOSYS and one
 * log line naming @p program). hearth_sandbox_seccomp() installs it; the
 * privilege drop installs it too, as early as possible, because a program
 * started by a sandboxed one runs under its parent's filter from its first
 * instruction, but execve() reset the handler: until it is installed again
 * a refused call ends the program with SIGSYS (docs/sandbox.md).
 */
hearth_status hearth_sandbox_sigsys_install(const char *program) HEARTH_MUST_CHECK;

/** Number of distinct system calls in the union of @p lists that exist on
 *  this architecture (for docs and tests), or -1 if a list does not parse. */
int hearth_sandbox_seccomp_count(const char *const *lists, size_t nlists);

/** False in the sanitizer build (HEARTH_SANITIZE), where
 *  hearth_sandbox_seccomp() checks the lists but installs no filter. */
bool hearth_sandbox_seccomp_enabled(void);

/** True when unlisted calls kill the process (build option HEARTH_SECCOMP_KILL). */
bool hearth_sandbox_seccomp_kills(void);

/** Everything a program applies at one point (hearth_sandbox_apply()). */
typedef struct {
    const char *program;          /**< for messages */
    const char *user;             /**< --user value or NULL (step 1) */
    hearth_sandbox_fs_policy fs;  /**< step 2 (fs.program may be NULL) */
    const char *const *seccomp;   /**< step 3: allow-list texts */
    size_t nseccomp;
} hearth_sandbox_policy;

/** Steps 1, 2 and 3 in order; stops at the first failure. */
hearth_status hearth_sandbox_apply(const hearth_sandbox_policy *p) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
