/* What the Markdown and HTML writers of the statement share: the rows of
 * the "about" table, the provision lists of the summary and the tests that
 * did not pass. Each writer passes its own escaping. */
#include <stdio.h>

#include "ics_internal.h"

static void row(ics_about *a, const char *label, const char *value, bool code)
{
    a->rows[a->n].label = label;
    a->rows[a->n].value = value;
    a->rows[a->n].code = code;
    a->n++;
}

void ics_about_rows(const hearth_ics *ics, ics_about *a)
{
    row(a, "Manufacturer", ics->manufacturer ? ics->manufacturer : "(not declared)", false);
    row(a, "Product", ics->product ? ics->product : "(not declared)", false);
    row(a, "Model", ics->model ? ics->model : "(not declared)", false);
    row(a, "Software version", ics->version ? ics->version : "(not declared)", false);
    row(a, "Tested commit", ics->commit, true);
    snprintf(a->run, sizeof a->run, "%s%s%s: %zu results, %zu passed, %zu failed, %zu not run", ics->junit_name,
             ics->junit_timestamp[0] ? ", " : "", ics->junit_timestamp, ics->n_cases, ics->junit_passed,
             ics->junit_failed, ics->junit_not_run);
    row(a, "Test run", a->run, false);
    snprintf(a->map, sizeof a->map, "%s (%zu tests)", ics->map_name, ics->n_tests);
    row(a, "Label map", a->map, false);
    row(a, "Product profile", ics->have_profile ? ics->profile_name : "(none: every provision in scope)", false);
    row(a, "Declarations", ics->have_decl ? ics->decl_name : "(none)", false);
    for (size_t i = 0; i < ics->n_conditions; i++)
        ics_str_printf(&a->conditions, "%s%s: %s", i ? ", " : "", ics->conditions[i].name,
                       ics->conditions[i].value);
    if (ics->n_conditions == 0)
        ics_str_printf(&a->conditions, "%s", "(none: every condition treated as holding)");
    row(a, "Declared conditions", a->conditions.s != NULL ? a->conditions.s : "", false);
}

void ics_list_ids(ics_str *f, const hearth_ics *ics, ics_list which, ics_emit_fn item)
{
    size_t k = 0;
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
        const ics_row *r = &ics->rows[i];
        bool in = which == ICS_LIST_EXCLUDED        ? r->flag_mandatory_excluded
                  : which == ICS_LIST_NOT_SUPPORTED ? (r->flag_mandatory_not_supported && !r->flag_mandatory_excluded)
                                                    : r->flag_unjustified;
        if (!in) continue;
        if (k++) ics_fputs(", ", f);
        item(f, ics_provision_table[i].id);
    }
    if (k == 0) ics_fputs("none", f);
}

void ics_list_bad_tests(ics_str *f, const hearth_ics *ics, ics_emit_fn esc)
{
    size_t k = 0;
    for (size_t i = 0; i < ics->n_tests; i++) {
        ics_result r = ics_test_result(ics, ics->tests[i].name);
        if (r == ICS_RESULT_PASSED || ics->tests[i].provisions[0] == '\0') continue;
        ics_fputs(k++ ? ", " : ": ", f);
        esc(f, ics->tests[i].name);
        ics_str_printf(f, " (%s)", ics_result_name(r));
    }
}
