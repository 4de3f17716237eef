/* Structured security-event log: one JSON object per line (JSONL), the
 * values of personal fields sealed (seclog_fields.c, docs/security-log.md). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hearth/util.h"
#include "seclog_internal.h"

#define SECLOG_LINE_MAX 2048
/* Most key/value pairs of one event. */
#define SECLOG_PAIRS_MAX 32
/* Bytes hearth_seclog_recent() reads from the end of the log files. */
#define SECLOG_RECENT_READ_MAX (256u * 1024u)
#define SECLOG_RECENT_MAX 1024

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char log_path[PATH_MAX];
static size_t log_cap = HEARTH_SECLOG_CAP_DEFAULT;
static uint64_t log_seq;
/* The field key (hearth_seclog_set_key), under log_mu. */
static uint8_t log_key[HEARTH_SECLOG_KEY_LEN];
static bool log_have_key;
/* Subscribers (the service link, telemetry rules). */
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
size_t seclog_put_str(char *out, size_t cap, size_t o, const char *s, size_t max)
{
    if (o + 1 < cap) out[o++] = '"';
    size_t n = 0;
    for (; s && n < max && s[n] && n < SECLOG_VALUE_MAX; n++) {
        unsigned char c = (unsigned char)s[n];
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

static size_t put_json_str(char *out, size_t cap, size_t o, const char *s)
{
    return seclog_put_str(out, cap, o, s, SIZE_MAX);
}

/* Bytes of @p s as put_json_str writes it with room to spare. */
static size_t json_str_len(const char *s)
{
    char tmp[SECLOG_VALUE_MAX * 6 + 16];
    return put_json_str(tmp, sizeof tmp, 0, s);
}

void hearth_seclog_set_key(const uint8_t *key)
{
    pthread_mutex_lock(&log_mu);
    if (key != NULL) memcpy(log_key, key, sizeof log_key);
    else hearth_memzero(log_key, sizeof log_key);
    log_have_key = key != NULL;
    pthread_mutex_unlock(&log_mu);
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

/* The file's line (called with log_mu held): the members of @p kv after
 * @p head, each personal value sealed under the key (or "(withheld)"
 * without one). Fields that would take the line past its bound are left
 * out, as in the plain line. Returns the line's length. */
static size_t file_line(const char *head, size_t head_len, const char *const *kv, size_t npairs,
                        char *out, size_t cap)
{
    bool seal = log_have_key;
    char tmpl[HEARTH_SECLOG_FILE_LINE_MAX + 8];
    size_t take = 0, need = head_len + 1;
    bool any = false;
    for (; take < npairs; take++) {
        const char *k = kv[2 * take], *v = kv[2 * take + 1];
        size_t vl = json_str_len(v);
        if (hearth_seclog_field_personal(k)) {
            size_t raw = strnlen(v, SECLOG_VALUE_MAX);
            size_t b = 12 + raw + 16;
            vl = seal ? 2 + sizeof HEARTH_SECLOG_SEALED_PREFIX - 1 + b / 3 * 4 + (b % 3 ? b % 3 + 1 : 0)
                      : sizeof HEARTH_SECLOG_WITHHELD + 1;
            any = true;
        }
        size_t m = 1 + json_str_len(k) + 1 + vl;
        if (need + m + 2 > HEARTH_SECLOG_FILE_LINE_MAX) break;
        need += m;
    }
    for (int pass = any && seal ? 0 : 1; pass < 2; pass++) {
        /* pass 0: the template (sealed values ""); pass 1: the line. */
        char *dst = pass == 0 ? tmpl : out;
        size_t dcap = pass == 0 ? sizeof tmpl : cap;
        memcpy(dst, head, head_len);
        size_t o = head_len;
        for (size_t i = 0; i < take; i++) {
            const char *k = kv[2 * i], *v = kv[2 * i + 1];
            dst[o++] = ',';
            o = put_json_str(dst, dcap, o, k);
            dst[o++] = ':';
            if (!hearth_seclog_field_personal(k)) {
                o = put_json_str(dst, dcap, o, v);
            } else if (pass == 0) {
                dst[o++] = '"';
                dst[o++] = '"';
            } else if (!seal) {
                o = put_json_str(dst, dcap, o, HEARTH_SECLOG_WITHHELD);
            } else {
                char sealed[HEARTH_SECLOG_SEALED_MAX];
                if (hearth_seclog_field_seal(log_key, k, tmpl, v, strnlen(v, SECLOG_VALUE_MAX), sealed,
                                             sizeof sealed) != HEARTH_OK) {
                    /* Never in clear: the whole line again, withheld. */
                    seal = false;
                    pass = 0;
                    break;
                }
                o = put_json_str(dst, dcap, o, sealed);
            }
        }
        if (pass == 0 && !seal) continue; /* redo pass 1 withheld */
        dst[o++] = '}';
        dst[o] = '\0';
        if (pass == 1) return o;
    }
    return 0;
}

void hearth_seclog(hearth_severity sev, const char *event, ...)
{
    char line[SECLOG_LINE_MAX];
    char fline[HEARTH_SECLOG_FILE_LINE_MAX + 8];
    const char *kv[2 * SECLOG_PAIRS_MAX];
    size_t npairs = 0;
    va_list ap;
    va_start(ap, event);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL) break;
        const char *v = va_arg(ap, const char *);
        if (npairs == SECLOG_PAIRS_MAX) continue;
        kv[2 * npairs] = k;
        kv[2 * npairs + 1] = v ? v : "";
        npairs++;
    }
    va_end(ap);

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
    size_t head_len = o;
    bool personal = false;
    for (size_t i = 0; i < npairs; i++) {
        personal = personal || hearth_seclog_field_personal(kv[2 * i]);
        if (o + 4 >= sizeof line - 2) break;
        line[o++] = ',';
        o = put_json_str(line, sizeof line - 2, o, kv[2 * i]);
        line[o++] = ':';
        o = put_json_str(line, sizeof line - 2, o, kv[2 * i + 1]);
    }
    line[o++] = '}';
    line[o] = '\0';
    for (size_t i = 0; i < HEARTH_SECLOG_HOOKS_MAX; i++)
        if (log_hooks[i].fn != NULL) log_hooks[i].fn(sev, line, log_hooks[i].arg);
    /* The file (or stderr) never gets a personal value in clear. */
    size_t fo = o;
    if (personal) {
        fo = file_line(line, head_len, kv, npairs, fline, sizeof fline - 1);
    } else {
        memcpy(fline, line, o + 1);
    }
    fline[fo++] = '\n';
    rotate_if_needed(fo);
    int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
    ssize_t w = write(fd, fline, fo);
    (void)w;
    if (log_fd >= 0 && sev >= HEARTH_SEV_WARNING) (void)fdatasync(log_fd);
    pthread_mutex_unlock(&log_mu);
    hearth_memzero(line, sizeof line);
}

/* ------------------------------------------------------- reading back */

/* Read up to @p want bytes from the end of @p fd into @p buf; *whole tells
 * whether that is the whole file. Returns the bytes read. */
static size_t read_tail(int fd, char *buf, size_t want, bool *whole)
{
    struct stat sb;
    *whole = true;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= 0) return 0;
    size_t size = (size_t)sb.st_size;
    size_t take = size < want ? size : want;
    *whole = take == size;
    size_t got = 0;
    while (got < take) {
        ssize_t r = pread(fd, buf + got, take - got, (off_t)(size - take + got));
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

/* Cut @p buf[0..n) into lines (NUL-terminated in place; buf[n] must be
 * writable); a first partial line (when @p whole is false) is skipped.
 * Keeps the newest @p max in @p lines, which holds @p count already. */
static size_t split_lines(char *buf, size_t n, bool whole, char **lines, size_t count, size_t max)
{
    size_t i = 0;
    if (!whole) {
        while (i < n && buf[i] != '\n') i++;
        i++;
    }
    while (i < n) {
        size_t s = i;
        while (i < n && buf[i] != '\n') i++;
        buf[i] = '\0';
        if (i > s) {
            if (count == max) {
                memmove(lines, lines + 1, (max - 1) * sizeof *lines);
                count--;
            }
            lines[count++] = buf + s;
        }
        i++;
    }
    return count;
}

hearth_status hearth_seclog_recent(size_t limit, void (*fn)(const char *line, void *arg), void *arg)
{
    HEARTH_ENSURE(fn != NULL && limit >= 1 && limit <= SECLOG_RECENT_MAX,
                  hearth_err(HEARTH_ERR_RANGE, "events: limit must be 1..%d", SECLOG_RECENT_MAX));
    /* One byte past the end of each part for the last line's NUL. */
    char *buf = malloc(SECLOG_RECENT_READ_MAX + 2);
    char **lines = calloc(limit, sizeof *lines);
    char *out = malloc(HEARTH_SECLOG_OPEN_LINE_MAX);
    if (buf == NULL || lines == NULL || out == NULL) {
        free(buf);
        free(lines);
        free(out);
        return hearth_err(HEARTH_ERR_NOMEM, "events: out of memory");
    }
    uint8_t key[HEARTH_SECLOG_KEY_LEN];
    bool have_key;
    hearth_status st = HEARTH_OK;
    size_t count = 0;
    pthread_mutex_lock(&log_mu);
    if (log_fd < 0) {
        st = hearth_err(HEARTH_ERR_STATE, "events: the log is not a file");
    } else {
        /* The current file's tail; if that is all of it, the rotated copy's
         * tail before it. Read under the lock: no line of ours is half
         * written. */
        bool whole_cur = true, whole_old = true;
        char *cur = malloc(SECLOG_RECENT_READ_MAX + 1);
        /* The log is open write-only: read it through its path. */
        int cfd = open(log_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t ncur = cur != NULL ? read_tail(cfd, cur, SECLOG_RECENT_READ_MAX, &whole_cur) : 0;
        if (cfd >= 0) close(cfd);
        size_t nold = 0;
        if (cur == NULL) {
            st = hearth_err(HEARTH_ERR_NOMEM, "events: out of memory");
        } else if (whole_cur && ncur < SECLOG_RECENT_READ_MAX) {
            char rotated[PATH_MAX];
            int l = snprintf(rotated, sizeof rotated, "%s.1", log_path);
            int ofd = l > 0 && (size_t)l < sizeof rotated
                          ? open(rotated, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                          : -1;
            nold = read_tail(ofd, buf, SECLOG_RECENT_READ_MAX - ncur, &whole_old);
            if (ofd >= 0) close(ofd);
        }
        if (cur != NULL) {
            buf[nold] = '\0';
            memcpy(buf + nold + 1, cur, ncur);
            buf[nold + 1 + ncur] = '\0';
            free(cur);
            count = split_lines(buf, nold, whole_old, lines, 0, limit);
            count = split_lines(buf + nold + 1, ncur, whole_cur, lines, count, limit);
        }
    }
    have_key = log_have_key;
    if (have_key) memcpy(key, log_key, sizeof key);
    pthread_mutex_unlock(&log_mu);
    for (size_t i = 0; st == HEARTH_OK && i < count; i++) {
        if (hearth_seclog_line_open(have_key ? key : NULL, lines[i], out, HEARTH_SECLOG_OPEN_LINE_MAX,
                                    NULL) == HEARTH_OK)
            fn(out, arg);
        else
            fn("{\"severity\":\"warning\",\"event\":\"log_line_unreadable\"}", arg);
    }
    hearth_memzero(key, sizeof key);
    hearth_memzero(out, HEARTH_SECLOG_OPEN_LINE_MAX);
    free(out);
    free(lines);
    free(buf);
    return st;
}
