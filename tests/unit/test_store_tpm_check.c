/* store_tpm_check: TPM 2.0 root-of-trust checks for
 * tests/integration/test_store_tpm.sh (run against swtpm).
 *
 *   store_tpm_check create  <keydir> <dir> <tcti>   seal a key, make a store
 *   store_tpm_check reopen  <keydir> <dir> <tcti>   unseal, verify the store,
 *                                                   blob reveals no key, an
 *                                                   edited blob is refused
 *   store_tpm_check foreign <keydir> <dir> <tcti>   must FAIL to unseal (a
 *                                                   different TPM)
 * Exit 0 when every check of the command holds; messages say which failed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/store.h"
#include "hearth/util.h"

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

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: store_tpm_check create|reopen|foreign <keydir> <dir> <tcti>\n");
        return 2;
    }
    if (strcmp(argv[1], "create") == 0) return cmd_create(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "reopen") == 0) return cmd_reopen(argv[2], argv[3], argv[4]);
    if (strcmp(argv[1], "foreign") == 0) return cmd_foreign(argv[2], argv[3], argv[4]);
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
