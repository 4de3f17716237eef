/* Unit tests for src/updater: the policy record (strict decoding), the
 * randomised schedule, the repository key pin's semantics, and
 * the whole verify-and-install pipeline driven through the local upload
 * sink (no network): a good bundle lands in the inactive slot and is marked
 * pending; tampered, unsigned and rolled-back bundles are refused with the
 * boot state unchanged and a security event logged. Network cases (mTLS,
 * Range resume, endless data) are in tests/integration/test_update_*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hearth/bundle.h"
#include "hearth/identity.h"
#include "hearth/slots.h"
#include "hearth/updater.h"
#include "hearth/util.h"
#include "updater/tls_client.h"
#include "updater/transport.h"

/* ------------------------------------------------------------ pure parts */

static void test_5_3_6_policy_record_roundtrip_and_strict(void **state)
{
    (void)state;
    hearth_update_policy p = {.automatic = false, .postpone_until = 1700000000};
    uint8_t rec[16];
    size_t len = 0;
    assert_int_equal(hearth_update_policy_encode(&p, rec, &len), HEARTH_OK);
    assert_int_equal(len, 12);
    hearth_update_policy q = {.automatic = true, .postpone_until = 0};
    assert_int_equal(hearth_update_policy_decode(rec, len, &q), HEARTH_OK);
    assert_false(q.automatic);
    assert_int_equal(q.postpone_until, 1700000000);
    /* Damaged records are refused, never half-read. */
    assert_int_equal(hearth_update_policy_decode(rec, len - 1, &q), HEARTH_ERR_INVALID);
    uint8_t bad[13];
    memcpy(bad, rec, 12);
    bad[12] = 0;
    assert_int_equal(hearth_update_policy_decode(bad, 13, &q), HEARTH_ERR_INVALID);
    memcpy(bad, rec, 12);
    bad[0] = 'X';
    assert_int_equal(hearth_update_policy_decode(bad, 12, &q), HEARTH_ERR_INVALID);
    memcpy(bad, rec, 12);
    bad[2] = 9;
    assert_int_equal(hearth_update_policy_decode(bad, 12, &q), HEARTH_ERR_UNSUPPORTED);
    memcpy(bad, rec, 12);
    bad[3] = 0x81;
    assert_int_equal(hearth_update_policy_decode(bad, 12, &q), HEARTH_ERR_INVALID);
    p.postpone_until = -1;
    assert_int_equal(hearth_update_policy_encode(&p, rec, &len), HEARTH_ERR_RANGE);
}

/* 5.3-12: the announced installation time of a disruptive update. */
static void test_5_3_12_window_record_roundtrip_and_strict(void **state)
{
    (void)state;
    hearth_update_window w = {.at = 1800000000, .announced_at = 1799913600, .version = "2.0.0"};
    uint8_t rec[HEARTH_UPDATE_WINDOW_REC_MAX];
    size_t len = 0;
    assert_int_equal(hearth_update_window_encode(&w, rec, &len), HEARTH_OK);
    assert_int_equal(len, 21 + 5);
    hearth_update_window q;
    memset(&q, 0, sizeof q);
    assert_int_equal(hearth_update_window_decode(rec, len, &q), HEARTH_OK);
    assert_int_equal(q.at, 1800000000);
    assert_int_equal(q.announced_at, 1799913600);
    assert_string_equal(q.version, "2.0.0");
    /* Damaged records are refused, never half-read. */
    assert_int_equal(hearth_update_window_decode(rec, len - 1, &q), HEARTH_ERR_INVALID);
    uint8_t bad[HEARTH_UPDATE_WINDOW_REC_MAX];
    memcpy(bad, rec, len);
    bad[1] = 'P';
    assert_int_equal(hearth_update_window_decode(bad, len, &q), HEARTH_ERR_INVALID);
    memcpy(bad, rec, len);
    bad[2] = 2;
    assert_int_equal(hearth_update_window_decode(bad, len, &q), HEARTH_ERR_UNSUPPORTED);
    memcpy(bad, rec, len);
    bad[3] = 1;
    assert_int_equal(hearth_update_window_decode(bad, len, &q), HEARTH_ERR_INVALID);
    memcpy(bad, rec, len);
    bad[20] = 200; /* version longer than the record */
    assert_int_equal(hearth_update_window_decode(bad, len, &q), HEARTH_ERR_INVALID);
    memcpy(bad, rec, len);
    bad[22] = '\n'; /* a control character in the version */
    assert_int_equal(hearth_update_window_decode(bad, len, &q), HEARTH_ERR_INVALID);
    w.at = -5;
    assert_int_equal(hearth_update_window_encode(&w, rec, &len), HEARTH_ERR_RANGE);
}

static void test_5_3_12_window_plan_announces_before_installing(void **state)
{
    (void)state;
    const int64_t t0 = 1800000000;
    hearth_update_window w;
    memset(&w, 0, sizeof w);
    bool announce = false;
    /* First sight of a disruptive 2.0.0: announced, not installed. */
    assert_false(hearth_update_window_plan(&w, "2.0.0", t0, 86400, &announce));
    assert_true(announce);
    assert_int_equal(w.announced_at, t0);
    assert_int_equal(w.at, t0 + 86400);
    assert_string_equal(w.version, "2.0.0");
    /* Later checks before the window: no second announcement, still waits. */
    assert_false(hearth_update_window_plan(&w, "2.0.0", t0 + 86399, 86400, &announce));
    assert_false(announce);
    /* At the window: installs. */
    assert_true(hearth_update_window_plan(&w, "2.0.0", t0 + 86400, 86400, &announce));
    assert_false(announce);
    /* A window moved earlier by an administrator is honoured. */
    w.at = t0 + 10;
    assert_true(hearth_update_window_plan(&w, "2.0.0", t0 + 11, 86400, &announce));
    /* A newer disruptive release is announced afresh with a full notice,
     * even though the old window has passed. */
    assert_false(hearth_update_window_plan(&w, "2.1.0", t0 + 20, 3600, &announce));
    assert_true(announce);
    assert_int_equal(w.at, t0 + 20 + 3600);
    /* Notice 0: announced and installed in the same check. */
    memset(&w, 0, sizeof w);
    assert_true(hearth_update_window_plan(&w, "3.0.0", t0, 0, &announce));
    assert_true(announce);
}

static void test_5_3_5_schedule_random_time_within_each_window(void **state)
{
    (void)state;
    const int64_t start = 1000000;
    const uint32_t day = 86400;
    assert_int_equal(hearth_updater_schedule(start, day, 0), start);
    assert_int_equal(hearth_updater_schedule(start, day, day - 1), start + day - 1);
    assert_int_equal(hearth_updater_schedule(start, day, day), start); /* wraps inside the window */
    /* A failed check's retry: the backoff's delay, or a busy repository's
     * Retry-After plus jitter when that is later, capped at 24 h. */
    assert_int_equal(hearth_updater_retry_at(start, 60000, 0, 0), start + 60);
    assert_int_equal(hearth_updater_retry_at(start, 60001, 0, 0), start + 61);
    assert_int_equal(hearth_updater_retry_at(start, 0, 0, 0), start + 1);
    assert_int_equal(hearth_updater_retry_at(start, 120000, 600, 30), start + 630);
    assert_int_equal(hearth_updater_retry_at(start, 120000, 10, 5), start + 120);
    assert_int_equal(hearth_updater_retry_at(start, 60000, UINT32_MAX, 0), start + 86400);
    assert_int_equal(hearth_updater_retry_at(start, 60000, 86401, 60), start + 86460);
    /* Drawn values spread over the window (not all at one instant). */
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t r = 0;
        assert_int_equal(hearth_random_uniform(0xffffffffu, &r), HEARTH_OK);
        int64_t t = hearth_updater_schedule(start, day, r);
        assert_true(t >= start && t < start + day);
        if (t < lo) lo = t;
        if (t > hi) hi = t;
    }
    assert_true(hi - lo > day / 2);
    hearth_updater_config c;
    hearth_updater_config_default(&c);
    assert_int_equal(c.period_s, 86400);
    assert_true(c.first_delay_s + c.first_window_s <= 600); /* "shortly after initialisation" */
}

/* The repository key pin hearthd checks after the handshake has curl's
 * CURLOPT_PINNEDPUBLICKEY semantics: "sha256//" entries (base64 SHA-256 of
 * the DER SubjectPublicKeyInfo, any one may match) or a public key file. */
static void test_5_5_1_repository_pin_semantics(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    EVP_PKEY *other = EVP_EC_gen("P-256");
    assert_non_null(k);
    assert_non_null(other);
    unsigned char *spki = NULL;
    int sl = i2d_PUBKEY(k, &spki);
    assert_true(sl > 0);
    uint8_t md[32];
    unsigned int mdl = 0;
    assert_int_equal(EVP_Digest(spki, (size_t)sl, md, &mdl, EVP_sha256(), NULL), 1);
    char b64[64], pin[256];
    assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, md, 32), 44);
    snprintf(pin, sizeof pin, "sha256//%s", b64);
    assert_int_equal(upd_tls_pin_check(pin, k), HEARTH_OK);
    assert_int_equal(upd_tls_pin_check(pin, other), HEARTH_ERR_AUTH);
    /* Any entry of a list may match. */
    snprintf(pin, sizeof pin, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;sha256//%s", b64);
    assert_int_equal(upd_tls_pin_check(pin, k), HEARTH_OK);
    /* A truncated hash is not a prefix match. */
    snprintf(pin, sizeof pin, "sha256//%.20s", b64);
    assert_int_equal(upd_tls_pin_check(pin, k), HEARTH_ERR_AUTH);
    /* An entry without the sha256// prefix is refused, not skipped. */
    snprintf(pin, sizeof pin, "sha256//AAAA;%s", b64);
    assert_int_equal(upd_tls_pin_check(pin, k), HEARTH_ERR_INVALID);
    /* A PEM public key file. */
    char path[] = "/tmp/hearth-pin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, k), 1);
    fclose(f);
    assert_int_equal(upd_tls_pin_check(path, k), HEARTH_OK);
    assert_int_equal(upd_tls_pin_check(path, other), HEARTH_ERR_AUTH);
    unlink(path);
    assert_int_equal(upd_tls_pin_check(path, k), HEARTH_ERR_NOT_FOUND);
    OPENSSL_free(spki);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

/* ---------------------------------------------------- pipeline fixture */

#define PASS "unit-test-pass"

typedef struct {
    char dir[256];
    char state[320];
    char trust[320]; /* trust anchor, next to the state (never inside it) */
    char payload1[320], payload2[320];
    char b1[320], b2[320], b_old[320], b_unsigned[320];
    hearth_key *root, *signer;
    hearth_keyset *ks;
    hearth_device *dev;
    hearth_updater *u;
} fixture;

static void path(char *out, size_t cap, const char *dir, const char *name)
{
    assert_int_equal(hearth_path_join(out, cap, dir, name), HEARTH_OK);
}

static void write_payload(const char *p, size_t n, uint8_t seed)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) fputc((int)((i * 31 + seed) & 0xff), f);
    fclose(f);
}

static void make_bundle(fixture *fx, const char *out, const char *payload, const char *ver, uint64_t secver,
                        bool sign)
{
    hearth_bundle_input in = {.name = "hearthd", .path = payload};
    hearth_bundle_spec spec = {.model = "unit-model", .hw_id = "unit-hw", .sw_version = ver,
                               .security_version = secver, .created = 0,
                               .expires = hearth_time_now() + 86400, .notes = "fixes things",
                               .mitigates = "CVE-0000-0001 remote crash", .disruptive = true,
                               .downtime_s = 7, .chunk_size = 4096, .payloads = &in, .payload_count = 1};
    assert_int_equal(hearth_bundle_create(&spec, out), HEARTH_OK);
    if (sign) {
        const hearth_key *k[1] = {fx->signer};
        assert_int_equal(hearth_bundle_sign(out, k, 1), HEARTH_OK);
    }
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/hearth-unit-updater-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char ca[320], ksp[320], rootpub[400];
    char *trust = fx->trust;
    path(ca, sizeof ca, fx->dir, "ca");
    path(fx->state, sizeof fx->state, fx->dir, "state");
    assert_int_equal(hearth_ca_init(ca, "Unit CA"), HEARTH_OK);
    hearth_provision_opts po = {.ca_dir = ca, .out_dir = fx->state, .model = "unit-model",
                                .serial = "UNIT-0001", .hw_id = "unit-hw", .rot = HEARTH_ROT_FILE};
    hearth_label label;
    assert_int_equal(hearth_device_provision(&po, &label), HEARTH_OK);
    hearth_memzero(&label, sizeof label);

    /* Trust anchor (one root) and a key set with one active signing key. */
    path(trust, sizeof fx->trust, fx->dir, "trust");
    assert_int_equal(hearth_fs_mkdirs(trust, 0755), HEARTH_OK);
    assert_int_equal(hearth_key_generate(HEARTH_SIG_ED25519, &fx->root), HEARTH_OK);
    assert_int_equal(hearth_key_generate(HEARTH_SIG_ED25519, &fx->signer), HEARTH_OK);
    path(rootpub, sizeof rootpub, trust, "root.pub");
    assert_int_equal(hearth_key_write_public(fx->root, rootpub), HEARTH_OK);
    const hearth_key *keys[1] = {fx->signer};
    hearth_key_status kst[1] = {HEARTH_KEY_ACTIVE};
    const hearth_key *roots[1] = {fx->root};
    hearth_buf kb;
    assert_int_equal(hearth_keyset_create(1, hearth_time_now() + 86400, keys, kst, 1, roots, 1, &kb),
                     HEARTH_OK);
    path(ksp, sizeof ksp, fx->state, "keyset.hks");
    assert_int_equal(hearth_fs_write_atomic(ksp, kb.data, kb.len, 0644), HEARTH_OK);
    hearth_buf_free(&kb);
    hearth_trust *t = NULL;
    assert_int_equal(hearth_trust_load_dir(trust, &t), HEARTH_OK);
    assert_int_equal(hearth_keyset_load(ksp, t, 0, 0, &fx->ks), HEARTH_OK);
    hearth_trust_free(t);

    /* Bundles: installed v1 (secver 2), update v2 (secver 3), an older
     * validly signed v0 (secver 1) and an unsigned v2. */
    path(fx->payload1, sizeof fx->payload1, fx->dir, "p1");
    path(fx->payload2, sizeof fx->payload2, fx->dir, "p2");
    write_payload(fx->payload1, 50000, 1);
    write_payload(fx->payload2, 70000, 2);
    path(fx->b1, sizeof fx->b1, fx->dir, "v1.hbu");
    path(fx->b2, sizeof fx->b2, fx->dir, "v2.hbu");
    path(fx->b_old, sizeof fx->b_old, fx->dir, "v0.hbu");
    path(fx->b_unsigned, sizeof fx->b_unsigned, fx->dir, "v2-unsigned.hbu");
    make_bundle(fx, fx->b1, fx->payload1, "1.0.0", 2, true);
    make_bundle(fx, fx->b2, fx->payload2, "2.0.0", 3, true);
    make_bundle(fx, fx->b_old, fx->payload2, "0.9.0", 1, true);
    make_bundle(fx, fx->b_unsigned, fx->payload2, "2.0.0", 3, false);

    /* Factory: v1 into slot A, active. */
    hearth_bundle *b = NULL;
    hearth_slots *s = NULL;
    char slot_a[400];
    assert_int_equal(hearth_bundle_open(fx->b1, fx->ks, &b), HEARTH_OK);
    assert_int_equal(hearth_slots_open(fx->state, &s), HEARTH_OK);
    assert_int_equal(hearth_slots_path(s, HEARTH_SLOT_A, slot_a, sizeof slot_a), HEARTH_OK);
    assert_int_equal(hearth_bundle_extract_verified(b, slot_a, NULL, NULL), HEARTH_OK);
    assert_int_equal(hearth_slots_init(s, HEARTH_SLOT_A, "1.0.0", 2), HEARTH_OK);
    hearth_slots_close(s);
    hearth_bundle_free(b);

    char log[400];
    path(log, sizeof log, fx->state, "events.log");
    assert_int_equal(hearth_seclog_open(log), HEARTH_OK);
    assert_int_equal(hearth_device_open(fx->state, &fx->dev), HEARTH_OK);
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = fx->trust;
    assert_int_equal(hearth_updater_create(fx->dev, &cfg, &fx->u), HEARTH_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    hearth_updater_destroy(fx->u);
    hearth_device_close(fx->dev);
    hearth_keyset_free(fx->ks);
    hearth_key_free(fx->root);
    hearth_key_free(fx->signer);
    hearth_seclog_close();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static hearth_status upload_file(fixture *fx, const char *file, hearth_update_result *r, size_t step)
{
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    struct stat sb;
    assert_int_equal(fstat(fileno(f), &sb), 0);
    hearth_update_upload *up = NULL;
    memset(r, 0, sizeof *r);
    hearth_status st = hearth_updater_upload_begin(fx->u, (uint64_t)sb.st_size, "unit", &up);
    if (st != HEARTH_OK) {
        fclose(f);
        return st;
    }
    uint8_t buf[8192];
    hearth_status wst = HEARTH_OK;
    size_t n;
    while (wst == HEARTH_OK && (n = fread(buf, 1, step < sizeof buf ? step : sizeof buf, f)) > 0)
        wst = hearth_updater_upload_write(up, buf, n);
    fclose(f);
    hearth_status fst = hearth_updater_upload_finish(up, r);
    return wst != HEARTH_OK ? wst : fst;
}

static void boot_state(fixture *fx, hearth_boot_state *bs)
{
    hearth_slots *s = NULL;
    assert_int_equal(hearth_slots_open(fx->state, &s), HEARTH_OK);
    assert_int_equal(hearth_slots_read(s, bs), HEARTH_OK);
    hearth_slots_close(s);
}

static bool log_has(fixture *fx, const char *event, const char *text)
{
    char p[400];
    path(p, sizeof p, fx->state, "events.log");
    uint8_t *data = NULL;
    size_t len = 0;
    if (hearth_fs_read_file(p, 4 * 1024 * 1024, &data, &len) != HEARTH_OK) return false;
    char needle[96];
    snprintf(needle, sizeof needle, "\"event\":\"%s\"", event);
    bool found = false;
    for (char *line = (char *)data; line != NULL && *line; ) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strstr(line, needle) != NULL && (text == NULL || strstr(line, text) != NULL)) found = true;
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    return found;
}

static void copy_file(const char *src, const char *dst)
{
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(hearth_fs_read_file(src, 64 * 1024 * 1024, &d, &n), HEARTH_OK);
    assert_int_equal(hearth_fs_write_atomic(dst, d, n, 0600), HEARTH_OK);
    free(d);
}

static void flip(const char *p, long off)
{
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    if (off < 0) {
        fseek(f, 0, SEEK_END);
        off += ftell(f);
    }
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
}

static void assert_unchanged(fixture *fx)
{
    hearth_boot_state bs;
    boot_state(fx, &bs);
    assert_int_equal(bs.active, HEARTH_SLOT_A);
    assert_int_equal(bs.pending, HEARTH_SLOT_NONE);
    assert_string_equal(bs.slot[HEARTH_SLOT_A].version, "1.0.0");
    assert_false(hearth_updater_restart_required(fx->u));
}

/* Rejections first (each leaves the device as it was), install last. */

static void test_5_3_9_flipped_payload_byte_rejected_at_chunk(void **state)
{
    fixture *fx = *state;
    char bad[400];
    path(bad, sizeof bad, fx->dir, "flipped.hbu");
    copy_file(fx->b2, bad);
    flip(bad, -100); /* last chunk of the payload */
    hearth_update_result r;
    assert_int_equal(upload_file(fx, bad, &r, 4096), HEARTH_ERR_TAMPERED);
    assert_int_equal(r.outcome, HEARTH_UPD_OUT_REJECTED);
    assert_unchanged(fx);
    assert_true(log_has(fx, "update_rejected", "tampered"));
}

static void test_5_3_9_unsigned_bundle_rejected_before_payload(void **state)
{
    fixture *fx = *state;
    hearth_update_result r;
    assert_int_equal(upload_file(fx, fx->b_unsigned, &r, 1000), HEARTH_ERR_TAMPERED);
    assert_int_equal(r.outcome, HEARTH_UPD_OUT_REJECTED);
    assert_unchanged(fx);
    assert_true(log_has(fx, "update_rejected", "uploaded manifest"));
}

static void test_5_3_9_rollback_bundle_rejected(void **state)
{
    fixture *fx = *state;
    hearth_update_result r;
    assert_int_equal(upload_file(fx, fx->b_old, &r, 65536), HEARTH_ERR_ROLLBACK);
    assert_int_equal(r.outcome, HEARTH_UPD_OUT_REJECTED);
    assert_unchanged(fx);
    assert_true(log_has(fx, "update_rejected", "rollback"));
}

static void test_5_3_9_truncated_upload_rejected(void **state)
{
    fixture *fx = *state;
    struct stat sb;
    assert_int_equal(stat(fx->b2, &sb), 0);
    hearth_update_upload *up = NULL;
    assert_int_equal(hearth_updater_upload_begin(fx->u, (uint64_t)sb.st_size, "unit", &up), HEARTH_OK);
    /* Only the first half arrives. */
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(hearth_fs_read_file(fx->b2, 64 * 1024 * 1024, &d, &n), HEARTH_OK);
    assert_int_equal(hearth_updater_upload_write(up, d, n / 2), HEARTH_OK);
    free(d);
    hearth_update_result r;
    assert_int_equal(hearth_updater_upload_finish(up, &r), HEARTH_ERR_TAMPERED);
    assert_int_equal(r.outcome, HEARTH_UPD_OUT_REJECTED);
    assert_unchanged(fx);
    /* Announcing more than the device accepts is refused up front. */
    assert_int_equal(hearth_updater_upload_begin(fx->u, 1ull << 40, "unit", &up), HEARTH_ERR_TOO_LARGE);
}

static void test_5_3_6_policy_default_on_persisted_and_bounded(void **state)
{
    fixture *fx = *state;
    hearth_update_policy p = hearth_updater_policy(fx->u);
    assert_true(p.automatic); /* enabled in the initialised state */
    assert_int_equal(p.postpone_until, 0);
    assert_int_equal(hearth_updater_set_policy(fx->u, true, HEARTH_UPDATE_POSTPONE_MAX_HOURS + 1, "unit"),
                     HEARTH_ERR_RANGE);
    assert_int_equal(hearth_updater_set_policy(fx->u, false, 24, "unit"), HEARTH_OK);
    /* Survives a restart (secure store record). */
    hearth_updater_destroy(fx->u);
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.trust_dir = fx->trust;
    assert_int_equal(hearth_updater_create(fx->dev, &cfg, &fx->u), HEARTH_OK);
    p = hearth_updater_policy(fx->u);
    assert_false(p.automatic);
    assert_true(p.postpone_until > hearth_time_now() + 23 * 3600);
    assert_true(log_has(fx, "update_policy_changed", "automatic=off"));
    assert_int_equal(hearth_updater_set_policy(fx->u, true, 0, "unit"), HEARTH_OK);
}

static void test_5_3_12_window_moves_only_an_announced_update(void **state)
{
    fixture *fx = *state;
    /* Nothing announced: nothing to move, nothing stored. */
    assert_int_equal(hearth_updater_set_window(fx->u, hearth_time_now() + 3600, "unit"), HEARTH_ERR_STATE);
    /* Out of bounds is refused before anything else. */
    assert_int_equal(hearth_updater_set_window(fx->u, hearth_time_now() + HEARTH_UPDATE_WINDOW_MAX_S + 60, "unit"),
                     HEARTH_ERR_RANGE);
    assert_int_equal(hearth_updater_set_window(fx->u, hearth_time_now() - HEARTH_UPDATE_WINDOW_SLACK_S - 60, "unit"),
                     HEARTH_ERR_RANGE);
    char buf[16384];
    assert_int_equal(hearth_updater_status_json(fx->u, false, buf, sizeof buf), HEARTH_OK);
    assert_non_null(strstr(buf, "\"window\":null"));
    assert_false(log_has(fx, "update_window_moved", ""));
}

static void test_5_3_11_upload_installs_into_inactive_slot_pending(void **state)
{
    fixture *fx = *state;
    hearth_update_result r;
    assert_int_equal(upload_file(fx, fx->b2, &r, 3000), HEARTH_OK);
    assert_int_equal(r.outcome, HEARTH_UPD_OUT_INSTALLED);
    /* 5.3-11 / 5.3-12 facts reach the caller from the signed manifest. */
    assert_string_equal(r.info.sw_version, "2.0.0");
    assert_string_equal(r.info.mitigates, "CVE-0000-0001 remote crash");
    assert_true(r.info.disruptive);
    assert_int_equal(r.info.downtime_s, 7);
    hearth_boot_state bs;
    boot_state(fx, &bs);
    assert_int_equal(bs.active, HEARTH_SLOT_A);
    assert_int_equal(bs.pending, HEARTH_SLOT_B);
    assert_true(hearth_updater_restart_required(fx->u));
    /* The installed slot verifies on its own, as hearth-boot will check it. */
    char slot_b[400];
    path(slot_b, sizeof slot_b, fx->state, "slots/b");
    hearth_manifest *m = NULL;
    hearth_bundle_policy pol = {.model = "unit-model", .hw_id = "unit-hw", .ignore_expiry = true};
    assert_int_equal(hearth_slot_verify_dir(slot_b, fx->ks, &pol, 1, &m), HEARTH_OK);
    assert_int_equal(m->security_version, 3);
    hearth_manifest_free(m);
    assert_true(log_has(fx, "update_installed", "slot b"));
    /* The status document names the pending version; events for admins only. */
    char buf[16384];
    assert_int_equal(hearth_updater_status_json(fx->u, false, buf, sizeof buf), HEARTH_OK);
    assert_non_null(strstr(buf, "\"restart_required\":true"));
    assert_non_null(strstr(buf, "\"version\":\"2.0.0\""));
    assert_null(strstr(buf, "\"events\""));
    assert_int_equal(hearth_updater_status_json(fx->u, true, buf, sizeof buf), HEARTH_OK);
    assert_non_null(strstr(buf, "\"event\":\"update_installed\""));
    /* No second install while one waits for the restart. */
    hearth_update_upload *up = NULL;
    assert_int_equal(hearth_updater_upload_begin(fx->u, 1000, "unit", &up), HEARTH_ERR_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_3_6_policy_record_roundtrip_and_strict),
        cmocka_unit_test(test_5_3_5_schedule_random_time_within_each_window),
        cmocka_unit_test(test_5_3_12_window_record_roundtrip_and_strict),
        cmocka_unit_test(test_5_3_12_window_plan_announces_before_installing),
        cmocka_unit_test(test_5_5_1_repository_pin_semantics),
    };
    const struct CMUnitTest pipeline[] = {
        cmocka_unit_test(test_5_3_9_flipped_payload_byte_rejected_at_chunk),
        cmocka_unit_test(test_5_3_9_unsigned_bundle_rejected_before_payload),
        cmocka_unit_test(test_5_3_9_rollback_bundle_rejected),
        cmocka_unit_test(test_5_3_9_truncated_upload_rejected),
        cmocka_unit_test(test_5_3_6_policy_default_on_persisted_and_bounded),
        cmocka_unit_test(test_5_3_12_window_moves_only_an_announced_update),
        cmocka_unit_test(test_5_3_11_upload_installs_into_inactive_slot_pending),
    };
    int rc = cmocka_run_group_tests_name("updater", tests, NULL, NULL);
    rc |= cmocka_run_group_tests_name("updater_pipeline", pipeline, setup, teardown);
    return rc;
}
