/* announce_sim: N simulated devices acting on update announcements against
 * a real HTTPS update repository (bench/bench_announce.sh, docs/fleet.md
 * "Announcing an update").
 *
 * One process, one thread, libcurl's multi interface (no thread per
 * device). The announcements arrive on standard input as
 * "<topic> <payload>" lines (mosquitto_sub -F '%t %p' subscribed to
 * hearth/+/updates, i.e. what `hearth-fleet announce` really published
 * through the broker). Each device does what hearthd does with one: parse
 * it with the device's own parser (hearth_link_update_parse), wait
 * hearth_link_update_due_ms() (delay_s plus a uniform share of spread_s),
 * then run its update check: a new mutual-TLS connection to the repository
 * (no connection or TLS session shared with another device) and a GET of
 * the manifest. A failed check is retried after the one backoff module's
 * delay (hearth_backoff, as the updater does).
 *
 * Output: key=value summary lines on stdout (times from the first
 * announcement received); with --curve FILE one line per 100 ms bin:
 * seconds since the first announcement, checks started, checks completed,
 * checks in flight, repository CPU % (from /proc/<pid>/stat of --server-pid,
 * repeatable), checks completed in the last 1 s, devices done.
 *
 * Usage: announce_sim --url URL --ca CA --cert CERT --key KEY --devices N
 *                     [--server-pid PID ...] [--curve FILE]
 *                     [--timeout-ms 60000] [--max-ms 900000]
 * Exit 0 when every one of the N devices was announced and fetched. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "hearth/backoff.h"
#include "hearth/link.h"

#define BIN_MS 100
#define MAX_BINS 36000 /* one hour */
#define PIDS_MAX 8

typedef struct {
    int64_t announced, due, start, done; /* monotonic ms; 0: not yet */
    unsigned attempts;
    bool ok, retry;
    hearth_backoff bo;
} device;

typedef struct {
    int started, completed, inflight, window;
    double cpu_pct;
    int done_total;
} bin;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------- due-time heap */

typedef struct {
    int64_t due;
    size_t dev;
} entry;

static device *g_dev;
static entry *g_heap;
static size_t g_heap_n, g_heap_cap;

static void heap_push(int64_t due, size_t d)
{
    if (g_heap_n == g_heap_cap) {
        g_heap_cap = g_heap_cap ? 2 * g_heap_cap : 1024;
        g_heap = realloc(g_heap, g_heap_cap * sizeof *g_heap);
        if (g_heap == NULL) abort();
    }
    size_t i = g_heap_n++;
    g_heap[i] = (entry){due, d};
    while (i > 0 && g_heap[i].due < g_heap[(i - 1) / 2].due) {
        size_t p = (i - 1) / 2;
        entry t = g_heap[p];
        g_heap[p] = g_heap[i];
        g_heap[i] = t;
        i = p;
    }
}

static entry heap_pop(void)
{
    entry top = g_heap[0];
    g_heap[0] = g_heap[--g_heap_n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g_heap_n && g_heap[l].due < g_heap[m].due) m = l;
        if (r < g_heap_n && g_heap[r].due < g_heap[m].due) m = r;
        if (m == i) break;
        entry t = g_heap[m];
        g_heap[m] = g_heap[i];
        g_heap[i] = t;
        i = m;
    }
    return top;
}

/* ---------------------------------------------------- devices by id */

static size_t *g_slots, g_slot_mask; /* device index + 1, 0 free */

static size_t *slot_of(char **ids, const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = (size_t)h & g_slot_mask;; i = (i + 1) & g_slot_mask)
        if (g_slots[i] == 0 || strcmp(ids[g_slots[i] - 1], id) == 0) return &g_slots[i];
}

/* ---------------------------------------------------- repository CPU */

static int g_pids[PIDS_MAX], g_npids;

static double server_cpu_s(void)
{
    double s = 0;
    long tck = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < g_npids; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", g_pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            s += (double)(ut + st) / (double)tck;
    }
    return s;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p, (void)ud;
    return sz * n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr, "usage: announce_sim --url URL --ca CA --cert CERT --key KEY --devices N\n"
                    "                    [--server-pid PID ...] [--curve FILE] [--timeout-ms MS] [--max-ms MS]\n");
}

int main(int argc, char **argv)
{
    const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL, *curve = NULL;
    long n = 0, timeout_ms = 60000, max_ms = 900000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--url") == 0) url = v;
        else if (strcmp(o, "--ca") == 0) ca = v;
        else if (strcmp(o, "--cert") == 0) cert = v;
        else if (strcmp(o, "--key") == 0) key = v;
        else if (strcmp(o, "--curve") == 0) curve = v;
        else if (strcmp(o, "--devices") == 0) n = strtol(v, NULL, 10);
        else if (strcmp(o, "--timeout-ms") == 0) timeout_ms = strtol(v, NULL, 10);
        else if (strcmp(o, "--max-ms") == 0) max_ms = strtol(v, NULL, 10);
        else if (strcmp(o, "--server-pid") == 0 && g_npids < PIDS_MAX) g_pids[g_npids++] = (int)strtol(v, NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (url == NULL || ca == NULL || cert == NULL || key == NULL || n <= 0 || n > 1000000 || timeout_ms <= 0 ||
        max_ms <= 0) {
        usage();
        return 2;
    }
    g_dev = calloc((size_t)n, sizeof *g_dev);
    size_t slots = 1;
    while (slots < 2 * (size_t)n) slots <<= 1;
    g_slots = calloc(slots, sizeof *g_slots);
    g_slot_mask = slots - 1;
    bin *bins = calloc(MAX_BINS, sizeof *bins);
    char **ids = calloc((size_t)n, sizeof *ids);
    if (g_dev == NULL || g_slots == NULL || bins == NULL || ids == NULL) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    if (multi == NULL) return 1;

    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    bool in_open = true;
    char line[4096];
    size_t line_len = 0;
    size_t announced = 0, done = 0, refused = 0, duplicates = 0;
    unsigned long failed_attempts = 0, attempts = 0;
    int inflight = 0;
    int64_t t0 = 0, last_bin_ms = 0;
    struct timespec t0_real = {0, 0};
    int64_t max_wait = 0, last_announce = 0;
    int nbins = 0;
    double cpu_start = server_cpu_s(), cpu_prev = cpu_start, cpu_peak_1s = 0;
    int64_t *samp_t = calloc(MAX_BINS, sizeof *samp_t);
    double *samp_c = calloc(MAX_BINS, sizeof *samp_c);
    int samp_j = 0;
    int64_t prev_t = 0;
    if (samp_t == NULL || samp_c == NULL) return 1;
    hearth_backoff_config bc;
    hearth_backoff_config_default(&bc, "announce-sim");

    while (done < (size_t)n) {
        int64_t now = now_ms();
        if (t0 != 0 && now - t0 > max_ms) break;
        /* Announcements in. */
        while (in_open) {
            char c[8192];
            ssize_t r = read(0, c, sizeof c);
            if (r == 0) in_open = false;
            if (r <= 0) break;
            for (ssize_t k = 0; k < r; k++) {
                if (c[k] != '\n') {
                    if (line_len < sizeof line - 1) line[line_len++] = c[k];
                    continue;
                }
                line[line_len] = '\0';
                line_len = 0;
                char *sp = strchr(line, ' ');
                hearth_link_update_hint h;
                uint64_t due = 0;
                if (sp == NULL ||
                    hearth_link_update_parse((const uint8_t *)sp + 1, strlen(sp + 1), &h) != HEARTH_OK ||
                    hearth_link_update_due_ms(&h, &due) != HEARTH_OK) {
                    refused++;
                    continue;
                }
                *sp = '\0';
                size_t *slot = slot_of(ids, line);
                if (*slot != 0) {
                    /* The same device again: like hearthd, keep the earlier time. */
                    device *d = &g_dev[*slot - 1];
                    duplicates++;
                    if (d->start == 0 && now + (int64_t)due < d->due) {
                        d->due = now + (int64_t)due;
                        heap_push(d->due, *slot - 1);
                    }
                    continue;
                }
                if (announced >= (size_t)n) {
                    refused++;
                    continue;
                }
                if (t0 == 0) {
                    t0 = last_bin_ms = prev_t = now;
                    clock_gettime(CLOCK_REALTIME, &t0_real);
                }
                device *d = &g_dev[announced];
                ids[announced] = strdup(line);
                d->announced = now;
                d->due = now + (int64_t)due;
                if ((int64_t)due > max_wait) max_wait = (int64_t)due;
                last_announce = now;
                if (hearth_backoff_init(&d->bo, &bc) != HEARTH_OK) return 1;
                *slot = announced + 1;
                heap_push(d->due, announced++);
            }
        }
        /* Checks due: one new connection each. */
        while (g_heap_n > 0 && g_heap[0].due <= now) {
            entry en = heap_pop();
            size_t i = en.dev;
            device *d = &g_dev[i];
            if (en.due != d->due || (d->start != 0 && !d->retry)) continue; /* superseded */
            d->retry = false;
            CURL *e = curl_easy_init();
            if (e == NULL) return 1;
            curl_easy_setopt(e, CURLOPT_URL, url);
            curl_easy_setopt(e, CURLOPT_CAINFO, ca);
            curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
            curl_easy_setopt(e, CURLOPT_SSLKEY, key);
            curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
            curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
            curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
            curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
            curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)(uintptr_t)i);
            if (curl_multi_add_handle(multi, e) != CURLM_OK) return 1;
            if (d->start == 0) d->start = now;
            d->attempts++;
            attempts++;
            inflight++;
            if (nbins < MAX_BINS) bins[nbins].started++;
        }
        /* Wait for the network, an announcement or the next due check. */
        int wait = BIN_MS;
        if (g_heap_n > 0) {
            int64_t left = g_heap[0].due - now;
            if (left < wait) wait = left < 0 ? 0 : (int)left;
        }
        struct curl_waitfd wfd = {.fd = 0, .events = CURL_WAIT_POLLIN};
        curl_multi_poll(multi, in_open ? &wfd : NULL, in_open ? 1 : 0, wait, NULL);
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left_msgs;
        now = now_ms();
        while ((msg = curl_multi_info_read(multi, &left_msgs)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *e = msg->easy_handle;
            void *p = NULL;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &p);
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            size_t i = (size_t)(uintptr_t)p;
            device *d = &g_dev[i];
            inflight--;
            if (msg->data.result == CURLE_OK && code == 200) {
                d->ok = true;
                d->done = now;
                done++;
                if (nbins < MAX_BINS) bins[nbins].completed++;
            } else {
                failed_attempts++;
                if (failed_attempts <= 5)
                    fprintf(stderr, "announce_sim: %s: check failed: %s (HTTP %ld)\n", ids[i],
                            curl_easy_strerror(msg->data.result), code);
                hearth_backoff_reason why =
                    msg->data.result == CURLE_OK ? hearth_backoff_reason_http(code) : HEARTH_BACKOFF_FAILED;
                d->due = now + (int64_t)hearth_backoff_failed(&d->bo, why, 0);
                d->retry = true;
                heap_push(d->due, i);
            }
            curl_multi_remove_handle(multi, e);
            curl_easy_cleanup(e);
        }
        /* 100 ms bins from the first announcement. */
        while (t0 != 0 && now - last_bin_ms >= BIN_MS && nbins < MAX_BINS) {
            double c = server_cpu_s();
            bin *b = &bins[nbins];
            b->inflight = inflight;
            b->cpu_pct = now > prev_t ? (c - cpu_prev) * 100.0 * 1000.0 / (double)(now - prev_t) : b[-1 * (nbins > 0)].cpu_pct;
            prev_t = now;
            b->done_total = (int)done;
            /* The busiest second by the clock, not by bins: a loaded
             * machine can hold this loop up past several bins. */
            samp_t[nbins] = now;
            samp_c[nbins] = c;
            while (samp_j < nbins && samp_t[samp_j + 1] <= now - 1000) samp_j++;
            if (samp_t[samp_j] <= now - 1000) {
                double r = (c - samp_c[samp_j]) * 100.0 * 1000.0 / (double)(now - samp_t[samp_j]);
                if (r > cpu_peak_1s) cpu_peak_1s = r;
            }
            cpu_prev = c;
            last_bin_ms += BIN_MS;
            nbins++;
        }
    }
    double cpu_total = server_cpu_s() - cpu_start;

    /* Peak checks per second: the most completed in any 10 consecutive bins. */
    int peak_done = 0, peak_started = 0;
    for (int b = 0; b < nbins; b++) {
        int sd = 0, ss = 0;
        for (int k = b; k > b - 10 && k >= 0; k--) sd += bins[k].completed, ss += bins[k].started;
        bins[b].window = sd;
        if (sd > peak_done) peak_done = sd;
        if (ss > peak_started) peak_started = ss;
    }
    int64_t *lat = calloc(done + 1, sizeof *lat), *fin = calloc(done + 1, sizeof *fin);
    size_t k = 0;
    for (size_t i = 0; i < announced; i++)
        if (g_dev[i].ok) {
            lat[k] = g_dev[i].done - g_dev[i].start;
            fin[k] = g_dev[i].done - t0;
            k++;
        }
    qsort(lat, k, sizeof *lat, cmp_i64);
    qsort(fin, k, sizeof *fin, cmp_i64);
    size_t n99 = ((size_t)n * 99 + 99) / 100;
    printf("devices=%ld\nannounced=%zu\nrefused_announcements=%zu\nduplicate_announcements=%zu\nfetched=%zu\n"
           "not_fetched=%zu\n", n, announced, refused, duplicates, done, (size_t)n - done);
    printf("attempts=%lu\nfailed_attempts=%lu\nattempts_per_device=%.3f\n", attempts, failed_attempts,
           done > 0 ? (double)attempts / (double)done : 0.0);
    printf("peak_checks_started_per_s=%d\npeak_checks_done_per_s=%d\n", peak_started, peak_done);
    printf("t99_ms=%lld\nt100_ms=%lld\n", k >= n99 && n99 > 0 ? (long long)fin[n99 - 1] : -1LL,
           k == (size_t)n ? (long long)fin[k - 1] : -1LL);
    printf("check_p50_ms=%lld\ncheck_p99_ms=%lld\ncheck_max_ms=%lld\n", k ? (long long)lat[k / 2] : -1LL,
           k ? (long long)lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] : -1LL, k ? (long long)lat[k - 1] : -1LL);
    printf("announcements_span_ms=%lld\nlongest_wait_ms=%lld\n", (long long)(last_announce - t0), (long long)max_wait);
    printf("t0_unix=%lld.%06ld\n", (long long)t0_real.tv_sec, t0_real.tv_nsec / 1000);
    printf("server_cpu_s=%.2f\nserver_cpu_peak_pct_1s=%.0f\n", cpu_total, cpu_peak_1s);
    if (curve != NULL) {
        FILE *f = fopen(curve, "w");
        if (f != NULL) {
            fprintf(f, "# t_s started/s completed/s in_flight repo_cpu_pct completed_last_1s devices_done\n");
            for (int b = 0; b < nbins; b++)
                fprintf(f, "%.1f %d %d %d %.0f %d %d\n", (b + 1) * BIN_MS / 1000.0, bins[b].started * 1000 / BIN_MS,
                        bins[b].completed * 1000 / BIN_MS, bins[b].inflight, bins[b].cpu_pct, bins[b].window,
                        bins[b].done_total);
            fclose(f);
        }
    }
    for (size_t i = 0; i < announced; i++) free(ids[i]);
    free(ids);
    free(lat);
    free(fin);
    free(bins);
    free(samp_t);
    free(samp_c);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return done == (size_t)n ? 0 : 1;
}
