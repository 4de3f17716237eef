/* Argon2id password hashing through libsodium (EN 303 645 5.1-3): memory-hard
 * so that a stolen hash costs an attacker 32 MiB and six passes per guess. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "auth_internal.h"

_Static_assert(HEARTH_PW_HASH_MAX == crypto_pwhash_STRBYTES,
               "HEARTH_PW_HASH_MAX must match libsodium's encoded hash size");

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc = -1;

/* The Argon2id cost is fixed in shipped code. Only the unit tests' build of
 * this file (object library hearth_auth_test_hooks, HEARTH_TEST_HOOKS) can
 * lower it and count computations; libhearth and the programs have neither
 * the variables nor the setter (tests/hardening/test_no_test_hooks.sh). */
#ifdef HEARTH_TEST_HOOKS
static _Atomic unsigned long long pw_opslimit = HEARTH_ARGON2_OPSLIMIT;
static _Atomic size_t pw_memlimit = HEARTH_ARGON2_MEMLIMIT;
static _Atomic uint64_t pw_hash_count;
#define PW_OPSLIMIT() atomic_load(&pw_opslimit)
#define PW_MEMLIMIT() atomic_load(&pw_memlimit)
#define PW_COUNT() atomic_fetch_add(&pw_hash_count, 1)
#else
#define PW_OPSLIMIT() ((unsigned long long)HEARTH_ARGON2_OPSLIMIT)
#define PW_MEMLIMIT() ((size_t)HEARTH_ARGON2_MEMLIMIT)
#define PW_COUNT() ((void)0)
#endif

static void sodium_once_init(void)
{
    sodium_rc = sodium_init() < 0 ? -1 : 0;
}

hearth_status hearth_auth_sodium_init(void)
{
    if (pthread_once(&sodium_once, sodium_once_init) != 0 || sodium_rc != 0)
        return hearth_err(HEARTH_ERR_CRYPTO, "libsodium initialisation failed");
    return HEARTH_OK;
}

hearth_status hearth_pw_hash(const char *pw, size_t len, char out[HEARTH_PW_HASH_MAX])
{
    HEARTH_ENSURE(pw != NULL && out != NULL, HEARTH_ERR_INVALID);
    if (len > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "password longer than %d bytes", HEARTH_PW_MAX);
    HEARTH_GUARD(hearth_auth_sodium_init());
    PW_COUNT();
    if (crypto_pwhash_str_alg(out, pw, len, PW_OPSLIMIT(), PW_MEMLIMIT(),
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        hearth_memzero(out, HEARTH_PW_HASH_MAX);
        return hearth_err(HEARTH_ERR_NOMEM, "Argon2id: cannot allocate its working memory");
    }
    return HEARTH_OK;
}

hearth_status hearth_pw_verify(const char *hash, const char *pw, size_t len)
{
    HEARTH_ENSURE(hash != NULL && pw != NULL, HEARTH_ERR_INVALID);
    if (strnlen(hash, HEARTH_PW_HASH_MAX) >= HEARTH_PW_HASH_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "encoded hash not terminated");
    /* The algorithm is named in the stored string (5.5-3); only Argon2 is
     * accepted, anything else is a format we do not know. */
    if (strncmp(hash, "$argon2id$", 10) != 0 && strncmp(hash, "$argon2i$", 9) != 0)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "password hash algorithm not supported");
    HEARTH_GUARD(hearth_auth_sodium_init());
    PW_COUNT();
    if (crypto_pwhash_str_verify(hash, pw, len) != 0)
        return hearth_err(HEARTH_ERR_AUTH, "wrong credentials");
    return HEARTH_OK;
}

bool hearth_pw_needs_rehash(const char *hash)
{
    if (hearth_auth_sodium_init() != HEARTH_OK) return false;
    if (strncmp(hash, "$argon2id$", 10) != 0) return true;
    return crypto_pwhash_str_needs_rehash(hash, PW_OPSLIMIT(), PW_MEMLIMIT()) != 0;
}

#ifdef HEARTH_TEST_HOOKS

void hearth_auth_test_set_pwhash_cost(unsigned long long opslimit, size_t memlimit)
{
    atomic_store(&pw_opslimit, opslimit ? opslimit : HEARTH_ARGON2_OPSLIMIT);
    atomic_store(&pw_memlimit, memlimit ? memlimit : HEARTH_ARGON2_MEMLIMIT);
}

uint64_t hearth_auth_test_hash_count(void)
{
    return atomic_load(&pw_hash_count);
}
#endif
