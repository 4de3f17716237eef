/* Password hashing latency (EN 303 645 5.1-3, 5.1-5).
 *
 * Measures one login's Argon2id work (hearth_pw_verify) with Hearth's
 * parameters (HEARTH_ARGON2_MEMLIMIT = 32 MiB, opslimit 6, p = 1) and, in the
 * same run and interleaved, a verify with OWASP's minimum (19 MiB, t = 2) as
 * the reference. Prints p50/p95 of each and the ratio. Target for Hearth:
 * login p50 50-300 ms on this machine.
 *
 *   bench_pwhash [runs]     (default 30)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

/* Reference: OWASP Password Storage Cheat Sheet minimum for Argon2id. */
#define REF_MEMLIMIT (19u * 1024u * 1024u)
#define REF_OPSLIMIT 2u

#include "hearth/auth.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    int runs = 30;
    if (argc > 1) {
        char *end = NULL;
        long r = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || r < 3 || r > 10000) {
            fprintf(stderr, "usage: %s [runs 3..10000]\n", argv[0]);
            return 2;
        }
        runs = (int)r;
    }
    if (sodium_init() < 0) return 1;
    const char *pw = "Tr4in-Lantern-Quiet-87";
    size_t len = strlen(pw);
    double *ours = calloc((size_t)runs, sizeof *ours);
    double *ref = calloc((size_t)runs, sizeof *ref);
    if (ours == NULL || ref == NULL) return 1;
    char hash[HEARTH_PW_HASH_MAX];
    char rhash[crypto_pwhash_STRBYTES];

    for (int i = 0; i < runs; i++) {
        /* Interleaved so both see the same machine load. A login is one
         * verify, so the verify alone is the figure that matters. */
        if (hearth_pw_hash(pw, len, hash) != HEARTH_OK) {
            fprintf(stderr, "hearth hash failed\n");
            return 1;
        }
        double t0 = now_ms();
        if (hearth_pw_verify(hash, pw, len) != HEARTH_OK) {
            fprintf(stderr, "hearth verify failed\n");
            return 1;
        }
        double t1 = now_ms();
        if (crypto_pwhash_str_alg(rhash, pw, len, REF_OPSLIMIT, REF_MEMLIMIT,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
            fprintf(stderr, "reference hash failed\n");
            return 1;
        }
        double t2 = now_ms();
        if (crypto_pwhash_str_verify(rhash, pw, len) != 0) {
            fprintf(stderr, "reference verify failed\n");
            return 1;
        }
        double t3 = now_ms();
        ours[i] = t1 - t0;
        ref[i] = t3 - t2;
    }
    double o50 = pct(ours, runs, 0.50), o95 = pct(ours, runs, 0.95);
    double r50 = pct(ref, runs, 0.50), r95 = pct(ref, runs, 0.95);
    printf("bench_pwhash: %d logins (one Argon2id verify each)\n", runs);
    printf("  hearth    argon2id m=%u KiB t=%u p=1 : p50 %7.1f ms  p95 %7.1f ms\n",
           HEARTH_ARGON2_MEMLIMIT / 1024, HEARTH_ARGON2_OPSLIMIT, o50, o95);
    printf("  reference OWASP minimum m=%u KiB t=%u p=1 : p50 %7.1f ms  p95 %7.1f ms\n",
           (unsigned)(REF_MEMLIMIT / 1024), (unsigned)REF_OPSLIMIT, r50, r95);
    printf("  ratio hearth/reference: p50 %.2f  p95 %.2f\n", o50 / r50, o95 / r95);
    printf("  target login p50 50-300 ms: %s\n",
           (o50 >= 50.0 && o50 <= 300.0) ? "met" : "NOT met");
    free(ours);
    free(ref);
    return 0;
}
