/* Fault-injection points: kill the process at the N-th point reached
 * (HEARTH_FAULT_KILL_AT=N), or stop it (SIGSTOP, for a test to act and then
 * SIGCONT it) at every point of a given name (HEARTH_FAULT_STOP_AT=name).
 * A test hook: compiled in only with HEARTH_FAULT_INJECTION (the CMake option
 * HEARTH_TEST_HOOKS, and the unit tests' object library
 * hearth_util_fault_hooks); otherwise the points do nothing and the program
 * reads none of these variables. */
#include "hearth/util.h"

#ifndef HEARTH_FAULT_INJECTION
void hearth_fault_point(const char *name)
{
    (void)name;
}

bool hearth_fault_fail(const char *name)
{
    (void)name;
    return false;
}

const char *hearth_fault_trace_file(void)
{
    return NULL;
}
#else
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fault_state = -1; /* -1 unknown, 0 disabled, 1 enabled */
static unsigned long fault_kill_at;
static const char *fault_trace;
static const char *fault_stop_at;
static unsigned long fault_count;
static char fault_sleep_name[64];
static unsigned long fault_sleep_ms;
static int fail_state = -1; /* -1 unknown, 0 disabled, 1 enabled */
static const char *fail_list;

static void fault_init(void)
{
    const char *k = secure_getenv("HEARTH_FAULT_KILL_AT");
    fault_trace = secure_getenv("HEARTH_FAULT_TRACE");
    fault_stop_at = secure_getenv("HEARTH_FAULT_STOP_AT");
    if (fault_stop_at != NULL && *fault_stop_at == '\0') fault_stop_at = NULL;
    fault_kill_at = 0;
    if (k != NULL && *k != '\0') {
        char *end = NULL;
        unsigned long v = strtoul(k, &end, 10);
        if (end != NULL && *end == '\0') fault_kill_at = v;
    }
    /* HEARTH_FAULT_SLEEP=name:ms: every pass through point "name" takes ms
     * longer (a slow disk or TPM), so a test can measure what waits for it. */
    const char *sl = secure_getenv("HEARTH_FAULT_SLEEP");
    const char *colon = sl != NULL ? strrchr(sl, ':') : NULL;
    if (colon != NULL && (size_t)(colon - sl) < sizeof fault_sleep_name && colon != sl) {
        char *end = NULL;
        unsigned long ms = strtoul(colon + 1, &end, 10);
        if (end != NULL && *end == '\0' && ms > 0 && ms <= 60000) {
            memcpy(fault_sleep_name, sl, (size_t)(colon - sl));
            fault_sleep_name[colon - sl] = '\0';
            fault_sleep_ms = ms;
        }
    }
    fault_state = (fault_kill_at > 0 || fault_trace != NULL || fault_stop_at != NULL ||
                   fault_sleep_ms > 0)
                      ? 1
                      : 0;
}

const char *hearth_fault_trace_file(void)
{
    if (fault_state < 0) fault_init();
    return fault_trace;
}

void hearth_fault_point(const char *name)
{
    if (fault_state < 0) fault_init();
    if (fault_state == 0) return;
    unsigned long n = __atomic_add_fetch(&fault_count, 1, __ATOMIC_SEQ_CST);
    if (fault_trace != NULL) {
        int fd = open(fault_trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            char line[160];
            int l = snprintf(line, sizeof line, "%lu %s\n", n, name);
            if (l > 0) {
                ssize_t w = write(fd, line, (size_t)l < sizeof line ? (size_t)l : sizeof line - 1);
                (void)w;
            }
            close(fd);
        }
    }
    if (fault_sleep_ms > 0 && strcmp(name, fault_sleep_name) == 0) {
        struct timespec ts = {(time_t)(fault_sleep_ms / 1000), (long)(fault_sleep_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    if (fault_stop_at != NULL && strcmp(name, fault_stop_at) == 0) (void)raise(SIGSTOP);
    if (fault_kill_at != 0 && n == fault_kill_at) {
        (void)raise(SIGKILL);
        /* cppcheck-suppress unreachableCode ; raise(SIGKILL) does not return,
         * _exit states it to the compiler: this function never returns here */
        _exit(137);
    }
}

/* HEARTH_FAULT_FAIL=name,name: every pass through those points fails.
 * HEARTH_FAULT_FAIL_ARM=FILE: ... only while FILE exists, so a test can
 * let the program start (its own store writes at start) and then arm the
 * fault at the moment it means. */
bool hearth_fault_fail(const char *name)
{
    static const char *arm;
    if (fail_state < 0) {
        fail_list = secure_getenv("HEARTH_FAULT_FAIL");
        arm = secure_getenv("HEARTH_FAULT_FAIL_ARM");
        fail_state = (fail_list != NULL && *fail_list != '\0') ? 1 : 0;
    }
    if (fail_state == 0 || name == NULL) return false;
    if (arm != NULL && *arm != '\0' && access(arm, F_OK) != 0) return false;
    size_t n = strlen(name);
    for (const char *p = fail_list; *p != '\0';) {
        const char *e = strchr(p, ',');
        size_t l = e != NULL ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0) return true;
        if (e == NULL) break;
        p = e + 1;
    }
    return false;
}
#endif
