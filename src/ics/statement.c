/* The decision: each provision's support and detail from the profile, the
 * declarations and the run's results (docs/conformance.md "How support is
 * decided"). The one rule that matters: Y only if every test the map names
 * for the provision passed in this run (or, with no test naming it, the
 * manufacturer declares how it is met); N/A only when the declared
 * condition of a conditional provision does not hold. */
#include <stdlib.h>
#include <string.h>

#include "ics_internal.h"

static ics_result case_result(const hearth_ics *ics, const char *name)
{
    size_t lo = 0, hi = ics->n_cases;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ics->cases[mid].name, name);
        if (c == 0) return ics->cases[mid].result;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return ICS_RESULT_MISSING;
}

static const char *declared(const hearth_ics *ics, const char *fact, size_t n)
{
    for (size_t i = 0; i < ics->n_conditions; i++)
        if (strlen(ics->conditions[i].name) == n && memcmp(ics->conditions[i].name, fact, n) == 0)
            return ics->conditions[i].value;
    return NULL;
}

/* 1 holds, 0 does not (*why names the declaration), -1 a key undeclared. */
static int condition_holds(const hearth_ics *ics, const hearth_ics_provision *p, ics_str *why)
{
    if (!hearth_ics_conditional(p)) return 2;
    int r = 1;
    const char *s = p->condition;
    while (*s != '\0') {
        const char *eq = strchr(s, '=');
        const char *end = strchr(s, ',');
        if (eq == NULL) return -1;
        if (end == NULL) end = s + strlen(s);
        const char *v = declared(ics, s, (size_t)(eq - s));
        if (v == NULL) {
            if (r == 1) r = -1;
        } else if (strlen(v) != (size_t)(end - eq - 1) || memcmp(v, eq + 1, (size_t)(end - eq - 1)) != 0) {
            ics_str_printf(why, "%sdeclared 'condition %.*s: %s'", r == 0 ? "; " : "", (int)(eq - s), s, v);
            r = 0;
        }
        s = *end == ',' ? end + 1 : end;
    }
    return r;
}

/* Declarations the structured keys make for a provision (none: NULL). */
static void structured(const hearth_ics *ics, const char *id, ics_str *d, ics_str *problem)
{
    if (strcmp(id, "5.2-1") == 0) {
        if (ics->disclosure_policy != NULL && ics->disclosure_contact != NULL)
            ics_str_printf(d, "Vulnerability disclosure policy: %s; contact: %s.", ics->disclosure_policy,
                           ics->disclosure_contact);
        else if (ics->disclosure_policy != NULL || ics->disclosure_contact != NULL)
            ics_str_printf(problem, "the declarations give a disclosure %s but no %s",
                           ics->disclosure_policy ? "policy" : "contact", ics->disclosure_policy ? "contact" : "policy");
    } else if (strcmp(id, "5.3-13") == 0) {
        if (ics->support_end != NULL && ics->support_reasons != NULL) {
            if (strcmp(ics->support_end, ics->date) < 0)
                ics_str_printf(problem, "the declared support period ended on %s, before this statement (%s)",
                               ics->support_end, ics->date);
            else
                ics_str_printf(d, "Defined support period: security updates until %s (%s)%s%s.", ics->support_end,
                               ics->support_reasons, ics->support_published ? "; published at " : "",
                               ics->support_published ? ics->support_published : "");
        } else if (ics->support_end != NULL || ics->support_reasons != NULL) {
            ics_str_printf(problem, "the declarations give a support period %s but no %s",
                           ics->support_end ? "end date" : "reason", ics->support_end ? "reasons" : "end date");
        }
    } else if (strcmp(id, "5.8-3") == 0 && ics->n_sensing > 0) {
        ics_str_printf(d, "External sensing capabilities documented:");
        for (size_t i = 0; i < ics->n_sensing; i++) ics_str_printf(d, "%s %s", i ? ";" : "", ics->sensing[i]);
        ics_str_printf(d, ".");
    } else if ((strcmp(id, "5.6-3") == 0 || strcmp(id, "5.6-4") == 0) && ics->n_debug > 0) {
        ics_str_printf(d, "Hardware interfaces declared:");
        for (size_t i = 0; i < ics->n_debug; i++) ics_str_printf(d, "%s %s", i ? ";" : "", ics->debug_interfaces[i]);
        ics_str_printf(d, ".");
    }
}

static hearth_status evaluate_row(hearth_ics *ics, size_t idx)
{
    const hearth_ics_provision *p = &ics_provision_table[idx];
    ics_row *r = &ics->rows[idx];
    bool mandatory = hearth_ics_mandatory(p);
    ics_str det = {0}, why = {0}, passed = {0}, bad = {0}, sdecl = {0}, problem = {0}, apass = {0}, anone = {0};
    size_t n_named = 0, n_passed = 0, n_bad = 0, n_apass = 0, n_anone = 0;

    for (size_t i = 0; i < ics->n_tests; i++) {
        const ics_test *t = &ics->tests[i];
        if (!ics_test_names(t, p->id)) continue;
        n_named++;
        ics_result res = case_result(ics, t->name);
        if (res == ICS_RESULT_PASSED) {
            ics_str_printf(&passed, "%s%s", n_passed ? ", " : "", t->name);
            n_passed++;
        } else {
            ics_str_printf(&bad, "%s%s (%s)", n_bad ? ", " : "", t->name, ics_result_name(res));
            n_bad++;
        }
    }
    /* Assessment units naming it: PASS for, FAIL against (with the failed tests), the others neither. */
    for (size_t i = 0; i < ics->n_assess; i++) {
        const ics_assess_entry *a = &ics->assess[i];
        if (a->prov != idx) continue;
        ics_str *to = a->verdict == ICS_VERDICT_PASS ? &apass : a->verdict == ICS_VERDICT_FAIL ? &bad : &anone;
        size_t *cnt = a->verdict == ICS_VERDICT_PASS ? &n_apass : a->verdict == ICS_VERDICT_FAIL ? &n_bad : &n_anone;
        ics_str_printf(to, "%sassessment %s on %s at %s: %s", *cnt ? (to == &bad ? ", " : "; ") : "", a->unit,
                       ics->assessment_target[a->file], ics->assessment_finished[a->file], ics_verdict_name(a->verdict));
        (*cnt)++;
    }
    structured(ics, p->id, &sdecl, &problem);
    const char *decl = r->declare != NULL ? r->declare : (sdecl.len ? sdecl.s : NULL);

    r->condition_holds = condition_holds(ics, p, &why);
    r->flag_mandatory_excluded = r->flag_mandatory_not_supported = r->flag_unjustified = false;

    if (r->condition_holds == 0) {
        r->support = HEARTH_ICS_NA;
        r->basis = ICS_BASIS_CONDITION;
        ics_str_printf(&det, "Not applicable: it applies only where %s, and the manufacturer %s.", p->condition_text,
                       why.s ? why.s : "declares otherwise");
        if (n_passed) ics_str_printf(&det, " (Tests naming it that passed anyway: %s.)", passed.s);
    } else if (r->profile == ICS_PROFILE_EXCLUDED) {
        r->support = HEARTH_ICS_N;
        r->basis = ICS_BASIS_PROFILE;
        ics_str_printf(&det, "Excluded by the product profile (%s Include: No).", r->profile_src);
        if (mandatory) {
            r->flag_mandatory_excluded = true;
            ics_str_printf(&det, " MANDATORY provision excluded: the product does not conform to EN 303 645 without it.");
        }
        if (n_passed && n_bad == 0)
            ics_str_printf(&det, " Hearth's tests for it passed in this run (%s), but the profile does not claim it.",
                           passed.s);
    } else if (n_bad > 0) {
        r->support = HEARTH_ICS_N;
        r->basis = ICS_BASIS_EVIDENCE_FAILED;
        ics_str_printf(&det, "Evidence did not hold in run %s: %s.", ics->commit, bad.s);
        if (n_passed) ics_str_printf(&det, " Passed: %s.", passed.s);
        if (n_apass) ics_str_printf(&det, " Passed: %s.", apass.s);
    } else if (r->todo != NULL) {
        r->support = HEARTH_ICS_N;
        r->basis = ICS_BASIS_TODO;
        ics_str_printf(&det, "Not covered by Hearth; the manufacturer's to do: %s", r->todo);
        if (n_passed) ics_str_printf(&det, " (Hearth's part, tests passed in run %s: %s.)", ics->commit, passed.s);
    } else if (problem.len > 0) {
        r->support = HEARTH_ICS_N;
        r->basis = ICS_BASIS_NONE;
        ics_str_printf(&det, "Declaration incomplete: %s.", problem.s);
    } else if (n_passed > 0) {
        r->support = HEARTH_ICS_Y;
        r->basis = ICS_BASIS_TESTS;
        ics_str_printf(&det, "Tests passed in run %s: %s.", ics->commit, passed.s);
        if (n_apass) ics_str_printf(&det, " Assessed: %s.", apass.s);
        if (decl != NULL) ics_str_printf(&det, " Declared: %s", decl);
    } else if (n_apass > 0) {
        r->support = HEARTH_ICS_Y;
        r->basis = ICS_BASIS_ASSESSMENT;
        ics_str_printf(&det, "Assessed (no test names it): %s.", apass.s);
        if (decl != NULL) ics_str_printf(&det, " Declared: %s", decl);
    } else if (decl != NULL) {
        r->support = HEARTH_ICS_Y;
        r->basis = ICS_BASIS_DECLARATION;
        ics_str_printf(&det, "Declared by the manufacturer (no test shows it): %s", decl);
    } else {
        r->support = HEARTH_ICS_N;
        r->basis = ICS_BASIS_NONE;
        ics_str_printf(&det, "No evidence: no test in the map names it and the manufacturer declares nothing for it.");
    }
    if (r->support == HEARTH_ICS_N && mandatory) r->flag_mandatory_not_supported = true;
    if (r->support == HEARTH_ICS_N && !mandatory) {
        if (r->justify != NULL) ics_str_printf(&det, " Justification for not following it: %s", r->justify);
        else {
            r->flag_unjustified = true;
            ics_str_printf(&det, " No justification given (clause 4 asks for one).");
        }
    } else if (r->justify != NULL) {
        ics_str_printf(&det, " (A justification is declared, but the provision is %s.)",
                       r->support == HEARTH_ICS_Y ? "supported" : "not applicable");
    }
    if (n_anone)
        ics_str_printf(&det, " No evidence either way: %s.", anone.s);
    if (r->condition_holds == -1)
        ics_str_printf(&det, " The condition (%s) is not declared; treated as applying.", p->condition_text);
    if (r->profile == ICS_PROFILE_NOT_LISTED && r->support != HEARTH_ICS_NA)
        ics_str_printf(&det, strcmp(p->ts103645, "-") == 0
                                 ? " (No TS 103 645 counterpart, so not in the profile: assessed.)"
                                 : " (Not listed in the profile: assessed.)");

    hearth_status st = HEARTH_OK;
    bool failed = det.failed || why.failed || passed.failed || bad.failed || sdecl.failed || problem.failed ||
                  apass.failed || anone.failed;
    if (failed || det.s == NULL) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        ics_str_free(&det);
    } else {
        free(r->detail);
        r->detail = det.s;
    }
    ics_str_free(&why);
    ics_str_free(&passed);
    ics_str_free(&bad);
    ics_str_free(&sdecl);
    ics_str_free(&problem);
    ics_str_free(&apass);
    ics_str_free(&anone);
    return st;
}

hearth_status hearth_ics_evaluate(hearth_ics *ics)
{
    if (!ics->have_map || !ics->have_junit)
        return hearth_err(HEARTH_ERR_STATE, "the evidence is missing: give the label map and the run's JUnit results");
    size_t matched = 0;
    for (size_t i = 0; i < ics->n_tests; i++)
        if (case_result(ics, ics->tests[i].name) != ICS_RESULT_MISSING) matched++;
    if (matched == 0)
        return hearth_err(HEARTH_ERR_INVALID,
                          "%s: none of the %zu tests of %s is in the results: the results are of another build",
                          ics->junit_name, ics->n_tests, ics->map_name);
    if (!ics->have_profile)
        for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) ics->rows[i].profile = ICS_PROFILE_NONE;
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) HEARTH_GUARD(evaluate_row(ics, i));
    ics->evaluated = true;
    return HEARTH_OK;
}

hearth_status hearth_ics_get_summary(const hearth_ics *ics, hearth_ics_summary *out)
{
    memset(out, 0, sizeof *out);
    if (!ics->evaluated) return hearth_err(HEARTH_ERR_STATE, "the statement is not evaluated");
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
        const ics_row *r = &ics->rows[i];
        if (r->support == HEARTH_ICS_Y) out->y++;
        else if (r->support == HEARTH_ICS_NA) out->na++;
        else out->n++;
        out->mandatory_excluded += r->flag_mandatory_excluded;
        out->mandatory_not_supported += r->flag_mandatory_not_supported;
        out->unjustified += r->flag_unjustified;
    }
    for (size_t i = 0; i < ics->n_tests; i++) {
        ics_result res = case_result(ics, ics->tests[i].name);
        if (res == ICS_RESULT_FAILED) out->tests_failed++;
        else if (res == ICS_RESULT_NOT_RUN) out->tests_not_run++;
        else if (res == ICS_RESULT_MISSING) out->tests_missing++;
    }
    for (size_t i = 0; i < ics->n_assess; i++) out->assessment_failed += ics->assess[i].verdict == ICS_VERDICT_FAIL;
    return HEARTH_OK;
}

hearth_status hearth_ics_get_support(const hearth_ics *ics, const char *id, hearth_ics_support *out)
{
    if (!ics->evaluated) return hearth_err(HEARTH_ERR_STATE, "the statement is not evaluated");
    int i = ics_provision_index(id, strlen(id));
    if (i < 0) return hearth_err(HEARTH_ERR_NOT_FOUND, "'%s' is not an EN 303 645 v2 provision", id);
    *out = ics->rows[i].support;
    return HEARTH_OK;
}

/* For the writers: a test's result in this run. */
ics_result ics_test_result(const hearth_ics *ics, const char *name)
{
    return case_result(ics, name);
}
