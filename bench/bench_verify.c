/* bench_verify: time the parallel chunk verifier on a bundle file or an
 * installed slot directory, repeated, and print the median and peak RSS.
 *   bench_verify bundle BUNDLE KEYSET TRUST_DIR THREADS [RUNS]
 *   bench_verify slot   SLOT   KEYSET TRUST_DIR THREADS [RUNS]
 * Output (one line, for bench_verify.sh): "median_s=<s> bytes=<n> rss_kb=<kb>".
 * Every run includes opening and signature-checking the manifest, so the
 * figure is what hearth-boot / `bundle verify` pay, not the hashing alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hearth/bundle.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_verify bundle|slot PATH KEYSET TRUST_DIR THREADS [RUNS]\n");
        return 2;
    }
    bool slot = strcmp(argv[1], "slot") == 0;
    unsigned threads = (unsigned)strtoul(argv[5], NULL, 10);
    int runs = argc > 6 ? (int)strtol(argv[6], NULL, 10) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    hearth_trust *t = NULL;
    hearth_keyset *ks = NULL;
    if (hearth_trust_load_dir(argv[4], &t) != HEARTH_OK ||
        hearth_keyset_load(argv[3], t, 0, 0, &ks) != HEARTH_OK) {
        fprintf(stderr, "bench_verify: %s\n", hearth_err_msg());
        return 1;
    }
    double times[100];
    uint64_t bytes = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        hearth_status st;
        if (slot) {
            hearth_manifest *m = NULL;
            st = hearth_slot_verify_dir(argv[2], ks, NULL, threads, &m);
            if (st == HEARTH_OK) bytes = m->payload_total;
            hearth_manifest_free(m);
        } else {
            hearth_bundle *b = NULL;
            st = hearth_bundle_open(argv[2], ks, &b);
            if (st == HEARTH_OK) st = hearth_bundle_verify_payloads(b, threads, NULL, NULL);
            if (st == HEARTH_OK) bytes = hearth_bundle_manifest(b)->payload_total;
            hearth_bundle_free(b);
        }
        times[r] = now_s() - t0;
        if (st != HEARTH_OK) {
            fprintf(stderr, "bench_verify: %s: %s\n", hearth_status_name(st), hearth_err_msg());
            return 1;
        }
    }
    qsort(times, (size_t)runs, sizeof times[0], cmp_d);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("median_s=%.6f bytes=%llu rss_kb=%ld\n", times[runs / 2], (unsigned long long)bytes,
           ru.ru_maxrss);
    hearth_keyset_free(ks);
    hearth_trust_free(t);
    return 0;
}
