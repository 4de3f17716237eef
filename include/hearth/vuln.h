/**
 * @file vuln.h
 * @brief Monitoring the components of a release for vulnerabilities
 *        (EN 303 645 5.2-3; docs/sbom.md "Monitoring").
 *
 * A manufacturer supplies vulnerability feeds as files: OSV JSON (one
 * record, an array of records, or {"vulns":[...]}; ecosystem "Debian" or
 * "Debian:N", package names are Debian source packages, ECOSYSTEM ranges
 * compared with dpkg's version order) and CSAF 2.0 documents (any
 * category, csaf_vex included: product_status known_affected,
 * known_not_affected, fixed, under_investigation, products identified by
 * purl). hearth_vuln_match() says which components of an SBOM are affected;
 * a CSAF known_not_affected or fixed statement for the same vulnerability
 * (by id or alias) and product suppresses an OSV match (VEX).
 */
#ifndef HEARTH_VULN_H
#define HEARTH_VULN_H

#include "hearth/common.h"
#include "hearth/sbom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_VULN_FEED_MAX (64u * 1024u * 1024u) /**< largest feed file, bytes */
#define HEARTH_VULN_ID_MAX 64                       /**< vulnerability id length */

/** A loaded feed (OSV or CSAF). */
typedef struct hearth_vuln_feed hearth_vuln_feed;

/** What a feed says about one component. */
typedef enum {
    HEARTH_VULN_AFFECTED = 0,           /**< OSV range/version match, or CSAF known_affected */
    HEARTH_VULN_UNDER_INVESTIGATION = 1, /**< CSAF under_investigation */
    HEARTH_VULN_NOT_AFFECTED = 2,       /**< suppressed: CSAF known_not_affected (VEX) */
    HEARTH_VULN_FIXED = 3               /**< suppressed: CSAF fixed */
} hearth_vuln_state;

/** One (component, vulnerability) result. */
typedef struct {
    size_t component;                  /**< index into the SBOM's components */
    char id[HEARTH_VULN_ID_MAX];       /**< OSV id or CVE / CSAF vulnerability id */
    char aliases[4][HEARTH_VULN_ID_MAX]; /**< OSV aliases (CVE ids), "" unused */
    char fixed[HEARTH_SBOM_STR_MAX];   /**< first fixed version from the feed, "" if none */
    char source[HEARTH_VULN_ID_MAX];   /**< the feed entry: OSV id or CSAF tracking id */
    char vex[HEARTH_VULN_ID_MAX];      /**< suppressing CSAF document's tracking id, "" if none */
    char justification[64];            /**< CSAF flag label of a not-affected statement */
    hearth_vuln_state state;           /**< the outcome after VEX */
} hearth_vuln_finding;

/**
 * Load one feed file's bytes (at most HEARTH_VULN_FEED_MAX): CSAF when the
 * document has document.csaf_version "2.0", otherwise OSV. Entries that do
 * not concern Debian packages or purls are kept but never match.
 */
hearth_status hearth_vuln_feed_load(const char *json, size_t len,
                                    hearth_vuln_feed **out) HEARTH_MUST_CHECK;
/** Free a feed. NULL is ignored. */
void hearth_vuln_feed_free(hearth_vuln_feed *f);
/** "OSV" or "CSAF". */
const char *hearth_vuln_feed_kind(const hearth_vuln_feed *f);

/**
 * Match every component of an SBOM against @p feeds. Findings: one per
 * (component, vulnerability), affected ones first as found, each with its
 * state after the CSAF statements were applied.
 * @param[out] out  malloc'd array (caller frees), @p nout entries
 */
hearth_status hearth_vuln_match(const hearth_vuln_feed *const *feeds, size_t nfeeds,
                                const hearth_sbom_info *info, const hearth_sbom_component *comps,
                                size_t n, hearth_vuln_finding **out,
                                size_t *nout) HEARTH_MUST_CHECK;

/** true if finding @p f names vulnerability @p id (its id or an alias). */
bool hearth_vuln_finding_names(const hearth_vuln_finding *f, const char *id);

#ifdef __cplusplus
}
#endif
#endif
