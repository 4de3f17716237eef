/* The provisions table (compiled in from data/en303645-v2.tsv) and the
 * statement's life cycle. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ics_internal.h"

const hearth_ics_provision *hearth_ics_provisions(size_t *n)
{
    *n = ics_provision_count;
    return ics_provision_table;
}

const hearth_ics_provision *hearth_ics_provision_find(const char *id)
{
    int i = ics_provision_index(id, strlen(id));
    return i < 0 ? NULL : &ics_provision_table[i];
}

bool hearth_ics_mandatory(const hearth_ics_provision *p)
{
    return p->status[0] == 'M';
}

bool hearth_ics_conditional(const hearth_ics_provision *p)
{
    return strchr(p->status, 'C') != NULL;
}

const char *hearth_ics_support_name(hearth_ics_support s)
{
    switch (s) {
    case HEARTH_ICS_Y: return "Y";
    case HEARTH_ICS_NA: return "N/A";
    case HEARTH_ICS_N: break;
    }
    return "N";
}

hearth_status hearth_ics_new(hearth_ics **out)
{
    *out = NULL;
    if (ics_provision_count != ICS_MAX_PROVISIONS)
        return hearth_err(HEARTH_ERR_INTERNAL, "provision table has %zu rows", ics_provision_count);
    hearth_ics *ics = calloc(1, sizeof *ics);
    if (ics == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(ics->date, sizeof ics->date, "%Y-%m-%d", &tm) != 10) {
        free(ics);
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot format today's date");
    }
    *out = ics;
    return HEARTH_OK;
}

hearth_status hearth_ics_set_date(hearth_ics *ics, const char *date)
{
    if (strlen(date) != 10) return hearth_err(HEARTH_ERR_INVALID, "date '%s' is not YYYY-MM-DD", date);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(date, "%Y-%m-%d", &tm);
    if (e == NULL || *e != '\0') return hearth_err(HEARTH_ERR_INVALID, "date '%s' is not YYYY-MM-DD", date);
    memcpy(ics->date, date, 11);
    ics->evaluated = false;
    return HEARTH_OK;
}

static void row_free(ics_row *r)
{
    free(r->declare);
    free(r->todo);
    free(r->justify);
    free(r->detail);
}

void hearth_ics_free(hearth_ics *ics)
{
    if (ics == NULL) return;
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) row_free(&ics->rows[i]);
    free(ics->manufacturer);
    free(ics->product);
    free(ics->model);
    free(ics->version);
    free(ics->disclosure_policy);
    free(ics->disclosure_contact);
    free(ics->support_end);
    free(ics->support_reasons);
    free(ics->support_published);
    for (size_t i = 0; i < ics->n_debug; i++) free(ics->debug_interfaces[i]);
    for (size_t i = 0; i < ics->n_sensing; i++) free(ics->sensing[i]);
    for (size_t i = 0; i < ics->n_tests; i++) {
        free(ics->tests[i].name);
        free(ics->tests[i].kind);
        free(ics->tests[i].provisions);
    }
    free(ics->tests);
    for (size_t i = 0; i < ics->n_cases; i++) free(ics->cases[i].name);
    free(ics->cases);
    for (size_t i = 0; i < ics->n_notes; i++) free(ics->notes[i]);
    for (size_t i = 0; i < ics->n_assessments; i++) {
        free(ics->assessment_target[i]);
        free(ics->assessment_finished[i]);
    }
    for (size_t i = 0; i < ics->n_assess; i++) free(ics->assess[i].unit);
    free(ics->assess);
    free(ics);
}
