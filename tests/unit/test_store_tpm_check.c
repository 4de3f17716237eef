/* store_tpm_check: TPM 2.0 root-of-trust checks for
 * tests/integration/test_store_tpm.sh (run against swtpm).
 *
 *   store_tpm_check create  <keydir> <dir> <tcti>   seal a key, make a store
 *   store_tpm_check reopen  <keydir> <dir> <tcti>   unseal, verify the store,
 *                                                   blob reveals no key, an
 *                                                   edited blob is refused
 *   store_tpm_check foreign <keydir> <dir> <tcti>   must FAIL to unseal (a
 *                                                   different TPM)
 *   store_tpm_check rollback <keydir> <dir> <tcti>  older store copy refused
 *                                                   by the NV counter
 *   store_tpm_check put|check-put <keydir> <dir> <tcti>  for the kill test
 *   store_tpm_check session <keydir> <dir> <tcti>  keep the store open and
 *       read commands from stdin: "put N" tries N commits and prints
 *       "ok A refused B status S"; "state" prints "generation G counter C"
 *       (C read from the TPM, "none" if unreachable); "quit". The script
 *       stops and restarts swtpm in between (TPM outage).
 * Exit 0 when every check of the command holds; messages say which failed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/store.h"
#include "hearth/util.h"
#include "store/rot_internal.h" /* the counter, to show how far it trails */

#define DEV "tpm-device-1"
static const char SECRET[] = "tpm-protected wifi psk: 7f3a9c";

static int bad(const char *what)
{
    fprintf(stderr, "FAIL: %s (%s)\n", what, hearth_err_msg());
    return 1;
}

static int cmd_create(const char *keydir, const char *dir, const char *tcti)
{
    if (hearth_rot_tpm_create(keydir, tcti) != HEARTH_OK) return bad("seal key in TPM");
    if (hearth_rot_tpm_create(keydir, tcti) != HEARTH_ERR_EXISTS)
        return bad("second create must refuse to overwrite the sealed key");
    hearth_rot *rot = NULL;
    if (hearth_rot_tpm_open(keydir, tcti, &rot) != HEARTH_OK) return bad("unseal key");
    if (hearth_rot_kind_of(rot) != HEARTH_ROT_TPM) return bad("backend kind is not TPM");
    int rc = 0;
    hearth_store *st = NULL;
    if (hearth_store_create(dir, rot, DEV) != HEARTH_OK) rc = bad("create store");
    else if (hearth_store_open(dir, rot, DEV, &st) != HEARTH_OK) rc = bad("open store");
    else if (hearth_store_put(st, "wifi.psk", SECRET, sizeof SECRET - 1) != HEARTH_OK)
        rc = bad("put secret");
    hearth_store_close(st);
    hearth_rot_close(rot);
    if (rc == 0) printf("ok: key sealed by the TPM, store created\n");
    return rc;
}

static int cmd_reopen(const char *keydir, const char *dir, const char *tcti)
{
    hearth_rot *rot = NULL;
    if (hearth_rot_tpm_open(keydir, tcti, &rot) != HEARTH_OK) return bad("unseal key after restart");
    uint8_t key[HEARTH_STORE_KEY_LEN];
    if (hearth_rot_storage_key(rot, key) != HEARTH_OK) return bad("read key");
    hearth_store *st = NULL;
    if (hearth_store_open(dir, rot, DEV, &st) != HEARTH_OK) return bad("reopen store");
    char buf[64];
    size_t len = 0;
    int rc = 0;
    if (hearth_store_get(st, "wifi.psk", buf, sizeof buf, &len) != HEARTH_OK ||
        len != sizeof SECRET - 1 || memcmp(buf, SECRET, len) != 0)
        rc = bad("secret did not survive reopen");
    hearth_store_close(st);
    hearth_rot_close(rot);
    printf("ok: unsealed after reopen, secret intact\n");

    /* The sealed blob must not reveal the key: no 8-byte window of it. */
    char path[4096];
    snprintf(path, sizeof path, "%s/tpm-sealed.bin", keydir);
    uint8_t *blob = NULL;
    size_t bl = 0;
    if (hearth_fs_read_file(path, 1 << 16, &blob, &bl) != HEARTH_OK) return bad("read blob");
    for (size_t i = 0; i + 8 <= sizeof key; i++)
        if (memmem(blob, bl, key + i, 8) != NULL) rc = bad("sealed blob contains key bytes");
    struct stat sb;
    if (stat(path, &sb) != 0 || (sb.st_mode & 0777) != 0600) rc = bad("blob is not mode 0600");
    if (rc == 0) printf("ok: sealed blob (%zu bytes) does not contain the key\n", bl);

    /* An edited blob (one bit of the encrypted private part) is refused. */
    char kd2[2048], p2[4096];
    snprintf(kd2, sizeof kd2, "%s.edited", keydir);
    snprintf(p2, sizeof p2, "%s/tpm-sealed.bin", kd2);
    if (mkdir(kd2, 0700) != 0) rc = bad("mkdir edited keydir");
    blob[bl - 10] ^= 0x01;
    if (hearth_fs_write_atomic(p2, blob, bl, 0600) != HEARTH_OK) rc = bad("write edited blob");
    hearth_rot *r2 = NULL;
    hearth_status s2 = hearth_rot_tpm_open(kd2, tcti, &r2);
    if (s2 == HEARTH_OK || r2 != NULL) rc = bad("edited sealed blob was accepted");
    else printf("ok: edited blob refused: %s\n", hearth_err_msg());
    hearth_rot_close(r2);
    unlink(p2);
    rmdir(kd2);
    hearth_memzero(key, sizeof key);
    free(blob);
    return rc;
}

static int open_both(const char *keydir, const char *dir, const char *tcti, hearth_rot **rot,
                     hearth_store **st)
{
    *st = NULL;
    if (hearth_rot_tpm_open(keydir, tcti, rot) != HEARTH_OK) return bad("unseal key");
    hearth_status s = hearth_store_open(dir, *rot, DEV, st);
    if (s != HEARTH_OK) {
        hearth_rot_close(*rot);
        *rot = NULL;
        return bad("open store");
    }
    return 0;
}

/* Put an older complete copy of store.hst back: the NV counter must catch
 * it (HEARTH_ERR_ROLLBACK); the newest copy must still open. */
static int cmd_rollback(const char *keydir, const char *dir, const char *tcti)
{
    hearth_rot *rot = NULL;
    hearth_store *st = NULL;
    if (open_both(keydir, dir, tcti, &rot, &st) != 0) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/store.hst", dir);
    int rc = 0;
    uint8_t *old = NULL, *cur = NULL;
    size_t ol = 0, cl = 0;
    if (hearth_store_put(st, "pin", "1111", 4) != HEARTH_OK) rc = bad("put old pin");
    if (hearth_fs_read_file(path, HEARTH_STORE_FILE_MAX, &old, &ol) != HEARTH_OK) rc = bad("copy");
    if (hearth_store_put(st, "pin", "2222", 4) != HEARTH_OK) rc = bad("put new pin");
    uint64_t gen = hearth_store_generation(st);
    hearth_store_close(st);
    st = NULL;
    if (rc != 0) goto out;
    if (hearth_fs_read_file(path, HEARTH_STORE_FILE_MAX, &cur, &cl) != HEARTH_OK) {
        rc = bad("read current");
        goto out;
    }
    if (hearth_fs_write_atomic(path, old, ol, 0600) != HEARTH_OK) {
        rc = bad("restore old copy");
        goto out;
    }
    hearth_status s = hearth_store_open(dir, rot, DEV, &st);
    if (s != HEARTH_ERR_ROLLBACK || st != NULL) {
        rc = 1;
        fprintf(stderr, "FAIL: rolled-back store gave %s, expected rollback\n", hearth_status_name(s));
        hearth_store_close(st);
        st = NULL;
        goto out;
    }
    printf("ok: older store copy refused: %s\n", hearth_err_msg());
    if (hearth_fs_write_atomic(path, cur, cl, 0600) != HEARTH_OK) {
        rc = bad("restore current");
        goto out;
    }
    if (hearth_store_open(dir, rot, DEV, &st) != HEARTH_OK) {
        rc = bad("newest copy no longer opens");
        goto out;
    }
    char b[8];
    size_t l = 0;
    if (hearth_store_get(st, "pin", b, sizeof b, &l) != HEARTH_OK || l != 4 ||
        memcmp(b, "2222", 4) != 0 || hearth_store_generation(st) != gen)
        rc = bad("newest copy has the wrong content");
    else
        printf("ok: newest copy (generation %llu) opens\n", (unsigned long long)gen);
out:
    hearth_store_close(st);
    hearth_rot_close(rot);
    free(old);
    free(cur);
    return rc;
}

/* put: commit "crash.test" = "after" (the script kills this between the
 * durable write and the counter increment). check-put: the committed value
 * is there and the counter caught up (a second open also passes). */
static int cmd_put(const char *keydir, const char *dir, const char *tcti)
{
    hearth_rot *rot = NULL;
    hearth_store *st = NULL;
    if (open_both(keydir, dir, tcti, &rot, &st) != 0) return 1;
    int rc = hearth_store_put(st, "crash.test", "after", 5) == HEARTH_OK ? 0 : bad("put");
    hearth_store_close(st);
    hearth_rot_close(rot);
    return rc;
}

static int cmd_check_put(const char *keydir, const char *dir, const char *tcti)
{
    for (int round = 0; round < 2; round++) {
        hearth_rot *rot = NULL;
        hearth_store *st = NULL;
        if (open_both(keydir, dir, tcti, &rot, &st) != 0) return 1;
        char b[8];
        size_t l = 0;
        int ok = hearth_store_get(st, "crash.test", b, sizeof b, &l) == HEARTH_OK && l == 5 &&
                 memcmp(b, "after", 5) == 0;
        hearth_store_close(st);
        hearth_rot_close(rot);
        if (!ok) return bad("value committed before the crash is missing");
    }
    printf("ok: commit killed before the counter increment opens and catches up\n");
    return 0;
}

static int cmd_foreign(const char *keydir, const char *dir, const char *tcti)
{
    (void)dir;
    hearth_rot *rot = NULL;
    hearth_status s = hearth_rot_tpm_open(keydir, tcti, &rot);
    if (s == HEARTH_OK || rot != NULL) {
        hearth_rot_close(rot);
        fprintf(stderr, "FAIL: a different TPM unsealed the key\n");
        return 1;
    }
    if (s != HEARTH_ERR_TAMPERED) {
        fprintf(stderr, "FAIL: unexpected status %s: %s\n", hearth_status_name(s), hearth_err_msg());
        return 1;
    }
    printf("ok: a different TPM cannot unseal: %s\n", hearth_err_msg());
    return 0;
}

static int cmd_session(const char *keydir, const char *dir, const char *tcti)
{
    hearth_rot *rot = NULL;
    hearth_store *st = NULL;
    if (open_both(keydir, dir, tcti, &rot, &st) != 0) return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    char line[64];
    unsigned long seq = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        long n = 0;
        if (sscanf(line, "put %ld", &n) == 1) {
            long ok = 0, refused = 0;
            hearth_status last = HEARTH_OK;
            for (long i = 0; i < n; i++) {
                char v[32];
                int l = snprintf(v, sizeof v, "v%lu", ++seq);
                hearth_status s = hearth_store_put(st, "outage.test", v, (size_t)l);
                if (s == HEARTH_OK) ok++;
                else refused++;
                if (s != HEARTH_OK) last = s;
            }
            printf("ok %ld refused %ld status %s\n", ok, refused, hearth_status_name(last));
        } else if (strncmp(line, "state", 5) == 0) {
            uint64_t c = 0;
            hearth_status s = rot_counter_read(&rot->counter, rot->key, &c);
            char cs[24] = "none";
            if (s == HEARTH_OK) snprintf(cs, sizeof cs, "%llu", (unsigned long long)c);
            char v[32] = "";
            size_t l = 0;
            if (hearth_store_get(st, "outage.test", v, sizeof v - 1, &l) != HEARTH_OK) l = 0;
            v[l] = '\0';
            printf("generation %llu counter %s value %s\n",
                   (unsigned long long)hearth_store_generation(st), cs, l ? v : "-");
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    hearth_store_close(st);
    hearth_rot_close(rot);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: store_tpm_check create|reopen|foreign <keydir> <dir> <tcti>\n");
        return 2;
    }
    if (strcmp(argv[1], "create") == 0) return cmd_create(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "reopen") == 0) return cmd_reopen(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "foreign") == 0) return cmd_foreign(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "rollback") == 0) return cmd_rollback(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "put") == 0) return cmd_put(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "session") == 0) return cmd_session(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "check-put") == 0) return cmd_check_put(argv[2], argv[3], argv[4]);
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
