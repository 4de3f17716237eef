/* Internal state of a conformance statement (include/hearth/ics.h). */
#ifndef HEARTH_ICS_INTERNAL_H
#define HEARTH_ICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hearth/ics.h"

extern const hearth_ics_provision ics_provision_table[];
extern const size_t ics_provision_count;

#define ICS_MAX_PROVISIONS 67
#define ICS_MAX_TESTS 20000    /* tests in a map or a JUnit file */
#define ICS_MAX_NOTES 200
#define ICS_MAX_LINE 8192      /* one line of a declarations, map or CSV file */
#define ICS_MAX_ITEMS 64       /* debug-interface / sensing lines */
#define ICS_MAX_CONDITIONS 32
#define ICS_MAX_ASSESSMENTS HEARTH_ICS_MAX_ASSESSMENTS
#define ICS_MAX_ASSESS_INPUT (1024u * 1024u) /* one assessment.json */
#define ICS_MAX_ASSESS_UNITS 256       /* units in one assessment */
#define ICS_MAX_ASSESS_UNIT_PROVISIONS 16

/* Where the profile puts a provision. */
typedef enum { ICS_PROFILE_NONE, ICS_PROFILE_INCLUDED, ICS_PROFILE_EXCLUDED, ICS_PROFILE_NOT_LISTED } ics_profile_state;

/* A test's result in the run. */
typedef enum { ICS_RESULT_MISSING, ICS_RESULT_PASSED, ICS_RESULT_FAILED, ICS_RESULT_NOT_RUN } ics_result;

/* How a provision's support was decided. */
typedef enum {
    ICS_BASIS_TESTS,       /* every named test passed */
    ICS_BASIS_ASSESSMENT,  /* no test names it; an assessment unit naming it passed, none failed */
    ICS_BASIS_DECLARATION, /* the manufacturer's declaration */
    ICS_BASIS_CONDITION,   /* the condition does not hold: N/A */
    ICS_BASIS_PROFILE,     /* excluded by the profile */
    ICS_BASIS_EVIDENCE_FAILED, /* a named test failed, did not run or is missing */
    ICS_BASIS_TODO,        /* declared as the manufacturer's to do */
    ICS_BASIS_NONE         /* no evidence at all */
} ics_basis;

typedef struct {
    char *name;
    char *kind;
    char *provisions; /* space-separated */
    ics_result result;
} ics_test;

/* An assessment unit's verdict (hearth-assessment/1). */
typedef enum { ICS_VERDICT_PASS, ICS_VERDICT_FAIL, ICS_VERDICT_INCONCLUSIVE, ICS_VERDICT_NA } ics_verdict;

/* One (unit, provision) pair of a loaded assessment. */
typedef struct {
    size_t prov;       /* index into ics_provision_table */
    ics_verdict verdict;
    char *unit;        /* the unit's id */
    size_t file;       /* index into assessment_names */
} ics_assess_entry;

typedef struct {
    char name[48];
    char value[8]; /* "yes" / "no" */
} ics_condition;

typedef struct {
    /* per provision, index into ics_provision_table */
    ics_profile_state profile;
    char profile_src[64]; /* "4.3-7" or "5.1-1" */
    char *declare;        /* declare <id>: text (or synthesised from structured keys) */
    char *todo;
    char *justify;
    /* evaluation */
    hearth_ics_support support;
    ics_basis basis;
    int condition_holds;  /* 1 holds, 0 does not, -1 undeclared (treated as holding), 2 unconditional */
    char *detail;
    bool flag_mandatory_excluded, flag_mandatory_not_supported, flag_unjustified;
} ics_row;

struct hearth_ics {
    ics_row rows[ICS_MAX_PROVISIONS];
    bool have_profile, have_decl, have_map, have_junit, evaluated;
    char profile_name[128];
    char decl_name[128];
    char map_name[128];
    char junit_name[128];
    char commit[72];
    char junit_timestamp[40];
    char date[11];
    /* declarations */
    char *manufacturer, *product, *model, *version;
    char *disclosure_policy, *disclosure_contact;
    char *support_end, *support_reasons, *support_published;
    char *debug_interfaces[ICS_MAX_ITEMS];
    size_t n_debug;
    char *sensing[ICS_MAX_ITEMS];
    size_t n_sensing;
    ics_condition conditions[ICS_MAX_CONDITIONS];
    size_t n_conditions;
    /* evidence */
    ics_test *tests; /* from the map */
    size_t n_tests;
    ics_test *cases; /* from the JUnit, sorted by name (provisions unused) */
    size_t n_cases;
    size_t junit_passed, junit_failed, junit_not_run;
    /* assessments (hearth-assessment/1): files, their target and finish time, and the unit/provision pairs */
    char assessment_names[ICS_MAX_ASSESSMENTS][128];
    char *assessment_target[ICS_MAX_ASSESSMENTS];
    char *assessment_finished[ICS_MAX_ASSESSMENTS];
    size_t n_assessments;
    ics_assess_entry *assess;
    size_t n_assess;
    /* notes for the reader (parsing remarks) */
    char *notes[ICS_MAX_NOTES];
    size_t n_notes;
};

/* text.c: small string helpers */
char *ics_strndup(const char *s, size_t n);
char *ics_strdup(const char *s);
/* Append a formatted note; silently stops at ICS_MAX_NOTES (the last one says so). */
void ics_note(hearth_ics *ics, const char *fmt, ...) HEARTH_PRINTF(2, 3);
/* Next line of [*pos, len): returns its start and length without the newline
 * (and without a trailing \r); false at the end. Fails a line longer than max. */
bool ics_next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n);
/* Refuse NUL bytes and invalid UTF-8 in an input. */
hearth_status ics_check_text(const char *name, const char *text, size_t len) HEARTH_MUST_CHECK;
/* Trim spaces and tabs on both ends of [*s, *s + *n). */
void ics_trim(const char **s, size_t *n);
/* Index of provision @p id (length @p n) in the table, or -1. */
int ics_provision_index(const char *id, size_t n);
/* A growable string: append with ics_str_printf; NULL on allocation failure (caller checks at the end). */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} ics_str;
void ics_str_printf(ics_str *b, const char *fmt, ...) HEARTH_PRINTF(2, 3);
void ics_str_free(ics_str *b);
/* Append @p s (argument order of fputs, for the writers). */
void ics_fputs(const char *s, ics_str *b);
/* Write the whole buffer to @p f and free it: HEARTH_ERR_NOMEM if building
 * it failed, HEARTH_ERR_IO if the write did; @p what names the format. */
hearth_status ics_str_emit(ics_str *b, FILE *f, const char *what) HEARTH_MUST_CHECK;
/* Result name: "passed", "failed", "not run", "missing from the run". */
const char *ics_result_name(ics_result r);
const char *ics_basis_name(ics_basis b);
const char *ics_profile_name(ics_profile_state p);
/* "PASS", "FAIL", "INCONCLUSIVE", "N/A". */
const char *ics_verdict_name(ics_verdict v);
/* A test's provision list (space-separated) names @p id. */
bool ics_test_names(const ics_test *t, const char *id);

/* write_common.c: what the Markdown and HTML writers share. */
typedef void (*ics_emit_fn)(ics_str *f, const char *s);
#define ICS_ABOUT_ROWS 10
typedef struct {
    struct {
        const char *label, *value;
        bool code; /* a commit id: shown as code */
    } rows[ICS_ABOUT_ROWS];
    size_t n;
    char run[256], map[200]; /* the values the rows point into */
    ics_str conditions;      /* free with ics_str_free() */
} ics_about;
/* The rows of the table about the statement (into a zeroed @p a). */
void ics_about_rows(const hearth_ics *ics, ics_about *a);
typedef enum { ICS_LIST_EXCLUDED, ICS_LIST_NOT_SUPPORTED, ICS_LIST_UNJUSTIFIED } ics_list;
/* The provisions of a summary list, ", "-separated through @p item, or "none". */
void ics_list_ids(ics_str *f, const hearth_ics *ics, ics_list which, ics_emit_fn item);
/* ": name (result), ..." for each test named as evidence that did not pass. */
void ics_list_bad_tests(ics_str *f, const hearth_ics *ics, ics_emit_fn esc);

/* statement.c: a test's result in the loaded run. */
ics_result ics_test_result(const hearth_ics *ics, const char *name);

#endif
