/*
 * `hearth slot status|install`: inspect a device's A/B slots and boot state,
 * and put the first (factory) software into a slot (EN 303 645 5.7-1, 5.3-2,
 * 5.3-9). Field updates go through the network updater instead; see
 * docs/boot.md.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "cli_util.h"
#include "commands.h"
#include "hearth/bundle.h"
#include "hearth/layout.h"
#include "hearth/slots.h"
#include "hearth/util.h"

static void slot_usage(FILE *f)
{
    fprintf(f,
            "usage: hearth slot status --state DIR\n"
            "       hearth slot install --state DIR --trust TRUSTDIR --bundle FILE\n"
            "                           [--slot a|b] [--keyset FILE]\n"
            "       hearth slot stage --state DIR --trust TRUSTDIR --bundle FILE [--keyset FILE]\n\n"
            "status   print the authenticated boot state: active and pending slot, attempts,\n"
            "         minimum security version, key-set floor, per-slot verification,\n"
            "         reverts, alerts.\n"
            "install  factory/first install: verify a signed bundle against the trust\n"
            "         anchor (root keys + key set, default TRUSTDIR/keyset) and this device's\n"
            "         model, extract it into a slot (default: the inactive one, or a) and make\n"
            "         that slot active. install and stage refuse a bundle below the device's\n"
            "         anti-rollback floors (boot state and floor record: TPM NV or\n"
            "         keys/boot-floors) and a replay of the installed release, exactly like\n"
            "         'hearth bundle verify --installed-*' and the updater; with no authentic\n"
            "         floor left at all, install is a factory install (a warning says so).\n"
            "         install and stage refuse a key set older than the\n"
            "         device's key-set floor and raise the floor to the key set's version:\n"
            "         pass the key set file hearth-boot uses (--keyset).\n"
            "stage    local update (e.g. from a USB stick): what the network updater does --\n"
            "         verify the bundle (signature, model, no rollback), install it into the\n"
            "         inactive slot and mark it pending; hearth-boot tries it at the next boot\n"
            "         and the new software must confirm it. Exit: 0 ok, 1 error, 2 usage.\n");
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
    if (t <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
}

static int cmd_status(const char *state)
{
    hearth_slots *s = NULL;
    if (hearth_slots_open(state, &s) != HEARTH_OK) {
        fprintf(stderr, "hearth slot status: %s\n", hearth_err_msg());
        return 1;
    }
    /* The state with the floor record's floors: what a decision uses. */
    hearth_boot_state bs;
    hearth_slots_load_info info;
    hearth_status lst = hearth_slots_load(s, &bs, &info);
    hearth_status st = info.state;
    int rc = 0;
    printf("state directory:        %s\n", state);
    if (st != HEARTH_OK) {
        printf("boot state:             %s: %s\n",
               st == HEARTH_ERR_NOT_FOUND ? "MISSING" : "FAILED AUTHENTICATION",
               info.state_why);
        if (lst == HEARTH_OK && info.record == HEARTH_OK)
            printf("min security version:   %llu (floor record)\nmin key-set version:    "
                   "%llu (floor record)\n",
                   (unsigned long long)bs.min_security_version,
                   (unsigned long long)bs.min_keyset_version);
        rc = 1;
    } else {
        char t[32];
        printf("boot state:             authentic (generation %llu)\n",
               (unsigned long long)bs.generation);
        printf("active slot:            %s\n", hearth_slot_name(bs.active));
        printf("pending slot:           %s", hearth_slot_name(bs.pending));
        if (bs.pending != HEARTH_SLOT_NONE) printf(" (boot attempts left %u)", bs.attempts_left);
        printf("\nlast booted slot:       %s\n", hearth_slot_name(bs.booted));
        printf("min security version:   %llu\n", (unsigned long long)bs.min_security_version);
        printf("min key-set version:    %llu\n", (unsigned long long)bs.min_keyset_version);
        for (int i = 0; i < HEARTH_SLOT_COUNT; i++) {
            const hearth_slot_info *si = &bs.slot[i];
            fmt_time(si->verified_at, t, sizeof t);
            printf("slot %s:                 %-10s version %-12s security version %llu, "
                   "checked %s\n",
                   hearth_slot_name(i), hearth_slot_verify_name(si->verify),
                   si->version[0] ? si->version : "-",
                   (unsigned long long)si->security_version, t);
        }
        fmt_time(bs.last_reverted_at, t, sizeof t);
        printf("updates reverted:       %u", bs.reverts_total);
        if (bs.reverts_total) printf(" (last: slot %s at %s)", hearth_slot_name(bs.last_reverted), t);
        printf("\nintegrity alerts:       %u total, %u kept\n", bs.alerts_total, bs.n_alerts);
        for (unsigned i = 0; i < bs.n_alerts; i++) {
            const hearth_slot_alert *al = &bs.alerts[i];
            fmt_time(al->time, t, sizeof t);
            printf("  ALERT %s slot %s file %s: %s\n", t, hearth_slot_name(al->slot),
                   al->file[0] ? al->file : "-", al->reason);
        }
    }
    /* The floor record: where the floors survive a lost or replayed state. */
    hearth_floor_values fl;
    bool in_tpm = false;
    hearth_status fs = hearth_slots_floor_record(s, &fl, &in_tpm);
    const char *where = in_tpm ? "TPM NV" : "file keys/boot-floors";
    if (fs == HEARTH_OK)
        printf("floor record:           %s: security version %llu, key-set version %llu\n",
               where, (unsigned long long)fl.security_version,
               (unsigned long long)fl.keyset_version);
    else {
        printf("floor record:           %s: %s: %s\n", where,
               fs == HEARTH_ERR_NOT_FOUND ? "MISSING" : "UNUSABLE", hearth_err_msg());
        if (fs != HEARTH_ERR_NOT_FOUND) rc = 1;
    }
    char p[PATH_MAX];
    uint8_t *rec = NULL;
    size_t len = 0;
    if (hearth_layout_path(state, HEARTH_LAYOUT_BOOT_RECOVERY, p, sizeof p) == HEARTH_OK &&
        hearth_fs_read_file(p, 4096, &rec, &len) == HEARTH_OK) {
        printf("RECOVERY MODE:\n%s", (const char *)rec);
        if (len == 0 || rec[len - 1] != '\n') printf("\n");
        free(rec);
    }
    hearth_slots_close(s);
    return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    return ftw->level == 0 ? 0 : (remove(path) == 0 ? 0 : -1);
}

static hearth_status mark_installing_fn(hearth_boot_state *bs, void *arg)
{
    int slot = *(int *)arg;
    if (bs->pending == slot) {
        bs->pending = HEARTH_SLOT_NONE;
        bs->attempts_left = 0;
    }
    memset(&bs->slot[slot], 0, sizeof bs->slot[slot]);
    bs->slot[slot].verify = HEARTH_SLOT_INSTALLING;
    return HEARTH_OK;
}

static int fail(const char *what)
{
    return cli_fail("slot install", what);
}

static int cmd_install(const char *state, const char *trust_dir, const char *keyset,
                       const char *bundle, const char *slot_arg, bool stage)
{
    char kpath[PATH_MAX], sdir[PATH_MAX];
    int n = keyset ? snprintf(kpath, sizeof kpath, "%s", keyset)
                   : snprintf(kpath, sizeof kpath, "%s/%s", trust_dir, HEARTH_TRUST_KEYSET_FILE);
    if (n < 0 || (size_t)n >= sizeof kpath) {
        fprintf(stderr, "hearth slot install: key set path too long\n");
        return 2;
    }
    int slot = HEARTH_SLOT_NONE;
    if (slot_arg != NULL && hearth_slot_parse(slot_arg, &slot) != HEARTH_OK) {
        fprintf(stderr, "hearth slot install: --slot must be a or b\n");
        return 2;
    }
    hearth_slots *s = NULL;
    hearth_trust *trust = NULL;
    hearth_keyset *ks = NULL;
    hearth_bundle *b = NULL;
    int rc = 1;
    if (hearth_slots_open(state, &s) != HEARTH_OK) return fail("device state");
    /* The boot state and the floor record first: the floors bound the key
     * set and the bundle accepted, and the installed release is a replay.
     * The same decision as the updater's (hearth_slots_installed_policy +
     * hearth_bundle_check_policy). */
    hearth_boot_state bs;
    hearth_slots_load_info info;
    uint64_t inst_sv = 0;
    char inst_ver[HEARTH_SLOTS_VERSION_MAX + 1];
    if (hearth_slots_installed_policy(s, &inst_sv, inst_ver, sizeof inst_ver, &bs, &info) !=
        HEARTH_OK) {
        rc = fail("anti-rollback floors");
        goto out;
    }
    bool authentic = info.state == HEARTH_OK;
    if (!authentic && info.state != HEARTH_ERR_NOT_FOUND && info.floors_known)
        fprintf(stderr,
                "hearth slot install: warning: %s; it will be replaced, keeping the floors of "
                "the floor record (security version %llu, key set %llu)\n",
                info.state_why, (unsigned long long)bs.min_security_version,
                (unsigned long long)bs.min_keyset_version);
    else if (!info.floors_known && info.state != HEARTH_ERR_NOT_FOUND)
        fprintf(stderr,
                "hearth slot install: warning: no authentic anti-rollback floors on this device "
                "(boot state: %s; floor record: %s): installing as at the factory\n",
                info.state_why, info.record_why);
    if (hearth_trust_load_dir(trust_dir, &trust) != HEARTH_OK) {
        rc = fail("trust anchor");
        goto out;
    }
    /* A key set older than one this device already accepted is a rollback:
     * hearth-boot would refuse it, so refuse it here before touching a slot. */
    uint64_t ks_floor = bs.min_keyset_version;
    if (hearth_keyset_load(kpath, trust, ks_floor, 0, &ks) != HEARTH_OK) {
        rc = fail("key set");
        goto out;
    }
    uint64_t ks_version = hearth_keyset_version(ks);
    if (hearth_bundle_open(bundle, ks, &b) != HEARTH_OK) {
        rc = fail("bundle");
        goto out;
    }
    /* Model and hardware id from the device configuration hearth_slots_open()
     * authenticated (both required), so a bundle for another product is
     * refused. */
    const hearth_device_config *cfg = hearth_slots_device_config(s);
    if (cfg == NULL) {
        rc = fail("device configuration");
        goto out;
    }
    hearth_bundle_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.model = cfg->model;
    pol.hw_id = cfg->hw_id;
    pol.installed_security_version = inst_sv;
    pol.installed_sw_version = inst_ver[0] ? inst_ver : NULL;
    if (hearth_bundle_check_policy(b, &pol) != HEARTH_OK) {
        rc = fail("bundle refused");
        goto out;
    }
    if (hearth_bundle_verify_payloads(b, 0, NULL, NULL) != HEARTH_OK) {
        rc = fail("bundle payload");
        goto out;
    }
    if (stage) {
        /* Exactly the updater's path through the slots API. */
        if (hearth_slots_prepare_install(s, &slot, sdir, sizeof sdir) != HEARTH_OK) {
            rc = fail("prepare install");
            goto out;
        }
    } else {
        if (slot == HEARTH_SLOT_NONE)
            slot = (authentic && bs.active != HEARTH_SLOT_NONE)
                       ? hearth_slot_other(bs.active)
                       : HEARTH_SLOT_A;
        if (authentic && hearth_slots_update(s, mark_installing_fn, &slot) != HEARTH_OK) {
            rc = fail("boot state");
            goto out;
        }
        if (hearth_slots_path(s, slot, sdir, sizeof sdir) != HEARTH_OK) {
            rc = fail("slot");
            goto out;
        }
        if (nftw(sdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
            fprintf(stderr, "hearth slot install: cannot empty %s: %s\n", sdir,
                    strerror(errno));
            goto out;
        }
    }
    if (hearth_bundle_extract_verified(b, sdir, NULL, NULL) != HEARTH_OK) {
        rc = fail("extract");
        goto out;
    }
    /* Check the installed slot exactly as hearth-boot will. */
    hearth_bundle_policy bootpol = pol;
    bootpol.installed_security_version = 0;
    bootpol.ignore_expiry = true;
    if (hearth_slot_verify_dir(sdir, ks, &bootpol, 0, NULL) != HEARTH_OK) {
        rc = fail("installed slot does not verify");
        goto out;
    }
    const hearth_manifest *m = hearth_bundle_manifest(b);
    /* stage: the slot is tried at the next boot; install: it is active now. */
    hearth_status st = stage ? hearth_slots_mark_pending(s, slot, m->sw_version, m->security_version)
                             : hearth_slots_init(s, slot, m->sw_version, m->security_version);
    if (st != HEARTH_OK) {
        rc = fail(stage ? "mark pending" : "boot state");
        goto out;
    }
    /* The key set file verified with is on the device: raise the floor
     * (after the slot is written, like the updater: file first). */
    if (hearth_slots_raise_keyset_floor(s, ks_version, NULL) != HEARTH_OK) {
        rc = fail("key-set floor");
        goto out;
    }
    if (stage)
        printf("staged %s (security version %llu) in slot %s; pending, tried at next boot; "
               "key-set floor %llu\n",
               m->sw_version, (unsigned long long)m->security_version, hearth_slot_name(slot),
               (unsigned long long)ks_version);
    else
        printf("installed %s (security version %llu) into slot %s; slot %s is active; "
               "key-set floor %llu\n",
               m->sw_version, (unsigned long long)m->security_version, hearth_slot_name(slot),
               hearth_slot_name(slot), (unsigned long long)ks_version);
    rc = 0;
out:
    hearth_bundle_free(b);
    hearth_keyset_free(ks);
    hearth_trust_free(trust);
    hearth_slots_close(s);
    return rc;
}

/* Options of every slot sub-command (the same set for all, as given). */
struct slot_opts {
    const char *state, *trust, *bundle, *slot, *keyset;
};

/* Parse @p o; --state is required. -1 to go on, else the exit status. */
static int slot_opts_parse(int argc, char **argv, struct slot_opts *o)
{
    const cli_opt opts[] = {
        {"--state", &o->state, NULL},   {"--trust", &o->trust, NULL},
        {"--bundle", &o->bundle, NULL}, {"--slot", &o->slot, NULL},
        {"--keyset", &o->keyset, NULL}, {NULL, NULL, NULL},
    };
    memset(o, 0, sizeof *o);
    int rc = cli_parse_opts("slot", slot_usage, argc, argv, opts, NULL);
    if (rc < 0 && o->state == NULL) {
        slot_usage(stderr);
        return 2;
    }
    return rc;
}

static int slot_status(int argc, char **argv)
{
    struct slot_opts o;
    int rc = slot_opts_parse(argc, argv, &o);
    return rc >= 0 ? rc : cmd_status(o.state);
}

static int slot_put(int argc, char **argv, bool stage)
{
    struct slot_opts o;
    int rc = slot_opts_parse(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.trust == NULL || o.bundle == NULL || (stage && o.slot != NULL)) {
        slot_usage(stderr);
        return 2;
    }
    /* Installs are security events of this device: they go to its own
     * log, next to what hearth-boot and hearthd record. */
    char logp[4096];
    bool logged = hearth_layout_path(o.state, HEARTH_LAYOUT_EVENTS_LOG, logp, sizeof logp) == HEARTH_OK &&
                  hearth_seclog_open(logp) == HEARTH_OK;
    rc = cmd_install(o.state, o.trust, o.keyset, o.bundle, o.slot, stage);
    if (logged) hearth_seclog_close();
    return rc;
}

static int slot_install(int argc, char **argv) { return slot_put(argc, argv, false); }
static int slot_stage(int argc, char **argv) { return slot_put(argc, argv, true); }

int hearth_cmd_slot(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"status", slot_status}, {"install", slot_install}, {"stage", slot_stage}};
    return cli_dispatch("slot", slot_usage, subs, sizeof subs / sizeof subs[0], argc, argv);
}
