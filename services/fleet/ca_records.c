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

/* Whole file (absent: empty), NUL-terminated. */
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
    *out = (char *)buf;
    return st;
}

static hearth_status append_line(const char *dir, const char *name, const char *line)
{
    char p[4096];
    HEARTH_GUARD(path_in(p, sizeof p, dir, name));
    int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "%s: %s", p, strerror(errno));
    hearth_status st = hearth_fd_write_all(fd, line, strlen(line), p);
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
    char *save = NULL;
    for (char *l = strtok_r(all, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
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
    char *save = NULL;
    for (char *l = st == HEARTH_OK ? strtok_r(issued, "\n", &save) : NULL; l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
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
