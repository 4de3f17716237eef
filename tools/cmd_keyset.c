/* `hearth keyset`: create, co-sign and inspect the root-signed key set that
 * lists the update-signing keys and their status (5.3-10 trust relationship,
 * key rotation and revocation; docs/signing-keys.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "hearth/bundle.h"

#define KS_LIST_MAX 32

static void keyset_usage(FILE *f)
{
    fprintf(f,
            "usage: hearth keyset create --root-key K [--root-key K2] --out KEYSET --version N\n"
            "                            --expires DAYS --add SIGNPUB... [--revoke SIGNPUB...]\n"
            "                            [--pass-file F]\n"
            "       hearth keyset sign KEYSET --root-key K [--pass-file F]\n"
            "       hearth keyset inspect KEYSET [--trust ROOTPUBS_DIR]\n\n"
            "A key set is signed by the root key(s) of the trust anchor and lists the\n"
            "update-signing public keys with status active or revoked. Devices refuse a key\n"
            "set with a lower version than one they accepted. Root key passphrases come\n"
            "from --pass-file or HEARTH_KEY_PASS. Exit: 0 ok, 1 error, 2 usage.\n");
}

static int ks_fail(const char *what)
{
    return cli_fail("keyset", what);
}

static int write_new(const char *path, const hearth_buf *b, bool replace)
{
    if (!replace) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            (void)fclose(f);
            fprintf(stderr, "hearth keyset: %s already exists; refusing to overwrite\n", path);
            return 1;
        }
    }
    if (hearth_fs_write_atomic(path, b->data, b->len, 0644) != HEARTH_OK) return ks_fail("write");
    return 0;
}

static int keyset_create(int argc, char **argv)
{
    const char *roots_p[HEARTH_SIGS_MAX], *add[KS_LIST_MAX], *revoke[KS_LIST_MAX];
    size_t nroots = 0, nadd = 0, nrev = 0;
    const char *out = NULL, *pass_file = NULL;
    uint64_t version = 0, days = 0;
    bool have_version = false, have_days = false;
    int list = 0; /* 1: after --add, 2: after --revoke (more values may follow) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--add") == 0) { list = 1; continue; }
        if (strcmp(a, "--revoke") == 0) { list = 2; continue; }
        if (strncmp(a, "--", 2) == 0) {
            list = 0;
            if (!has_val) { keyset_usage(stderr); return 2; }
            const char *v = argv[++i];
            if (strcmp(a, "--root-key") == 0) {
                if (nroots == HEARTH_SIGS_MAX) { fprintf(stderr, "hearth keyset: too many root keys\n"); return 2; }
                roots_p[nroots++] = v;
            } else if (strcmp(a, "--out") == 0) out = v;
            else if (strcmp(a, "--pass-file") == 0) pass_file = v;
            else if (strcmp(a, "--version") == 0) have_version = cli_parse_u64(v, 10, &version);
            else if (strcmp(a, "--expires") == 0) have_days = cli_parse_u64(v, 10, &days) && days > 0 && days < 36500;
            else { keyset_usage(stderr); return 2; }
            continue;
        }
        if (list == 0) { keyset_usage(stderr); return 2; }
        if ((list == 1 ? nadd : nrev) == KS_LIST_MAX) {
            fprintf(stderr, "hearth keyset: at most %d keys per list\n", KS_LIST_MAX);
            return 2;
        }
        if (list == 1) add[nadd++] = a;
        else revoke[nrev++] = a;
    }
    if (nroots == 0 || out == NULL || !have_version || version == 0 || !have_days || nadd + nrev == 0) {
        fprintf(stderr, "hearth keyset create: --root-key, --out, --version N>=1, --expires DAYS "
                        "(1..36499) and at least one --add/--revoke are required\n");
        return 2;
    }
    if (nadd + nrev > HEARTH_KEYSET_KEYS_MAX) {
        fprintf(stderr, "hearth keyset: at most %u keys\n", HEARTH_KEYSET_KEYS_MAX);
        return 2;
    }
    hearth_key *keys[HEARTH_KEYSET_KEYS_MAX] = {0};
    hearth_key_status status[HEARTH_KEYSET_KEYS_MAX];
    hearth_key *roots[HEARTH_SIGS_MAX] = {0};
    size_t nk = 0;
    int rc = 0;
    for (size_t i = 0; i < nadd + nrev && rc == 0; i++) {
        const char *p = i < nadd ? add[i] : revoke[i - nadd];
        status[nk] = i < nadd ? HEARTH_KEY_ACTIVE : HEARTH_KEY_REVOKED;
        if (hearth_key_load_public(p, &keys[nk]) != HEARTH_OK) {
            fprintf(stderr, "hearth keyset: signing key %s: %s\n", p, hearth_err_msg());
            rc = 1;
        } else {
            nk++;
        }
    }
    if (rc == 0) rc = cli_load_private_keys("keyset", "root key", roots_p, nroots, pass_file, roots);
    hearth_buf img;
    hearth_buf_init(&img, HEARTH_KEYSET_MAX);
    if (rc == 0) {
        int64_t expires = hearth_time_now() + (int64_t)days * 86400;
        if (hearth_keyset_create(version, expires, (const hearth_key *const *)keys, status, nk,
                                 (const hearth_key *const *)roots, nroots, &img) != HEARTH_OK)
            rc = ks_fail("create");
    }
    if (rc == 0) rc = write_new(out, &img, false);
    if (rc == 0)
        printf("key set version %llu written to %s: %zu active, %zu revoked key(s), signed by %zu "
               "root key(s)\n", (unsigned long long)version, out, nadd, nrev, nroots);
    hearth_buf_free(&img);
    hearth_keys_free(keys, nk);
    hearth_keys_free(roots, nroots);
    return rc;
}

static int keyset_sign(int argc, char **argv)
{
    const char *path = NULL, *pass_file = NULL, *roots_p[HEARTH_SIGS_MAX];
    size_t nroots = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--root-key") == 0 && i + 1 < argc && nroots < HEARTH_SIGS_MAX)
            roots_p[nroots++] = argv[++i];
        else if (strcmp(argv[i], "--pass-file") == 0 && i + 1 < argc) pass_file = argv[++i];
        else if (argv[i][0] != '-' && path == NULL) path = argv[i];
        else { keyset_usage(stderr); return 2; }
    }
    if (path == NULL || nroots == 0) { keyset_usage(stderr); return 2; }
    uint8_t *data = NULL;
    size_t len = 0;
    if (hearth_fs_read_file(path, HEARTH_KEYSET_MAX, &data, &len) != HEARTH_OK) return ks_fail(path);
    hearth_key *roots[HEARTH_SIGS_MAX] = {0};
    int rc = cli_load_private_keys("keyset", "root key", roots_p, nroots, pass_file, roots);
    hearth_buf img;
    hearth_buf_init(&img, HEARTH_KEYSET_MAX);
    if (rc == 0 && hearth_keyset_sign(data, len, (const hearth_key *const *)roots, nroots, &img) != HEARTH_OK)
        rc = ks_fail("sign");
    if (rc == 0) rc = write_new(path, &img, true);
    if (rc == 0) printf("%s signed by %zu more root key(s)\n", path, nroots);
    hearth_buf_free(&img);
    free(data);
    hearth_keys_free(roots, nroots);
    return rc;
}

static int keyset_inspect(int argc, char **argv)
{
    const char *path = NULL, *trust_dir = NULL;
    const cli_opt opts[] = {{"--trust", &trust_dir, NULL}, {NULL, NULL, NULL}};
    int prc = cli_parse_opts("keyset", keyset_usage, argc, argv, opts, &path);
    if (prc >= 0) return prc;
    if (path == NULL) { keyset_usage(stderr); return 2; }
    uint8_t *data = NULL;
    size_t len = 0;
    if (hearth_fs_read_file(path, HEARTH_KEYSET_MAX, &data, &len) != HEARTH_OK) return ks_fail(path);
    hearth_keyset *ks = NULL;
    if (hearth_keyset_parse(data, len, NULL, 0, 0, &ks) != HEARTH_OK) {
        free(data);
        return ks_fail("malformed key set");
    }
    char t1[64], t2[64], hex[2 * HEARTH_KEY_ID_LEN + 1];
    cli_fmt_time(hearth_keyset_created(ks), t1, sizeof t1);
    cli_fmt_time(hearth_keyset_expires(ks), t2, sizeof t2);
    printf("key set:   %s\nversion:   %llu\ncreated:   %s\nexpires:   %s%s\nkeys:      %zu\n", path,
           (unsigned long long)hearth_keyset_version(ks), t1, t2,
           hearth_keyset_expires(ks) <= hearth_time_now() ? " (EXPIRED)" : "", hearth_keyset_count(ks));
    for (size_t i = 0; i < hearth_keyset_count(ks); i++) {
        const hearth_keyset_entry *e = hearth_keyset_entry_at(ks, i);
        if (hearth_hex_encode(e->key_id, HEARTH_KEY_ID_LEN, hex, sizeof hex) != HEARTH_OK) hex[0] = '\0';
        printf("  %-7s  %-18s %s\n", e->status == HEARTH_KEY_ACTIVE ? "active" : "REVOKED",
               hearth_sig_alg_name(e->alg), hex);
    }
    printf("root signatures: %zu\n", hearth_keyset_sig_count(ks));
    for (size_t i = 0; i < hearth_keyset_sig_count(ks); i++) {
        if (hearth_hex_encode(hearth_keyset_sig_key_id(ks, i), HEARTH_KEY_ID_LEN, hex, sizeof hex) != HEARTH_OK)
            hex[0] = '\0';
        printf("  by %s\n", hex);
    }
    hearth_keyset_free(ks);
    int rc = 0;
    if (trust_dir != NULL) {
        hearth_trust *t = NULL;
        hearth_keyset *vk = NULL;
        if (hearth_trust_load_dir(trust_dir, &t) != HEARTH_OK) {
            rc = ks_fail("trust anchor");
        } else {
            hearth_status st = hearth_keyset_parse(data, len, t, 0, 0, &vk);
            if (st == HEARTH_OK) {
                printf("verification: OK against %s (threshold %u of %zu)\n", trust_dir,
                       hearth_trust_threshold(t), hearth_trust_count(t));
            } else {
                printf("verification: FAILED (%s): %s\n", hearth_status_name(st), hearth_err_msg());
                rc = 1;
            }
        }
        hearth_keyset_free(vk);
        hearth_trust_free(t);
    }
    free(data);
    return rc;
}

int hearth_cmd_keyset(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"create", keyset_create}, {"sign", keyset_sign}, {"inspect", keyset_inspect}};
    return cli_dispatch("keyset", keyset_usage, subs, sizeof subs / sizeof subs[0], argc, argv);
}
