/*
 * Passwords in request bodies do not survive in freed heap memory
 * (EN 303 645 5.4-1): hearth_json_parse's copy of the body and every string
 * cJSON allocates are wiped before they are freed, on success, on a schema
 * failure and when cJSON gives up half-way through a tree.
 *
 * This executable replaces the process's malloc family with a bump
 * allocator that never reuses memory and, on every free, scans the block for
 * the test password. Symbol interposition makes libcjson.so, libc and the
 * libraries use it too, so a block freed anywhere without wiping is seen.
 * As a control each test also checks that the allocator saw the block that
 * held the parsed password being freed (so "nothing found" means wiped, not
 * unobserved). Not built under sanitizers, which bring their own malloc.
 */
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "hearth/json.h"

/* ------------------------------------------------------ the allocator */

#define ARENA_SIZE ((size_t)256 << 20)
#define ALIGN 16u

static unsigned char *arena;
static size_t arena_used;
static pthread_mutex_t arena_mu = PTHREAD_MUTEX_INITIALIZER;

static const char SECRET[] = "Wipe-Me-Sekr1t-9f3Q";

/* Observations, reset by each test. */
static unsigned secret_hits;        /* freed blocks still holding SECRET */
static unsigned watched_freed;      /* freed blocks containing watch_addr */
static const void *watch_addr;

typedef struct {
    size_t size;
    unsigned char pad[ALIGN - sizeof(size_t)]; /* 16 bytes with 4- and 8-byte size_t */
} hdr;
_Static_assert(sizeof(hdr) == ALIGN, "header keeps 16-byte alignment");

static void *bump(size_t n, size_t align)
{
    if (align < ALIGN) align = ALIGN;
    pthread_mutex_lock(&arena_mu);
    if (arena == NULL) {
        void *m = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (m == MAP_FAILED) {
            pthread_mutex_unlock(&arena_mu);
            return NULL;
        }
        arena = m;
    }
    size_t start = arena_used + sizeof(hdr);
    start = (start + align - 1) & ~(align - 1);
    if (n > ARENA_SIZE || start + n > ARENA_SIZE) {
        pthread_mutex_unlock(&arena_mu);
        return NULL;
    }
    arena_used = start + n;
    unsigned char *p = arena + start;
    ((hdr *)(void *)(p - sizeof(hdr)))->size = n;
    pthread_mutex_unlock(&arena_mu);
    return p;
}

static bool ours(const void *p)
{
    return arena != NULL && (const unsigned char *)p >= arena &&
           (const unsigned char *)p < arena + ARENA_SIZE;
}

static size_t size_of(const void *p)
{
    return ((const hdr *)(const void *)((const unsigned char *)p - sizeof(hdr)))->size;
}

void *malloc(size_t n)
{
    return bump(n, ALIGN);
}

void free(void *p)
{
    if (p == NULL || !ours(p)) return;
    size_t n = size_of(p);
    const unsigned char *b = p;
    if (watch_addr != NULL && (const unsigned char *)watch_addr >= b &&
        (const unsigned char *)watch_addr < b + n)
        watched_freed++;
    if (n >= sizeof SECRET - 1 && memmem(b, n, SECRET, sizeof SECRET - 1) != NULL) secret_hits++;
    /* never reused: what was left in the block stays visible to the scan */
}

void *calloc(size_t k, size_t n)
{
    if (n != 0 && k > SIZE_MAX / n) return NULL;
    void *p = bump(k * n, ALIGN);
    if (p != NULL) memset(p, 0, k * n);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (p == NULL) return malloc(n);
    void *q = malloc(n);
    if (q == NULL) return NULL;
    size_t old = ours(p) ? size_of(p) : n;
    memcpy(q, p, old < n ? old : n);
    free(p);
    return q;
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = bump(n, align);
    if (p == NULL) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    return bump(n, align);
}

void *memalign(size_t align, size_t n)
{
    return bump(n, align);
}

size_t malloc_usable_size(void *p)
{
    return p != NULL && ours(p) ? size_of(p) : 0;
}

/* ------------------------------------------------------------ tests */

static const hearth_json_field SCHEMA[] = {
    {.name = "username", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
     .max_len = 32},
    {.name = "password", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
     .max_len = 128},
};

static void reset(void)
{
    secret_hits = 0;
    watched_freed = 0;
    watch_addr = NULL;
}

static hearth_status parse(const char *text, hearth_json_value v[2], hearth_json_doc **doc)
{
    /* The body lives on this stack frame, as in a caller; wiped below. */
    char body[256];
    size_t len = strlen(text);
    assert_true(len < sizeof body);
    memcpy(body, text, len);
    hearth_status st =
        hearth_json_parse(body, len, SCHEMA, 2, v, doc, NULL, 0, NULL, 0);
    memset(body, 0, sizeof body);
    return st;
}

static void test_5_4_1_parsed_password_wiped_on_free(void **state)
{
    (void)state;
    reset();
    hearth_json_value v[2];
    hearth_json_doc *doc = NULL;
    assert_int_equal(parse("{\"username\":\"admin\",\"password\":\"Wipe-Me-Sekr1t-9f3Q\"}", v,
                           &doc),
                     HEARTH_OK);
    assert_string_equal(v[1].str, SECRET);
    assert_true(ours(v[1].str)); /* control: the string is in the observed heap */
    /* The body copy was freed during the parse: no trace of it. */
    assert_int_equal(secret_hits, 0);
    watch_addr = v[1].str;
    hearth_json_doc_free(doc);
    assert_int_equal(watched_freed, 1); /* control: its block was freed and scanned */
    assert_int_equal(secret_hits, 0);
}

static void test_5_4_1_password_wiped_when_schema_rejects(void **state)
{
    (void)state;
    reset();
    hearth_json_value v[2];
    hearth_json_doc *doc = NULL;
    /* Valid JSON, password parsed, then an unknown field fails validation. */
    assert_int_equal(parse("{\"password\":\"Wipe-Me-Sekr1t-9f3Q\",\"username\":\"admin\","
                           "\"extra\":1}",
                           v, &doc),
                     HEARTH_ERR_INVALID);
    assert_null(doc);
    assert_int_equal(secret_hits, 0);
}

static void test_5_4_1_password_wiped_when_cjson_gives_up(void **state)
{
    (void)state;
    reset();
    hearth_json_value v[2];
    hearth_json_doc *doc = NULL;
    /* Passes the pre-scan (tokens and depth are fine), but the brackets do
     * not match: cJSON has already copied the password when it fails. */
    assert_int_equal(parse("{\"password\":\"Wipe-Me-Sekr1t-9f3Q\"]", v, &doc),
                     HEARTH_ERR_INVALID);
    assert_null(doc);
    assert_int_equal(secret_hits, 0);
}

/* Control for the whole method: a block freed without wiping is found. */
static void test_control_unwiped_block_is_detected(void **state)
{
    (void)state;
    reset();
    /* Through volatile pointers: the compiler may not elide the pair. */
    void *(*volatile do_malloc)(size_t) = malloc;
    void (*volatile do_free)(void *) = free;
    char *p = do_malloc(64);
    assert_non_null(p);
    memcpy(p, SECRET, sizeof SECRET);
    do_free(p);
    assert_int_equal(secret_hits, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_unwiped_block_is_detected),
        cmocka_unit_test(test_5_4_1_parsed_password_wiped_on_free),
        cmocka_unit_test(test_5_4_1_password_wiped_when_schema_rejects),
        cmocka_unit_test(test_5_4_1_password_wiped_when_cjson_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
