/* The statement as JSON, schema hearth-ics/1 (docs/conformance/ics-schema.json). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ics_internal.h"

static cJSON *str_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *id_array(const hearth_ics *ics, int which)
{
    cJSON *a = cJSON_CreateArray();
    if (a == NULL) return NULL;
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
        const ics_row *r = &ics->rows[i];
        bool in = which == 0   ? r->flag_mandatory_excluded
                  : which == 1 ? (r->flag_mandatory_not_supported && !r->flag_mandatory_excluded)
                               : r->flag_unjustified;
        if (in) cJSON_AddItemToArray(a, cJSON_CreateString(ics_provision_table[i].id));
    }
    return a;
}

static cJSON *split_csv(const char *s)
{
    cJSON *a = cJSON_CreateArray();
    if (a == NULL || strcmp(s, "-") == 0) return a;
    while (*s != '\0') {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)n, s);
        cJSON_AddItemToArray(a, cJSON_CreateString(buf));
        s += n + (e ? 1 : 0);
    }
    return a;
}

static cJSON *build(const hearth_ics *ics, const hearth_ics_summary *s)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) return NULL;
    cJSON_AddStringToObject(root, "schema", "hearth-ics/1");
    cJSON_AddStringToObject(root, "standard", "ETSI EN 303 645 V2.1.1");
    cJSON_AddStringToObject(root, "date", ics->date);
    cJSON *prod = cJSON_AddObjectToObject(root, "product");
    if (prod != NULL) {
        cJSON_AddItemToObject(prod, "manufacturer", str_or_null(ics->manufacturer));
        cJSON_AddItemToObject(prod, "product", str_or_null(ics->product));
        cJSON_AddItemToObject(prod, "model", str_or_null(ics->model));
        cJSON_AddItemToObject(prod, "version", str_or_null(ics->version));
    }
    cJSON *in = cJSON_AddObjectToObject(root, "inputs");
    if (in != NULL) {
        cJSON_AddItemToObject(in, "profile", str_or_null(ics->have_profile ? ics->profile_name : NULL));
        cJSON_AddItemToObject(in, "declarations", str_or_null(ics->have_decl ? ics->decl_name : NULL));
        cJSON_AddStringToObject(in, "map", ics->map_name);
        cJSON_AddStringToObject(in, "results", ics->junit_name);
        cJSON_AddStringToObject(in, "commit", ics->commit);
        cJSON_AddItemToObject(in, "run_timestamp", str_or_null(ics->junit_timestamp[0] ? ics->junit_timestamp : NULL));
        cJSON_AddNumberToObject(in, "results_total", (double)ics->n_cases);
        cJSON_AddNumberToObject(in, "results_passed", (double)ics->junit_passed);
        cJSON_AddNumberToObject(in, "results_failed", (double)ics->junit_failed);
        cJSON_AddNumberToObject(in, "results_not_run", (double)ics->junit_not_run);
        cJSON_AddNumberToObject(in, "map_tests", (double)ics->n_tests);
        cJSON *as = cJSON_AddArrayToObject(in, "assessments");
        for (size_t i = 0; as != NULL && i < ics->n_assessments; i++) {
            cJSON *a = cJSON_CreateObject();
            if (a == NULL) continue;
            cJSON_AddStringToObject(a, "file", ics->assessment_names[i]);
            cJSON_AddStringToObject(a, "target", ics->assessment_target[i]);
            cJSON_AddStringToObject(a, "finished", ics->assessment_finished[i]);
            cJSON_AddItemToArray(as, a);
        }
    }
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    if (sum != NULL) {
        cJSON_AddNumberToObject(sum, "Y", (double)s->y);
        cJSON_AddNumberToObject(sum, "N", (double)s->n);
        cJSON_AddNumberToObject(sum, "N/A", (double)s->na);
        cJSON_AddItemToObject(sum, "mandatory_excluded_by_profile", id_array(ics, 0));
        cJSON_AddItemToObject(sum, "mandatory_not_supported", id_array(ics, 1));
        cJSON_AddItemToObject(sum, "recommendations_without_justification", id_array(ics, 2));
        cJSON *bad = cJSON_AddArrayToObject(sum, "evidence_not_passed");
        for (size_t i = 0; bad != NULL && i < ics->n_tests; i++) {
            ics_result r = ics_test_result(ics, ics->tests[i].name);
            if (r == ICS_RESULT_PASSED || ics->tests[i].provisions[0] == '\0') continue;
            cJSON *t = cJSON_CreateObject();
            if (t == NULL) continue;
            cJSON_AddStringToObject(t, "test", ics->tests[i].name);
            cJSON_AddStringToObject(t, "result", r == ICS_RESULT_FAILED ? "failed" : r == ICS_RESULT_NOT_RUN ? "not-run" : "missing");
            cJSON_AddItemToArray(bad, t);
        }
    }
    cJSON *conds = cJSON_AddObjectToObject(root, "conditions");
    for (size_t i = 0; conds != NULL && i < ics->n_conditions; i++)
        cJSON_AddStringToObject(conds, ics->conditions[i].name, ics->conditions[i].value);
    cJSON *notes = cJSON_AddArrayToObject(root, "notes");
    for (size_t i = 0; notes != NULL && i < ics->n_notes; i++) cJSON_AddItemToArray(notes, cJSON_CreateString(ics->notes[i]));
    cJSON *rows = cJSON_AddArrayToObject(root, "provisions");
    for (size_t i = 0; rows != NULL && i < ICS_MAX_PROVISIONS; i++) {
        const hearth_ics_provision *p = &ics_provision_table[i];
        const ics_row *r = &ics->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) continue;
        cJSON_AddStringToObject(o, "id", p->id);
        cJSON_AddStringToObject(o, "title", p->title);
        cJSON_AddStringToObject(o, "status", p->status);
        if (hearth_ics_conditional(p)) {
            cJSON_AddStringToObject(o, "condition", p->condition_text);
            cJSON_AddStringToObject(o, "condition_facts", p->condition);
            cJSON_AddItemToObject(o, "condition_holds", r->condition_holds == 1   ? cJSON_CreateTrue()
                                                        : r->condition_holds == 0 ? cJSON_CreateFalse()
                                                                                  : cJSON_CreateNull());
        } else {
            cJSON_AddNullToObject(o, "condition");
        }
        cJSON_AddItemToObject(o, "ts103645", split_csv(p->ts103645));
        cJSON_AddStringToObject(o, "profile", ics_profile_name(r->profile));
        cJSON_AddStringToObject(o, "support", hearth_ics_support_name(r->support));
        cJSON_AddStringToObject(o, "basis", ics_basis_name(r->basis));
        cJSON_AddStringToObject(o, "detail", r->detail ? r->detail : "");
        cJSON *tests = cJSON_AddArrayToObject(o, "tests");
        for (size_t k = 0; tests != NULL && k < ics->n_tests; k++) {
            if (!ics_test_names(&ics->tests[k], p->id)) continue;
            cJSON *t = cJSON_CreateObject();
            if (t == NULL) continue;
            ics_result res = ics_test_result(ics, ics->tests[k].name);
            cJSON_AddStringToObject(t, "name", ics->tests[k].name);
            cJSON_AddStringToObject(t, "kind", ics->tests[k].kind);
            cJSON_AddStringToObject(t, "result", res == ICS_RESULT_PASSED   ? "passed"
                                                 : res == ICS_RESULT_FAILED ? "failed"
                                                 : res == ICS_RESULT_NOT_RUN ? "not-run"
                                                                             : "missing");
            cJSON_AddItemToArray(tests, t);
        }
        cJSON *units = cJSON_AddArrayToObject(o, "assessment");
        for (size_t k = 0; units != NULL && k < ics->n_assess; k++) {
            const ics_assess_entry *a = &ics->assess[k];
            if (a->prov != i) continue;
            cJSON *t = cJSON_CreateObject();
            if (t == NULL) continue;
            cJSON_AddStringToObject(t, "unit", a->unit);
            cJSON_AddStringToObject(t, "target", ics->assessment_target[a->file]);
            cJSON_AddStringToObject(t, "finished", ics->assessment_finished[a->file]);
            cJSON_AddStringToObject(t, "verdict", ics_verdict_name(a->verdict));
            cJSON_AddItemToArray(units, t);
        }
        cJSON_AddItemToObject(o, "declaration", str_or_null(r->declare));
        cJSON_AddItemToObject(o, "todo", str_or_null(r->todo));
        cJSON_AddItemToObject(o, "justification", str_or_null(r->justify));
        cJSON *flags = cJSON_AddArrayToObject(o, "flags");
        if (flags != NULL) {
            if (r->flag_mandatory_excluded) cJSON_AddItemToArray(flags, cJSON_CreateString("mandatory-excluded"));
            if (r->flag_mandatory_not_supported) cJSON_AddItemToArray(flags, cJSON_CreateString("mandatory-not-supported"));
            if (r->flag_unjustified) cJSON_AddItemToArray(flags, cJSON_CreateString("recommendation-unjustified"));
        }
        cJSON_AddItemToArray(rows, o);
    }
    return root;
}

hearth_status hearth_ics_write_json(const hearth_ics *ics, FILE *f)
{
    hearth_ics_summary s;
    HEARTH_GUARD(hearth_ics_get_summary(ics, &s));
    cJSON *root = build(ics, &s);
    char *out = root != NULL ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (out == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory building the JSON statement");
    /* A partly built document (an allocation failed inside) would be missing
     * rows: check the row count survived before writing. */
    cJSON *back = cJSON_Parse(out);
    cJSON *rows = back ? cJSON_GetObjectItemCaseSensitive(back, "provisions") : NULL;
    bool whole = rows != NULL && cJSON_GetArraySize(rows) == ICS_MAX_PROVISIONS;
    cJSON_Delete(back);
    if (!whole) {
        free(out);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory building the JSON statement");
    }
    size_t n = strlen(out);
    bool ok = fwrite(out, 1, n, f) == n && fwrite("\n", 1, 1, f) == 1 && fflush(f) == 0;
    free(out);
    if (!ok) return hearth_err(HEARTH_ERR_IO, "writing the JSON statement failed");
    return HEARTH_OK;
}
