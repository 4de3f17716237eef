/*
 * The SBOM of the running software (GET /api/v1/sbom): the one signed into
 * the manifest of the slot hearth-boot launched. hearth-boot verified that
 * slot completely (signature, key set, every payload chunk) before starting
 * it; here the slot's manifest is read back (bounded, the bundle parser)
 * and used only if the authenticated boot state agrees: the slot is the
 * one last launched, and the manifest's software and security versions are
 * the ones recorded at its verification. The signature is not verified a
 * second time here (docs/sbom.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/bundle.h"
#include "hearth/sbom.h"
#include "hearth/slots.h"
#include "hearth/util.h"

hearth_status hearth_sbom_running(const char *state_dir, int slot, char **json, size_t *len)
{
    *json = NULL;
    *len = 0;
    hearth_slots *s = NULL;
    HEARTH_GUARD(hearth_slots_open(state_dir, &s));
    hearth_boot_state bs;
    char path[4096];
    uint8_t *raw = NULL;
    size_t rlen = 0;
    hearth_manifest *m = NULL;
    hearth_status st = hearth_slots_read(s, &bs);
    if (st == HEARTH_OK && bs.booted != slot)
        st = hearth_err(HEARTH_ERR_STATE, "slot %s is not the one hearth-boot launched",
                        hearth_slot_name(slot));
    if (st == HEARTH_OK) st = hearth_slots_path(s, slot, path, sizeof path);
    char mpath[4096 + sizeof HEARTH_SLOT_MANIFEST + 1];
    if (st == HEARTH_OK) {
        int w = snprintf(mpath, sizeof mpath, "%s/%s", path, HEARTH_SLOT_MANIFEST);
        st = w > 0 && (size_t)w < sizeof mpath
                 ? hearth_fs_read_file(mpath, HEARTH_BUNDLE_MANIFEST_MAX, &raw, &rlen)
                 : hearth_err(HEARTH_ERR_INVALID, "slot path too long");
    }
    if (st == HEARTH_OK) st = hearth_manifest_parse(raw, rlen, &m);
    if (st == HEARTH_OK && (strcmp(m->sw_version, bs.slot[slot].version) != 0 ||
                            m->security_version != bs.slot[slot].security_version)) {
        hearth_seclog(HEARTH_SEV_ALERT, "slot_manifest_changed", "slot", hearth_slot_name(slot),
                      NULL);
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "the manifest of slot %s is not the one verified at boot",
                        hearth_slot_name(slot));
    }
    if (st == HEARTH_OK && m->sbom == NULL)
        st = hearth_err(HEARTH_ERR_NOT_FOUND, "slot %s was installed from a bundle without an SBOM",
                        hearth_slot_name(slot));
    if (st == HEARTH_OK) {
        *json = m->sbom;
        *len = m->sbom_len;
        m->sbom = NULL;
    }
    hearth_manifest_free(m);
    free(raw);
    hearth_slots_close(s);
    return st;
}
