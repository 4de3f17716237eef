/* `hearth ics`: the EN 303 645 implementation conformance statement (Annex
 * B, table B.1) generated from a real test run's results, the build's label
 * map, the product profile and the manufacturer's declarations
 * (docs/conformance.md). The decisions are in src/ics (the tests use the same
 * library); this file reads the files and writes the outputs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "hearth/ics.h"
#include "hearth/util.h"

static void ics_usage(FILE *f)
{
    fprintf(f,
            "usage: hearth ics --map build/test-provisions.tsv --junit RESULTS.xml --commit SHA\n"
            "                  [--profile FILE] [--declarations FILE] [--assessment FILE]...\n"
            "                  [--date YYYY-MM-DD]\n"
            "                  [--md FILE] [--json FILE] [--html FILE]\n\n"
            "Generate the EN 303 645 Annex B conformance statement (table B.1) from the\n"
            "results of a real ctest run (`ctest --output-junit RESULTS.xml`) of the commit\n"
            "SHA, the build's label map, the product profile (ETSI export,\n"
            "provision,include CSV or hearth-profile/1 JSON), the manufacturer's\n"
            "declarations (hearth-declarations/1) and up to %d assessments of the device\n"
            "(`hearth assess`'s assessment.json: a unit's PASS is evidence for the\n"
            "provisions it names, FAIL against, INCONCLUSIVE and N/A neither). Writes Markdown, JSON (schema hearth-ics/1) and/or a\n"
            "self-contained HTML page (FILE '-' is stdout; files are replaced atomically)\n"
            "and prints the summary. A provision is Y only where every test naming it\n"
            "passed in that run and no assessment unit naming it failed or, with no\n"
            "test, an assessment unit passed or the manufacturer declares it.\n"
            "Exit: 0 statement written (whatever it says), 1 error, 2 usage.\n",
            HEARTH_ICS_MAX_ASSESSMENTS);
}

static int load(hearth_ics *ics, const char *path, int what, const char *commit)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (hearth_fs_read_file(path, HEARTH_ICS_MAX_INPUT, &buf, &len) != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s: %s\n", path, hearth_err_msg());
        return 1;
    }
    hearth_status st;
    const char *t = (const char *)buf;
    switch (what) {
    case 0: st = hearth_ics_load_map(ics, path, t, len); break;
    case 1: st = hearth_ics_load_junit(ics, path, t, len, commit); break;
    case 2: st = hearth_ics_load_profile(ics, path, t, len); break;
    case 4: st = hearth_ics_load_assessment(ics, path, t, len); break;
    default: st = hearth_ics_load_declarations(ics, path, t, len); break;
    }
    free(buf);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s\n", hearth_err_msg());
        return 1;
    }
    return 0;
}

static int emit(const hearth_ics *ics, const char *path, int kind)
{
    char *data = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&data, &len);
    if (m == NULL) {
        fprintf(stderr, "hearth ics: out of memory\n");
        return 1;
    }
    hearth_status st = kind == 0 ? hearth_ics_write_markdown(ics, m)
                       : kind == 1 ? hearth_ics_write_json(ics, m)
                                   : hearth_ics_write_html(ics, m);
    if (fclose(m) != 0 && st == HEARTH_OK) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (st == HEARTH_OK) {
        if (strcmp(path, "-") == 0) st = hearth_fd_write_all(1, data, len, "stdout");
        else st = hearth_fs_write_atomic(path, data, len, 0644);
    }
    free(data);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s: %s\n", path, hearth_err_msg());
        return 1;
    }
    return 0;
}

int hearth_cmd_ics(int argc, char **argv)
{
    static const struct option opts[] = {{"map", required_argument, NULL, 'm'},
                                         {"junit", required_argument, NULL, 'j'},
                                         {"commit", required_argument, NULL, 'c'},
                                         {"profile", required_argument, NULL, 'p'},
                                         {"declarations", required_argument, NULL, 'd'},
                                         {"date", required_argument, NULL, 't'},
                                         {"assessment", required_argument, NULL, 'a'},
                                         {"md", required_argument, NULL, 'M'},
                                         {"json", required_argument, NULL, 'J'},
                                         {"html", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *map = NULL, *junit = NULL, *commit = NULL, *profile = NULL, *decl = NULL, *date = NULL;
    const char *md = NULL, *json = NULL, *html = NULL;
    const char *assessments[HEARTH_ICS_MAX_ASSESSMENTS];
    size_t n_assessments = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': map = optarg; break;
        case 'j': junit = optarg; break;
        case 'c': commit = optarg; break;
        case 'p': profile = optarg; break;
        case 'd': decl = optarg; break;
        case 't': date = optarg; break;
        case 'a':
            if (n_assessments >= HEARTH_ICS_MAX_ASSESSMENTS) {
                fprintf(stderr, "hearth ics: at most %d --assessment files\n", HEARTH_ICS_MAX_ASSESSMENTS);
                return 2;
            }
            assessments[n_assessments++] = optarg;
            break;
        case 'M': md = optarg; break;
        case 'J': json = optarg; break;
        case 'H': html = optarg; break;
        case 'h': ics_usage(stdout); return 0;
        default: ics_usage(stderr); return 2;
        }
    }
    if (map == NULL || junit == NULL || commit == NULL || optind != argc) {
        ics_usage(stderr);
        return 2;
    }
    if (md == NULL && json == NULL && html == NULL) {
        fprintf(stderr, "hearth ics: give at least one of --md, --json, --html\n");
        return 2;
    }
    hearth_ics *ics = NULL;
    if (hearth_ics_new(&ics) != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s\n", hearth_err_msg());
        return 1;
    }
    int rc = 0;
    if (date != NULL && hearth_ics_set_date(ics, date) != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s\n", hearth_err_msg());
        rc = 2;
        goto out;
    }
    if ((rc = load(ics, map, 0, NULL)) != 0 || (rc = load(ics, junit, 1, commit)) != 0) goto out;
    if (profile != NULL && (rc = load(ics, profile, 2, NULL)) != 0) goto out;
    if (decl != NULL && (rc = load(ics, decl, 3, NULL)) != 0) goto out;
    for (size_t i = 0; i < n_assessments; i++)
        if ((rc = load(ics, assessments[i], 4, NULL)) != 0) goto out;
    if (hearth_ics_evaluate(ics) != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s\n", hearth_err_msg());
        rc = 1;
        goto out;
    }
    if ((md != NULL && (rc = emit(ics, md, 0)) != 0) || (json != NULL && (rc = emit(ics, json, 1)) != 0) ||
        (html != NULL && (rc = emit(ics, html, 2)) != 0))
        goto out;
    hearth_ics_summary s;
    if (hearth_ics_get_summary(ics, &s) != HEARTH_OK) {
        fprintf(stderr, "hearth ics: %s\n", hearth_err_msg());
        rc = 1;
        goto out;
    }
    /* The summary goes to stderr when a statement goes to stdout. */
    FILE *o = (md && strcmp(md, "-") == 0) || (json && strcmp(json, "-") == 0) || (html && strcmp(html, "-") == 0)
                  ? stderr
                  : stdout;
    fprintf(o, "EN 303 645 statement (commit %s): %zu Y, %zu N, %zu N/A of 67\n", commit, s.y, s.n, s.na);
    if (s.mandatory_excluded) fprintf(o, "WARNING: the profile excludes %zu mandatory provision(s)\n", s.mandatory_excluded);
    if (s.mandatory_not_supported > s.mandatory_excluded)
        fprintf(o, "WARNING: %zu mandatory provision(s) in scope are not supported (no or failed evidence)\n",
                s.mandatory_not_supported - s.mandatory_excluded);
    if (s.unjustified) fprintf(o, "WARNING: %zu recommendation(s) not followed without a justification\n", s.unjustified);
    if (s.tests_failed + s.tests_not_run + s.tests_missing)
        fprintf(o, "WARNING: evidence tests not passed: %zu failed, %zu not run, %zu missing from the run\n",
                s.tests_failed, s.tests_not_run, s.tests_missing);
    if (s.assessment_failed)
        fprintf(o, "WARNING: %zu assessment verdict(s) FAIL against a provision\n", s.assessment_failed);
out:
    hearth_ics_free(ics);
    return rc;
}
