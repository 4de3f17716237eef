/**
 * @file ics.h
 * @brief The EN 303 645 implementation conformance statement (Annex B,
 *        table B.1), generated from evidence: `hearth ics` and its tests.
 *
 * Inputs (docs/conformance.md): the 67 provisions (data/en303645-v2.tsv,
 * compiled in), a product profile (the ETSI export format with TS 103 645
 * numbering and an Include column, or our CSV), the manufacturer's
 * declarations (what no software test can show), the build's label map
 * (build/test-provisions.tsv) and the JUnit results of a real ctest run with
 * the commit it ran on. Output: per provision its status, support (Y, N,
 * N/A) and detail, as Markdown, JSON (schema hearth-ics/1) or HTML.
 *
 * The rule the statement keeps: support Y only when every test the map
 * names for the provision ran in the given run and passed and no loaded
 * assessment unit naming it failed (or, where no test names it, an
 * assessment unit naming it passed or the manufacturer declares how it is
 * met); a failed, skipped or missing test or a failed assessment unit makes
 * it N, never Y. N/A only for a conditional provision
 * whose declared condition does not hold.
 *
 * Every input is untrusted: bounded in size and count, parsed strictly; a
 * malformed input is an error with a message (hearth_err_msg()) naming the
 * line, and leaves the statement as it was.
 */
#ifndef HEARTH_ICS_H
#define HEARTH_ICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest input file each loader accepts (a full run's JUnit, with every test's output, is a few MiB). */
#define HEARTH_ICS_MAX_INPUT (64u * 1024u * 1024u)
/** Assessments (hearth_ics_load_assessment()) one statement takes. */
#define HEARTH_ICS_MAX_ASSESSMENTS 8

/** One provision of EN 303 645 v2, from data/en303645-v2.tsv. */
typedef struct {
    const char *id;             /**< "5.1-1" */
    const char *status;         /**< "M", "R", "M C" or "R C" */
    const char *condition;      /**< "key=value[,key=value]" or "-" */
    const char *condition_text; /**< the condition in our words, or "-" */
    const char *ts103645;       /**< "4.3-7" or "4.5-1" ..., comma-separated, or "-" */
    const char *verb;           /**< "shall" or "should" */
    const char *lead;           /**< "Where", "If", "When", "For" or "-" */
    const char *title;          /**< short title in our words */
} hearth_ics_provision;

/** The 67 provisions in document order; *@p n set to their number. */
const hearth_ics_provision *hearth_ics_provisions(size_t *n);
/** The provision with id @p id, or NULL. */
const hearth_ics_provision *hearth_ics_provision_find(const char *id);
/** True if @p p is mandatory (status "M" or "M C"). */
bool hearth_ics_mandatory(const hearth_ics_provision *p);
/** True if @p p is conditional (status "M C" or "R C"). */
bool hearth_ics_conditional(const hearth_ics_provision *p);

/** Support of a provision in table B.1. */
typedef enum { HEARTH_ICS_Y, HEARTH_ICS_N, HEARTH_ICS_NA } hearth_ics_support;
/** "Y", "N", "N/A". */
const char *hearth_ics_support_name(hearth_ics_support s);

/** A statement being built: inputs loaded one by one, then evaluated. */
typedef struct hearth_ics hearth_ics;

/** A new, empty statement (free with hearth_ics_free()). */
hearth_status hearth_ics_new(hearth_ics **out) HEARTH_MUST_CHECK;
void hearth_ics_free(hearth_ics *ics);

/**
 * Load a product profile: the ETSI export (records "N 4.x 4.x-y ... " ending
 * in a "Yes View"/"No View" line, a "Records : N of N" trailer) or the CSV
 * form (header "provision,include", ids in EN 303 645 or TS 103 645
 * numbering, include yes/no). TS ids map to EN ids through the data file.
 * Extraction noise the ETSI export is known for (a footnote mark glued to
 * an id: "4.8-21" for 4.8-2; a missing category column) is read with a note.
 * @p name labels messages (the file name).
 */
hearth_status hearth_ics_load_profile(hearth_ics *ics, const char *name, const char *text,
                                      size_t len) HEARTH_MUST_CHECK;

/** Load the manufacturer's declarations (format hearth-declarations/1, docs/conformance.md). */
hearth_status hearth_ics_load_declarations(hearth_ics *ics, const char *name, const char *text,
                                           size_t len) HEARTH_MUST_CHECK;

/** Load the build's label map, test-provisions.tsv ("test\tkind\tprovisions"). */
hearth_status hearth_ics_load_map(hearth_ics *ics, const char *name, const char *text,
                                  size_t len) HEARTH_MUST_CHECK;

/**
 * Load the JUnit XML of the run (`ctest --output-junit`): each testcase's
 * name and result (passed, failed, not run). @p commit is the commit the
 * run tested (7 to 64 hex digits), required.
 */
hearth_status hearth_ics_load_junit(hearth_ics *ics, const char *name, const char *text,
                                    size_t len, const char *commit) HEARTH_MUST_CHECK;

/**
 * Load an assessment of the device (`hearth assess`'s assessment.json,
 * schema hearth-assessment/1, docs/assessment.md) as evidence; up to
 * HEARTH_ICS_MAX_ASSESSMENTS per statement. A unit's PASS is passing
 * evidence for each provision it names, a FAIL evidence against (the provision is then never Y, as with a failed
 * test); INCONCLUSIVE and N/A are no evidence either way (listed in the
 * detail). Parsed strictly (at most 1 MiB, 256 units, known keys only,
 * provision ids checked against the data); on an error nothing is kept.
 */
hearth_status hearth_ics_load_assessment(hearth_ics *ics, const char *name, const char *text,
                                         size_t len) HEARTH_MUST_CHECK;

/** The statement's date, "YYYY-MM-DD" (default: today, UTC); also the day support periods are checked against. */
hearth_status hearth_ics_set_date(hearth_ics *ics, const char *date) HEARTH_MUST_CHECK;

/**
 * Decide every provision's support and detail. Needs the map and the JUnit
 * (evidence); the profile and declarations are optional (without a profile
 * every provision is in scope; without declarations no condition is known
 * and nothing is declared).
 */
hearth_status hearth_ics_evaluate(hearth_ics *ics) HEARTH_MUST_CHECK;

/** Counts after hearth_ics_evaluate(). */
typedef struct {
    size_t y, n, na;
    size_t mandatory_excluded;        /**< M / applicable M C the profile excludes */
    size_t mandatory_not_supported;   /**< M / applicable M C with support N (any reason) */
    size_t unjustified;               /**< R with support N and no justification */
    size_t tests_failed, tests_not_run, tests_missing; /**< named by the map, in this run */
    size_t assessment_failed;         /**< (unit, provision) pairs of the loaded assessments with FAIL */
} hearth_ics_summary;
hearth_status hearth_ics_get_summary(const hearth_ics *ics, hearth_ics_summary *out) HEARTH_MUST_CHECK;

/** Support decided for provision @p id, after hearth_ics_evaluate(). */
hearth_status hearth_ics_get_support(const hearth_ics *ics, const char *id,
                                     hearth_ics_support *out) HEARTH_MUST_CHECK;

/** Write the evaluated statement as Markdown, JSON (hearth-ics/1) or a self-contained HTML page. */
hearth_status hearth_ics_write_markdown(const hearth_ics *ics, FILE *f) HEARTH_MUST_CHECK;
hearth_status hearth_ics_write_json(const hearth_ics *ics, FILE *f) HEARTH_MUST_CHECK;
hearth_status hearth_ics_write_html(const hearth_ics *ics, FILE *f) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
