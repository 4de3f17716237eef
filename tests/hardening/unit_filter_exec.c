/*
 * unit_filter_exec: run a program under the system-call allow-list of a
 * systemd unit, as systemd does for SystemCallFilter= with
 * SystemCallErrorNumber=EPERM and SystemCallArchitectures=native, so the
 * tests can start the installed daemon under its unit's filter without
 * systemd as PID 1 (tests/hardening/test_package_deb.sh; the list is
 * expanded from the unit with `systemd-analyze syscall-filter`).
 *
 *   unit_filter_exec ALLOWED_LIST PROGRAM [ARGS...]
 *
 * ALLOWED_LIST holds one system-call name per line; a name this
 * architecture does not have is skipped. Every other call fails with EPERM.
 * Sets no_new_privs (as NoNewPrivileges= does, and as an unprivileged filter
 * requires), then execs PROGRAM. Exit 126 when the filter cannot be set up.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: unit_filter_exec ALLOWED_LIST PROGRAM [ARGS...]\n");
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
    execv(argv[2], argv + 2);
    fprintf(stderr, "unit_filter_exec: %s: %s\n", argv[2], strerror(errno));
    return 126;
}
