/* floors_tpm_check: the TPM NV floor record against a running swtpm, for
 * tests/integration/test_floor_tpm.sh.
 *
 *   floors_tpm_check basic <keydir> <tcti>  create a TPM root of trust and
 *       check its floor record: absent at first, raised per field, never
 *       lowered, kept in NV (no file), independent per key, and an index at
 *       its handle that this key cannot read is refused and never replaced
 *   floors_tpm_check read <keydir> <tcti>   print "SV KV", or the status name
 *   floors_tpm_check raise <keydir> <tcti> SV KV   raise and print the result
 * Exit 0 when every check holds; messages say which failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hearth/store.h"
#include "hearth/util.h"
#include "store/rot_internal.h"

static int bad(const char *what)
{
    fprintf(stderr, "FAIL: %s (%s)\n", what, hearth_err_msg());
    return 1;
}

static int open_floors(const char *keydir, const char *tcti, hearth_floors **fl)
{
    hearth_rot *rot = NULL;
    if (hearth_rot_tpm_open(keydir, tcti, &rot) != HEARTH_OK) return bad("unseal key");
    hearth_status st = hearth_floors_open(rot, keydir, fl);
    hearth_rot_close(rot);
    if (st != HEARTH_OK) return bad("open floor record");
    if (!hearth_floors_in_tpm(*fl)) return bad("floor record of a TPM root is not in TPM NV");
    return 0;
}

static int expect(hearth_floors *fl, uint64_t sv, uint64_t kv, const char *what)
{
    hearth_floor_values v;
    if (hearth_floors_read(fl, &v) != HEARTH_OK) return bad(what);
    if (v.security_version != sv || v.keyset_version != kv) {
        fprintf(stderr, "FAIL: %s: floors %llu/%llu, expected %llu/%llu\n", what,
                (unsigned long long)v.security_version, (unsigned long long)v.keyset_version,
                (unsigned long long)sv, (unsigned long long)kv);
        return 1;
    }
    return 0;
}

static int raise_to(hearth_floors *fl, uint64_t sv, uint64_t kv)
{
    hearth_floor_values v = {.security_version = sv, .keyset_version = kv};
    return hearth_floors_raise(fl, &v, false, NULL) == HEARTH_OK ? 0 : bad("raise");
}

static int cmd_basic(const char *keydir, const char *tcti)
{
    char k2[4096], k3[4096], file[4200];
    snprintf(k2, sizeof k2, "%s.second", keydir);
    snprintf(k3, sizeof k3, "%s.third", keydir);
    if (hearth_rot_tpm_create(keydir, tcti) != HEARTH_OK) return bad("seal key in TPM");
    hearth_floors *fl = NULL;
    if (open_floors(keydir, tcti, &fl) != 0) return 1;
    hearth_floor_values v;
    if (hearth_floors_read(fl, &v) != HEARTH_ERR_NOT_FOUND)
        return bad("a new device must have no floor index yet");
    if (raise_to(fl, 3, 1) || expect(fl, 3, 1, "first raise")) return 1;
    if (raise_to(fl, 2, 5) || expect(fl, 3, 5, "per-field maximum")) return 1;
    if (raise_to(fl, 0, 0) || expect(fl, 3, 5, "lower values write nothing")) return 1;
    if (raise_to(fl, 1000000, 5) || expect(fl, 1000000, 5, "large jump")) return 1;
    snprintf(file, sizeof file, "%s/boot-floors", keydir);
    if (access(file, F_OK) == 0) return bad("TPM floors must not be kept in a file");
    hearth_floors_close(fl);

    /* A second device key on the same TPM: its own index, untouched. */
    if (hearth_rot_tpm_create(k2, tcti) != HEARTH_OK) return bad("seal second key");
    hearth_floors *fl2 = NULL;
    if (open_floors(k2, tcti, &fl2) != 0) return 1;
    if (hearth_floors_read(fl2, &v) != HEARTH_ERR_NOT_FOUND)
        return bad("second key sees a floor record it never wrote");
    hearth_floors_close(fl2);

    /* Someone defined an index at the third key's handle with another auth
     * value (squatting, or a replaced index): refused, never overwritten. */
    if (hearth_rot_tpm_create(k3, tcti) != HEARTH_OK) return bad("seal third key");
    hearth_rot *rot = NULL;
    uint8_t key[HEARTH_STORE_KEY_LEN], wrong[32], auth[32];
    uint32_t index = 0;
    if (hearth_rot_tpm_open(k3, tcti, &rot) != HEARTH_OK ||
        hearth_rot_storage_key(rot, key) != HEARTH_OK)
        return bad("unseal third key");
    hearth_rot_close(rot);
    if (floors_tpm_params(key, &index, auth) != HEARTH_OK) return bad("floor params");
    if (hearth_random(wrong, sizeof wrong) != HEARTH_OK) return bad("random");
    hearth_floor_values low = {.security_version = 0, .keyset_version = 0};
    if (floors_tpm_write(tcti, index, wrong, &low, true) != HEARTH_OK)
        return bad("define a squatting index");
    hearth_floors *fl3 = NULL;
    if (open_floors(k3, tcti, &fl3) != 0) return 1;
    hearth_status st = hearth_floors_read(fl3, &v);
    if (st != HEARTH_ERR_TAMPERED) {
        fprintf(stderr, "FAIL: squatting index read as %s\n", hearth_status_name(st));
        return 1;
    }
    hearth_floor_values want = {.security_version = 9, .keyset_version = 9};
    if (hearth_floors_raise(fl3, &want, true, NULL) != HEARTH_ERR_TAMPERED)
        return bad("a TPM index this key cannot read must never be replaced");
    hearth_floors_close(fl3);
    hearth_memzero(key, sizeof key);
    hearth_memzero(auth, sizeof auth);
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: floors_tpm_check basic|read|raise KEYDIR TCTI [SV KV]\n");
        return 2;
    }
    const char *cmd = argv[1], *keydir = argv[2], *tcti = argv[3];
    if (strcmp(cmd, "basic") == 0) return cmd_basic(keydir, tcti);
    hearth_floors *fl = NULL;
    if (open_floors(keydir, tcti, &fl) != 0) return 1;
    hearth_floor_values v;
    hearth_status st;
    if (strcmp(cmd, "raise") == 0 && argc == 6) {
        hearth_floor_values want = {.security_version = strtoull(argv[4], NULL, 10),
                                    .keyset_version = strtoull(argv[5], NULL, 10)};
        st = hearth_floors_raise(fl, &want, false, &v);
    } else if (strcmp(cmd, "read") == 0) {
        st = hearth_floors_read(fl, &v);
    } else {
        hearth_floors_close(fl);
        return 2;
    }
    hearth_floors_close(fl);
    if (st != HEARTH_OK) {
        printf("%s\n", hearth_status_name(st));
        return 1;
    }
    printf("%llu %llu\n", (unsigned long long)v.security_version,
           (unsigned long long)v.keyset_version);
    return 0;
}
