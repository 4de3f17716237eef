/* Connection churn aggregation for hearthd's security log. */
#ifndef HEARTHD_CHURN_H
#define HEARTHD_CHURN_H

#include <stdint.h>

/** Longest time counts wait before they are written as one summary line. */
#define HEARTHD_CHURN_WINDOW_S 60
/** Distinct close reasons counted separately (more share "other"). */
#define HEARTHD_CHURN_REASONS 6

/**
 * Counts of accepted and closed connections since the last summary. A TCP
 * client can open and drop connections as fast as the network allows, so
 * one log line per connection would let unauthenticated input fill the log
 * and wear the flash; instead the counts are written as one "connections"
 * event at most once per HEARTHD_CHURN_WINDOW_S (and when the daemon
 * stops): at most 60 lines an hour, whatever the connection rate.
 */
typedef struct {
    uint64_t accepted;
    const char *reason[HEARTHD_CHURN_REASONS]; /* static strings; NULL = free */
    uint64_t closed[HEARTHD_CHURN_REASONS];
    uint64_t other;
    int64_t since_ms; /* monotonic start of the window */
} hearthd_churn;

void hearthd_churn_init(hearthd_churn *c);
void hearthd_churn_accepted(hearthd_churn *c);
/** Count a connection closed by the server for @p reason (a static string). */
void hearthd_churn_closed(hearthd_churn *c, const char *reason);
/**
 * Write the summary (if anything was counted) when the window is over or
 * @p force is set, and start a new window. hearthd calls it with force from
 * a HEARTHD_CHURN_WINDOW_S timer and when it stops.
 */
void hearthd_churn_flush(hearthd_churn *c, int force);

#endif
