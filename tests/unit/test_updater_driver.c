/* hearth-update-driver: drives the updater library from the update
 * integration, fault and bench scripts (it is not a ctest test itself).
 *
 * It also builds test fixtures through the bundle library (keys, key sets,
 * valid and deliberately malformed bundles) at test time, so no key is ever
 * committed, and performs the boot decision the way hearth-boot does so the
 * fault test can assert "the device would start a valid signed slot".
 *
 * Every command prints one "key=value ..." result line on stdout and exits
 * 0 on success, 1 on failure, 2 on usage errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/bundle.h"
#include "hearth/identity.h"
#include "hearth/slots.h"
#include "hearth/thermostat.h"
#include "hearth/updater.h"
#include "hearth/util.h"

#define PASS_DEFAULT "test-passphrase-not-secret"

static const char *pass(void)
{
    const char *p = getenv("HEARTH_TEST_KEY_PASS");
    return p != NULL && *p ? p : PASS_DEFAULT;
}

static int fail(const char *what, hearth_status st)
{
    fprintf(stderr, "hearth-update-driver: %s: %s: %s\n", what, hearth_status_name(st), hearth_err_msg());
    printf("result=error what=\"%s\" status=%s\n", what, hearth_status_name(st));
    return 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: hearth-update-driver CMD ...\n"
            "  keygen PRIV PUB [ed25519|p256]\n"
            "  keyset OUT VERSION EXPIRES_IN_S ROOT_PRIV [+active.pub|-revoked.pub]...\n"
            "  bundle OUT [options] name=path...   (--key K|--unsigned --model --hw-id --version\n"
            "         --secver --expires-in --created-ago --chunk --notes --mitigates --disruptive --downtime)\n"
            "  prefix BUNDLE OUT\n"
            "  factory STATE BUNDLE   (STATE/../trust/ and STATE/keyset.hks in place)\n"
            "  check STATE URL [policy|check|install] [--swap-before-install] [--attempts N]\n"
            "        [--stall S] [--max-size N] [--pin PIN] [--fetch-socket PATH] [--notice S]\n"
            "  policy STATE on|off POSTPONE_HOURS\n"
            "  status STATE\n"
            "  upload STATE BUNDLE [CHUNK]\n"
            "  confirm STATE\n"
            "  bootcheck STATE [persist]\n"
            "  run STATE URL SECONDS PERIOD_S FIRST_DELAY_S FIRST_WINDOW_S\n");
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0') return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0') return false;
    *out = v;
    return true;
}

/* ---------------------------------------------------------- fixtures */

static int cmd_keygen(int argc, char **argv)
{
    if (argc < 3) return usage();
    hearth_sig_alg alg = (argc > 3 && strcmp(argv[3], "p256") == 0) ? HEARTH_SIG_ECDSA_P256_SHA256
                                                                    : HEARTH_SIG_ED25519;
    hearth_key *k = NULL;
    hearth_status st = hearth_key_generate(alg, &k);
    if (st == HEARTH_OK) st = hearth_key_write_private(k, argv[1], pass(), strlen(pass()));
    if (st == HEARTH_OK) st = hearth_key_write_public(k, argv[2]);
    hearth_key_free(k);
    if (st != HEARTH_OK) return fail("keygen", st);
    printf("result=ok\n");
    return 0;
}

static int cmd_keyset(int argc, char **argv)
{
    if (argc < 6) return usage();
    uint64_t version = 0, expires_in = 0;
    if (!parse_u64(argv[2], &version) || !parse_u64(argv[3], &expires_in)) return usage();
    hearth_key *root = NULL;
    hearth_key *keys[HEARTH_KEYSET_KEYS_MAX] = {0};
    hearth_key_status kst[HEARTH_KEYSET_KEYS_MAX];
    size_t n = 0;
    hearth_buf out = {0};
    hearth_status st = hearth_key_load_private(argv[4], pass(), strlen(pass()), &root);
    for (int i = 5; st == HEARTH_OK && i < argc && n < HEARTH_KEYSET_KEYS_MAX; i++) {
        kst[n] = argv[i][0] == '-' ? HEARTH_KEY_REVOKED : HEARTH_KEY_ACTIVE;
        st = hearth_key_load_public(argv[i] + 1, &keys[n]);
        if (st == HEARTH_OK) n++;
    }
    if (st == HEARTH_OK) {
        const hearth_key *roots[1] = {root};
        st = hearth_keyset_create(version, hearth_time_now() + (int64_t)expires_in,
                                  (const hearth_key *const *)keys, kst, n, roots, 1, &out);
    }
    if (st == HEARTH_OK) st = hearth_fs_write_atomic(argv[1], out.data, out.len, 0644);
    hearth_buf_free(&out);
    for (size_t i = 0; i < n; i++) hearth_key_free(keys[i]);
    hearth_key_free(root);
    if (st != HEARTH_OK) return fail("keyset", st);
    printf("result=ok version=%llu\n", (unsigned long long)version);
    return 0;
}

static int cmd_bundle(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *out = argv[1];
    const char *keyp = NULL;
    bool unsigned_ = false;
    hearth_bundle_spec spec = {.model = "hearth-thermostat", .hw_id = "hw1", .sw_version = "1.0.0",
                               .security_version = 1, .notes = "test release",
                               .mitigates = "", .downtime_s = 5};
    uint64_t expires_in = 30 * 86400, created_ago = 0, v = 0;
    hearth_bundle_input in[HEARTH_BUNDLE_PAYLOADS_MAX];
    size_t nin = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--key") == 0 && val) keyp = argv[++i];
        else if (strcmp(a, "--unsigned") == 0) unsigned_ = true;
        else if (strcmp(a, "--model") == 0 && val) spec.model = argv[++i];
        else if (strcmp(a, "--hw-id") == 0 && val) spec.hw_id = argv[++i];
        else if (strcmp(a, "--version") == 0 && val) spec.sw_version = argv[++i];
        else if (strcmp(a, "--secver") == 0 && val && parse_u64(val, &v)) { spec.security_version = v; i++; }
        else if (strcmp(a, "--expires-in") == 0 && val && parse_u64(val, &expires_in)) i++;
        else if (strcmp(a, "--created-ago") == 0 && val && parse_u64(val, &created_ago)) i++;
        else if (strcmp(a, "--chunk") == 0 && val && parse_u64(val, &v)) { spec.chunk_size = (uint32_t)v; i++; }
        else if (strcmp(a, "--notes") == 0 && val) spec.notes = argv[++i];
        else if (strcmp(a, "--mitigates") == 0 && val) spec.mitigates = argv[++i];
        else if (strcmp(a, "--sbom") == 0 && val) { /* docs/sbom.md; kept until exit */
            static uint8_t *sb;
            if (hearth_fs_read_file(argv[++i], HEARTH_BUNDLE_SBOM_MAX, &sb, &spec.sbom_len) != HEARTH_OK) return 2;
            spec.sbom = (const char *)sb;
        }
        else if (strcmp(a, "--disruptive") == 0) spec.disruptive = true;
        else if (strcmp(a, "--downtime") == 0 && val && parse_u64(val, &v)) { spec.downtime_s = (uint32_t)v; i++; }
        else if (strchr(a, '=') != NULL && nin < HEARTH_BUNDLE_PAYLOADS_MAX) {
            char *eq = strchr(a, '=');
            *eq = '\0';
            in[nin].name = a;
            in[nin].path = eq + 1;
            nin++;
        } else {
            fprintf(stderr, "bad bundle option %s\n", a);
            return usage();
        }
    }
    int64_t now = hearth_time_now();
    spec.created = now - (int64_t)created_ago;
    /* --expires-in is relative to creation so an "expired" bundle is
     * created in the past: --created-ago 7200 --expires-in 3600. */
    spec.expires = spec.created + (int64_t)expires_in;
    spec.payloads = in;
    spec.payload_count = nin;
    hearth_status st = hearth_bundle_create(&spec, out);
    if (st != HEARTH_OK) return fail("bundle create", st);
    if (!unsigned_) {
        if (keyp == NULL) return usage();
        hearth_key *k = NULL;
        st = hearth_key_load_private(keyp, pass(), strlen(pass()), &k);
        if (st == HEARTH_OK) {
            const hearth_key *ks[1] = {k};
            st = hearth_bundle_sign(out, ks, 1);
        }
        hearth_key_free(k);
        if (st != HEARTH_OK) return fail("bundle sign", st);
    }
    hearth_bundle *b = NULL;
    st = hearth_bundle_open_unverified(out, &b);
    if (st != HEARTH_OK) return fail("bundle reopen", st);
    printf("result=ok prefix=%zu total=%llu\n", hearth_bundle_prefix_size(b),
           (unsigned long long)hearth_bundle_total_size(b));
    hearth_bundle_free(b);
    return 0;
}

static int copy_range(const char *src, const char *dst, uint64_t len)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL) return -1;
    FILE *out = fopen(dst, "wb");
    if (out == NULL) {
        fclose(in);
        return -1;
    }
    uint8_t buf[65536];
    int rc = 0;
    while (len > 0) {
        size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
        size_t r = fread(buf, 1, want, in);
        if (r == 0 || fwrite(buf, 1, r, out) != r) {
            rc = -1;
            break;
        }
        len -= r;
    }
    if (fclose(out) != 0) rc = -1;
    fclose(in);
    return rc;
}

static int cmd_prefix(int argc, char **argv)
{
    if (argc < 3) return usage();
    hearth_bundle *b = NULL;
    hearth_status st = hearth_bundle_open_unverified(argv[1], &b);
    if (st != HEARTH_OK) return fail("open bundle", st);
    size_t p = hearth_bundle_prefix_size(b);
    hearth_bundle_free(b);
    if (copy_range(argv[1], argv[2], p) != 0) return fail("copy prefix", HEARTH_ERR_IO);
    printf("result=ok prefix=%zu\n", p);
    return 0;
}

/* The test device's trust anchor: "trust" next to the state directory,
 * never inside it (the library default is the build's HEARTH_TRUST_DIR). */
static char g_trust[PATH_MAX];

static hearth_status trust_of(const char *state, char *out, size_t cap)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s", state);
    if (n < 0 || (size_t)n >= sizeof tmp) return HEARTH_ERR_TOO_LARGE;
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    char *slash = strrchr(tmp, '/');
    const char *parent = ".";
    if (slash == tmp) parent = "/";
    else if (slash != NULL) {
        *slash = '\0';
        parent = tmp;
    }
    return hearth_path_join(out, cap, parent, "trust");
}

/* Factory install: with STATE/../trust/ and STATE/keyset.hks in place (the
 * script copies them), the bundle into slot A and the boot state
 * initialised (what `hearth slot install` does). */
static int cmd_factory(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *state = argv[1];
    char trust[PATH_MAX], ksp[PATH_MAX];
    hearth_status st = trust_of(state, trust, sizeof trust);
    if (st == HEARTH_OK) st = hearth_path_join(ksp, sizeof ksp, state, "keyset.hks");
    if (st != HEARTH_OK) return fail("paths", st);
    hearth_trust *t = NULL;
    hearth_keyset *ks = NULL;
    hearth_bundle *b = NULL;
    hearth_slots *s = NULL;
    st = hearth_trust_load_dir(trust, &t);
    if (st == HEARTH_OK) st = hearth_keyset_load(ksp, t, 0, 0, &ks);
    if (st == HEARTH_OK) st = hearth_bundle_open(argv[2], ks, &b);
    if (st == HEARTH_OK) st = hearth_slots_open(state, &s);
    char slot_dir[PATH_MAX];
    if (st == HEARTH_OK) st = hearth_slots_path(s, HEARTH_SLOT_A, slot_dir, sizeof slot_dir);
    if (st == HEARTH_OK) st = hearth_bundle_extract_verified(b, slot_dir, NULL, NULL);
    if (st == HEARTH_OK) {
        const hearth_manifest *m = hearth_bundle_manifest(b);
        st = hearth_slots_init(s, HEARTH_SLOT_A, m->sw_version, m->security_version);
    }
    hearth_slots_close(s);
    hearth_bundle_free(b);
    hearth_keyset_free(ks);
    hearth_trust_free(t);
    if (st != HEARTH_OK) return fail("factory install", st);
    printf("result=ok slot=a\n");
    return 0;
}

/* ------------------------------------------------------------ updater */

static hearth_device *g_dev;
static pthread_mutex_t g_store_lock = PTHREAD_MUTEX_INITIALIZER;

static int open_device(const char *state)
{
    char log[PATH_MAX];
    if (hearth_path_join(log, sizeof log, state, "events.log") != HEARTH_OK ||
        hearth_seclog_open(log) != HEARTH_OK)
        return fail("event log", HEARTH_ERR_IO);
    hearth_status st = trust_of(state, g_trust, sizeof g_trust);
    if (st != HEARTH_OK) return fail("trust path", st);
    st = hearth_device_open(state, &g_dev);
    if (st != HEARTH_OK) return fail("device open", st);
    return 0;
}

/* Test hook: flip one byte of the staged bundle's last payload byte region
 * after verification, before installation. */
static void swap_hook(const char *path, void *arg)
{
    (void)arg;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
        uint8_t c;
        off_t off = sb.st_size - 1;
        if (pread(fd, &c, 1, off) == 1) {
            c ^= 0xff;
            if (pwrite(fd, &c, 1, off) == 1) fprintf(stderr, "test hook: flipped byte at %lld\n", (long long)off);
        }
    }
    close(fd);
}

/* Peak resident set size of this process (kB), for bench_update.sh. */
static long vmhwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static void print_result(const hearth_update_result *r, hearth_status st)
{
    printf("result=%s outcome=%s status=%s bytes=%llu resumed_from=%llu attempts=%u version=%s "
           "secver=%llu disruptive=%d downtime=%u reason=\"%s\"\n",
           st == HEARTH_OK ? "ok" : "error", hearth_update_outcome_name(r->outcome),
           hearth_status_name(r->status), (unsigned long long)r->bytes_downloaded,
           (unsigned long long)r->resumed_from, r->attempts,
           r->info.present ? r->info.sw_version : "", (unsigned long long)r->info.security_version,
           r->info.disruptive ? 1 : 0, r->info.downtime_s, r->reason);
    printf("vmhwm_kb=%ld\n", vmhwm_kb());
}

static int cmd_check(int argc, char **argv)
{
    if (argc < 3) return usage();
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = g_trust;
    cfg.repo_url = argv[2];
    cfg.store_lock = &g_store_lock;
    /* One check per run: a disruptive update is announced and installed in
     * the same check unless --notice S asks for the device's waiting. */
    cfg.disruptive_notice_s = 0;
    hearth_update_mode mode = HEARTH_UPD_MODE_POLICY;
    uint64_t v;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "policy") == 0) mode = HEARTH_UPD_MODE_POLICY;
        else if (strcmp(argv[i], "check") == 0) mode = HEARTH_UPD_MODE_CHECK_ONLY;
        else if (strcmp(argv[i], "install") == 0) mode = HEARTH_UPD_MODE_INSTALL;
        else if (strcmp(argv[i], "--swap-before-install") == 0) cfg.test_before_install = swap_hook;
        else if (strcmp(argv[i], "--notice") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v) && v <= UINT32_MAX) {
            cfg.disruptive_notice_s = (uint32_t)v;
            i++;
        }
        else if (strcmp(argv[i], "--attempts") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v)) {
            cfg.download_attempts = (uint32_t)v;
            i++;
        } else if (strcmp(argv[i], "--stall") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v)) {
            cfg.stall_timeout_s = (uint32_t)v;
            i++;
        } else if (strcmp(argv[i], "--max-size") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v)) {
            cfg.max_bundle_size = v;
            i++;
        } else if (strcmp(argv[i], "--pin") == 0 && i + 1 < argc) {
            cfg.pinned_pubkey = argv[++i];
        } else if (strcmp(argv[i], "--fetch-socket") == 0 && i + 1 < argc) {
            cfg.fetch_socket = argv[++i];
        } else return usage();
    }
    if (open_device(argv[1]) != 0) return 1;
    hearth_updater *u = NULL;
    hearth_status st = hearth_updater_create(g_dev, &cfg, &u);
    if (st != HEARTH_OK) return fail("updater create", st);
    hearth_update_result r;
    st = hearth_updater_check(u, mode, &r);
    print_result(&r, st);
    hearth_updater_destroy(u);
    hearth_device_close(g_dev);
    return st == HEARTH_OK ? 0 : 1;
}

static int cmd_policy(int argc, char **argv)
{
    if (argc < 4) return usage();
    uint64_t hours = 0;
    if (!parse_u64(argv[3], &hours) || hours > UINT32_MAX) return usage();
    if (open_device(argv[1]) != 0) return 1;
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = g_trust;
    hearth_updater *u = NULL;
    hearth_status st = hearth_updater_create(g_dev, &cfg, &u);
    if (st == HEARTH_OK) st = hearth_updater_set_policy(u, strcmp(argv[2], "on") == 0, (uint32_t)hours, "test");
    hearth_updater_destroy(u);
    hearth_device_close(g_dev);
    if (st != HEARTH_OK) return fail("policy", st);
    printf("result=ok\n");
    return 0;
}

static int cmd_status(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (open_device(argv[1]) != 0) return 1;
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = g_trust;
    hearth_updater *u = NULL;
    static char buf[16384];
    hearth_status st = hearth_updater_create(g_dev, &cfg, &u);
    if (st == HEARTH_OK) st = hearth_updater_status_json(u, true, buf, sizeof buf);
    hearth_updater_destroy(u);
    hearth_device_close(g_dev);
    if (st != HEARTH_OK) return fail("status", st);
    printf("%s\n", buf);
    return 0;
}

static int cmd_upload(int argc, char **argv)
{
    if (argc < 3) return usage();
    uint64_t chunk = 65536;
    if (argc > 3 && (!parse_u64(argv[3], &chunk) || chunk == 0 || chunk > (1u << 24))) return usage();
    if (open_device(argv[1]) != 0) return 1;
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = g_trust;
    cfg.store_lock = &g_store_lock;
    hearth_updater *u = NULL;
    hearth_status st = hearth_updater_create(g_dev, &cfg, &u);
    if (st != HEARTH_OK) return fail("updater create", st);
    FILE *f = fopen(argv[2], "rb");
    struct stat sb;
    if (f == NULL || fstat(fileno(f), &sb) != 0) return fail("open bundle", HEARTH_ERR_IO);
    hearth_update_upload *up = NULL;
    hearth_update_result r;
    memset(&r, 0, sizeof r);
    st = hearth_updater_upload_begin(u, (uint64_t)sb.st_size, "test", &up);
    uint8_t *buf = malloc((size_t)chunk);
    while (st == HEARTH_OK && buf != NULL) {
        size_t n = fread(buf, 1, (size_t)chunk, f);
        if (n == 0) break;
        st = hearth_updater_upload_write(up, buf, n);
    }
    if (up != NULL) {
        hearth_status fs = hearth_updater_upload_finish(up, &r);
        if (st == HEARTH_OK) st = fs;
    }
    free(buf);
    fclose(f);
    if (r.status == HEARTH_OK && st != HEARTH_OK) r.status = st;
    print_result(&r, st);
    hearth_updater_destroy(u);
    hearth_device_close(g_dev);
    return st == HEARTH_OK ? 0 : 1;
}

static int cmd_confirm(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (open_device(argv[1]) != 0) return 1;
    /* The thermostat application, registered as hearthd registers it
     * (settings in memory: this is a separate process from any hearthd). */
    static const hearth_app *const apps[] = {&hearth_thermostat_app};
    hearth_apps *ap = NULL;
    hearth_status st = hearth_apps_open(apps, 1, NULL, NULL, NULL, NULL, &ap);
    if (st == HEARTH_OK) st = hearth_apps_start(ap);
    bool confirmed = false;
    if (st == HEARTH_OK) {
        hearth_update_selftest t = {.store = hearth_device_store(g_dev), .store_lock = &g_store_lock,
                                    .https_port = 0, .apps = ap, .timeout_ms = 3000};
        st = hearth_updater_confirm_if_pending(argv[1], &t, &confirmed);
    }
    hearth_apps_close(ap);
    hearth_device_close(g_dev);
    if (st != HEARTH_OK) return fail("confirm", st);
    printf("result=ok confirmed=%d\n", confirmed ? 1 : 0);
    return 0;
}

/* The boot decision: the library's hearth_boot_decide(), the very function
 * hearth-boot calls before every launch (no copy of it here). Without
 * "persist" it decides and verifies as hearth-boot --verify-only does
 * (writes no state); with "persist" it also records the decision as
 * hearth-boot does before launching (a trial attempt spent, booted = slot).
 * The chosen slot is then verified once more on its own, independently of
 * the decision, and the secure store must still open. */
static int cmd_bootcheck(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *state = argv[1];
    bool persist = argc > 2 && strcmp(argv[2], "persist") == 0;
    char trust[PATH_MAX], ksp[PATH_MAX];
    hearth_status st = trust_of(state, trust, sizeof trust);
    if (st == HEARTH_OK) st = hearth_path_join(ksp, sizeof ksp, state, "keyset.hks");
    char log[PATH_MAX];
    if (st == HEARTH_OK) st = hearth_path_join(log, sizeof log, state, "events.log");
    if (st == HEARTH_OK) st = hearth_seclog_open(log); /* alerts land where hearth-boot's do */
    hearth_slots *s = NULL;
    if (st == HEARTH_OK) st = hearth_slots_open(state, &s);
    if (st != HEARTH_OK) return fail("bootcheck setup", st);
    /* Device identity as hearth-boot takes it: the authenticated device
     * configuration hearth_slots_open() loaded. */
    const hearth_device_config *cfg = hearth_slots_device_config(s);
    hearth_device *dev = NULL;
    hearth_status dst = hearth_device_open(state, &dev);
    hearth_boot_opts o = {.trust_dir = trust, .keyset_path = ksp,
                          .model = cfg->model,
                          .hw_id = cfg->hw_id,
                          .program = "hearthd", .threads = 1, .verify_only = !persist};
    hearth_boot_decision d;
    st = hearth_boot_decide(s, &o, &d);
    if (st != HEARTH_OK) fprintf(stderr, "bootcheck: decision failed: %s\n", hearth_err_msg());
    int chosen = st == HEARTH_OK && d.choice.action != HEARTH_BOOT_RECOVERY ? d.choice.slot
                                                                            : HEARTH_SLOT_NONE;
    int rc = 1;
    char version[HEARTH_BUNDLE_ID_MAX + 1] = "";
    if (chosen != HEARTH_SLOT_NONE && d.program_fd >= 0) {
        /* Independent check: the chosen slot verifies on its own with the
         * same key set, whatever path chose it. */
        hearth_trust *t = NULL;
        hearth_keyset *ks = NULL;
        hearth_manifest *m = NULL;
        hearth_bundle_policy pol = {.model = o.model, .hw_id = o.hw_id, .ignore_expiry = true};
        char p[PATH_MAX];
        if (hearth_trust_load_dir(trust, &t) == HEARTH_OK &&
            hearth_keyset_load(ksp, t, 0, 0, &ks) == HEARTH_OK &&
            hearth_slots_path(s, chosen, p, sizeof p) == HEARTH_OK &&
            hearth_slot_verify_dir(p, ks, &pol, 1, &m) == HEARTH_OK &&
            strcmp(m->sw_version, d.version) == 0) {
            snprintf(version, sizeof version, "%s", m->sw_version);
            rc = 0;
        }
        hearth_manifest_free(m);
        hearth_keyset_free(ks);
        hearth_trust_free(t);
    }
    printf("result=%s slot=%s version=%s mode=%s safe=%d written=%d store=%s\n",
           rc == 0 ? "ok" : "error", hearth_slot_name(chosen), version,
           st == HEARTH_OK ? hearth_boot_action_name(d.choice.action) : "error",
           d.state_missing || d.state_tampered ? 1 : 0, d.written ? 1 : 0,
           dst == HEARTH_OK ? "ok" : hearth_status_name(dst));
    if (dst != HEARTH_OK) rc = 1;
    hearth_boot_decision_clear(&d);
    hearth_device_close(dev);
    hearth_slots_close(s);
    return rc;
}

/* Run the updater thread for a while (scheduling tests, bench). */
static volatile sig_atomic_t g_restart;
static void on_restart(void *arg)
{
    (void)arg;
    g_restart = 1;
}

static int cmd_run(int argc, char **argv)
{
    if (argc < 7) return usage();
    uint64_t secs, period, delay, window;
    if (!parse_u64(argv[3], &secs) || !parse_u64(argv[4], &period) || !parse_u64(argv[5], &delay) ||
        !parse_u64(argv[6], &window))
        return usage();
    if (open_device(argv[1]) != 0) return 1;
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = g_trust;
    cfg.repo_url = argv[2];
    cfg.store_lock = &g_store_lock;
    cfg.period_s = (uint32_t)period;
    cfg.first_delay_s = (uint32_t)delay;
    cfg.first_window_s = (uint32_t)window;
    cfg.disruptive_notice_s = 0; /* as check: announced and installed at once */
    cfg.on_restart = on_restart;
    hearth_updater *u = NULL;
    hearth_status st = hearth_updater_create(g_dev, &cfg, &u);
    if (st == HEARTH_OK) st = hearth_updater_start(u);
    if (st != HEARTH_OK) return fail("updater start", st);
    int64_t end = hearth_mono_ms() + (int64_t)secs * 1000;
    while (hearth_mono_ms() < end && !g_restart) usleep(20000);
    hearth_updater_stop(u);
    printf("result=ok restart=%d\n", g_restart ? 1 : 0);
    hearth_updater_destroy(u);
    hearth_device_close(g_dev);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *c = argv[1];
    argc--;
    argv++;
    if (strcmp(c, "keygen") == 0) return cmd_keygen(argc, argv);
    if (strcmp(c, "keyset") == 0) return cmd_keyset(argc, argv);
    if (strcmp(c, "bundle") == 0) return cmd_bundle(argc, argv);
    if (strcmp(c, "prefix") == 0) return cmd_prefix(argc, argv);
    if (strcmp(c, "factory") == 0) return cmd_factory(argc, argv);
    if (strcmp(c, "check") == 0) return cmd_check(argc, argv);
    if (strcmp(c, "policy") == 0) return cmd_policy(argc, argv);
    if (strcmp(c, "status") == 0) return cmd_status(argc, argv);
    if (strcmp(c, "upload") == 0) return cmd_upload(argc, argv);
    if (strcmp(c, "confirm") == 0) return cmd_confirm(argc, argv);
    if (strcmp(c, "bootcheck") == 0) return cmd_bootcheck(argc, argv);
    if (strcmp(c, "run") == 0) return cmd_run(argc, argv);
    return usage();
}
