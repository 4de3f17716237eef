/* outbox_tool: drives the outbox for tests/fault/test_outbox_powercut.sh.
 *
 *   outbox_tool work DIR [OPS]   run the fixed workload, printing "k" on
 *                                stdout once operation k has returned
 *   outbox_tool failsync DIR     with HEARTH_FAULT_FAIL=outbox.sync: a put
 *                                (op 5's record) and an ack of the oldest
 *                                must both report HEARTH_ERR_IO
 *   outbox_tool check DIR DONE   reopen after a kill during operation
 *                                DONE+1: the queue must be exactly what a
 *                                model of the drop policy holds after DONE
 *                                or after DONE+1 operations (never a mix,
 *                                never a damaged record), and the outbox
 *                                must take and keep a new record
 *
 * The workload puts records of all three classes and payload sizes up to
 * 900 bytes into an outbox bounded to 6 records and 2000 payload bytes,
 * acknowledges the oldest and the second oldest now and then, so that it
 * passes through drops, out-of-order acks and compactions. The MAC key is
 * derived from a public label: a throwaway test key, never a device's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hearth/outbox.h"
#include "hearth/util.h"

#define KEY_LABEL "hearth outbox throwaway test key v1"
#define OPS_DEFAULT 36 /* ops are numbered 1..36; the check adds "op64" */
#define MAX_RECORDS 6
#define MAX_BYTES 2000

typedef enum { OP_PUT, OP_ACK_FIRST, OP_ACK_SECOND } op_kind;

static op_kind op_of(int k)
{
    if (k % 4 == 0) return OP_ACK_FIRST;
    if (k % 7 == 0) return OP_ACK_SECOND;
    return OP_PUT;
}

static hearth_outbox_class class_of(int k)
{
    return (hearth_outbox_class)(k % 3);
}

static const char *topic_of(int k)
{
    static const char *t[] = {"events", "state", "telemetry"};
    return t[k % 3];
}

/* "op<k>:" then filler: self-describing, so damage shows. */
static size_t payload_of(int k, uint8_t *out, size_t cap)
{
    int n = snprintf((char *)out, cap, "op%d:", k);
    size_t len = (size_t)n + (size_t)(k * 137 % 900);
    if (len > cap) len = cap;
    for (size_t i = (size_t)n; i < len; i++) out[i] = (uint8_t)('a' + (k + (int)i) % 26);
    return len;
}

static void derive_key(uint8_t key[HEARTH_OUTBOX_KEY_LEN])
{
    if (hearth_sha256(KEY_LABEL, strlen(KEY_LABEL), key) != HEARTH_OK) exit(3);
}

static hearth_outbox *open_box(const char *dir)
{
    uint8_t key[HEARTH_OUTBOX_KEY_LEN];
    derive_key(key);
    hearth_outbox_config cfg = {.max_records = MAX_RECORDS, .max_bytes = MAX_BYTES};
    hearth_outbox *o = NULL;
    hearth_status st = hearth_outbox_open(dir, key, &cfg, &o);
    hearth_memzero(key, sizeof key);
    if (st != HEARTH_OK) {
        fprintf(stderr, "open %s: %s\n", dir, hearth_err_msg());
        exit(1);
    }
    return o;
}

static hearth_outbox_record rec;

/* Seq of the n-th (0-based) queued record, or 0. */
static uint64_t nth_seq(hearth_outbox *o, int n)
{
    uint64_t after = 0;
    for (int i = 0; i <= n; i++) {
        if (hearth_outbox_next(o, after, &rec) != HEARTH_OK) return 0;
        after = rec.seq;
    }
    return after;
}

static int work(const char *dir, int ops)
{
    hearth_outbox *o = open_box(dir);
    static uint8_t p[1024];
    for (int k = 1; k <= ops; k++) {
        hearth_status st = HEARTH_OK;
        op_kind kind = op_of(k);
        if (kind == OP_PUT) {
            size_t len = payload_of(k, p, sizeof p);
            st = hearth_outbox_put(o, class_of(k), topic_of(k), p, len, NULL);
            if (st == HEARTH_ERR_BUSY) st = HEARTH_OK; /* refused by the drop policy: modelled */
        } else {
            uint64_t seq = nth_seq(o, kind == OP_ACK_FIRST ? 0 : 1);
            if (seq != 0) st = hearth_outbox_ack(o, seq);
        }
        if (st != HEARTH_OK) {
            fprintf(stderr, "op %d: %s\n", k, hearth_err_msg());
            return 1;
        }
        char line[16];
        int n = snprintf(line, sizeof line, "%d\n", k);
        if (write(1, line, (size_t)n) != n) return 1;
    }
    hearth_outbox_close(o);
    return 0;
}

/* Every fdatasync fails: put and ack must say so (and, as check then
 * shows, change nothing on disk). */
static int failsync(const char *dir)
{
    hearth_outbox *o = open_box(dir);
    static uint8_t p[1024];
    size_t len = payload_of(5, p, sizeof p);
    hearth_status put = hearth_outbox_put(o, class_of(5), topic_of(5), p, len, NULL);
    uint64_t first = nth_seq(o, 0);
    hearth_status ack = first != 0 ? hearth_outbox_ack(o, first) : HEARTH_ERR_NOT_FOUND;
    /* The failed put is not queued in memory either. */
    int queued = 0;
    for (uint64_t a = 0; hearth_outbox_next(o, a, &rec) == HEARTH_OK; a = rec.seq) queued++;
    hearth_outbox_close(o);
    if (put != HEARTH_ERR_IO || ack != HEARTH_ERR_IO || queued != 3) {
        fprintf(stderr, "with fdatasync failing: put %s, ack %s, %d queued\n", hearth_status_name(put),
                hearth_status_name(ack), queued);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ the model */

typedef struct {
    int op[64 + MAX_RECORDS];
    int n;
} model;

static size_t model_bytes(const model *m)
{
    static uint8_t p[1024];
    size_t b = 0;
    for (int i = 0; i < m->n; i++) b += payload_of(m->op[i], p, sizeof p);
    return b;
}

static void model_remove(model *m, int i)
{
    memmove(m->op + i, m->op + i + 1, (size_t)(m->n - i - 1) * sizeof m->op[0]);
    m->n--;
}

/* The documented policy, written independently of src/outbox: while the
 * new record does not fit, drop the oldest of the least important class
 * present, the new record included (it is the newest). */
static void model_put(model *m, int k)
{
    static uint8_t p[1024];
    size_t len = payload_of(k, p, sizeof p);
    model t = *m;
    while (t.n + 1 > MAX_RECORDS || model_bytes(&t) + len > MAX_BYTES) {
        int victim = -1;
        for (int c = HEARTH_OUTBOX_TELEMETRY; c >= (int)class_of(k) && victim < 0; c--)
            for (int i = 0; i < t.n && victim < 0; i++)
                if ((int)class_of(t.op[i]) == c) victim = i;
        if (victim < 0) return; /* the new record is dropped */
        model_remove(&t, victim);
    }
    t.op[t.n++] = k;
    *m = t;
}

static void model_run(model *m, int ops)
{
    m->n = 0;
    for (int k = 1; k <= ops; k++) {
        op_kind kind = op_of(k);
        if (kind == OP_PUT) model_put(m, k);
        else if (kind == OP_ACK_FIRST && m->n > 0) model_remove(m, 0);
        else if (kind == OP_ACK_SECOND && m->n > 1) model_remove(m, 1);
    }
}

/* The op number a payload starts with ("op<k>:"), or -1. */
static int op_in(const hearth_outbox_record *r)
{
    char head[8] = {0};
    memcpy(head, r->payload, r->payload_len < 7 ? r->payload_len : 7);
    if (strncmp(head, "op", 2) != 0) return -1;
    char *end = NULL;
    long k = strtol(head + 2, &end, 10);
    return end != NULL && *end == ':' ? (int)k : -1;
}

static int number(const char *s, int lo, int hi)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) exit(2);
    return (int)v;
}

static int check(const char *dir, int done)
{
    hearth_outbox *o = open_box(dir);
    int got[64 + MAX_RECORDS], n = 0;
    uint64_t after = 0;
    static uint8_t p[1024];
    hearth_status st;
    while ((st = hearth_outbox_next(o, after, &rec)) == HEARTH_OK) {
        int k = op_in(&rec);
        if (k < 1 || k > OPS_DEFAULT || n >= 64) {
            fprintf(stderr, "record %" PRIu64 " is not one the workload wrote\n", rec.seq);
            return 1;
        }
        size_t len = payload_of(k, p, sizeof p);
        if (rec.payload_len != len || memcmp(rec.payload, p, len) != 0 || rec.cls != class_of(k) ||
            strcmp(rec.topic, topic_of(k)) != 0) {
            fprintf(stderr, "record of op %d is damaged\n", k);
            return 1;
        }
        if (rec.seq <= after) {
            fprintf(stderr, "seq %" PRIu64 " out of order\n", rec.seq);
            return 1;
        }
        got[n++] = k;
        after = rec.seq;
    }
    hearth_outbox_stats stats;
    hearth_outbox_stats_get(o, &stats);
    if (stats.rejected != 0) {
        fprintf(stderr, "%" PRIu64 " records rejected after a crash\n", stats.rejected);
        return 1;
    }
    model before, after_op;
    model_run(&before, done);
    model_run(&after_op, done + 1);
    bool is_old = n == before.n && memcmp(got, before.op, (size_t)n * sizeof got[0]) == 0;
    bool is_new = n == after_op.n && memcmp(got, after_op.op, (size_t)n * sizeof got[0]) == 0;
    if (!is_old && !is_new) {
        fprintf(stderr, "queue after %d ops:", done);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "; model:");
        for (int i = 0; i < before.n; i++) fprintf(stderr, " %d", before.op[i]);
        fprintf(stderr, "; or:");
        for (int i = 0; i < after_op.n; i++) fprintf(stderr, " %d", after_op.op[i]);
        fprintf(stderr, "\n");
        return 1;
    }
    /* The recovered outbox takes a new record above every seq it held. */
    uint64_t seq = 0;
    if (hearth_outbox_put(o, HEARTH_OUTBOX_EVENT, "events", (const uint8_t *)"op64:", 5, &seq) != HEARTH_OK ||
        seq <= after) {
        fprintf(stderr, "put after recovery failed or reused a seq\n");
        return 1;
    }
    hearth_outbox_close(o);
    o = open_box(dir);
    uint64_t last = 0;
    for (uint64_t a = 0; hearth_outbox_next(o, a, &rec) == HEARTH_OK; a = rec.seq) last = rec.seq;
    hearth_outbox_close(o);
    if (last != seq) {
        fprintf(stderr, "record put after recovery is not the last after a reopen\n");
        return 1;
    }
    /* both: the interrupted operation changed nothing visible (a failed ack target, a refused put) */
    printf("%s\n", is_old && is_new ? "same" : is_old ? "old" : "new");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "work") == 0) {
        return work(argv[2], argc >= 4 ? number(argv[3], 1, OPS_DEFAULT) : OPS_DEFAULT);
    }
    if (argc == 3 && strcmp(argv[1], "failsync") == 0) return failsync(argv[2]);
    if (argc == 4 && strcmp(argv[1], "check") == 0) {
        return check(argv[2], number(argv[3], 0, OPS_DEFAULT));
    }
    fprintf(stderr, "usage: outbox_tool work DIR [OPS] | failsync DIR | check DIR DONE\n");
    return 2;
}
