/*
 * The consent receipt handed to the person (GET /api/v1/consents/receipt): the
 * fields of the Kantara Initiative Consent Receipt 1.1, built from the
 * registry's state now. It is distinct from the registry's internal record
 * (ISO/IEC TS 27560): the receipt names the person asking and what is in
 * force; the record keeps the log of every change.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "hearth/util.h"
#include "privacy_internal.h"

hearth_status hearth_privacy_receipt(hearth_privacy *p, const char *principal, const char *device_id,
                                     char *buf, size_t cap, size_t *len)
{
    HEARTH_ENSURE(p != NULL && principal != NULL && buf != NULL && cap > 0, HEARTH_ERR_INVALID);
    cJSON *r = cJSON_CreateObject();
    cJSON *ctl = cJSON_CreateObject();
    cJSON *ctls = cJSON_CreateArray();
    cJSON *svc = cJSON_CreateObject();
    cJSON *svcs = cJSON_CreateArray();
    cJSON *purposes = cJSON_CreateArray();
    bool ok = r != NULL && ctl != NULL && ctls != NULL && svc != NULL && svcs != NULL && purposes != NULL;
    if (!ok) {
        cJSON_Delete(r), cJSON_Delete(ctl), cJSON_Delete(ctls), cJSON_Delete(svc), cJSON_Delete(svcs),
            cJSON_Delete(purposes);
        return hearth_err(HEARTH_ERR_NOMEM, "privacy: out of memory");
    }
    cJSON_AddItemToArray(ctls, ctl);
    cJSON_AddItemToArray(svcs, svc);
    cJSON *inv = cJSON_Parse(pv_inventory_json);
    const cJSON *ic = cJSON_GetObjectItemCaseSensitive(inv, "controller");
    const cJSON *cname = cJSON_GetObjectItemCaseSensitive(ic, "name");
    const cJSON *ccontact = cJSON_GetObjectItemCaseSensitive(ic, "contact");
    const cJSON *cpolicy = cJSON_GetObjectItemCaseSensitive(ic, "policy");
    ok = cJSON_IsString(cname) && cJSON_IsString(ccontact) && cJSON_IsString(cpolicy);
    int64_t latest = 0;
    char latest_id[37] = "";
    for (size_t i = 0; ok && hearth_privacy_purpose_at(i) != NULL; i++) {
        const hearth_privacy_purpose *pp = hearth_privacy_purpose_at(i);
        if (strcmp(pp->basis, "consent") != 0) continue;
        hearth_privacy_consent c;
        ok = hearth_privacy_get(p, pp->id, &c) == HEARTH_OK;
        cJSON *o = ok ? cJSON_CreateObject() : NULL;
        ok = o != NULL && cJSON_AddItemToArray(purposes, o) &&
             cJSON_AddStringToObject(o, "purpose", pp->title) &&
             cJSON_AddStringToObject(o, "purposeId", pp->id) &&
             cJSON_AddStringToObject(o, "consentType", "EXPLICIT") &&
             cJSON_AddBoolToObject(o, "primaryPurpose", false) &&
             cJSON_AddStringToObject(o, "termination",
                                     "at any time: PUT /api/v1/consents/{purpose} {\"granted\":false}") &&
             cJSON_AddBoolToObject(o, "thirdPartyDisclosure", false) &&
             cJSON_AddStringToObject(o, "status", c.granted ? "granted" : "not granted") &&
             (c.since > 0 ? cJSON_AddNumberToObject(o, "since", (double)c.since) != NULL
                          : cJSON_AddNullToObject(o, "since") != NULL) &&
             cJSON_AddStringToObject(o, "noticeVersion", c.since > 0 ? c.notice_version : pv_notice_version) &&
             cJSON_AddStringToObject(o, "recordId", c.receipt_id);
        if (ok && c.since > latest) {
            latest = c.since;
            memcpy(latest_id, c.receipt_id, sizeof latest_id);
        }
    }
    char rid[37 + 24];
    /* One receipt id per state of the registry: the latest record's id. */
    snprintf(rid, sizeof rid, "%s", latest_id[0] ? latest_id : "no-consent-recorded");
    ok = ok && cJSON_AddStringToObject(r, "version", "KI-CR-v1.1.0") &&
         cJSON_AddStringToObject(r, "jurisdiction", "EU") &&
         cJSON_AddNumberToObject(r, "consentTimestamp", (double)latest) &&
         cJSON_AddStringToObject(r, "collectionMethod", "device local API, by an administrator of the device") &&
         cJSON_AddStringToObject(r, "consentReceiptID", rid) && cJSON_AddStringToObject(r, "language", "en") &&
         cJSON_AddStringToObject(r, "piiPrincipalId", principal) &&
         cJSON_AddStringToObject(ctl, "piiController", cname->valuestring) &&
         cJSON_AddStringToObject(ctl, "contact", ccontact->valuestring) &&
         cJSON_AddBoolToObject(ctl, "onBehalf", false) && cJSON_AddItemToObject(r, "piiControllers", ctls) &&
         cJSON_AddStringToObject(r, "policyUrl", cpolicy->valuestring) &&
         cJSON_AddStringToObject(svc, "service",
                                 device_id != NULL ? device_id : "this device and its manufacturer's service") &&
         cJSON_AddItemToObject(svc, "purposes", purposes) && cJSON_AddItemToObject(r, "services", svcs) &&
         cJSON_AddBoolToObject(r, "sensitive", false) && cJSON_AddArrayToObject(r, "spiCat") &&
         cJSON_AddStringToObject(r, "noticeVersion", pv_notice_version) &&
         cJSON_AddNumberToObject(r, "issued", (double)hearth_time_now());
    if (!ok) {
        /* Whatever was not attached yet is freed here. */
        if (cJSON_GetObjectItemCaseSensitive(r, "piiControllers") == NULL) cJSON_Delete(ctls);
        if (cJSON_GetObjectItemCaseSensitive(svc, "purposes") == NULL) cJSON_Delete(purposes);
        if (cJSON_GetObjectItemCaseSensitive(r, "services") == NULL) cJSON_Delete(svcs);
    }
    ok = ok && cJSON_PrintPreallocated(r, buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), false);
    cJSON_Delete(r);
    cJSON_Delete(inv);
    if (!ok) return hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: the receipt does not fit");
    if (len != NULL) *len = strlen(buf);
    return HEARTH_OK;
}
