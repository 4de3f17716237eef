/* reset_driver: the factory reset (hearth/reset.h) from the command line,
 * for tests/fault/test_reset_powercut.sh and tests/integration/
 * test_reset_crypto_erase.sh, and tests/integration/test_factory_reset.sh
 * (tryevents).
 *
 *   reset_driver setup STATE SETUP_PW USER PW    leave factory default
 *   reset_driver probe STATE ADMIN               "factory users=0" |
 *                                                "initialized users=N" (the
 *                                                accounts ADMIN may list)
 *   reset_driver login STATE USER PW             exit 0 if the password works
 *   reset_driver reset STATE [button]            factory reset (by the API, or
 *                                                the button)
 *   reset_driver notice STATE                    the store's reset notice:
 *                                                "notice none" | "notice
 *                                                count=N reason=R pending=0|1"
 *   reset_driver tryold STATE OLD_DATA_DIR SERIAL
 *       try every 32-byte window of every file under STATE (and the key the
 *       current root of trust yields) as the storage key of the store copy
 *       in OLD_DATA_DIR; prints "tried N keys, opened 0" and exits 0 only
 *       if none opens it.
 *   reset_driver tryevents STATE OLD_LOG SERIAL
 *       the security log's sealed fields (docs/security-log.md): try the
 *       field key the device's current store yields, and every 32-byte
 *       window of every file under STATE both as that key and as the store
 *       secret it is derived from, on the first line of the log copy
 *       OLD_LOG that has sealed fields; prints "tried N keys, opened M" and
 *       exits 0 only if none opens them (1 if one does, 2 on error).
 *   reset_driver unsealcopy BLOB OLD_DATA_DIR SERIAL
 *       put a copy of the TPM-sealed key file BLOB alone into a new key
 *       directory, have the platform's TPM unseal it and open the store copy
 *       in OLD_DATA_DIR with the key; exits 0 and prints "unsealed, opened"
 *       only if both work, else prints why and exits 1.
 * Exit status 0 on success, 1 on failure (message on stderr).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/auth.h"
#include "hearth/identity.h"
#include "hearth/reset.h"
#include "hearth/store.h"
#include "hearth/util.h"

static int die(const char *what)
{
    fprintf(stderr, "reset_driver: %s: %s\n", what, hearth_err_msg());
    return 1;
}

static hearth_auth *open_auth(hearth_device **dev, const char *state)
{
    if (hearth_device_open(state, dev) != HEARTH_OK) return NULL;
    hearth_auth_config cfg;
    hearth_auth_config_default(&cfg);
    hearth_auth *a = NULL;
    if (hearth_auth_open(hearth_device_store(*dev), &cfg, &a) != HEARTH_OK) return NULL;
    return a;
}

static void count_user(const char *u, hearth_role r, void *arg)
{
    (void)u;
    (void)r;
    (*(unsigned *)arg)++;
}

/* ------------------------------------------------------------ tryold */

static const char *g_old, *g_serial, *g_tmpkeys;
static unsigned long g_tried, g_opened;

static void try_key(const uint8_t *key)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/storage.key", g_tmpkeys);
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    fwrite(key, 1, HEARTH_STORE_KEY_LEN, f);
    fclose(f);
    chmod(path, 0600);
    hearth_rot *rot = NULL;
    if (hearth_rot_file_open(g_tmpkeys, &rot) != HEARTH_OK) return;
    hearth_store *st = NULL;
    g_tried++;
    if (hearth_store_open(g_old, rot, g_serial, &st) == HEARTH_OK) {
        g_opened++;
        hearth_store_close(st);
    }
    hearth_rot_close(rot);
}

static int visit(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || !S_ISREG(sb->st_mode) || sb->st_size < HEARTH_STORE_KEY_LEN ||
        sb->st_size > 256 * 1024)
        return 0;
    FILE *f = fopen(p, "rb");
    if (f == NULL) return 0;
    uint8_t *buf = malloc((size_t)sb->st_size);
    size_t n = buf != NULL ? fread(buf, 1, (size_t)sb->st_size, f) : 0;
    fclose(f);
    for (size_t off = 0; n >= HEARTH_STORE_KEY_LEN && off + HEARTH_STORE_KEY_LEN <= n; off++)
        try_key(buf + off);
    free(buf);
    return 0;
}

static int tryold(const char *state, const char *old, const char *serial)
{
    char tmpl[] = "/tmp/hearth-reset-try.XXXXXX";
    if (mkdtemp(tmpl) == NULL) return 1;
    g_old = old;
    g_serial = serial;
    g_tmpkeys = tmpl;
    /* What the current root of trust yields (file or TPM, the platform's). */
    hearth_device_config cfg;
    hearth_rot *rot = NULL;
    if (hearth_device_config_load(state, &cfg, &rot) == HEARTH_OK) {
        uint8_t key[HEARTH_STORE_KEY_LEN];
        if (hearth_rot_storage_key(rot, key) == HEARTH_OK) try_key(key);
        hearth_memzero(key, sizeof key);
        hearth_rot_close(rot);
    } else {
        fprintf(stderr, "reset_driver: the reset device does not open: %s\n", hearth_err_msg());
        return 1;
    }
    (void)nftw(state, visit, 16, FTW_PHYS);
    char path[4096];
    snprintf(path, sizeof path, "%s/storage.key", tmpl);
    unlink(path);
    rmdir(tmpl);
    printf("tried %lu keys, opened %lu\n", g_tried, g_opened);
    return g_opened == 0 && g_tried > 0 ? 0 : 1;
}

/* ---------------------------------------------------------- unsealcopy */

static int unsealcopy(const char *blob, const char *old, const char *serial)
{
    char tmpl[] = "/tmp/hearth-reset-unseal.XXXXXX", path[4096];
    if (mkdtemp(tmpl) == NULL) return 1;
    snprintf(path, sizeof path, "%s/tpm-sealed.bin", tmpl);
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = 1;
    if (hearth_fs_read_file(blob, 65536, &raw, &len) == HEARTH_OK &&
        hearth_fs_write_atomic(path, raw, len, 0600) == HEARTH_OK) {
        hearth_rot *rot = NULL;
        hearth_store *st = NULL;
        if (hearth_rot_tpm_open(tmpl, NULL, &rot) != HEARTH_OK) {
            printf("not unsealed: %s\n", hearth_err_msg());
        } else if (hearth_store_open(old, rot, serial, &st) != HEARTH_OK) {
            printf("unsealed, store not opened: %s\n", hearth_err_msg());
        } else {
            printf("unsealed, opened\n");
            rc = 0;
        }
        hearth_store_close(st);
        hearth_rot_close(rot);
    } else {
        printf("copy failed: %s\n", hearth_err_msg());
    }
    free(raw);
    unlink(path);
    rmdir(tmpl);
    return rc;
}

/* ---------------------------------------------------------- tryevents */

static char g_line[HEARTH_SECLOG_FILE_LINE_MAX + 2];
static unsigned long g_ev_tried, g_ev_opened;

static void try_field_key(const uint8_t *key)
{
    static char out[HEARTH_SECLOG_OPEN_LINE_MAX];
    size_t bad = 0;
    g_ev_tried++;
    if (hearth_seclog_line_open(key, g_line, out, sizeof out, &bad) == HEARTH_OK && bad == 0) g_ev_opened++;
}

static void try_window(const uint8_t *w)
{
    try_field_key(w);
    uint8_t k[HEARTH_SECLOG_KEY_LEN];
    if (hearth_hkdf_sha256(w, 32, g_serial, HEARTH_SECLOG_KDF_INFO, k, sizeof k) == HEARTH_OK)
        try_field_key(k);
    hearth_memzero(k, sizeof k);
}

static int visit_events(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || !S_ISREG(sb->st_mode) || sb->st_size < 32 || sb->st_size > 256 * 1024) return 0;
    FILE *f = fopen(p, "rb");
    if (f == NULL) return 0;
    uint8_t *buf = malloc((size_t)sb->st_size);
    size_t n = buf != NULL ? fread(buf, 1, (size_t)sb->st_size, f) : 0;
    fclose(f);
    for (size_t off = 0; n >= 32 && off + 32 <= n; off++) try_window(buf + off);
    free(buf);
    return 0;
}

static int tryevents(const char *state, const char *oldlog, const char *serial)
{
    FILE *f = fopen(oldlog, "r");
    if (f == NULL) return 2;
    bool found = false;
    static char out[HEARTH_SECLOG_OPEN_LINE_MAX];
    while (!found && fgets(g_line, sizeof g_line, f) != NULL) {
        g_line[strcspn(g_line, "\n")] = '\0';
        size_t bad = 0;
        found = hearth_seclog_line_open(NULL, g_line, out, sizeof out, &bad) == HEARTH_OK && bad > 0;
    }
    fclose(f);
    if (!found) {
        fprintf(stderr, "reset_driver: %s has no sealed field\n", oldlog);
        return 2;
    }
    g_serial = serial;
    hearth_device *dev = NULL;
    if (hearth_device_open(state, &dev) != HEARTH_OK) return die("open");
    uint8_t key[HEARTH_SECLOG_KEY_LEN];
    hearth_status st = hearth_store_secret_key(hearth_device_store(dev), HEARTH_SECLOG_SECRET_RECORD, false,
                                               serial, HEARTH_SECLOG_KDF_INFO, key, sizeof key);
    if (st == HEARTH_OK) try_field_key(key);
    hearth_memzero(key, sizeof key);
    hearth_device_close(dev);
    if (st != HEARTH_OK && st != HEARTH_ERR_NOT_FOUND) return die("the store's field key");
    (void)nftw(state, visit_events, 16, FTW_PHYS);
    printf("tried %lu keys, opened %lu\n", g_ev_tried, g_ev_opened);
    return g_ev_opened == 0 && g_ev_tried > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: reset_driver setup|probe|login|reset|tryold|tryevents|unsealcopy STATE ...\n");
        return 2;
    }
    const char *cmd = argv[1], *state = argv[2];
    hearth_device *dev = NULL;
    hearth_auth *a = NULL;
    int rc = 1;
    if (strcmp(cmd, "tryold") == 0 && argc == 5) return tryold(state, argv[3], argv[4]);
    if (strcmp(cmd, "unsealcopy") == 0 && argc == 5) return unsealcopy(state, argv[3], argv[4]);
    if (strcmp(cmd, "tryevents") == 0 && argc == 5) return tryevents(state, argv[3], argv[4]);
    if (strcmp(cmd, "reset") == 0 && (argc == 3 || (argc == 4 && strcmp(argv[3], "button") == 0))) {
        if (hearth_device_open(state, &dev) != HEARTH_OK) return die("open");
        hearth_reset_reason why = argc == 4 ? HEARTH_RESET_BY_BUTTON : HEARTH_RESET_BY_API;
        rc = hearth_reset_factory(dev, why) == HEARTH_OK ? 0 : die("reset");
        hearth_device_close(dev);
        if (rc == 0) printf("reset\n");
        return rc;
    }
    if (strcmp(cmd, "notice") == 0 && argc == 3) {
        if (hearth_device_open(state, &dev) != HEARTH_OK) return die("open");
        hearth_reset_notice n = {0};
        hearth_status ns = hearth_reset_notice_get(hearth_device_store(dev), &n);
        rc = 0;
        if (ns == HEARTH_ERR_NOT_FOUND)
            printf("notice none\n");
        else if (ns == HEARTH_OK)
            printf("notice count=%llu reason=%s pending=%d\n", (unsigned long long)n.count,
                   n.reason == HEARTH_RESET_BY_BUTTON ? "button" : "api", n.pending ? 1 : 0);
        else
            rc = die("notice");
        hearth_device_close(dev);
        return rc;
    }
    a = open_auth(&dev, state);
    if (a == NULL) {
        rc = die("open");
    } else if (strcmp(cmd, "probe") == 0 && argc == 4) {
        unsigned n = 0;
        bool init = hearth_auth_initialized(a);
        rc = 0;
        if (init) {
            hearth_session_info actor;
            memset(&actor, 0, sizeof actor);
            actor.role = HEARTH_ROLE_ADMIN;
            snprintf(actor.username, sizeof actor.username, "%s", argv[3]);
            if (hearth_auth_user_list(a, &actor, count_user, &n) != HEARTH_OK) rc = die("list");
        }
        if (rc == 0) printf("%s users=%u\n", init ? "initialized" : "factory", n);
    } else if (strcmp(cmd, "setup") == 0 && argc == 6) {
        uint32_t retry = 0;
        rc = hearth_auth_setup(a, "127.0.0.1", argv[3], argv[4], argv[5], &retry) == HEARTH_OK
                 ? 0
                 : die("setup");
    } else if (strcmp(cmd, "login") == 0 && argc == 5) {
        char token[HEARTH_TOKEN_STR_MAX];
        uint32_t retry = 0;
        rc = hearth_auth_login(a, "127.0.0.1", argv[3], argv[4], token, NULL, &retry) == HEARTH_OK
                 ? 0
                 : die("login");
    } else {
        fprintf(stderr, "reset_driver: bad arguments\n");
        rc = 2;
    }
    hearth_auth_close(a);
    hearth_device_close(dev);
    return rc;
}
