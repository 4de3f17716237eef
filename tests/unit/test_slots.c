/*
 * Unit tests of the slots module: the pure boot decision over every state
 * combination, the authenticated boot-state codec (MAC tamper, truncation),
 * and the slot verbs on a temporary state directory, with anti-rollback
 * checked on every path including reverts (EN 303 645 5.7-1, 5.7-2, 5.3-2,
 * 5.3-9, 5.3-10).
 */
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "hearth/slots.h"
#include "hearth/util.h"

static const uint8_t root_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* ------------------------------------------------------ decision helpers */

/* What verifying a slot would give: the oracle fed to choose() on demand. */
typedef struct {
    bool valid;
    uint64_t secver;
} oracle;

typedef struct {
    hearth_boot_choice choice;
    hearth_boot_state next;
    int verified[HEARTH_SLOT_COUNT]; /* how often each slot was verified */
} run_result;

static void run_choose(const hearth_boot_state *in, const oracle o[2], run_result *r)
{
    hearth_slot_check checks[2];
    memset(checks, 0, sizeof checks);
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hearth_slots_choose(in, checks, &r->next, &r->choice), HEARTH_OK);
        if (r->choice.action != HEARTH_BOOT_NEED_VERIFY) return;
        int s = r->choice.slot;
        assert_true(s == HEARTH_SLOT_A || s == HEARTH_SLOT_B);
        assert_false(checks[s].checked); /* never asks twice for the same slot */
        checks[s].checked = true;
        checks[s].valid = o[s].valid;
        checks[s].security_version = o[s].valid ? o[s].secver : 0;
        r->verified[s]++;
    }
    fail_msg("choose did not converge");
}

static void base_state(hearth_boot_state *bs, int active, int pending, int attempts,
                       uint64_t min)
{
    hearth_boot_state_init_empty(bs);
    bs->active = (int8_t)active;
    bs->pending = (int8_t)pending;
    bs->attempts_left = (uint8_t)attempts;
    bs->min_security_version = min;
}

static bool usable(const oracle *o, uint64_t min)
{
    return o->valid && o->secver >= min;
}

/* Every combination of active, pending, attempts, floor and slot contents;
 * checks the invariants the boot flow promises (docs/boot.md). */
static void test_5_7_1_choose_every_state_combination(void **st)
{
    (void)st;
    const int slots3[] = {HEARTH_SLOT_NONE, HEARTH_SLOT_A, HEARTH_SLOT_B};
    const oracle outcomes[] = {{false, 0}, {true, 3}, {true, 5}, {true, 7}};
    const uint64_t mins[] = {0, 5, 9};
    unsigned combos = 0;
    for (int ai = 0; ai < 3; ai++)
        for (int pi = 0; pi < 3; pi++)
            for (int att = 0; att <= HEARTH_SLOTS_ATTEMPTS; att++)
                for (int mi = 0; mi < 3; mi++)
                    for (int oa = 0; oa < 4; oa++)
                        for (int ob = 0; ob < 4; ob++) {
                            int active = slots3[ai], pending = slots3[pi];
                            if (pending != HEARTH_SLOT_NONE && pending == active) continue;
                            uint64_t min = mins[mi];
                            oracle o[2] = {outcomes[oa], outcomes[ob]};
                            hearth_boot_state in;
                            base_state(&in, active, pending, att, min);
                            run_result r;
                            run_choose(&in, o, &r);
                            combos++;
                            const hearth_boot_choice *c = &r.choice;
                            /* The floor never goes down. */
                            assert_true(r.next.min_security_version >= min);
                            /* Anti-rollback + integrity on every path. */
                            if (c->action != HEARTH_BOOT_RECOVERY) {
                                assert_true(c->slot == HEARTH_SLOT_A || c->slot == HEARTH_SLOT_B);
                                assert_true(usable(&o[c->slot], min));
                                assert_int_equal(r.next.booted, c->slot);
                                assert_int_equal(r.verified[c->slot], 1);
                            } else {
                                /* Recovery only if nothing at all is bootable. */
                                assert_false(usable(&o[0], min));
                                assert_false(usable(&o[1], min));
                                assert_int_equal(r.next.booted, HEARTH_SLOT_NONE);
                            }
                            bool trial_ok = pending != HEARTH_SLOT_NONE && att > 0 &&
                                            usable(&o[pending], min);
                            if (trial_ok) {
                                assert_int_equal(c->action, HEARTH_BOOT_TRIAL);
                                assert_int_equal(c->slot, pending);
                                assert_int_equal(r.next.attempts_left, att - 1);
                                assert_int_equal(r.next.pending, pending);
                                assert_int_equal(r.next.active, active);
                                assert_int_equal(r.next.min_security_version, min);
                                continue;
                            }
                            /* Not a trial: any pending mark is gone. */
                            assert_int_equal(r.next.pending, HEARTH_SLOT_NONE);
                            if (pending != HEARTH_SLOT_NONE) {
                                assert_true(c->reverted || c->rejected);
                                assert_int_equal(c->reverted_slot, pending);
                                assert_int_equal(r.next.reverts_total, 1);
                                assert_true(att == 0 ? c->reverted : c->rejected);
                            }
                            if (active != HEARTH_SLOT_NONE) {
                                if (usable(&o[active], min)) {
                                    assert_int_equal(c->action, HEARTH_BOOT_ACTIVE);
                                    assert_int_equal(c->slot, active);
                                    assert_int_equal(r.next.min_security_version, min);
                                } else if (usable(&o[hearth_slot_other(active)], min)) {
                                    assert_int_equal(c->action, HEARTH_BOOT_FALLBACK);
                                    assert_int_equal(c->slot, hearth_slot_other(active));
                                    assert_int_equal(r.next.active, c->slot);
                                } else {
                                    assert_int_equal(c->action, HEARTH_BOOT_RECOVERY);
                                }
                                if (!o[active].valid) {
                                    assert_true(c->integrity_alert);
                                    assert_int_equal(r.next.slot[active].verify,
                                                     HEARTH_SLOT_INVALID);
                                } else if (o[active].secver < min) {
                                    assert_true(c->rollback_blocked);
                                    assert_int_equal(r.next.slot[active].verify,
                                                     HEARTH_SLOT_ROLLBACK);
                                }
                                /* Lazy: with a good active slot and nothing
                                 * pending, the other slot is not touched. */
                                if (pending == HEARTH_SLOT_NONE && usable(&o[active], min))
                                    assert_int_equal(r.verified[hearth_slot_other(active)], 0);
                            } else if (c->action != HEARTH_BOOT_RECOVERY) {
                                /* No confirmed slot: highest valid security version. */
                                assert_int_equal(c->action, HEARTH_BOOT_FALLBACK);
                                int other = hearth_slot_other(c->slot);
                                if (usable(&o[other], min))
                                    assert_true(o[c->slot].secver >= o[other].secver);
                                assert_int_equal(r.next.min_security_version,
                                                 o[c->slot].secver > min ? o[c->slot].secver : min);
                            }
                        }
    assert_true(combos > 1000);
}

static void test_5_3_2_trial_spends_an_attempt(void **st)
{
    (void)st;
    hearth_boot_state in;
    base_state(&in, HEARTH_SLOT_A, HEARTH_SLOT_B, 3, 4);
    oracle o[2] = {{true, 4}, {true, 6}};
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_TRIAL);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_B);
    assert_int_equal(r.next.attempts_left, 2);
    /* The floor is NOT advanced by a trial, only by confirmation. */
    assert_int_equal(r.next.min_security_version, 4);
    assert_int_equal(r.verified[HEARTH_SLOT_A], 0);
    /* Three trials, then the revert. */
    hearth_boot_state cur = r.next;
    run_choose(&cur, o, &r);
    assert_int_equal(r.next.attempts_left, 1);
    cur = r.next;
    run_choose(&cur, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_TRIAL);
    assert_int_equal(r.next.attempts_left, 0);
    cur = r.next;
    run_choose(&cur, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_ACTIVE);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_A);
    assert_true(r.choice.reverted);
    assert_int_equal(r.choice.reverted_slot, HEARTH_SLOT_B);
    assert_int_equal(r.next.pending, HEARTH_SLOT_NONE);
    assert_int_equal(r.next.last_reverted, HEARTH_SLOT_B);
    assert_int_equal(r.next.min_security_version, 4);
}

static void test_5_3_9_pending_failing_verification_is_rejected(void **st)
{
    (void)st;
    hearth_boot_state in;
    base_state(&in, HEARTH_SLOT_A, HEARTH_SLOT_B, 3, 1);
    oracle o[2] = {{true, 1}, {false, 0}};
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_ACTIVE);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_A);
    assert_true(r.choice.rejected);
    assert_true(r.choice.integrity_alert);
    assert_int_equal(r.choice.alert_slot, HEARTH_SLOT_B);
    assert_int_equal(r.next.slot[HEARTH_SLOT_B].verify, HEARTH_SLOT_INVALID);
}

static void test_5_3_9_pending_below_minimum_never_launched(void **st)
{
    (void)st;
    hearth_boot_state in;
    base_state(&in, HEARTH_SLOT_A, HEARTH_SLOT_B, 3, 5);
    oracle o[2] = {{true, 5}, {true, 4}}; /* validly signed, but older */
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_ACTIVE);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_A);
    assert_true(r.choice.rejected);
    assert_true(r.choice.rollback_blocked);
    assert_int_equal(r.next.slot[HEARTH_SLOT_B].verify, HEARTH_SLOT_ROLLBACK);
}

static void test_5_7_2_tampered_active_falls_back(void **st)
{
    (void)st;
    hearth_boot_state in;
    base_state(&in, HEARTH_SLOT_A, HEARTH_SLOT_NONE, 0, 2);
    oracle o[2] = {{false, 0}, {true, 2}};
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_FALLBACK);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_B);
    assert_true(r.choice.integrity_alert);
    assert_int_equal(r.choice.alert_slot, HEARTH_SLOT_A);
    assert_int_equal(r.next.active, HEARTH_SLOT_B);
}

/* Anti-rollback in the revert/fallback path: the known-good older slot is
 * NOT a fallback once the floor has moved past it. */
static void test_5_3_9_fallback_below_minimum_goes_to_recovery(void **st)
{
    (void)st;
    hearth_boot_state in;
    base_state(&in, HEARTH_SLOT_B, HEARTH_SLOT_NONE, 0, 7);
    oracle o[2] = {{true, 5}, {false, 0}};
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_RECOVERY);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_NONE);
    assert_true(r.choice.rollback_blocked);
    assert_true(r.choice.integrity_alert);
}

static void test_5_7_2_no_valid_slot_recovery(void **st)
{
    (void)st;
    hearth_boot_state in;
    base_state(&in, HEARTH_SLOT_A, HEARTH_SLOT_NONE, 0, 0);
    oracle o[2] = {{false, 0}, {false, 0}};
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_RECOVERY);
    assert_int_equal(r.verified[0] + r.verified[1], 2);
}

static void test_5_7_1_no_state_picks_highest_security_version(void **st)
{
    (void)st;
    hearth_boot_state in;
    hearth_boot_state_init_empty(&in);
    oracle o[2] = {{true, 3}, {true, 8}};
    run_result r;
    run_choose(&in, o, &r);
    assert_int_equal(r.choice.action, HEARTH_BOOT_FALLBACK);
    assert_int_equal(r.choice.slot, HEARTH_SLOT_B);
    assert_int_equal(r.next.active, HEARTH_SLOT_B);
    assert_int_equal(r.next.min_security_version, 8);
    hearth_slot_check c[2] = {{true, true, 3}, {true, true, 8}};
    assert_int_equal(hearth_slots_choose_safe(c), HEARTH_SLOT_B);
    c[1].valid = false;
    assert_int_equal(hearth_slots_choose_safe(c), HEARTH_SLOT_A);
    c[0].valid = false;
    assert_int_equal(hearth_slots_choose_safe(c), HEARTH_SLOT_NONE);
}

static void test_5_7_1_choose_rejects_bad_input(void **st)
{
    (void)st;
    hearth_boot_state in, next;
    hearth_boot_choice c;
    hearth_slot_check checks[2];
    memset(checks, 0, sizeof checks);
    base_state(&in, 5, HEARTH_SLOT_NONE, 0, 0);
    assert_int_equal(hearth_slots_choose(&in, checks, &next, &c), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_slots_choose(NULL, checks, &next, &c), HEARTH_ERR_INVALID);
}

/* ------------------------------------------------------------- codec */

static void sample_state(hearth_boot_state *bs)
{
    base_state(bs, HEARTH_SLOT_A, HEARTH_SLOT_B, 2, 42);
    bs->booted = HEARTH_SLOT_B;
    bs->slot[0].verify = HEARTH_SLOT_VERIFIED;
    bs->slot[0].security_version = 42;
    bs->slot[0].verified_at = 1700000000;
    snprintf(bs->slot[0].version, sizeof bs->slot[0].version, "1.2.3");
    bs->slot[1].verify = HEARTH_SLOT_VERIFIED;
    bs->slot[1].security_version = 43;
    snprintf(bs->slot[1].version, sizeof bs->slot[1].version, "1.3.0");
    bs->min_keyset_version = 7;
    hearth_boot_state_add_alert(bs, HEARTH_SLOT_A, 1700000100, "hearthd", "digest mismatch");
}

static void test_5_7_1_state_roundtrip(void **st)
{
    (void)st;
    uint8_t key[32], buf[HEARTH_BOOT_STATE_MAX];
    size_t len = 0;
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    hearth_boot_state a, b;
    sample_state(&a);
    assert_int_equal(hearth_boot_state_encode(&a, key, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &b), HEARTH_OK);
    assert_int_equal(b.active, HEARTH_SLOT_A);
    assert_int_equal(b.pending, HEARTH_SLOT_B);
    assert_int_equal(b.attempts_left, 2);
    assert_int_equal(b.booted, HEARTH_SLOT_B);
    assert_int_equal(b.min_security_version, 42);
    assert_int_equal(b.min_keyset_version, 7);
    assert_string_equal(b.slot[0].version, "1.2.3");
    assert_int_equal(b.slot[1].security_version, 43);
    assert_int_equal(b.n_alerts, 1);
    assert_string_equal(b.alerts[0].file, "hearthd");
    assert_string_equal(b.alerts[0].reason, "digest mismatch");
    assert_int_equal(b.alerts[0].time, 1700000100);
    assert_int_equal(b.alerts_total, 1);
    /* Key derivation is deterministic and key-dependent. */
    uint8_t k2[32], other_root[32];
    memcpy(other_root, root_key, 32);
    other_root[0] ^= 1;
    assert_int_equal(hearth_slots_derive_key(root_key, k2), HEARTH_OK);
    assert_memory_equal(key, k2, 32);
    assert_int_equal(hearth_slots_derive_key(other_root, k2), HEARTH_OK);
    assert_memory_not_equal(key, k2, 32);
}

static void test_5_7_2_state_every_flipped_bit_detected(void **st)
{
    (void)st;
    uint8_t key[32], buf[HEARTH_BOOT_STATE_MAX];
    size_t len = 0;
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    hearth_boot_state a, b;
    sample_state(&a);
    assert_int_equal(hearth_boot_state_encode(&a, key, buf, sizeof buf, &len), HEARTH_OK);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            hearth_status s = hearth_boot_state_decode(buf, len, key, &b);
            assert_int_equal(s, HEARTH_ERR_TAMPERED);
            assert_int_equal(b.min_security_version, 0); /* nothing leaks out */
            assert_int_equal(b.min_keyset_version, 0);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &b), HEARTH_OK);
}

static void test_5_7_2_state_truncated_or_extended_detected(void **st)
{
    (void)st;
    uint8_t key[32], buf[HEARTH_BOOT_STATE_MAX + 8];
    size_t len = 0;
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    hearth_boot_state a, b;
    sample_state(&a);
    assert_int_equal(hearth_boot_state_encode(&a, key, buf, HEARTH_BOOT_STATE_MAX, &len),
                     HEARTH_OK);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(hearth_boot_state_decode(buf, n, key, &b), HEARTH_ERR_TAMPERED);
    buf[len] = 0;
    assert_int_equal(hearth_boot_state_decode(buf, len + 1, key, &b), HEARTH_ERR_TAMPERED);
}

static void test_5_7_2_state_from_other_device_rejected(void **st)
{
    (void)st;
    uint8_t key[32], k2[32], other_root[32], buf[HEARTH_BOOT_STATE_MAX];
    size_t len = 0;
    memset(other_root, 0x5a, sizeof other_root);
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    assert_int_equal(hearth_slots_derive_key(other_root, k2), HEARTH_OK);
    hearth_boot_state a, b;
    sample_state(&a);
    assert_int_equal(hearth_boot_state_encode(&a, k2, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &b), HEARTH_ERR_TAMPERED);
    assert_true(strstr(hearth_err_msg(), "authentication") != NULL);
}

static void test_5_7_2_alert_ring_keeps_latest(void **st)
{
    (void)st;
    hearth_boot_state bs;
    hearth_boot_state_init_empty(&bs);
    for (int i = 0; i < HEARTH_SLOTS_ALERTS_MAX + 3; i++) {
        char r[32];
        snprintf(r, sizeof r, "alert %d\n", i); /* control byte must be neutralised */
        hearth_boot_state_add_alert(&bs, i % 2, 1000 + i, "f", r);
    }
    assert_int_equal(bs.n_alerts, HEARTH_SLOTS_ALERTS_MAX);
    assert_int_equal(bs.alerts_total, HEARTH_SLOTS_ALERTS_MAX + 3);
    assert_int_equal(bs.alerts[0].time, 1003);
    assert_string_equal(bs.alerts[HEARTH_SLOTS_ALERTS_MAX - 1].reason, "alert 10?");
    uint8_t key[32], buf[HEARTH_BOOT_STATE_MAX];
    size_t len;
    hearth_boot_state back;
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    assert_int_equal(hearth_boot_state_encode(&bs, key, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &back), HEARTH_OK);
    assert_int_equal(back.n_alerts, HEARTH_SLOTS_ALERTS_MAX);
}

/* ------------------------------------------- key-set floor: codec */

/* Offset of min_keyset_version in a format-2 file: header 12, then
 * generation 8, four slot/attempt bytes, min_security_version 8. */
#define KS_FLOOR_OFF (12 + 8 + 4 + 8)

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Re-MAC an edited file the way a genuine writer would (test-only forgery
 * with the right key, to reach the checks behind the MAC). */
static void remac(const uint8_t key[32], uint8_t *buf, size_t len)
{
    unsigned int ol = 0;
    assert_non_null(HMAC(EVP_sha256(), key, 32, buf, len - 32, buf + len - 32, &ol));
    assert_int_equal(ol, 32);
}

/* What the software before the key-set floor wrote: format 1, body without
 * min_keyset_version, same key and MAC. */
static size_t make_v1(const hearth_boot_state *bs, const uint8_t key[32], uint8_t *out)
{
    uint8_t v2[HEARTH_BOOT_STATE_MAX];
    size_t len = 0;
    assert_int_equal(hearth_boot_state_encode(bs, key, v2, sizeof v2, &len), HEARTH_OK);
    assert_int_equal(v2[5], HEARTH_BOOT_STATE_FORMAT);
    size_t n = len - 8;
    memcpy(out, v2, KS_FLOOR_OFF);
    memcpy(out + KS_FLOOR_OFF, v2 + KS_FLOOR_OFF + 8, len - KS_FLOOR_OFF - 8);
    out[4] = 0;
    out[5] = 1;
    put_be32(out + 8, (uint32_t)(n - 12 - 32));
    remac(key, out, n);
    return n;
}

static void test_5_3_10_keyset_floor_encoded_big_endian(void **st)
{
    (void)st;
    uint8_t key[32], buf[HEARTH_BOOT_STATE_MAX];
    size_t len = 0;
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    hearth_boot_state a, b;
    sample_state(&a);
    a.min_keyset_version = 0x0102030405060708ull;
    assert_int_equal(hearth_boot_state_encode(&a, key, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(buf[5], 2);
    static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(buf + KS_FLOOR_OFF, want, 8);
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &b), HEARTH_OK);
    assert_true(b.min_keyset_version == 0x0102030405060708ull);
    /* The floor is covered by the MAC: lowering it without the key fails. */
    buf[KS_FLOOR_OFF + 7] = 0;
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &b), HEARTH_ERR_TAMPERED);
    assert_int_equal(b.min_keyset_version, 0);
}

/* An authentic format-1 file (older software) is migrated with floor 0,
 * every other field intact; flipped bits and truncations of it are still
 * detected; an authentic but unknown format is refused as unsupported. */
static void test_5_3_10_format1_state_migrated(void **st)
{
    (void)st;
    uint8_t key[32], v1[HEARTH_BOOT_STATE_MAX], buf[HEARTH_BOOT_STATE_MAX];
    assert_int_equal(hearth_slots_derive_key(root_key, key), HEARTH_OK);
    hearth_boot_state a, b;
    sample_state(&a);
    size_t n = make_v1(&a, key, v1);
    assert_int_equal(hearth_boot_state_decode(v1, n, key, &b), HEARTH_OK);
    assert_int_equal(b.min_keyset_version, 0);
    a.min_keyset_version = 0; /* the only difference */
    assert_int_equal(b.active, a.active);
    assert_int_equal(b.pending, a.pending);
    assert_int_equal(b.attempts_left, a.attempts_left);
    assert_int_equal(b.min_security_version, 42);
    assert_string_equal(b.slot[0].version, "1.2.3");
    assert_int_equal(b.slot[1].security_version, 43);
    assert_int_equal(b.n_alerts, 1);
    assert_string_equal(b.alerts[0].reason, "digest mismatch");
    /* Re-encoded, it is format 2 and round-trips. */
    size_t len = 0;
    assert_int_equal(hearth_boot_state_encode(&b, key, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(buf[5], 2);
    assert_int_equal(len, n + 8);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            v1[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(hearth_boot_state_decode(v1, n, key, &b), HEARTH_ERR_TAMPERED);
            v1[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (size_t k = 0; k < n; k++)
        assert_int_equal(hearth_boot_state_decode(v1, k, key, &b), HEARTH_ERR_TAMPERED);
    /* A format-1 body presented as format 2 (re-MACed: only a key holder
     * could) does not parse as a valid state either. */
    v1[5] = 2;
    remac(key, v1, n);
    assert_int_not_equal(hearth_boot_state_decode(v1, n, key, &b), HEARTH_OK);
    /* Unknown format with a valid MAC: unsupported, not silently parsed. */
    assert_int_equal(hearth_boot_state_encode(&a, key, buf, sizeof buf, &len), HEARTH_OK);
    buf[5] = 3;
    remac(key, buf, len);
    assert_int_equal(hearth_boot_state_decode(buf, len, key, &b), HEARTH_ERR_UNSUPPORTED);
    assert_int_equal(b.min_keyset_version, 0);
}

/* --------------------------------------------------- device operations */

typedef struct {
    char dir[256];
    hearth_slots *s;
} fixture;

static int setup_dir(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hearth-slots-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(hearth_slots_open_key(f->dir, root_key, &f->s), HEARTH_OK);
    *state = f;
    return 0;
}

static int teardown_dir(void **state)
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

/* Pretend hearth-boot launched @p slot on trial (what decide() persists). */
static hearth_status boot_trial_fn(hearth_boot_state *bs, void *arg)
{
    int slot = *(int *)arg;
    if (bs->pending != slot || bs->attempts_left == 0) return HEARTH_ERR_STATE;
    bs->attempts_left--;
    bs->booted = (int8_t)slot;
    return HEARTH_OK;
}

static void test_5_3_2_install_pending_confirm_advances_minimum(void **state)
{
    fixture *f = *state;
    hearth_boot_state bs;
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 3), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.active, HEARTH_SLOT_A);
    assert_int_equal(bs.min_security_version, 3);

    int slot = -1;
    char path[512];
    assert_int_equal(hearth_slots_prepare_install(f->s, &slot, path, sizeof path), HEARTH_OK);
    assert_int_equal(slot, HEARTH_SLOT_B);
    assert_non_null(strstr(path, "/slots/b"));
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.slot[HEARTH_SLOT_B].verify, HEARTH_SLOT_INSTALLING);

    /* Installing over the active slot, or an older security version: refused. */
    assert_int_equal(hearth_slots_mark_pending(f->s, HEARTH_SLOT_A, "1.1", 4), HEARTH_ERR_STATE);
    assert_int_equal(hearth_slots_mark_pending(f->s, HEARTH_SLOT_B, "0.9", 2),
                     HEARTH_ERR_ROLLBACK);
    assert_int_equal(hearth_slots_mark_pending(f->s, HEARTH_SLOT_B, "1.1", 4), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.pending, HEARTH_SLOT_B);
    assert_int_equal(bs.attempts_left, HEARTH_SLOTS_ATTEMPTS);
    assert_int_equal(bs.min_security_version, 3); /* not yet */

    /* Confirm before hearth-boot launched it: refused. */
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_B), HEARTH_ERR_STATE);
    slot = HEARTH_SLOT_B;
    assert_int_equal(hearth_slots_update(f->s, boot_trial_fn, &slot), HEARTH_OK);
    /* While on trial, no new install may overwrite the running slot. */
    assert_int_equal(hearth_slots_prepare_install(f->s, &slot, path, sizeof path),
                     HEARTH_ERR_STATE);
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_A), HEARTH_ERR_STATE);
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_B), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.active, HEARTH_SLOT_B);
    assert_int_equal(bs.pending, HEARTH_SLOT_NONE);
    assert_int_equal(bs.min_security_version, 4);
    /* Idempotent. */
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_B), HEARTH_OK);
    /* The old slot A (3) is now below the floor: a re-install is a rollback. */
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 3), HEARTH_ERR_ROLLBACK);
    int inactive = -1;
    assert_int_equal(hearth_slots_inactive_path(f->s, &inactive, path, sizeof path), HEARTH_OK);
    assert_int_equal(inactive, HEARTH_SLOT_A);
}

/* A trial that is never confirmed leaves the floor where it was. */
static void test_5_3_9_unconfirmed_trial_keeps_minimum(void **state)
{
    fixture *f = *state;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 5), HEARTH_OK);
    int slot;
    char path[512];
    assert_int_equal(hearth_slots_prepare_install(f->s, &slot, path, sizeof path), HEARTH_OK);
    assert_int_equal(hearth_slots_mark_pending(f->s, slot, "2.0", 9), HEARTH_OK);
    for (int i = 0; i < HEARTH_SLOTS_ATTEMPTS; i++)
        assert_int_equal(hearth_slots_update(f->s, boot_trial_fn, &slot), HEARTH_OK);
    hearth_boot_state bs, next;
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.attempts_left, 0);
    hearth_slot_check checks[2] = {{true, true, 5}, {true, true, 9}};
    hearth_boot_choice c;
    assert_int_equal(hearth_slots_choose(&bs, checks, &next, &c), HEARTH_OK);
    assert_int_equal(c.action, HEARTH_BOOT_ACTIVE);
    assert_int_equal(c.slot, HEARTH_SLOT_A);
    assert_true(c.reverted);
    assert_int_equal(next.min_security_version, 5);
    assert_int_equal(hearth_slots_write(f->s, &next), HEARTH_OK);
    /* The reverted slot cannot confirm itself afterwards. */
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_B), HEARTH_ERR_STATE);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.min_security_version, 5);
    assert_int_equal(bs.active, HEARTH_SLOT_A);
}

static void test_5_7_2_tampered_state_file_detected(void **state)
{
    fixture *f = *state;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    char p[512];
    snprintf(p, sizeof p, "%s/boot/state", f->dir);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(hearth_fs_read_file(p, 8192, &data, &len), HEARTH_OK);
    data[len / 2] ^= 0x40;
    assert_int_equal(hearth_fs_write_atomic(p, data, len, 0600), HEARTH_OK);
    hearth_boot_state bs;
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_ERR_TAMPERED);
    /* Verbs refuse to build on a forged state. */
    assert_int_equal(hearth_slots_confirm(f->s, HEARTH_SLOT_A), HEARTH_ERR_TAMPERED);
    assert_int_equal(hearth_slots_mark_pending(f->s, HEARTH_SLOT_B, "2", 2), HEARTH_ERR_TAMPERED);
    /* Truncated to half: same. */
    data[len / 2] ^= 0x40;
    assert_int_equal(hearth_fs_write_atomic(p, data, len / 2, 0600), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_ERR_TAMPERED);
    free(data);
    /* A factory re-install replaces it and records the alert. */
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.n_alerts, 1);
    assert_int_equal(bs.alerts[0].slot, HEARTH_SLOT_NONE);
    assert_string_equal(bs.alerts[0].file, "boot/state");
    /* Record an integrity alert through the API. */
    assert_int_equal(hearth_slots_record_alert(f->s, HEARTH_SLOT_B, "payload/hearthd",
                                               "digest mismatch"),
                     HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.n_alerts, 2);
    assert_int_equal(bs.alerts[1].slot, HEARTH_SLOT_B);
}

static void test_5_3_2_prepare_install_empties_slot(void **state)
{
    fixture *f = *state;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    char p[512];
    snprintf(p, sizeof p, "%s/slots/b/payload", f->dir);
    assert_int_equal(hearth_fs_mkdirs(p, 0700), HEARTH_OK);
    snprintf(p, sizeof p, "%s/slots/b/payload/old", f->dir);
    assert_int_equal(hearth_fs_write_atomic(p, "x", 1, 0600), HEARTH_OK);
    int slot;
    char path[512];
    assert_int_equal(hearth_slots_prepare_install(f->s, &slot, path, sizeof path), HEARTH_OK);
    struct stat sb;
    assert_int_not_equal(stat(p, &sb), 0);
    assert_int_equal(stat(path, &sb), 0); /* the slot directory itself stays */
    /* Slot A untouched. */
    snprintf(p, sizeof p, "%s/slots/a", f->dir);
    assert_int_equal(stat(p, &sb), 0);
}

/* Lines of the fault trace naming @p point (main() sets HEARTH_FAULT_TRACE). */
static int trace_count(const char *point)
{
    const char *p = getenv("HEARTH_FAULT_TRACE");
    assert_non_null(p);
    FILE *f = fopen(p, "r");
    if (f == NULL) return 0;
    char line[200];
    int n = 0;
    size_t pl = strlen(point);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *sp = strchr(line, ' ');
        if (sp != NULL && strncmp(sp + 1, point, pl) == 0 && sp[1 + pl] == '\n') n++;
    }
    fclose(f);
    return n;
}

/* The key-set floor only moves up, writes only when it moves (through a
 * fault point), and survives every other verb. */
static void test_5_3_10_keyset_floor_monotonic(void **state)
{
    fixture *f = *state;
    hearth_boot_state bs;
    bool raised = true;
    /* No boot state yet: nothing to raise, nothing created. */
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 3, &raised), HEARTH_ERR_NOT_FOUND);
    assert_false(raised);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_ERR_NOT_FOUND);

    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.min_keyset_version, 0);

    int faults = trace_count("slots.raise_keyset_floor");
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 2, &raised), HEARTH_OK);
    assert_true(raised);
    assert_int_equal(trace_count("slots.raise_keyset_floor"), faults + 1);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.min_keyset_version, 2);
    uint64_t gen = bs.generation;

    /* Lower or equal: OK, nothing written (generation unchanged), floor kept. */
    uint64_t lower[] = {0, 1, 2};
    for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++) {
        assert_int_equal(hearth_slots_raise_keyset_floor(f->s, lower[i], &raised), HEARTH_OK);
        assert_false(raised);
    }
    assert_int_equal(trace_count("slots.raise_keyset_floor"), faults + 1);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_int_equal(bs.min_keyset_version, 2);
    assert_int_equal(bs.generation, gen);

    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, UINT64_MAX - 1, NULL), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_true(bs.min_keyset_version == UINT64_MAX - 1);
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 5, &raised), HEARTH_OK);
    assert_false(raised);

    /* Every other verb carries the floor along unchanged. */
    int slot;
    char path[512];
    assert_int_equal(hearth_slots_prepare_install(f->s, &slot, path, sizeof path), HEARTH_OK);
    assert_int_equal(hearth_slots_mark_pending(f->s, slot, "2.0", 2), HEARTH_OK);
    assert_int_equal(hearth_slots_update(f->s, boot_trial_fn, &slot), HEARTH_OK);
    assert_int_equal(hearth_slots_confirm(f->s, slot), HEARTH_OK);
    assert_int_equal(hearth_slots_record_alert(f->s, slot, "x", "y"), HEARTH_OK);
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "3.0", 3), HEARTH_OK);
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_OK);
    assert_true(bs.min_keyset_version == UINT64_MAX - 1);
    /* ... and the pure decision too. */
    hearth_boot_state next;
    hearth_boot_choice c;
    hearth_slot_check checks[2] = {{true, true, 3}, {true, true, 2}};
    assert_int_equal(hearth_slots_choose(&bs, checks, &next, &c), HEARTH_OK);
    assert_true(next.min_keyset_version == UINT64_MAX - 1);
}

/* On a state that fails authentication the raise refuses and writes nothing
 * (the file stays as evidence for hearth-boot). */
static void test_5_3_10_keyset_floor_refused_on_tampered_state(void **state)
{
    fixture *f = *state;
    assert_int_equal(hearth_slots_init(f->s, HEARTH_SLOT_A, "1.0", 1), HEARTH_OK);
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 4, NULL), HEARTH_OK);
    char p[512];
    snprintf(p, sizeof p, "%s/boot/state", f->dir);
    uint8_t *data = NULL, *after = NULL;
    size_t len = 0, alen = 0;
    assert_int_equal(hearth_fs_read_file(p, 8192, &data, &len), HEARTH_OK);
    /* Try to lower the floor in place (the attack), keeping the old MAC. */
    data[KS_FLOOR_OFF + 7] = 1;
    assert_int_equal(hearth_fs_write_atomic(p, data, len, 0600), HEARTH_OK);
    bool raised = true;
    assert_int_equal(hearth_slots_raise_keyset_floor(f->s, 9, &raised), HEARTH_ERR_TAMPERED);
    assert_false(raised);
    assert_int_equal(hearth_fs_read_file(p, 8192, &after, &alen), HEARTH_OK);
    assert_int_equal(alen, len);
    assert_memory_equal(after, data, len);
    hearth_boot_state bs;
    assert_int_equal(hearth_slots_read(f->s, &bs), HEARTH_ERR_TAMPERED);
    free(data);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_7_1_choose_every_state_combination),
        cmocka_unit_test(test_5_3_2_trial_spends_an_attempt),
        cmocka_unit_test(test_5_3_9_pending_failing_verification_is_rejected),
        cmocka_unit_test(test_5_3_9_pending_below_minimum_never_launched),
        cmocka_unit_test(test_5_7_2_tampered_active_falls_back),
        cmocka_unit_test(test_5_3_9_fallback_below_minimum_goes_to_recovery),
        cmocka_unit_test(test_5_7_2_no_valid_slot_recovery),
        cmocka_unit_test(test_5_7_1_no_state_picks_highest_security_version),
        cmocka_unit_test(test_5_7_1_choose_rejects_bad_input),
        cmocka_unit_test(test_5_7_1_state_roundtrip),
        cmocka_unit_test(test_5_7_2_state_every_flipped_bit_detected),
        cmocka_unit_test(test_5_7_2_state_truncated_or_extended_detected),
        cmocka_unit_test(test_5_7_2_state_from_other_device_rejected),
        cmocka_unit_test(test_5_7_2_alert_ring_keeps_latest),
        cmocka_unit_test(test_5_3_10_keyset_floor_encoded_big_endian),
        cmocka_unit_test(test_5_3_10_format1_state_migrated),
        cmocka_unit_test_setup_teardown(test_5_3_10_keyset_floor_monotonic, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_5_3_10_keyset_floor_refused_on_tampered_state,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_5_3_2_install_pending_confirm_advances_minimum,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_5_3_9_unconfirmed_trial_keeps_minimum, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_5_7_2_tampered_state_file_detected, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_5_3_2_prepare_install_empties_slot, setup_dir,
                                        teardown_dir),
    };
    /* Trace fault points (no kill) so the tests can see which writes ran. */
    char trace[] = "/tmp/hearth-slots-trace-XXXXXX";
    int tfd = mkstemp(trace);
    if (tfd < 0) return 1;
    close(tfd);
    setenv("HEARTH_FAULT_TRACE", trace, 1);
    int rc = cmocka_run_group_tests_name("slots", tests, NULL, NULL);
    unlink(trace);
    return rc;
}
