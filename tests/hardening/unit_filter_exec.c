/*
 * unit_filter_exec: run a program under the system-call allow-list of a
 * systemd unit, as systemd does for SystemCallFilter= with
 * SystemCallErrorNumber=EPERM and SystemCallArchitectures=native, so the
 * tests can start the installed daemon under its unit's filter without
 * systemd as PID 1 (tests/hardening/test_package_deb.sh; the list is
 * expanded from the unit with `systemd-analyze syscall-filter`).
 *
 *   unit_filter_exec [--mdwe] ALLOWED_LIST PROGRAM [ARGS...]
 *
 * ALLOWED_LIST holds one system-call name per line; a name this
 * architecture does not have is skipped. Every other call fails with EPERM.
 * --mdwe adds MemoryDenyWriteExecute= as systemd 252 implements it, a second
 * filter: mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect adding
 * PROT_EXEC and shmat with SHM_EXEC fail with EPERM. Sets no_new_privs (as
 * NoNewPrivileges= does, and as an unprivileged filter requires), then execs
 * PROGRAM. Exit 126 when a filter cannot be set up.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

/* systemd's seccomp_memory_deny_write_execute(), as a filter of its own. */
static bool load_mdwe(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL) return false;
    const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    bool ok = seccomp_rule_add(ctx, deny, SCMP_SYS(mmap), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE,
                                       PROT_EXEC | PROT_WRITE)) == 0 &&
              seccomp_rule_add(ctx, deny, SCMP_SYS(mprotect), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) == 0 &&
              seccomp_rule_add(ctx, deny, SCMP_SYS(pkey_mprotect), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) == 0 &&
              seccomp_rule_add(ctx, deny, SCMP_SYS(shmat), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC)) == 0 &&
              seccomp_load(ctx) == 0;
    seccomp_release(ctx);
    return ok;
}

int main(int argc, char **argv)
{
    bool mdwe = argc > 1 && strcmp(argv[1], "--mdwe") == 0;
    if (mdwe) {
        argc--;
        argv++;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: unit_filter_exec [--mdwe] ALLOWED_LIST PROGRAM [ARGS...]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        fprintf(stderr, "unit_filter_exec: %s: %s\n", argv[1], strerror(errno));
        return 126;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL) {
        fclose(f);
        return 126;
    }
    char line[128];
    unsigned allowed = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        int nr = seccomp_syscall_resolve_name(line);
        if (nr == __NR_SCMP_ERROR) continue;
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) {
            fprintf(stderr, "unit_filter_exec: cannot allow %s\n", line);
            seccomp_release(ctx);
            fclose(f);
            return 126;
        }
        allowed++;
    }
    fclose(f);
    if (allowed == 0 || seccomp_load(ctx) != 0) {
        fprintf(stderr, "unit_filter_exec: no filter loaded (%u calls)\n", allowed);
        seccomp_release(ctx);
        return 126;
    }
    seccomp_release(ctx);
    if (mdwe && !load_mdwe()) {
        fprintf(stderr, "unit_filter_exec: cannot load the MemoryDenyWriteExecute filter\n");
        return 126;
    }
    execv(argv[2], argv + 2);
    fprintf(stderr, "unit_filter_exec: %s: %s\n", argv[2], strerror(errno));
    return 126;
}
