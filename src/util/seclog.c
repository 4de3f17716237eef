/* Structured security-event log: one JSON object per line (JSONL). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hearth/util.h"

#define SECLOG_VALUE_MAX 128
#define SECLOG_LINE_MAX 2048

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char log_path[PATH_MAX];
static size_t log_cap = HEARTH_SECLOG_CAP_DEFAULT;
static uint64_t log_seq;
/* Subscribers (the API's event ring, the service link, telemetry rules). */
static struct {
    hearth_seclog_hook fn;
    void *arg;
} log_hooks[HEARTH_SECLOG_HOOKS_MAX];

hearth_status hearth_seclog_open(const char *path)
{
    pthread_mutex_lock(&log_mu);
    if (log_fd >= 0) close(log_fd);
    log_fd = -1;
    hearth_status st = HEARTH_OK;
    log_path[0] = '\0';
    if (path != NULL) {
        if (strlen(path) + 3 > sizeof log_path) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "event log path too long");
        } else {
            memcpy(log_path, path, strlen(path) + 1);
            log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (log_fd < 0)
                st = hearth_err(HEARTH_ERR_IO, "open event log %s: %s", path, strerror(errno));
        }
    }
    pthread_mutex_unlock(&log_mu);
    return st;
}

hearth_status hearth_seclog_set_cap(size_t cap)
{
    if (cap < HEARTH_SECLOG_CAP_MIN || cap > (size_t)1 << 30)
        return hearth_err(HEARTH_ERR_RANGE, "event log cap must be %u bytes .. 1 GiB",
                          HEARTH_SECLOG_CAP_MIN);
    pthread_mutex_lock(&log_mu);
    log_cap = cap;
    pthread_mutex_unlock(&log_mu);
    return HEARTH_OK;
}

/* Called with log_mu held before appending @p n bytes: if the file would
 * grow past half the cap, it becomes "<path>.1" (replacing the previous
 * copy) and a new file is started, so the two never hold more than the cap.
 * The size is read from the descriptor, so another process appending to the
 * same file is counted too. If the new file cannot be opened the line goes
 * to stderr, never past the cap. */
static void rotate_if_needed(size_t n)
{
    struct stat sb;
    if (log_fd < 0 || fstat(log_fd, &sb) != 0) return;
    if ((uint64_t)sb.st_size + n <= log_cap / 2) return;
    char rotated[PATH_MAX];
    int l = snprintf(rotated, sizeof rotated, "%s.1", log_path);
    (void)fdatasync(log_fd);
    close(log_fd);
    log_fd = -1;
    if (l < 0 || (size_t)l >= sizeof rotated || rename(log_path, rotated) != 0) return;
    log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    char dir[PATH_MAX];
    memcpy(dir, log_path, strlen(log_path) + 1);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        /* Best effort, and without hearth_err(): the caller's error message
         * must survive a log line. */
        *slash = '\0';
        int dfd = open(dir[0] != '\0' ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
}

void hearth_seclog_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (log_fd >= 0) close(log_fd);
    log_fd = -1;
    pthread_mutex_unlock(&log_mu);
}

hearth_status hearth_seclog_add_hook(hearth_seclog_hook hook, void *arg)
{
    if (hook == NULL) return hearth_err(HEARTH_ERR_INVALID, "seclog hook: NULL");
    hearth_status st = hearth_err(HEARTH_ERR_BUSY, "seclog hook: all %d slots taken",
                                  HEARTH_SECLOG_HOOKS_MAX);
    pthread_mutex_lock(&log_mu);
    for (size_t i = 0; i < HEARTH_SECLOG_HOOKS_MAX; i++) {
        if (log_hooks[i].fn == NULL) {
            log_hooks[i].fn = hook;
            log_hooks[i].arg = arg;
            st = HEARTH_OK;
            break;
        }
    }
    pthread_mutex_unlock(&log_mu);
    return st;
}

void hearth_seclog_remove_hook(hearth_seclog_hook hook, const void *arg)
{
    pthread_mutex_lock(&log_mu);
    for (size_t i = 0; i < HEARTH_SECLOG_HOOKS_MAX; i++) {
        if (log_hooks[i].fn == hook && log_hooks[i].arg == arg) {
            log_hooks[i].fn = NULL;
            log_hooks[i].arg = NULL;
        }
    }
    pthread_mutex_unlock(&log_mu);
}

/* Append a JSON string with escaping, truncated to SECLOG_VALUE_MAX input bytes. */
static size_t put_json_str(char *out, size_t cap, size_t o, const char *s)
{
    if (o + 1 < cap) out[o++] = '"';
    size_t n = 0;
    for (; s && *s && n < SECLOG_VALUE_MAX; s++, n++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        size_t el;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            el = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        } else {
            esc[0] = (char)c;
            el = 1;
        }
        if (o + el + 2 >= cap) break;
        memcpy(out + o, esc, el);
        o += el;
    }
    if (o + 1 < cap) out[o++] = '"';
    return o;
}

static const char *sev_name(hearth_severity s)
{
    switch (s) {
    case HEARTH_SEV_INFO: return "info";
    case HEARTH_SEV_WARNING: return "warning";
    case HEARTH_SEV_ALERT: return "alert";
    }
    return "info";
}

void hearth_seclog(hearth_severity sev, const char *event, ...)
{
    char line[SECLOG_LINE_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    char tbuf[40];
    if (gmtime_r(&ts.tv_sec, &tm) == NULL || strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        tbuf[0] = '\0';

    pthread_mutex_lock(&log_mu);
    uint64_t seq = ++log_seq;
    size_t o = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s.%03ldZ\",\"seq\":%llu,\"severity\":\"%s\",\"event\":",
                                tbuf, ts.tv_nsec / 1000000, (unsigned long long)seq, sev_name(sev));
    o = put_json_str(line, sizeof line - 2, o, event);
    va_list ap;
    va_start(ap, event);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL) break;
        const char *v = va_arg(ap, const char *);
        if (o + 4 >= sizeof line - 2) break;
        line[o++] = ',';
        o = put_json_str(line, sizeof line - 2, o, k);
        line[o++] = ':';
        o = put_json_str(line, sizeof line - 2, o, v ? v : "");
    }
    va_end(ap);
    line[o++] = '}';
    line[o] = '\0';
    for (size_t i = 0; i < HEARTH_SECLOG_HOOKS_MAX; i++)
        if (log_hooks[i].fn != NULL) log_hooks[i].fn(sev, line, log_hooks[i].arg);
    line[o++] = '\n';
    rotate_if_needed(o);
    int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
    ssize_t w = write(fd, line, o);
    (void)w;
    if (log_fd >= 0 && sev >= HEARTH_SEV_WARNING) (void)fdatasync(log_fd);
    pthread_mutex_unlock(&log_mu);
}
