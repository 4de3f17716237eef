/*
 * Intruder program for the exec-race test (tests/integration/
 * test_boot_exec_race.sh): what an attacker would write over a slot's
 * program after hearth-boot verified it. If it ever runs, it leaves the
 * marker <state>/INTRUDER-RAN (and its pid) and exits 0, so the test can
 * prove that it never ran. Invoked like the slot program:
 *   <prog> --state DIR --slot a|b [...]
 * Plain libc, no Hearth code: small enough to be padded to the size of the
 * legitimate program and written over it in place.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *state = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--state") == 0) state = argv[i + 1];
    if (state == NULL) return 2;
    char p[4096];
    if (snprintf(p, sizeof p, "%s/INTRUDER-RAN", state) >= (int)sizeof p) return 2;
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return 1;
    char line[64];
    int n = snprintf(line, sizeof line, "intruder pid %ld\n", (long)getpid());
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    return w == n ? 0 : 1;
}
