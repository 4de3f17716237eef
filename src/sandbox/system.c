/* The read-only system paths a dynamically linked program needs under
 * Landlock (include/hearth/sandbox.h): one list, shared by every program's
 * policy, so a new glibc or OpenSSL need is fixed in one place. */
#include <elf.h>
#include <link.h>
#include <string.h>

#include "hearth/sandbox.h"

/* PT_INTERP of the main program (the first object dl_iterate_phdr reports). */
static char interp[256];

static int find_interp(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_INTERP) continue;
        const char *s = (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        size_t n = strnlen(s, sizeof interp);
        if (n < sizeof interp) memcpy(interp, s, n + 1);
    }
    return 1; /* the main program only */
}

static const hearth_sandbox_path system_paths[] = {
    {"/usr/lib", HEARTH_SANDBOX_READ},
    {"/lib", HEARTH_SANDBOX_READ},
    {"/lib64", HEARTH_SANDBOX_READ},
    {"/usr/lib64", HEARTH_SANDBOX_READ},
    {"/usr/local/lib", HEARTH_SANDBOX_READ},
    {"/etc/ld.so.cache", HEARTH_SANDBOX_READ},
    {"/etc/nsswitch.conf", HEARTH_SANDBOX_READ},
    {"/etc/hosts", HEARTH_SANDBOX_READ},
    {"/etc/host.conf", HEARTH_SANDBOX_READ},
    {"/etc/resolv.conf", HEARTH_SANDBOX_READ},
    {"/etc/gai.conf", HEARTH_SANDBOX_READ},
    {"/etc/services", HEARTH_SANDBOX_READ},
    {"/etc/localtime", HEARTH_SANDBOX_READ},
    {"/usr/share/zoneinfo", HEARTH_SANDBOX_READ},
    {"/etc/ssl/openssl.cnf", HEARTH_SANDBOX_READ},
    {"/dev/urandom", HEARTH_SANDBOX_READ},
    {"/dev/null", HEARTH_SANDBOX_READ | HEARTH_SANDBOX_WRITE},
    {"/proc/self", HEARTH_SANDBOX_READ},
    {"/sys/devices/system/cpu", HEARTH_SANDBOX_READ},
#ifdef HEARTH_SANITIZER_BUILD
    /* Sanitizer builds only: the ASan runtime of a program started later
     * (hearth-boot's slot program) reads its own /proc/<pid>/maps at
     * start, and "/proc/self" above names this process's directory, not
     * the child's. A shipped build has no such runtime and no such rule. */
    {"/proc", HEARTH_SANDBOX_READ},
#endif
};

size_t hearth_sandbox_system_paths(hearth_sandbox_path *out, size_t cap)
{
    size_t n = sizeof system_paths / sizeof system_paths[0];
    if (out == NULL || cap < n + 1) return 0;
    memcpy(out, system_paths, sizeof system_paths);
    if (interp[0] == '\0') dl_iterate_phdr(find_interp, NULL);
    if (interp[0] != '\0') out[n++] = (hearth_sandbox_path){interp, HEARTH_SANDBOX_EXEC};
    return n;
}

/* Directories of option values, for hearth_sandbox_option_dirs(). */
#define OPTION_DIRS_MAX 48
static char option_dirs[OPTION_DIRS_MAX][4096];
static size_t n_option_dirs;

void hearth_sandbox_option_dirs(int argc, char *const *argv, const char *option,
                                hearth_sandbox_path *out, size_t cap, size_t *n)
{
    for (int i = option != NULL ? 1 : 0; i < argc && *n < cap && n_option_dirs < OPTION_DIRS_MAX;
         i++) {
        if (option != NULL && (strcmp(argv[i], option) != 0 || i + 1 >= argc)) continue;
        const char *v = option != NULL ? argv[++i] : argv[i];
        const char *eq = strchr(v, '=');
        if (eq != NULL && v[0] != '/') v = eq + 1;
        const char *slash = strrchr(v, '/');
        if (v[0] != '/' || slash == v || (size_t)(slash - v) >= sizeof option_dirs[0]) continue;
        char *d = option_dirs[n_option_dirs++];
        memcpy(d, v, (size_t)(slash - v));
        d[slash - v] = '\0';
        out[(*n)++] = (hearth_sandbox_path){d, HEARTH_SANDBOX_READ | HEARTH_SANDBOX_WRITE};
    }
}
