/*
 * The device label (EN 303 645 5.3-16: model designation recognizable;
 * 5.1-1: the unique setup password reaches the user on the label only).
 * Formats are documented in docs/label-format.md; factory tooling parses
 * them, so any change here needs a new version marker there.
 */
#include <stdio.h>
#include <string.h>

#include "identity_internal.h"

/* Every label field comes from a restricted alphabet; re-check so a label
 * filled in by a caller cannot inject lines, separators or JSON. */
static bool field_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr(extra, c) != NULL);
        if (!ok) return false;
    }
    return true;
}

static hearth_status check_label(const hearth_label *l)
{
    if (!field_ok(l->model, HEARTH_MODEL_MAX, "._-") ||
        !field_ok(l->serial, HEARTH_SERIAL_MAX, "-") ||
        !field_ok(l->setup_password, HEARTH_SETUP_PW_MAX - 1, "-") ||
        !field_ok(l->fingerprint, HEARTH_FINGERPRINT_MAX - 1, ":"))
        return hearth_err(HEARTH_ERR_INVALID, "label fields contain unexpected characters");
    return HEARTH_OK;
}

static hearth_status emit(char *buf, size_t cap, int n)
{
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0) hearth_memzero(buf, cap);
        return hearth_err(HEARTH_ERR_TOO_LARGE, "label buffer too small");
    }
    return HEARTH_OK;
}

hearth_status hearth_label_format(const hearth_label *label, char *buf, size_t cap)
{
    HEARTH_GUARD(check_label(label));
    int n = snprintf(buf, cap,
                     "HEARTH DEVICE LABEL v1\n"
                     "Model:          %s\n"
                     "Serial:         %s\n"
                     "Setup password: %s\n"
                     "Certificate:    %s\n",
                     label->model, label->serial, label->setup_password, label->fingerprint);
    return emit(buf, cap, n);
}

hearth_status hearth_label_qr_payload(const hearth_label *label, char *buf, size_t cap)
{
    HEARTH_GUARD(check_label(label));
    int n = snprintf(buf, cap, "HEARTH1:M=%s;S=%s;P=%s;F=%s", label->model, label->serial,
                     label->setup_password, label->fingerprint);
    return emit(buf, cap, n);
}

hearth_status hearth_label_json(const hearth_label *label, char *buf, size_t cap)
{
    HEARTH_GUARD(check_label(label));
    /* Fields are checked above to hold no character that JSON escapes. */
    int n = snprintf(buf, cap,
                     "{\"format\":\"hearth-label-1\",\"model\":\"%s\",\"serial\":\"%s\","
                     "\"setup_password\":\"%s\",\"fingerprint\":\"%s\"}\n",
                     label->model, label->serial, label->setup_password, label->fingerprint);
    return emit(buf, cap, n);
}
