/* Unit tests for src/auth against a real secure store (file root of trust in
 * a temp dir): factory-default setup (5.1-1), Argon2id credentials (5.1-3),
 * password change and reset (5.1-4), brute-force protection on every
 * password path (5.1-5), authenticated sessions and admin-only user
 * management (5.5-4, 5.5-5). A fake clock drives delays and expiry; Argon2id
 * runs with a lowered cost through the internal test hook, except where the
 * production parameters are the point (test_auth_policy.c). */
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "auth/auth_internal.h"
#include "hearth/auth.h"
#include "hearth/store.h"
#include "hearth/util.h"

#define DEV "SN-0042"
#define SETUP_PW "K7QX-M2PA-9WZR-T4HD"  /* generated-looking, per device */
#define ADMIN_PW "Tr4in-Lantern-Quiet-87"
#define BOB_PW "purple elephants dance slowly"
#define SRC "192.168.1.20"

typedef struct {
    char root[256];
    char keydir[300];
    char dir[300];
    hearth_rot *rot;
    hearth_store *st;
    hearth_auth *a;
    hearth_auth_config cfg;
    int64_t now;
    int64_t mono; /* ms, used when cfg.mono_ms is set */
} fixture;

static int64_t fake_now(void *arg)
{
    return ((fixture *)arg)->now;
}

static int64_t fake_mono(void *arg)
{
    return ((fixture *)arg)->mono;
}

static uint32_t rand_zero(uint32_t bound, void *arg)
{
    (void)bound;
    (void)arg;
    return 0;
}

static void open_auth(fixture *fx)
{
    assert_int_equal(hearth_auth_open(fx->st, &fx->cfg, &fx->a), HEARTH_OK);
    hearth_auth_test_set_rand(fx->a, rand_zero, NULL);
}

/* Close and reopen both auth and the store: a device restart. */
static void restart(fixture *fx)
{
    hearth_auth_close(fx->a);
    hearth_store_close(fx->st);
    fx->a = NULL;
    fx->st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &fx->st), HEARTH_OK);
    open_auth(fx);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL) return -1;
    hearth_auth_test_set_pwhash_cost(1, 8192); /* fast; real cost: test_auth_policy.c */
    snprintf(fx->root, sizeof fx->root, "/tmp/hearth-auth-test.XXXXXX");
    if (mkdtemp(fx->root) == NULL) return -1;
    snprintf(fx->keydir, sizeof fx->keydir, "%s/keys", fx->root);
    snprintf(fx->dir, sizeof fx->dir, "%s/data", fx->root);
    if (hearth_rot_file_create(fx->keydir) != HEARTH_OK) return -1;
    if (hearth_rot_file_open(fx->keydir, &fx->rot) != HEARTH_OK) return -1;
    if (hearth_store_create(fx->dir, fx->rot, DEV) != HEARTH_OK) return -1;
    if (hearth_store_open(fx->dir, fx->rot, DEV, &fx->st) != HEARTH_OK) return -1;
    if (hearth_auth_factory_init(fx->st, SETUP_PW) != HEARTH_OK) return -1;
    hearth_auth_config_default(&fx->cfg);
    fx->cfg.serial = DEV;
    fx->cfg.now = fake_now;
    fx->cfg.now_arg = fx;
    fx->now = 1700000000;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    hearth_auth_close(fx->a);
    hearth_store_close(fx->st);
    hearth_rot_close(fx->rot);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

/* Factory default -> initialized with admin "admin". */
static void do_setup(fixture *fx)
{
    if (fx->a == NULL) open_auth(fx);
    uint32_t ra = 0;
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", ADMIN_PW, &ra), HEARTH_OK);
}

static void login_ok(fixture *fx, const char *src, const char *user, const char *pw,
                     char token[HEARTH_TOKEN_STR_MAX], hearth_session_info *info)
{
    uint32_t ra = 0;
    hearth_status st = hearth_auth_login(fx->a, src, user, pw, token, info, &ra);
    if (st != HEARTH_OK) fail_msg("login %s failed: %s (%s)", user, hearth_status_name(st), hearth_err_msg());
}

static hearth_status login(fixture *fx, const char *src, const char *user, const char *pw,
                           uint32_t *ra)
{
    char token[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    return hearth_auth_login(fx->a, src, user, pw, token, &info, ra);
}

static bool record_exists(fixture *fx, const char *name)
{
    uint8_t buf[16];
    size_t len = 0;
    hearth_status st = hearth_store_get(fx->st, name, buf, 0, &len);
    return st == HEARTH_OK || st == HEARTH_ERR_TOO_LARGE;
}

/* ---------------------------------------------------------------- setup */

static void test_5_1_1_factory_default_requires_setup(void **state)
{
    fixture *fx = *state;
    open_auth(fx);
    assert_false(hearth_auth_initialized(fx->a));
    uint32_t ra = 0;
    /* No account works before setup (5.5-4: nothing but setup is reachable). */
    assert_int_equal(login(fx, SRC, "admin", ADMIN_PW, &ra), HEARTH_ERR_STATE);
    /* factory_init refuses to run twice. */
    assert_int_equal(hearth_auth_factory_init(fx->st, "another-setup-pw"), HEARTH_ERR_EXISTS);
    /* Provisioning stored the setup hash and the state record. */
    assert_true(record_exists(fx, "auth.setup"));
    assert_true(record_exists(fx, "auth.state"));
}

static void test_5_1_1_setup_wrong_password_and_weak_admin_change_nothing(void **state)
{
    fixture *fx = *state;
    open_auth(fx);
    uint32_t ra = 0;
    uint64_t gen = hearth_store_generation(fx->st);
    /* Weak admin password: rejected before the setup password is even
     * checked; nothing stored, no guess counted. */
    uint64_t hashes = hearth_auth_test_hash_count();
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", "password1", &ra),
                     HEARTH_ERR_POLICY);
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", "admin-ferry-lantern", &ra),
                     HEARTH_ERR_POLICY); /* contains the user name */
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", "sn-0042-lantern", &ra),
                     HEARTH_ERR_POLICY); /* contains the serial */
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", SETUP_PW, &ra),
                     HEARTH_ERR_POLICY); /* must differ from the setup password */
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "Admin!", ADMIN_PW, &ra),
                     HEARTH_ERR_INVALID);
    assert_int_equal(hearth_auth_test_hash_count(), hashes);
    assert_int_equal(hearth_store_generation(fx->st), gen);
    assert_false(hearth_auth_initialized(fx->a));
    /* Wrong setup password: AUTH, state unchanged, the failure is counted. */
    assert_int_equal(hearth_auth_setup(fx->a, SRC, "K7QX-M2PA-9WZR-T4HE", "admin", ADMIN_PW, &ra),
                     HEARTH_ERR_AUTH);
    assert_false(hearth_auth_initialized(fx->a));
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, SRC), 1);
    assert_true(record_exists(fx, "auth.setup"));
    assert_false(record_exists(fx, "auth.user.admin"));
    restart(fx);
    assert_false(hearth_auth_initialized(fx->a));
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, SRC), 1);
}

static void test_5_1_1_setup_success_retires_setup_password(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    assert_true(hearth_auth_initialized(fx->a));
    /* One commit did everything: the setup hash is gone, the admin exists. */
    assert_false(record_exists(fx, "auth.setup"));
    assert_true(record_exists(fx, "auth.user.admin"));
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, SRC), 0);
    uint32_t ra = 0;
    uint64_t hashes = hearth_auth_test_hash_count();
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "eve", "another lantern ferry", &ra),
                     HEARTH_ERR_STATE);
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "eve", "weak", &ra),
                     HEARTH_ERR_STATE);
    assert_int_equal(hearth_auth_test_hash_count(), hashes);
    /* The setup password is not a login password either. */
    assert_int_equal(login(fx, "192.168.1.21", "admin", SETUP_PW, &ra), HEARTH_ERR_AUTH);
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, SRC, "admin", ADMIN_PW, tok, &info);
    assert_string_equal(info.username, "admin");
    assert_int_equal(info.role, HEARTH_ROLE_ADMIN);
    restart(fx);
    assert_true(hearth_auth_initialized(fx->a));
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "eve", "another lantern ferry", &ra),
                     HEARTH_ERR_STATE);
}

static void test_5_1_5_setup_password_is_rate_limited(void **state)
{
    fixture *fx = *state;
    open_auth(fx);
    uint32_t ra = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(hearth_auth_setup(fx->a, SRC, "wrong-setup-pw", "admin", ADMIN_PW, &ra),
                         HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_setup(fx->a, SRC, "wrong-setup-pw", "admin", ADMIN_PW, &ra),
                     HEARTH_ERR_AUTH);
    uint64_t hashes = hearth_auth_test_hash_count();
    /* In the delay even the RIGHT password is refused, without hashing. */
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", ADMIN_PW, &ra),
                     HEARTH_ERR_LOCKED);
    assert_int_equal(ra, 2);
    assert_int_equal(hearth_auth_test_hash_count(), hashes);
    fx->now += 2;
    assert_int_equal(hearth_auth_setup(fx->a, SRC, SETUP_PW, "admin", ADMIN_PW, &ra), HEARTH_OK);
}

/* ------------------------------------------------------------- sessions */

static void test_5_5_4_login_session_logout(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info, got;
    login_ok(fx, SRC, "admin", ADMIN_PW, tok, &info);
    assert_int_equal(strlen(tok), 43); /* 256 bits, base64url */
    assert_int_equal(info.expires - info.created, 3600);
    assert_int_equal(hearth_auth_session(fx->a, tok, &got), HEARTH_OK);
    assert_string_equal(got.username, "admin");
    assert_int_equal(got.role, HEARTH_ROLE_ADMIN);
    /* Only SHA-256(token) is stored: neither the token nor its bytes are in
     * the sessions record. */
    uint8_t rec[HEARTH_STORE_VALUE_MAX];
    size_t len = 0;
    assert_int_equal(hearth_store_get(fx->st, "auth.sessions", rec, sizeof rec, &len), HEARTH_OK);
    uint8_t raw[33];
    size_t rl = 0;
    assert_int_equal(hearth_b64url_decode(tok, 43, raw, sizeof raw, &rl), HEARTH_OK);
    assert_int_equal(rl, 32);
    assert_null(memmem(rec, len, tok, 43));
    assert_null(memmem(rec, len, raw, 32));
    uint8_t th[32];
    assert_int_equal(hearth_sha256(raw, 32, th), HEARTH_OK);
    assert_non_null(memmem(rec, len, th, 32));
    /* Bad tokens. */
    assert_int_equal(hearth_auth_session(fx->a, "", &got), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_session(fx->a, NULL, &got), HEARTH_ERR_AUTH);
    char other[HEARTH_TOKEN_STR_MAX];
    memcpy(other, tok, sizeof other);
    other[0] = other[0] == 'A' ? 'B' : 'A';
    assert_int_equal(hearth_auth_session(fx->a, other, &got), HEARTH_ERR_AUTH);
    /* Sessions survive a restart. */
    restart(fx);
    assert_int_equal(hearth_auth_session(fx->a, tok, &got), HEARTH_OK);
    assert_int_equal(hearth_auth_logout(fx->a, tok), HEARTH_OK);
    assert_int_equal(hearth_auth_session(fx->a, tok, &got), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_logout(fx->a, tok), HEARTH_ERR_AUTH);
    restart(fx);
    assert_int_equal(hearth_auth_session(fx->a, tok, &got), HEARTH_ERR_AUTH);
}

static void test_5_5_4_session_expiry(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, SRC, "admin", ADMIN_PW, tok, &info);
    fx->now += 3599;
    assert_int_equal(hearth_auth_session(fx->a, tok, &info), HEARTH_OK);
    fx->now += 1;
    assert_int_equal(hearth_auth_session(fx->a, tok, &info), HEARTH_ERR_EXPIRED);
    uint32_t ra = 0;
    assert_int_equal(hearth_auth_change_password(fx->a, SRC, tok, ADMIN_PW,
                                                 "a brand new lantern", &ra),
                     HEARTH_ERR_EXPIRED);
}

static void test_5_5_4_sessions_max_evicts_oldest(void **state)
{
    fixture *fx = *state;
    fx->cfg.sessions_max = 3;
    fx->cfg.sessions_per_user = 3;
    do_setup(fx);
    char tok[5][HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    for (int i = 0; i < 5; i++) {
        login_ok(fx, SRC, "admin", ADMIN_PW, tok[i], &info);
        fx->now += 1;
    }
    assert_int_equal(hearth_auth_session(fx->a, tok[0], &info), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_session(fx->a, tok[1], &info), HEARTH_ERR_AUTH);
    for (int i = 2; i < 5; i++) assert_int_equal(hearth_auth_session(fx->a, tok[i], &info), HEARTH_OK);
}

/* An account's logins evict only that account's oldest sessions: bob logs
 * in ten times and the admin's session survives; when every slot is held by
 * other accounts a new account's login is refused (BUSY) rather than
 * evicting anyone. */
static void test_5_5_4_sessions_per_account_never_evict_others(void **state)
{
    fixture *fx = *state;
    fx->cfg.sessions_max = 6;
    fx->cfg.sessions_per_user = 3;
    do_setup(fx);
    char adm[HEARTH_TOKEN_STR_MAX];
    hearth_session_info admin, info;
    login_ok(fx, SRC, "admin", ADMIN_PW, adm, &admin);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "bob", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "carol", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "dave", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    char bob[10][HEARTH_TOKEN_STR_MAX];
    for (int i = 0; i < 10; i++) {
        fx->now += 1;
        login_ok(fx, "192.168.1.40", "bob", BOB_PW, bob[i], &info);
        assert_int_equal(hearth_auth_session(fx->a, adm, &info), HEARTH_OK);
    }
    for (int i = 0; i < 7; i++) assert_int_equal(hearth_auth_session(fx->a, bob[i], &info), HEARTH_ERR_AUTH);
    for (int i = 7; i < 10; i++) assert_int_equal(hearth_auth_session(fx->a, bob[i], &info), HEARTH_OK);
    /* carol fills the table (1 + 3 + 2 = 6), dave finds no room of his own. */
    char car[2][HEARTH_TOKEN_STR_MAX];
    for (int i = 0; i < 2; i++) {
        fx->now += 1;
        login_ok(fx, "192.168.1.41", "carol", BOB_PW, car[i], &info);
    }
    char tok[HEARTH_TOKEN_STR_MAX];
    uint32_t ra = 0;
    fx->now += 1;
    assert_int_equal(hearth_auth_login(fx->a, "192.168.1.42", "dave", BOB_PW, tok, &info, &ra),
                     HEARTH_ERR_BUSY);
    assert_int_equal(hearth_auth_session(fx->a, adm, &info), HEARTH_OK);
    assert_string_equal(info.username, "admin");
    for (int i = 7; i < 10; i++) assert_int_equal(hearth_auth_session(fx->a, bob[i], &info), HEARTH_OK);
    for (int i = 0; i < 2; i++) assert_int_equal(hearth_auth_session(fx->a, car[i], &info), HEARTH_OK);
    /* The limits hold across a restart too. */
    restart(fx);
    assert_int_equal(hearth_auth_session(fx->a, adm, &info), HEARTH_OK);
}

/* ------------------------------------------------------ password change */

static void test_5_1_4_change_password_revokes_other_sessions(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char t1[HEARTH_TOKEN_STR_MAX], t2[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, SRC, "admin", ADMIN_PW, t1, &info);
    login_ok(fx, "192.168.1.33", "admin", ADMIN_PW, t2, &info);
    uint32_t ra = 0;
    /* Policy applies to the new password; the old one must be right. */
    assert_int_equal(hearth_auth_change_password(fx->a, SRC, t1, ADMIN_PW, "letmein123", &ra),
                     HEARTH_ERR_POLICY);
    assert_int_equal(hearth_auth_change_password(fx->a, SRC, t1, ADMIN_PW, ADMIN_PW, &ra),
                     HEARTH_ERR_POLICY);
    assert_int_equal(hearth_auth_change_password(fx->a, SRC, t1, "not-my-password", "a brand new lantern", &ra),
                     HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, SRC), 1);
    assert_int_equal(hearth_auth_session(fx->a, t2, &info), HEARTH_OK);
    assert_int_equal(hearth_auth_change_password(fx->a, SRC, t1, ADMIN_PW, "a brand new lantern", &ra),
                     HEARTH_OK);
    assert_int_equal(hearth_auth_session(fx->a, t1, &info), HEARTH_OK);
    assert_int_equal(hearth_auth_session(fx->a, t2, &info), HEARTH_ERR_AUTH);
    assert_int_equal(login(fx, SRC, "admin", ADMIN_PW, &ra), HEARTH_ERR_AUTH);
    char t3[HEARTH_TOKEN_STR_MAX];
    login_ok(fx, SRC, "admin", "a brand new lantern", t3, &info);
    restart(fx);
    assert_int_equal(hearth_auth_session(fx->a, t2, &info), HEARTH_ERR_AUTH);
    login_ok(fx, SRC, "admin", "a brand new lantern", t3, &info);
}

static void test_5_1_5_change_password_is_rate_limited(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char t1[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, SRC, "admin", ADMIN_PW, t1, &info);
    uint32_t ra = 0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(hearth_auth_change_password(fx->a, "10.9.9.9", t1, "guess-guess-guess",
                                                     "a brand new lantern", &ra),
                         HEARTH_ERR_AUTH);
    uint64_t hashes = hearth_auth_test_hash_count();
    assert_int_equal(hearth_auth_change_password(fx->a, "10.9.9.9", t1, ADMIN_PW,
                                                 "a brand new lantern", &ra),
                     HEARTH_ERR_LOCKED);
    assert_true(ra >= 2);
    assert_int_equal(hearth_auth_test_hash_count(), hashes);
}

/* --------------------------------------------------------------- roles */

static void count_visit(const char *user, hearth_role role, void *arg)
{
    int *c = arg;
    if ((strcmp(user, "admin") == 0 && role == HEARTH_ROLE_ADMIN) ||
        (strcmp(user, "bob") == 0 && role == HEARTH_ROLE_USER))
        c[0]++;
    c[1]++;
}

static void test_5_5_5_user_management_requires_admin(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char ta[HEARTH_TOKEN_STR_MAX], tb[HEARTH_TOKEN_STR_MAX];
    hearth_session_info admin, bob;
    login_ok(fx, SRC, "admin", ADMIN_PW, ta, &admin);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "bob", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "bob", BOB_PW, HEARTH_ROLE_USER),
                     HEARTH_ERR_EXISTS);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "Bob Smith", BOB_PW, HEARTH_ROLE_USER),
                     HEARTH_ERR_INVALID);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "carol", "12345678", HEARTH_ROLE_USER),
                     HEARTH_ERR_POLICY);
    login_ok(fx, "192.168.1.40", "bob", BOB_PW, tb, &bob);
    assert_int_equal(bob.role, HEARTH_ROLE_USER);
    /* A user may not manage users (5.5-5: security-relevant changes). */
    assert_int_equal(hearth_auth_user_add(fx->a, &bob, "mallory", "mallory ferry lantern", HEARTH_ROLE_ADMIN),
                     HEARTH_ERR_FORBIDDEN);
    assert_int_equal(hearth_auth_user_delete(fx->a, &bob, "admin"), HEARTH_ERR_FORBIDDEN);
    assert_int_equal(hearth_auth_user_set_password(fx->a, &bob, "admin", "a brand new lantern"),
                     HEARTH_ERR_FORBIDDEN);
    /* A forged actor claiming admin for a user account is refused too. */
    hearth_session_info forged = bob;
    forged.role = HEARTH_ROLE_ADMIN;
    assert_int_equal(hearth_auth_user_add(fx->a, &forged, "mallory", "mallory ferry lantern", HEARTH_ROLE_ADMIN),
                     HEARTH_ERR_FORBIDDEN);
    assert_int_equal(hearth_auth_user_add(fx->a, NULL, "mallory", "mallory ferry lantern", HEARTH_ROLE_ADMIN),
                     HEARTH_ERR_FORBIDDEN);
    /* Listing: admins only. */
    int c[2] = {0, 0};
    assert_int_equal(hearth_auth_user_list(fx->a, &bob, count_visit, c), HEARTH_ERR_FORBIDDEN);
    assert_int_equal(c[1], 0);
}

static void test_5_5_5_last_admin_undeletable_and_delete_revokes(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char ta[HEARTH_TOKEN_STR_MAX], tb[HEARTH_TOKEN_STR_MAX];
    hearth_session_info admin, bob;
    login_ok(fx, SRC, "admin", ADMIN_PW, ta, &admin);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "bob", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    int c[2] = {0, 0};
    assert_int_equal(hearth_auth_user_list(fx->a, &admin, count_visit, c), HEARTH_OK);
    assert_int_equal(c[0], 2);
    assert_int_equal(c[1], 2);
    assert_int_equal(hearth_auth_user_delete(fx->a, &admin, "admin"), HEARTH_ERR_STATE);
    assert_int_equal(hearth_auth_user_delete(fx->a, &admin, "nobody"), HEARTH_ERR_NOT_FOUND);
    login_ok(fx, "192.168.1.40", "bob", BOB_PW, tb, &bob);
    assert_int_equal(hearth_auth_user_delete(fx->a, &admin, "bob"), HEARTH_OK);
    assert_int_equal(hearth_auth_session(fx->a, tb, &bob), HEARTH_ERR_AUTH);
    uint32_t ra = 0;
    assert_int_equal(login(fx, "192.168.1.40", "bob", BOB_PW, &ra), HEARTH_ERR_AUTH);
    /* With a second admin, the first may go. */
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "root2", "second admin lantern", HEARTH_ROLE_ADMIN),
                     HEARTH_OK);
    assert_int_equal(hearth_auth_user_delete(fx->a, &admin, "admin"), HEARTH_OK);
    assert_int_equal(hearth_auth_session(fx->a, ta, &admin), HEARTH_ERR_AUTH);
    /* The deleted admin's info no longer grants anything. */
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "eve", "eve lantern ferry", HEARTH_ROLE_ADMIN),
                     HEARTH_ERR_FORBIDDEN);
    restart(fx);
    char tr[HEARTH_TOKEN_STR_MAX];
    hearth_session_info r2;
    login_ok(fx, SRC, "root2", "second admin lantern", tr, &r2);
    assert_int_equal(hearth_auth_user_delete(fx->a, &r2, "root2"), HEARTH_ERR_STATE);
}

static void test_5_1_4_admin_reset_revokes_target_sessions(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char ta[HEARTH_TOKEN_STR_MAX], tb[HEARTH_TOKEN_STR_MAX];
    hearth_session_info admin, bob;
    login_ok(fx, SRC, "admin", ADMIN_PW, ta, &admin);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "bob", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    login_ok(fx, "192.168.1.40", "bob", BOB_PW, tb, &bob);
    assert_int_equal(hearth_auth_user_set_password(fx->a, &admin, "bob", "bob-short"), HEARTH_ERR_POLICY);
    assert_int_equal(hearth_auth_user_set_password(fx->a, &admin, "nobody", "fresh ferry lantern"),
                     HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_auth_user_set_password(fx->a, &admin, "bob", "fresh ferry lantern"), HEARTH_OK);
    assert_int_equal(hearth_auth_session(fx->a, tb, &bob), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_session(fx->a, ta, &admin), HEARTH_OK);
    login_ok(fx, "192.168.1.40", "bob", "fresh ferry lantern", tb, &bob);
}

static void test_5_5_5_users_max_bound(void **state)
{
    fixture *fx = *state;
    fx->cfg.users_max = 3;
    do_setup(fx);
    char ta[HEARTH_TOKEN_STR_MAX];
    hearth_session_info admin;
    login_ok(fx, SRC, "admin", ADMIN_PW, ta, &admin);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "u1", "first ferry lantern", HEARTH_ROLE_USER), HEARTH_OK);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "u2", "second ferry lantern", HEARTH_ROLE_USER), HEARTH_OK);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "u3", "third ferry lantern", HEARTH_ROLE_USER),
                     HEARTH_ERR_RANGE);
}

/* ------------------------------------------------------- brute force */

static void test_5_1_5_unknown_user_same_error_same_work(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    uint32_t ra = 0;
    uint64_t h0 = hearth_auth_test_hash_count();
    assert_int_equal(login(fx, SRC, "admin", "wrong lantern ferry", &ra), HEARTH_ERR_AUTH);
    uint64_t h1 = hearth_auth_test_hash_count();
    assert_int_equal(login(fx, "192.168.1.21", "nosuchuser", "wrong lantern ferry", &ra), HEARTH_ERR_AUTH);
    uint64_t h2 = hearth_auth_test_hash_count();
    assert_int_equal(login(fx, "192.168.1.22", "Not A Name!", "wrong lantern ferry", &ra), HEARTH_ERR_AUTH);
    uint64_t h3 = hearth_auth_test_hash_count();
    assert_int_equal(h1 - h0, 1);
    assert_int_equal(h2 - h1, 1);
    assert_int_equal(h3 - h2, 1);
    /* And it counts as a failure for that source. */
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, "192.168.1.21"), 1);
}

static void test_5_1_5_login_delays_grow_not_hashed_and_persist(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    const char *att = "203.0.113.7";
    uint32_t ra = 0;
    for (int i = 0; i < 3; i++) assert_int_equal(login(fx, att, "admin", "guess lantern ferry", &ra), HEARTH_ERR_AUTH);
    uint32_t expect[] = {2, 4, 8, 16};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(login(fx, att, "admin", "guess lantern ferry", &ra), HEARTH_ERR_AUTH);
        uint64_t h = hearth_auth_test_hash_count();
        uint64_t gen = hearth_store_generation(fx->st);
        assert_int_equal(login(fx, att, "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
        assert_int_equal(ra, expect[i]);
        assert_int_equal(hearth_auth_test_hash_count(), h);   /* not hashed */
        assert_int_equal(hearth_store_generation(fx->st), gen); /* not counted */
        assert_int_equal(hearth_auth_test_rl_failures(fx->a, att), 4 + i);
        fx->now += expect[i];
    }
    /* In a delay again; a restart (auth AND store reopened) keeps it. */
    assert_int_equal(login(fx, att, "admin", "guess lantern ferry", &ra), HEARTH_ERR_AUTH);
    restart(fx);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, att), 8);
    assert_int_equal(login(fx, att, "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    assert_int_equal(ra, 32);
    fx->now += 32;
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, att, "admin", ADMIN_PW, tok, &info);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, att), 0);
    /* The limiter record has a fixed size. */
    uint8_t buf[1];
    size_t len = 0;
    assert_int_equal(hearth_store_get(fx->st, "auth.ratelimit", buf, 0, &len), HEARTH_ERR_TOO_LARGE);
    assert_int_equal(len, hearth_rl_record_size(128));
}

/* A day of attack through the real login path: a fresh source address for
 * every attempt, one attempt per simulated second, every accepted guess a
 * real Argon2id verify and store commit. Count the guesses. */
static void test_5_1_5_day_of_many_source_attack_counted(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    int64_t start = fx->now;
    int64_t *acc = calloc(4000, sizeof *acc);
    assert_non_null(acc);
    size_t n = 0;
    for (uint32_t i = 0; fx->now < start + 86400; i++, fx->now++) {
        char src[40];
        snprintf(src, sizeof src, "100.%u.%u.%u", 64 + ((i >> 16) & 63), (i >> 8) & 255, i & 255);
        uint32_t ra = 0;
        hearth_status st = login(fx, src, "admin", "guess lantern ferry", &ra);
        if (st == HEARTH_ERR_LOCKED) continue;
        assert_int_equal(st, HEARTH_ERR_AUTH);
        assert_true(n < 4000);
        acc[n++] = fx->now;
    }
    size_t lo = 0, worst = 0;
    for (size_t hi = 0; hi < n; hi++) {
        while (acc[hi] - acc[lo] >= 60) lo++;
        if (hi - lo + 1 > worst) worst = hi - lo + 1;
    }
    print_message("login path: %zu guesses in 24 h, worst minute %zu\n", n, worst);
    assert_true(n <= 2000);
    assert_true(worst <= 10);
    /* The owner, known from setup, still logs in during the attack. */
    uint32_t ra = 0;
    assert_int_equal(login(fx, "100.64.255.1", "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, SRC, "admin", ADMIN_PW, tok, &info);
    free(acc);
}

/* Concurrency cap: with hash_concurrency = 1, a second check while one is
 * hashing gets BUSY immediately, costs no hash and no guess. */
typedef struct {
    sem_t entered;
    sem_t release;
    int armed;
} gate;

static void gate_hook(void *arg)
{
    gate *g = arg;
    if (__atomic_exchange_n(&g->armed, 0, __ATOMIC_SEQ_CST)) {
        sem_post(&g->entered);
        sem_wait(&g->release);
    }
}

typedef struct {
    fixture *fx;
    hearth_status st;
} worker_arg;

static void *login_worker(void *p)
{
    worker_arg *w = p;
    uint32_t ra = 0;
    w->st = login(w->fx, SRC, "admin", ADMIN_PW, &ra);
    return NULL;
}

static void test_5_1_5_hash_concurrency_cap_busy(void **state)
{
    fixture *fx = *state;
    fx->cfg.hash_concurrency = 1;
    do_setup(fx);
    gate g;
    sem_init(&g.entered, 0, 0);
    sem_init(&g.release, 0, 0);
    g.armed = 1;
    hearth_auth_test_set_hash_hook(fx->a, gate_hook, &g);
    worker_arg w = {fx, HEARTH_ERR_INTERNAL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, login_worker, &w), 0);
    sem_wait(&g.entered); /* the worker holds the only slot, no lock held */
    uint64_t h = hearth_auth_test_hash_count();
    uint32_t ra = 0;
    assert_int_equal(login(fx, "192.168.1.50", "admin", "guess lantern ferry", &ra), HEARTH_ERR_BUSY);
    assert_int_equal(hearth_auth_test_hash_count(), h);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, "192.168.1.50"), 0);
    /* Non-hashing calls are not blocked meanwhile (no mutex held while hashing). */
    assert_true(hearth_auth_initialized(fx->a));
    sem_post(&g.release);
    pthread_join(th, NULL);
    assert_int_equal(w.st, HEARTH_OK);
    assert_int_equal(login(fx, "192.168.1.50", "admin", ADMIN_PW, &ra), HEARTH_OK);
    hearth_auth_test_set_hash_hook(fx->a, NULL, NULL);
    sem_destroy(&g.entered);
    sem_destroy(&g.release);
}

static void test_5_1_3_rehash_on_login_with_other_parameters(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    char ta[HEARTH_TOKEN_STR_MAX];
    hearth_session_info admin;
    login_ok(fx, SRC, "admin", ADMIN_PW, ta, &admin);
    /* bob's hash made with HIGHER parameters than the current ones. */
    hearth_auth_test_set_pwhash_cost(3, 65536);
    assert_int_equal(hearth_auth_user_add(fx->a, &admin, "bob", BOB_PW, HEARTH_ROLE_USER), HEARTH_OK);
    hearth_auth_test_set_pwhash_cost(1, 8192);
    uint8_t rec[512];
    size_t len = 0;
    assert_int_equal(hearth_store_get(fx->st, "auth.user.bob", rec, sizeof rec, &len), HEARTH_OK);
    assert_non_null(memmem(rec, len, "m=64,t=3,p=1", 12));
    char tb[HEARTH_TOKEN_STR_MAX];
    hearth_session_info bob;
    login_ok(fx, "192.168.1.40", "bob", BOB_PW, tb, &bob);
    assert_int_equal(hearth_store_get(fx->st, "auth.user.bob", rec, sizeof rec, &len), HEARTH_OK);
    assert_null(memmem(rec, len, "m=64,t=3,p=1", 12));
    assert_non_null(memmem(rec, len, "m=8,t=1,p=1", 11));
    restart(fx);
    login_ok(fx, "192.168.1.40", "bob", BOB_PW, tb, &bob);
}

static void test_5_1_5_config_validated(void **state)
{
    fixture *fx = *state;
    hearth_auth *a = NULL;
    fx->cfg.rl_sources = 100000;
    assert_int_equal(hearth_auth_open(fx->st, &fx->cfg, &a), HEARTH_ERR_RANGE);
    hearth_auth_config_default(&fx->cfg);
    fx->cfg.hash_concurrency = 0;
    assert_int_equal(hearth_auth_open(fx->st, &fx->cfg, &a), HEARTH_ERR_RANGE);
    assert_null(a);
    hearth_auth_config c;
    hearth_auth_config_default(&c);
    assert_int_equal(c.rl_global_burst, 9);
    assert_int_equal(c.rl_global_refill_s, 44);
    assert_true(c.rl_global_burst + 86400 / c.rl_global_refill_s <= 2000);
}

/* ------------------------------------------------- stored-record checks */

/* One "auth.sessions" record with a single session of the @p ul bytes at
 * @p name (layout: docs/authentication.md, "Records"). */
static size_t session_record(uint8_t *rec, const char *name, uint8_t ul)
{
    size_t o = 0;
    rec[o++] = 1;                 /* version */
    rec[o++] = 0;
    rec[o++] = 1;                 /* one session */
    memset(rec + o, 0xa5, 32);    /* SHA-256 of a token */
    o += 32;
    rec[o++] = ul;
    memcpy(rec + o, name, ul);
    o += ul;
    for (int i = 0; i < 8; i++) rec[o++] = (uint8_t)(1700000000ull >> (56 - 8 * i));
    for (int i = 0; i < 8; i++) rec[o++] = (uint8_t)(1700003600ull >> (56 - 8 * i));
    return o;
}

/* F2 of docs/fuzzing.md: a session's user name with an embedded NUL ("ab\0"
 * stored with length 3) used to be loaded as "ab", a name the record does not
 * hold. The whole record must be refused (every session dropped, as for any
 * malformed sessions record), for a NUL anywhere in the name. */
static void test_5_13_1_session_user_with_nul_rejected(void **state)
{
    (void)state;
    uint8_t rec[128];
    uint32_t kept = 99;
    hearth_buf re;

    /* The same record with a clean name loads and re-encodes exactly. */
    size_t len = session_record(rec, "ab", 2);
    hearth_buf_init(&re, 1024);
    assert_int_equal(hearth_auth_test_decode_sessions(rec, len, 64, &kept, &re), HEARTH_OK);
    assert_int_equal(kept, 1);
    assert_int_equal(re.len, len);
    assert_memory_equal(re.data, rec, len);
    hearth_buf_free(&re);

    const struct {
        const char *name;
        uint8_t ul;
    } bad[] = {{"ab\0", 3}, {"a\0b", 3}, {"\0ab", 3}, {"admin\0\0\0", 8}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        len = session_record(rec, bad[i].name, bad[i].ul);
        hearth_buf_init(&re, 1024);
        kept = 99;
        hearth_status st = hearth_auth_test_decode_sessions(rec, len, 64, &kept, &re);
        if (st == HEARTH_OK) fail_msg("session name #%zu with a NUL accepted", i);
        assert_int_equal(kept, 0);
        /* Nothing kept: the state re-encodes as the empty record. */
        assert_int_equal(re.len, 3);
        hearth_buf_free(&re);
    }
}

/* F1 of docs/fuzzing.md through hearth_auth_open: the stored limiter of the
 * reproducer (empty bucket, refill reference INT64_MIN) used to lock every
 * new source out for good (retry 4294967295 s). It must be refused and the
 * documented fail-safe applied instead: an empty bucket that refills within
 * one period, never a fresh (full) one. */
static void test_5_1_5_stored_limiter_with_absurd_time_fails_safe(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    uint8_t *rec = malloc(64 * 1024);
    assert_non_null(rec);
    size_t len = 0;
    assert_int_equal(hearth_store_get(fx->st, "auth.ratelimit", rec, 64 * 1024, &len),
                     HEARTH_OK);
    assert_true(len > 20);
    memset(rec + 8, 0, 4); /* tokens 0 */
    rec[12] = 0x80;        /* refill reference INT64_MIN */
    memset(rec + 13, 0, 7);
    assert_int_equal(hearth_store_put(fx->st, "auth.ratelimit", rec, len), HEARTH_OK);
    free(rec);
    restart(fx);

    uint32_t ra = 0;
    assert_int_equal(login(fx, "198.51.100.5", "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    if (ra < 1 || ra > fx->cfg.rl_global_refill_s)
        fail_msg("retry_after %u s: not the drained bucket's <= %u s", ra,
                 fx->cfg.rl_global_refill_s);
    fx->now += ra;
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, "198.51.100.5", "admin", ADMIN_PW, tok, &info);
}

/* The limiter runs on the monotonic clock: stepping the wall clock a day
 * forward does not end a delay (nor forget the failures), stepping it back
 * two days does not lock the source out once the delay has passed. */
static void test_5_1_5_stepped_wall_clock_neither_clears_nor_locks(void **state)
{
    fixture *fx = *state;
    fx->cfg.mono_ms = fake_mono;
    fx->cfg.mono_arg = fx;
    fx->mono = 5000;
    do_setup(fx);
    uint32_t ra = 0;
    /* 3 free failures, the 4th imposes 2 s, the 5th (after it) 4 s. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(login(fx, SRC, "admin", "wrong password", &ra), HEARTH_ERR_AUTH);
        fx->mono += 100;
        fx->now += 1;
    }
    assert_int_equal(login(fx, SRC, "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    fx->mono += 2000;
    assert_int_equal(login(fx, SRC, "admin", "wrong password", &ra), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, SRC), 5);
    assert_int_equal(login(fx, SRC, "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    assert_true(ra >= 3 && ra <= 4);
    /* Wall clock one day ahead, no monotonic time passed: still locked. */
    fx->now += 86400;
    assert_int_equal(login(fx, SRC, "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    assert_true(ra >= 3 && ra <= 4);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, SRC), 5);
    /* Wall clock two days back: the delay still ends when it should. */
    fx->now -= 2 * 86400;
    assert_int_equal(login(fx, SRC, "admin", ADMIN_PW, &ra), HEARTH_ERR_LOCKED);
    assert_true(ra >= 3 && ra <= 4);
    fx->mono += (int64_t)ra * 1000;
    char tok[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    login_ok(fx, SRC, "admin", ADMIN_PW, tok, &info);
}

/* Failed logins count at once but write the limiter record at most once per
 * rl_persist_interval_s (60 s): nine failures in ten seconds are one store
 * write; the next write comes only after the interval; failures still
 * pending are written when auth is closed and survive the restart. */
static void test_5_1_5_limiter_writes_rate_limited(void **state)
{
    fixture *fx = *state;
    do_setup(fx);
    fx->now += 61; /* past the interval since setup's write */
    uint32_t ra = 0;
    uint64_t g0 = hearth_store_generation(fx->st);
    char src[32];
    for (int i = 0; i < 9; i++) {
        snprintf(src, sizeof src, "203.0.113.%d", i + 1);
        assert_int_equal(login(fx, src, "admin", "wrong password", &ra), HEARTH_ERR_AUTH);
        fx->now += 1;
    }
    assert_int_equal(hearth_store_generation(fx->st), g0 + 1);
    for (int i = 0; i < 9; i++) {
        snprintf(src, sizeof src, "203.0.113.%d", i + 1);
        assert_int_equal(hearth_auth_test_rl_failures(fx->a, src), 1);
    }
    fx->now += 60; /* one token back (44 s) and the interval over */
    assert_int_equal(login(fx, "203.0.113.50", "admin", "wrong password", &ra), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_store_generation(fx->st), g0 + 2);
    fx->now += 45; /* another token, but the interval is not over: deferred */
    assert_int_equal(login(fx, "203.0.113.51", "admin", "wrong password", &ra), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_store_generation(fx->st), g0 + 2);
    restart(fx); /* close writes what is pending */
    assert_int_equal(hearth_store_generation(fx->st), g0 + 3);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, "203.0.113.51"), 1);
    assert_int_equal(hearth_auth_test_rl_failures(fx->a, "203.0.113.9"), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_5_1_1_factory_default_requires_setup),
        T(test_5_1_1_setup_wrong_password_and_weak_admin_change_nothing),
        T(test_5_1_1_setup_success_retires_setup_password),
        T(test_5_1_5_setup_password_is_rate_limited),
        T(test_5_5_4_login_session_logout),
        T(test_5_5_4_session_expiry),
        T(test_5_5_4_sessions_max_evicts_oldest),
        T(test_5_5_4_sessions_per_account_never_evict_others),
        T(test_5_1_5_stepped_wall_clock_neither_clears_nor_locks),
        T(test_5_1_5_limiter_writes_rate_limited),
        T(test_5_1_4_change_password_revokes_other_sessions),
        T(test_5_1_5_change_password_is_rate_limited),
        T(test_5_5_5_user_management_requires_admin),
        T(test_5_5_5_last_admin_undeletable_and_delete_revokes),
        T(test_5_1_4_admin_reset_revokes_target_sessions),
        T(test_5_5_5_users_max_bound),
        T(test_5_1_5_unknown_user_same_error_same_work),
        T(test_5_1_5_login_delays_grow_not_hashed_and_persist),
        T(test_5_1_5_day_of_many_source_attack_counted),
        T(test_5_1_5_hash_concurrency_cap_busy),
        T(test_5_1_3_rehash_on_login_with_other_parameters),
        T(test_5_1_5_config_validated),
        cmocka_unit_test(test_5_13_1_session_user_with_nul_rejected),
        T(test_5_1_5_stored_limiter_with_absurd_time_fails_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
