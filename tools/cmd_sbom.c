/* `hearth sbom generate`: the CycloneDX 1.6 SBOM of a release, from the
 * programs' real link set (EN 303 645 5.2-3; docs/sbom.md).
 *
 * For each program: its SHA-256, and the shared libraries the dynamic loader
 * resolves for it (`ldd`, so the transitive closure and the very files
 * loaded), each resolved to the Debian package that ships it (`dpkg-query
 * -S`) and that package's version, architecture and source
 * (`dpkg-query -W`). Runs on the build machine, for programs of the build
 * machine's architecture (ldd runs the program's loader); a cross build
 * has no SBOM step (docs/sbom.md). */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "hearth/disclosure.h"
#include "hearth/sbom.h"
#include "hearth/util.h"

#define PROGRAMS_MAX 16
#define OUT_MAX (256 * 1024)

static void sbom_usage(FILE *f)
{
    fprintf(f,
        "usage: hearth sbom generate --out FILE --product NAME --version V\n"
        "                            [--distro debian-12] [--supplier NAME] PROGRAM...\n\n"
        "Writes the CycloneDX 1.6 JSON SBOM of a release: each PROGRAM with its SHA-256,\n"
        "and every shared library ldd resolves for it, as the Debian package that ships\n"
        "it (dpkg-query) with its version and a purl. --distro defaults to /etc/os-release\n"
        "(ID-VERSION_ID), --supplier to the manufacturer built into this program.\n"
        "SOURCE_DATE_EPOCH, when set, is the SBOM's timestamp.\n"
        "Exit: 0 written, 1 error, 2 usage.\n");
}

static int sfail(const char *what)
{
    return cli_fail("sbom", what);
}

/* Run argv with stdout captured into out (NUL-terminated, at most cap-1
 * bytes; more is an error). Returns the exit status, -1 if it could not run. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", 1 /* O_WRONLY */, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    size_t len = 0;
    bool over = false;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fds[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (len + (size_t)r >= cap) {
            over = true;
            continue;
        }
        memcpy(out + len, tmp, (size_t)r);
        len += (size_t)r;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (over) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The libraries' owners, in one dpkg-query -S call over every path and its
 * /usr-merged twin: lines "pkg:arch[, pkg2:arch]: PATH". */
typedef struct {
    char path[512];
    char pkg[256];
} lib_entry;

static bool resolve_owners(lib_entry *libs, size_t n)
{
    static char out[1 << 20];
    char *argv[2 * 512 + 3];
    static char alt[512][520];
    size_t a = 0;
    argv[a++] = (char *)"dpkg-query";
    argv[a++] = (char *)"-S";
    for (size_t i = 0; i < n; i++) {
        argv[a++] = libs[i].path;
        int w = strncmp(libs[i].path, "/usr/", 5) == 0
                    ? snprintf(alt[i], sizeof alt[i], "%s", libs[i].path + 4)
                    : snprintf(alt[i], sizeof alt[i], "/usr%s", libs[i].path);
        if (w < 0 || (size_t)w >= sizeof alt[i]) return false;
        argv[a++] = alt[i];
    }
    argv[a] = NULL;
    if (run_capture(argv, out, sizeof out) < 0) return false; /* 1: some twin not found */
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "diversion", 9) == 0) continue;
        char *sep = strstr(line, ": ");
        if (sep == NULL) continue;
        *sep = '\0';
        const char *path = sep + 2;
        char *comma = strchr(line, ',');
        if (comma != NULL) *comma = '\0';
        for (size_t i = 0; i < n; i++)
            if (libs[i].pkg[0] == '\0' && (strcmp(path, libs[i].path) == 0 || strcmp(path, alt[i]) == 0) &&
                strlen(line) < sizeof libs[i].pkg)
                snprintf(libs[i].pkg, sizeof libs[i].pkg, "%s", line);
    }
    return true;
}

/* Package facts: name, version, arch, source, source version. */
static bool package_facts(const char *pkg, hearth_sbom_component *c, const char *distro)
{
    char out[2048];
    char *argv[] = {(char *)"dpkg-query", (char *)"-W", (char *)"-f",
                    (char *)"${Package}\t${Version}\t${Architecture}\t${source:Package}\t"
                            "${source:Version}\n",
                    (char *)pkg, NULL};
    if (run_capture(argv, out, sizeof out) != 0) return false;
    char *f[5] = {0};
    char *p = out;
    for (int i = 0; i < 5; i++) {
        f[i] = p;
        p += strcspn(p, i < 4 ? "\t" : "\n");
        if (*p == '\0' && i < 4) return false;
        *p++ = '\0';
    }
    for (int i = 0; i < 5; i++)
        if (f[i][0] == '\0' || strlen(f[i]) >= HEARTH_SBOM_STR_MAX) return false;
    snprintf(c->name, sizeof c->name, "%s", f[0]);
    snprintf(c->version, sizeof c->version, "%s", f[1]);
    snprintf(c->arch, sizeof c->arch, "%s", f[2]);
    snprintf(c->source, sizeof c->source, "%s", f[3]);
    snprintf(c->source_version, sizeof c->source_version, "%s", f[4]);
    return hearth_sbom_deb_purl(c->name, c->version, c->arch, distro, c->purl, sizeof c->purl) ==
           HEARTH_OK;
}

static void os_distro(char *out, size_t cap)
{
    char id[64] = "", ver[64] = "";
    FILE *f = fopen("/etc/os-release", "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '=');
        if (v == NULL) continue;
        *v++ = '\0';
        if (*v == '"') v++;
        v[strcspn(v, "\"")] = '\0';
        if (strcmp(line, "ID") == 0) snprintf(id, sizeof id, "%s", v);
        if (strcmp(line, "VERSION_ID") == 0) snprintf(ver, sizeof ver, "%s", v);
    }
    if (f != NULL) (void)fclose(f); /* read only */
    snprintf(out, cap, "%s%s%s", id, id[0] && ver[0] ? "-" : "", ver);
}

static int sbom_generate(int argc, char **argv)
{
    const char *out = NULL, *product = NULL, *version = NULL, *distro_opt = NULL,
               *supplier = NULL, *programs[PROGRAMS_MAX];
    size_t np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--out") == 0 && has) out = argv[++i];
        else if (strcmp(a, "--product") == 0 && has) product = argv[++i];
        else if (strcmp(a, "--version") == 0 && has) version = argv[++i];
        else if (strcmp(a, "--distro") == 0 && has) distro_opt = argv[++i];
        else if (strcmp(a, "--supplier") == 0 && has) supplier = argv[++i];
        else if (a[0] != '-' && np < PROGRAMS_MAX) programs[np++] = a;
        else {
            sbom_usage(stderr);
            return 2;
        }
    }
    if (out == NULL || product == NULL || version == NULL || np == 0) {
        sbom_usage(stderr);
        return 2;
    }
    hearth_manufacturer mfr;
    if (supplier == NULL) {
        if (hearth_manufacturer_builtin(&mfr) != HEARTH_OK) return sfail("manufacturer configuration");
        supplier = mfr.manufacturer;
    }
    char distro[128];
    if (distro_opt != NULL)
        snprintf(distro, sizeof distro, "%s", distro_opt);
    else
        os_distro(distro, sizeof distro);

    static hearth_sbom_component comps[HEARTH_SBOM_COMPONENTS_MAX];
    size_t n = 0;
    for (size_t p = 0; p < np; p++) {
        hearth_sbom_component *c = &comps[n++];
        memset(c, 0, sizeof *c);
        const char *base = strrchr(programs[p], '/');
        snprintf(c->name, sizeof c->name, "%s", base ? base + 1 : programs[p]);
        snprintf(c->version, sizeof c->version, "%s", version);
        int w = snprintf(c->purl, sizeof c->purl, "pkg:generic/hearth/%s@%s", c->name, c->version);
        if (w < 0 || (size_t)w >= sizeof c->purl || strlen(version) >= sizeof c->version) {
            fprintf(stderr, "hearth sbom: program name or version too long\n");
            return 2;
        }
        if (hearth_sbom_file_sha256(programs[p], c->sha256) != HEARTH_OK) return sfail(programs[p]);
    }
    static lib_entry libs[512];
    static uint8_t uses[PROGRAMS_MAX][512];
    size_t nl = 0;
    for (size_t p = 0; p < np; p++) {
        static char ldd[65536];
        char *av[] = {(char *)"ldd", (char *)programs[p], NULL};
        if (run_capture(av, ldd, sizeof ldd) != 0) {
            fprintf(stderr, "hearth sbom: ldd %s failed (not a dynamic program of this "
                            "architecture?)\n", programs[p]);
            return 1;
        }
        char *save = NULL;
        for (char *line = strtok_r(ldd, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
            while (*line == '\t' || *line == ' ') line++;
            if (strstr(line, "not found") != NULL) {
                fprintf(stderr, "hearth sbom: %s: %s\n", programs[p], line);
                return 1;
            }
            char *path = strstr(line, "=> ");
            path = path != NULL ? path + 3 : (line[0] == '/' ? line : NULL);
            if (path == NULL) continue; /* linux-vdso: part of the kernel */
            char *sp = strstr(path, " (");
            if (sp != NULL) *sp = '\0';
            size_t k = 0;
            while (k < nl && strcmp(libs[k].path, path) != 0) k++;
            if (k == nl) {
                if (nl == 512 || strlen(path) >= sizeof libs[0].path) {
                    fprintf(stderr, "hearth sbom: too many libraries or too long a path\n");
                    return 1;
                }
                snprintf(libs[nl].path, sizeof libs[nl].path, "%s", path);
                libs[nl++].pkg[0] = '\0';
            }
            uses[p][k] = 1;
        }
    }
    if (nl > 0 && !resolve_owners(libs, nl)) return sfail("dpkg-query -S");
    for (size_t k = 0; k < nl; k++) {
        if (libs[k].pkg[0] == '\0') {
            fprintf(stderr, "hearth sbom: %s is loaded, but no Debian package ships it\n",
                    libs[k].path);
            return 1;
        }
        static size_t comp_of[512];
        size_t j = n;
        for (size_t q = 0; q < k && j == n; q++)
            if (strcmp(libs[q].pkg, libs[k].pkg) == 0) j = comp_of[q];
        if (j == n) {
            hearth_sbom_component c;
            memset(&c, 0, sizeof c);
            if (!package_facts(libs[k].pkg, &c, distro)) {
                fprintf(stderr, "hearth sbom: cannot read the facts of package %s\n", libs[k].pkg);
                return 1;
            }
            if (n == HEARTH_SBOM_COMPONENTS_MAX) {
                fprintf(stderr, "hearth sbom: more than %d components\n", HEARTH_SBOM_COMPONENTS_MAX);
                return 1;
            }
            comps[n++] = c;
        }
        comp_of[k] = j;
        for (size_t p = 0; p < np; p++)
            if (uses[p][k] && j < 64) comps[p].depends |= UINT64_C(1) << j;
    }
    uint8_t serial[16];
    for (size_t i = 0; i < sizeof serial; i++) {
        uint32_t v;
        if (hearth_random_uniform(256, &v) != HEARTH_OK) return sfail("random");
        serial[i] = (uint8_t)v;
    }
    int64_t ts = hearth_time_now();
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    uint64_t sdev = 0;
    if (sde != NULL && cli_parse_u64(sde, 10, &sdev) && sdev < (uint64_t)INT64_MAX) ts = (int64_t)sdev;
    hearth_sbom_spec spec = {.product = product, .version = version, .supplier = supplier,
                             .distro = distro, .timestamp = ts, .serial = serial,
                             .components = comps, .n = n};
    char *json = NULL;
    size_t len = 0;
    if (hearth_sbom_build(&spec, &json, &len) != HEARTH_OK) return sfail("build");
    hearth_status st = hearth_fs_write_atomic(out, json, len, 0644);
    free(json);
    if (st != HEARTH_OK) return sfail(out);
    printf("%s: CycloneDX 1.6 SBOM of %s %s: %zu program(s), %zu Debian package(s)\n", out,
           product, version, np, n - np);
    return 0;
}

int hearth_cmd_sbom(int argc, char **argv)
{
    static const cli_sub subs[] = {{"generate", sbom_generate}};
    return cli_dispatch("sbom", sbom_usage, subs, sizeof subs / sizeof subs[0], argc, argv);
}
