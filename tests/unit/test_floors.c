/* Anti-rollback floor record (file backend) and how the slots layer combines
 * it with boot/state: a deleted, corrupted or replayed boot/state never
 * lowers a floor, no write ever lowers one, and with nothing authentic left
 * the load fails closed (docs/boot.md, "Floor record"). The TPM backend runs
 * against swtpm in tests/integration/test_floor_tpm.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hearth/slots.h"
#include "hearth/store.h"
#include "hearth/util.h"

static uint8_t root_key[32];
static uint8_t other_key[32];

typedef struct {
    char dir[256];
    char keydir[300];
    char state[300];
    char record[320];
    hearth_slots *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hearth-floors-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->keydir, sizeof f->keydir, "%s/keys", f->dir);
    snprintf(f->state, sizeof f->state, "%s/boot/state", f->dir);
    snprintf(f->record, sizeof f->record, "%s/keys/boot-floors", f->dir);
    /* Keys made at run time, never committed. */
    assert_int_equal(hearth_random(root_key, sizeof root_key), HEARTH_OK);
    assert_int_equal(hearth_random(other_key, sizeof other_key), HEARTH_OK);
    assert_int_equal(hearth_slots_open_key(f->dir, root_key, &f->s), HEARTH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hearth_slots_close(f->s);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    (void)rc;
    free(f);
    return 0;
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void spit(const char *path, const uint8_t *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    fclose(fp);
}

static void flip_byte(const char *path, size_t at)
{
    uint8_t buf[8192];
    size_t n = slurp(path, buf, sizeof buf);
    assert_true(at < n);
    buf[at] ^= 0x01;
    spit(path, buf, n);
}

static void raise_fl(hearth_floors *fl, uint64_t sv, uint64_t kv, hearth_status want)
{
    hearth_floor_values v = {.security_version = sv, .keyset_version = kv};
    assert_int_equal(hearth_floors_raise(fl, &v, false, NULL), want);
}

static void expect(hearth_floors *fl, uint64_t sv, uint64_t kv)
{
    hearth_floor_values v;
    assert_int_equal(hearth_floors_read(fl, &v), HEARTH_OK);
    assert_int_equal(v.security_version, sv);
    assert_int_equal(v.keyset_version, kv);
}

/* The record itself: absent, created, raised per field, never lowered. */
static void test_5_3_9_file_record_only_moves_forward(void **state)
{
    fixture *f = *state;
    hearth_floors *fl = NULL;
    hearth_floor_values v;
    assert_int_equal(hearth_floors_open_file(f->keydir, root_key, &fl), HEARTH_OK);
    assert_false(hearth_floors_in_tpm(fl));
    assert_int_equal(hearth_floors_read(fl, &v), HEARTH_ERR_NOT_FOUND);
    raise_fl(fl, 3, 1, HEARTH_OK);
    expect(fl, 3, 1);
    raise_fl(fl, 2, 5, HEARTH_OK); /* key-set floor up, security floor kept */
    expect(fl, 3, 5);
    struct stat a, b;
    assert_int_equal(stat(f->record, &a), 0);
    raise_fl(fl, 0, 0, HEARTH_OK); /* lower: nothing written (same inode) */
    raise_fl(fl, 3, 5, HEARTH_OK); /* equal: nothing written */
    assert_int_equal(stat(f->record, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    expect(fl, 3, 5);
    hearth_floors_close(fl);
}

/* Every flipped bit, truncation, extension and a record of another key are
 * refused, and an unauthentic record is not raised over unless asked. */
static void test_5_7_2_file_record_tamper_detected(void **state)
{
    fixture *f = *state;
    hearth_floors *fl = NULL, *foreign = NULL;
    hearth_floor_values v;
    assert_int_equal(hearth_floors_open_file(f->keydir, root_key, &fl), HEARTH_OK);
    raise_fl(fl, 7, 2, HEARTH_OK);
    uint8_t good[128];
    size_t n = slurp(f->record, good, sizeof good);
    assert_int_equal(n, 56);
    uint8_t bad[129];
    for (size_t bit = 0; bit < n * 8; bit++) {
        memcpy(bad, good, n);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        spit(f->record, bad, n);
        hearth_status st = hearth_floors_read(fl, &v);
        assert_true(st == HEARTH_ERR_TAMPERED);
        assert_int_equal(v.security_version, 0);
    }
    for (size_t len = 0; len < n; len++) {
        spit(f->record, good, len);
        assert_int_equal(hearth_floors_read(fl, &v), HEARTH_ERR_TAMPERED);
    }
    memcpy(bad, good, n);
    bad[n] = 0;
    spit(f->record, bad, n + 1);
    assert_int_equal(hearth_floors_read(fl, &v), HEARTH_ERR_TAMPERED);
    /* Not raised over without replace_unauthentic: the file stays as it is. */
    raise_fl(fl, 9, 9, HEARTH_ERR_TAMPERED);
    uint8_t now[129];
    assert_int_equal(slurp(f->record, now, sizeof now), n + 1);
    spit(f->record, good, n);
    assert_int_equal(hearth_floors_open_file(f->keydir, other_key, &foreign), HEARTH_OK);
    assert_int_equal(hearth_floors_read(foreign, &v), HEARTH_ERR_TAMPERED);
    expect(fl, 7, 2);
    hearth_floors_close(foreign);
    hearth_floors_close(fl);
}

/* The attack of issue 6 at the library level: v3 installed, then the boot
 * state deleted or corrupted. The floor survives in the record, and a
 * factory install of an older release is refused. */
static void test_5_3_9_lost_state_keeps_floor(void **state)
{
    fixture *f = *state;
    hearth_boot_state bs;
    hearth_slots_load_info info;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "3.0", 3), HEARTH_OK);

    assert_int_equal(unlink(f->state), 0);
    assert_int_equal(hearth_slots_load(f->s, &bs, &info), HEARTH_OK);
    assert_int_equal(info.state, HEARTH_ERR_NOT_FOUND);
    assert_int_equal(info.record, HEARTH_OK);
    assert_true(info.floors_known);
    assert_int_equal(bs.min_security_version, 3);
    assert_int_equal(bs.active, HEARTH_SLOT_NONE);
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_B, "1.0", 1), HEARTH_ERR_ROLLBACK);
    assert_int_equal(access(f->state, F_OK), -1); /* refused: nothing written */

    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "3.0", 3), HEARTH_OK);
    flip_byte(f->state, 20);
    assert_int_equal(hearth_slots_load(f->s, &bs, &info), HEARTH_OK);
    assert_int_equal(info.state, HEARTH_ERR_TAMPERED);
    assert_int_equal(bs.min_security_version, 3);
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_B, "2.0", 2), HEARTH_ERR_ROLLBACK);
    /* The shared install decision sees the floor too, with no version. */
    uint64_t sv = 0;
    char ver[40];
    assert_int_equal(hearth_slots_installed_policy(f->s, &sv, ver, sizeof ver, NULL, &info),
                     HEARTH_OK);
    assert_int_equal(sv, 3);
    assert_string_equal(ver, "");
    /* The verbs refuse to act on the unauthentic state. */
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_A), HEARTH_ERR_TAMPERED);
}

/* An older AUTHENTIC state put back (replay): the record's floor wins, the
 * load reports it, and writing that state back never lowers anything. */
static void test_5_3_9_replayed_state_never_lowers_floor(void **state)
{
    fixture *f = *state;
    uint8_t old[8192];
    hearth_boot_state bs;
    hearth_slots_load_info info;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    size_t n = slurp(f->state, old, sizeof old);
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_B, "2.0", 2), HEARTH_OK);
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 4, NULL), HEARTH_OK);
    spit(f->state, old, n);

    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK); /* authentic ... */
    assert_int_equal(bs.min_security_version, 1);               /* ... but old */
    assert_int_equal(hearth_slots_load(f->s, &bs, &info), HEARTH_OK);
    assert_int_equal(info.state, HEARTH_OK);
    assert_true(info.state_behind);
    assert_int_equal(bs.min_security_version, 2);
    assert_int_equal(bs.min_keyset_version, 4);

    /* A writer holding the raw old state cannot write floor 1 back. */
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    bs.min_security_version = 0;
    bs.min_keyset_version = 0;
    assert_int_equal(hearth_slots_write(f->s, &bs), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.min_security_version, 2);
    assert_int_equal(bs.min_keyset_version, 4);
    hearth_floor_values rec;
    bool tpm = true;
    assert_int_equal(hearth_slots_floor_record(f->s, &rec, &tpm), HEARTH_OK);
    assert_false(tpm);
    assert_int_equal(rec.security_version, 2);
    assert_int_equal(rec.keyset_version, 4);
    /* The installed release for the policy is the replayed state's active
     * slot, but never below the floor. */
    uint64_t sv = 0;
    char ver[40];
    assert_int_equal(hearth_slots_installed_policy(f->s, &sv, ver, sizeof ver, NULL, NULL),
                     HEARTH_OK);
    assert_int_equal(sv, 2);
}

/* Nothing authentic left (file backend: both copies gone or corrupted): the
 * load fails closed; only then is an install a factory install. A corrupted
 * record next to an authentic state is repaired from the state. */
static void test_5_7_2_nothing_authentic_fails_closed(void **state)
{
    fixture *f = *state;
    hearth_boot_state bs;
    hearth_slots_load_info info;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "3.0", 3), HEARTH_OK);

    flip_byte(f->record, 10);
    assert_int_equal(hearth_slots_load(f->s, &bs, &info), HEARTH_OK);
    assert_int_equal(info.record, HEARTH_ERR_TAMPERED);
    assert_true(info.floors_known); /* the authentic state */
    assert_int_equal(bs.min_security_version, 3);
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 1, NULL), HEARTH_OK);
    hearth_floor_values rec;
    assert_int_equal(hearth_slots_floor_record(f->s, &rec, NULL), HEARTH_OK);
    assert_int_equal(rec.security_version, 3); /* repaired from the state */

    flip_byte(f->record, 10);
    flip_byte(f->state, 20);
    assert_int_equal(hearth_slots_load(f->s, &bs, &info), HEARTH_ERR_TAMPERED);
    assert_false(info.floors_known);
    assert_int_equal(bs.min_security_version, 0);
    assert_int_equal(unlink(f->state), 0);
    assert_int_equal(unlink(f->record), 0);
    assert_int_not_equal(hearth_slots_load(f->s, &bs, &info), HEARTH_OK);
    assert_false(info.floors_known);
    /* A fresh-device install is possible again: the documented limit of the
     * file backend (docs/boot.md). */
    uint64_t sv = 9;
    char ver[40];
    assert_int_equal(hearth_slots_installed_policy(f->s, &sv, ver, sizeof ver, NULL, NULL),
                     HEARTH_OK);
    assert_int_equal(sv, 0);
}

/* Power cut between the record and the state write: the record is ahead,
 * never behind (fault point order). */
static void test_5_3_9_record_written_before_state(void **state)
{
    fixture *f = *state;
    char trace[320];
    snprintf(trace, sizeof trace, "%s/trace", f->dir);
    setenv("HEARTH_FAULT_TRACE", trace, 1);
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    unsetenv("HEARTH_FAULT_TRACE");
    char buf[4096];
    size_t n = slurp(trace, (uint8_t *)buf, sizeof buf - 1);
    buf[n] = '\0';
    char *rec = strstr(buf, "floors.write");
    char *raised = strstr(buf, "slots.floors_raised");
    char *st = strstr(buf, "slots.write");
    assert_non_null(rec);
    assert_non_null(raised);
    assert_non_null(st);
    assert_true(rec < raised && raised < st);
}

/* The boot decision itself (hearth_boot_decide()): with nothing authentic
 * left it is RECOVERY without writing anything; with the state deleted but
 * the record there, whatever it writes keeps the record's floor; and a
 * verify-only pass never moves a tampered state aside. (No slot verifies
 * here: the key set path does not exist; the boot tests use real slots.) */
static void test_5_7_2_decision_fails_closed_and_keeps_floor(void **state)
{
    fixture *f = *state;
    char trust[320], keyset[340];
    snprintf(trust, sizeof trust, "%s/no-trust", f->dir);
    snprintf(keyset, sizeof keyset, "%s/keyset", trust);
    hearth_boot_opts o = {.trust_dir = trust, .keyset_path = keyset};
    hearth_boot_decision d;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "3.0", 3), HEARTH_OK);

    /* Verify-only on a tampered state: recovery, the file stays in place. */
    uint8_t before[8192], after[8192];
    flip_byte(f->state, 20);
    size_t n = slurp(f->state, before, sizeof before);
    o.verify_only = true;
    assert_int_equal(hearth_boot_decide(f->s, &o, &d), HEARTH_OK);
    assert_int_equal(d.choice.action, HEARTH_BOOT_RECOVERY);
    assert_true(d.state_tampered);
    assert_false(d.written);
    assert_int_equal(d.min_security_version, 3);
    assert_int_equal(slurp(f->state, after, sizeof after), n);
    assert_memory_equal(before, after, n);
    o.verify_only = false;

    /* State deleted, record there: decided, written, floor still 3. */
    assert_int_equal(unlink(f->state), 0);
    assert_int_equal(hearth_boot_decide(f->s, &o, &d), HEARTH_OK);
    assert_int_equal(d.choice.action, HEARTH_BOOT_RECOVERY); /* no slot verifies */
    assert_true(d.state_missing);
    assert_false(d.floors_unknown);
    assert_true(d.written);
    hearth_boot_state bs;
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.min_security_version, 3);

    /* Nothing authentic: recovery, nothing written (no floor-0 state). */
    assert_int_equal(unlink(f->state), 0);
    assert_int_equal(unlink(f->record), 0);
    assert_int_equal(hearth_boot_decide(f->s, &o, &d), HEARTH_OK);
    assert_int_equal(d.choice.action, HEARTH_BOOT_RECOVERY);
    assert_true(d.floors_unknown);
    assert_false(d.written);
    assert_int_equal(access(f->state, F_OK), -1);
    assert_int_equal(access(f->record, F_OK), -1);
    hearth_boot_decision_clear(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: the fault trace is read once per process. */
        cmocka_unit_test_setup_teardown(test_5_3_9_record_written_before_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_3_9_file_record_only_moves_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_7_2_file_record_tamper_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_3_9_lost_state_keeps_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_3_9_replayed_state_never_lowers_floor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_7_2_nothing_authentic_fails_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_7_2_decision_fails_closed_and_keeps_floor, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
