/* The service CA's records: who was issued what, who is revoked, and the CRL
 * derived from both (ca.h). Plain append-only text files under an flock;
 * every line is checked when read back (the directory is the service's own,
 * but a torn or edited line must not crash it or widen the CRL's meaning). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ca.h"
#include "hearth/util.h"

#define RECORDS_MAX (64L * 1024 * 1024)

bool fleet_ca_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > HEARTH_ENROL_CN_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return id[0] != '-' && id[n - 1] != '-';
}

static hearth_status path_in(char *buf, size_t cap, const char *dir, const char *name)
{
    return hearth_path_join(buf, cap, dir, name);
}

hearth_status fleet_ca_lock(const char *dir, int *fd)
{
    char p[4096];
    HEARTH_GUARD(path_in(p, sizeof p, dir, "lock"));
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0) return hearth_err(HEARTH_ERR_IO, "%s: %s", p, strerror(errno));
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(*fd);
        *fd = -1;
        return hearth_err(HEARTH_ERR_IO, "lock %s: %s", p, strerror(e));
    }
    return HEARTH_OK;
}

void fleet_ca_unlock(int fd)
{
    if (fd >= 0) close(fd); /* releases the flock */
}

/* Whole file (absent: empty), NUL-terminated. A NUL byte inside (the
 * zero-filled tail a power cut can leave) is read as a line end, so it
 * hides none of the lines after it. */
static hearth_status read_records(const char *dir, const char *name, char **out, size_t *len)
{
    char p[4096];
    HEARTH_GUARD(path_in(p, sizeof p, dir, name));
    uint8_t *buf = NULL;
    hearth_status st = hearth_fs_read_file(p, RECORDS_MAX, &buf, len);
    if (st == HEARTH_ERR_NOT_FOUND) {
        buf = calloc(1, 1);
        *len = 0;
        st = buf != NULL ? HEARTH_OK : hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == HEARTH_OK && i < *len; i++)
        if (buf[i] == '\0') buf[i] = '\n';
    *out = (char *)buf;
    return st;
}

/* The next non-empty line of [all, all + len) from *pos (read_records()),
 * NUL-terminated in place (its newline overwritten); NULL at the end. */
static char *next_line(char *all, size_t len, size_t *pos)
{
    while (*pos < len) {
        char *l = all + *pos;
        char *nl = memchr(l, '\n', len - *pos);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - *pos;
        *pos += n + 1;
        l[n] = '\0'; /* the newline, or read_records()'s terminator */
        if (n == 0) continue;
        return l;
    }
    return NULL;
}

static hearth_status append_line(const char *dir, const char *name, const char *line)
{
    char p[4096];
    HEARTH_GUARD(path_in(p, sizeof p, dir, name));
    int fd = open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "%s: %s", p, strerror(errno));
    /* A line torn by a crash (no newline at the end of the file) is ended
     * first, so that this record does not run into it. */
    hearth_status st = HEARTH_OK;
    off_t end = lseek(fd, 0, SEEK_END);
    char last = '\n';
    if (end < 0 || (end > 0 && pread(fd, &last, 1, end - 1) != 1))
        st = hearth_err(HEARTH_ERR_IO, "%s: %s", p, strerror(errno));
    if (st == HEARTH_OK && last != '\n') st = hearth_fd_write_all(fd, "\n", 1, p);
    if (st == HEARTH_OK) st = hearth_fd_write_all(fd, line, strlen(line), p);
    if (st == HEARTH_OK && fsync(fd) != 0) st = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", p, strerror(errno));
    close(fd);
    return st;
}

hearth_status fleet_ca_is_revoked(const char *dir, const char *cn, bool *revoked)
{
    char *all = NULL;
    size_t len = 0;
    *revoked = false;
    HEARTH_GUARD(read_records(dir, FLEET_CA_REVOKED, &all, &len));
    size_t pos = 0;
    for (char *l = next_line(all, len, &pos); l != NULL; l = next_line(all, len, &pos))
        if (strcmp(l, cn) == 0) *revoked = true;
    free(all);
    return HEARTH_OK;
}

hearth_status fleet_ca_record_issue(const char *dir, const char *serial_hex, const char *cn,
                                    int64_t not_after)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%s %s %lld\n", serial_hex, cn, (long long)not_after);
    if (n < 0 || (size_t)n >= sizeof line) return hearth_err(HEARTH_ERR_INTERNAL, "issue record");
    return append_line(dir, FLEET_CA_ISSUED, line);
}

hearth_status fleet_ca_add_revoked(const char *dir, const char *cn)
{
    HEARTH_ENSURE(fleet_ca_valid_id(cn), hearth_err(HEARTH_ERR_INVALID, "not a device serial: '%.40s'", cn));
    bool already = false;
    HEARTH_GUARD(fleet_ca_is_revoked(dir, cn, &already));
    if (already) return HEARTH_OK;
    char line[HEARTH_ENROL_CN_MAX + 2];
    snprintf(line, sizeof line, "%s\n", cn);
    return append_line(dir, FLEET_CA_REVOKED, line);
}

/* One issued.log line: "<hex> <cn> <notAfter>"; false for anything else. */
static bool parse_issue(char *l, char **hex, char **cn, long long *na)
{
    char *s1 = strchr(l, ' ');
    if (s1 == NULL) return false;
    char *s2 = strchr(s1 + 1, ' ');
    if (s2 == NULL) return false;
    *s1 = '\0';
    *s2 = '\0';
    *hex = l;
    *cn = s1 + 1;
    size_t hl = strlen(*hex);
    if (hl == 0 || hl >= HEARTH_ENROL_SERIAL_HEX_MAX || strspn(*hex, "0123456789abcdef") != hl)
        return false;
    if (!fleet_ca_valid_id(*cn)) return false;
    char *end = NULL;
    errno = 0;
    *na = strtoll(s2 + 1, &end, 10);
    return errno == 0 && end != s2 + 1 && *end == '\0';
}

hearth_status fleet_ca_rebuild_crl(const char *dir, const char *crl_path, size_t *listed)
{
    char *issued = NULL, *revoked = NULL;
    size_t il = 0, rl = 0;
    *listed = 0;
    HEARTH_GUARD(read_records(dir, FLEET_CA_ISSUED, &issued, &il));
    hearth_status st = read_records(dir, FLEET_CA_REVOKED, &revoked, &rl);
    const char **serials = NULL;
    size_t n = 0, cap = 0;
    int64_t now = (int64_t)time(NULL);
    size_t pos = 0;
    for (char *l = st == HEARTH_OK ? next_line(issued, il, &pos) : NULL; l != NULL;
         l = next_line(issued, il, &pos)) {
        char *hex = NULL, *cn = NULL;
        long long na = 0;
        if (!parse_issue(l, &hex, &cn, &na)) {
            fprintf(stderr, "hearth-fleet: %s/%s: skipping a malformed line\n", dir, FLEET_CA_ISSUED);
            continue;
        }
        if (na < now) continue; /* expired: refused anyway, keeps the CRL short */
        /* Is cn a whole line of revoked.txt? */
        bool rev = false;
        size_t cl = strlen(cn);
        for (const char *p = revoked; !rev && (p = strstr(p, cn)) != NULL; p += cl)
            rev = (p == revoked || p[-1] == '\n') && (p[cl] == '\n' || p[cl] == '\0');
        if (!rev) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            const char **ns = realloc(serials, nc * sizeof *ns);
            if (ns == NULL) {
                st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
                break;
            }
            serials = ns;
            cap = nc;
        }
        serials[n++] = hex;
    }
    char def[4096];
    if (st == HEARTH_OK && crl_path == NULL) {
        st = path_in(def, sizeof def, dir, FLEET_CA_CRL);
        crl_path = def;
    }
    if (st == HEARTH_OK) st = hearth_service_ca_crl(dir, serials, n, FLEET_CA_CRL_VALID_S, crl_path);
    if (st == HEARTH_OK) *listed = n;
    free(serials);
    free(issued);
    free(revoked);
    return st;
}

/* One line (@p n bytes) of issued.log: droppable (parsed, expired before
 * @p cutoff), kept, or kept as unreadable. */
enum issue_fate { ISSUE_KEEP, ISSUE_DROP, ISSUE_ODD };

static enum issue_fate issue_fate(const char *l, size_t n, int64_t cutoff)
{
    char copy[192];
    if (n >= sizeof copy) return ISSUE_ODD;
    memcpy(copy, l, n);
    copy[n] = '\0';
    char *hex = NULL, *cn = NULL;
    long long na = 0;
    if (!parse_issue(copy, &hex, &cn, &na)) return ISSUE_ODD;
    return na < cutoff ? ISSUE_DROP : ISSUE_KEEP;
}

hearth_status fleet_ca_prune_issued(const char *dir, int64_t now, int64_t keep_s, size_t *kept, size_t *pruned,
                                    size_t *odd)
{
    *kept = *pruned = *odd = 0;
    HEARTH_ENSURE(keep_s >= 0, hearth_err(HEARTH_ERR_RANGE, "prune: negative retention"));
    char p[4096];
    HEARTH_GUARD(path_in(p, sizeof p, dir, FLEET_CA_ISSUED));
    if (hearth_fs_remove_stale_temps(dir, FLEET_CA_ISSUED))
        fprintf(stderr, "hearth-fleet: %s: removed the temporary file of an interrupted prune\n", p);
    char *all = NULL;
    size_t len = 0;
    HEARTH_GUARD(read_records(dir, FLEET_CA_ISSUED, &all, &len));
    /* Every kept line, each ending in a newline (a torn last line is kept
     * and ended, so the next append starts a line of its own). */
    char *out = malloc(len + 1);
    if (out == NULL) {
        free(all);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    size_t ol = 0, pos = 0;
    int64_t cutoff = now - keep_s;
    for (char *l = next_line(all, len, &pos); l != NULL; l = next_line(all, len, &pos)) {
        size_t n = strlen(l);
        enum issue_fate f = issue_fate(l, n, cutoff);
        if (f == ISSUE_DROP) {
            (*pruned)++;
            continue;
        }
        if (f == ISSUE_ODD) (*odd)++;
        else (*kept)++;
        memcpy(out + ol, l, n + 1); /* with its NUL, which the newline replaces */
        ol += n;
        out[ol++] = '\n';
    }
    free(all);
    hearth_status st = HEARTH_OK;
    if (*pruned > 0) st = hearth_fs_write_atomic(p, out, ol, 0600);
    free(out);
    return st;
}
