/*
 * The slots of one device: boot/state read-modify-write under an flock, and
 * the verbs the updater (prepare-install, mark-pending), the running software
 * (confirm) and hearth-boot (alerts, decisions) use.
 *
 * Why a separate authenticated file rather than the secure store: hearth-boot
 * must decide before hearthd runs and keep supervising while it runs, and two
 * processes must never both write the store. The file is replaced atomically
 * (old or new content after a crash) and every read-modify-write holds
 * boot/lock so hearth-boot and a confirming child never lose each other's
 * update.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/slots.h"
#include "hearth/layout.h"
#include "hearth/store.h"
#include "hearth/util.h"
#include "slots_internal.h"

struct hearth_slots {
    char dir[PATH_MAX];
    uint8_t key[32];
    bool have_config;
    hearth_device_config config; /* authenticated (hearth_device_config_load) */
    hearth_floors *floors; /* the floor record (docs/boot.md "Floor record") */
};

/* ---------------------------------------------------------------- open */

static hearth_status ensure_layout(const char *dir)
{
    char p[PATH_MAX];
    static const hearth_layout_item subdirs[] = {HEARTH_LAYOUT_SLOTS, HEARTH_LAYOUT_SLOT_A,
                                                 HEARTH_LAYOUT_SLOT_B, HEARTH_LAYOUT_BOOT};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        HEARTH_GUARD(hearth_layout_path(dir, subdirs[i], p, sizeof p));
        HEARTH_GUARD(hearth_fs_mkdirs(p, 0700));
    }
    return HEARTH_OK;
}

hearth_status hearth_slots_open_key(const char *state_dir, const uint8_t root_key[32],
                                    hearth_slots **out)
{
    if (state_dir == NULL || root_key == NULL || out == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "slots open: missing argument");
    *out = NULL;
    size_t n = strlen(state_dir);
    if (n == 0 || n >= PATH_MAX - 64)
        return hearth_err(HEARTH_ERR_INVALID, "state directory path empty or too long");
    struct stat st;
    if (stat(state_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return hearth_err(HEARTH_ERR_NOT_FOUND, "state directory %s does not exist", state_dir);
    hearth_slots *s = calloc(1, sizeof *s);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    memcpy(s->dir, state_dir, n + 1);
    char keydir[PATH_MAX];
    hearth_status rc = hearth_slots_derive_key(root_key, s->key);
    if (rc == HEARTH_OK) rc = ensure_layout(s->dir);
    if (rc == HEARTH_OK) rc = hearth_layout_path(s->dir, HEARTH_LAYOUT_KEYS, keydir, sizeof keydir);
    if (rc == HEARTH_OK) rc = hearth_fs_mkdirs(keydir, 0700);
    if (rc == HEARTH_OK) rc = hearth_floors_open_file(keydir, root_key, &s->floors);
    if (rc != HEARTH_OK) {
        hearth_slots_close(s);
        return rc;
    }
    *out = s;
    return HEARTH_OK;
}

hearth_status hearth_slots_open(const char *state_dir, hearth_slots **out)
{
    if (state_dir == NULL || out == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "slots open: missing argument");
    *out = NULL;
    /* The one device-config reader: the root of trust comes from the
     * platform configuration and device.json is authenticated before any
     * field of it is used. */
    hearth_device_config cfg;
    hearth_rot *rot = NULL;
    char keydir[PATH_MAX];
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_KEYS, keydir, sizeof keydir));
    HEARTH_GUARD(hearth_device_config_load(state_dir, &cfg, &rot));
    uint8_t root_key[HEARTH_STORE_KEY_LEN];
    hearth_floors *floors = NULL;
    hearth_status st = hearth_rot_storage_key(rot, root_key);
    /* The floor record of this root of trust: TPM NV for the TPM backend. */
    if (st == HEARTH_OK) st = hearth_floors_open(rot, keydir, &floors);
    hearth_rot_close(rot); /* never held while the slot software runs */
    if (st == HEARTH_OK) st = hearth_slots_open_key(state_dir, root_key, out);
    if (st == HEARTH_OK) {
        hearth_floors_close((*out)->floors);
        (*out)->floors = floors;
        floors = NULL;
    }
    hearth_floors_close(floors);
    hearth_memzero(root_key, sizeof root_key);
    if (st == HEARTH_OK) {
        (*out)->config = cfg;
        (*out)->have_config = true;
    }
    return st;
}

const hearth_device_config *hearth_slots_device_config(const hearth_slots *s)
{
    return s != NULL && s->have_config ? &s->config : NULL;
}

void hearth_slots_close(hearth_slots *s)
{
    if (s == NULL) return;
    hearth_floors_close(s->floors);
    hearth_memzero(s, sizeof *s);
    free(s);
}

const char *hearth_slots_state_dir(const hearth_slots *s) { return s->dir; }

hearth_status hearth_slots_path(const hearth_slots *s, int slot, char *buf, size_t cap)
{
    if (slot != HEARTH_SLOT_A && slot != HEARTH_SLOT_B)
        return hearth_err(HEARTH_ERR_INVALID, "no such slot");
    return hearth_layout_path(s->dir, slot == HEARTH_SLOT_A ? HEARTH_LAYOUT_SLOT_A : HEARTH_LAYOUT_SLOT_B,
                              buf, cap);
}

/* ----------------------------------------------------- read and write */

static hearth_status state_path(const hearth_slots *s, char *p, size_t cap)
{
    return hearth_layout_path(s->dir, HEARTH_LAYOUT_BOOT_STATE, p, cap);
}

hearth_status hearth_slots_read(hearth_slots *s, hearth_boot_state *bs)
{
    char p[PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    HEARTH_GUARD(state_path(s, p, sizeof p));
    hearth_status st = hearth_fs_read_file(p, HEARTH_BOOT_STATE_MAX, &data, &len);
    if (st == HEARTH_ERR_TOO_LARGE)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state %s is larger than any valid one", p);
    if (st == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_NOT_FOUND, "no boot state at %s (no software installed?)", p);
    if (st != HEARTH_OK) return st;
    st = hearth_boot_state_decode(data, len, s->key, bs);
    free(data);
    return st;
}

/* May the floors of an unauthentic/absent record be taken from elsewhere?
 * Only an absent record, or an unauthentic FILE record (a file on the same
 * medium as boot/state proves nothing more than an authentic boot/state).
 * A TPM index that exists but cannot be read with this device's key, or a
 * TPM that cannot be reached, never is: fail closed. */
static bool record_replaceable(const hearth_slots *s, hearth_status rec)
{
    if (rec == HEARTH_ERR_NOT_FOUND) return true;
    return !hearth_floors_in_tpm(s->floors) &&
           (rec == HEARTH_ERR_TAMPERED || rec == HEARTH_ERR_UNSUPPORTED);
}

static void raise_to(hearth_boot_state *bs, const hearth_floor_values *f)
{
    if (f->security_version > bs->min_security_version)
        bs->min_security_version = f->security_version;
    if (f->keyset_version > bs->min_keyset_version) bs->min_keyset_version = f->keyset_version;
}

hearth_status hearth_slots_load(hearth_slots *s, hearth_boot_state *bs,
                                hearth_slots_load_info *info)
{
    if (s == NULL || bs == NULL || info == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "slots load: missing argument");
    memset(info, 0, sizeof *info);
    info->record_in_tpm = hearth_floors_in_tpm(s->floors);
    info->state = hearth_slots_read(s, bs);
    if (info->state != HEARTH_OK) {
        snprintf(info->state_why, sizeof info->state_why, "%s", hearth_err_msg());
        hearth_boot_state_init_empty(bs);
    }
    info->record = hearth_floors_read(s->floors, &info->record_floors);
    if (info->record != HEARTH_OK)
        snprintf(info->record_why, sizeof info->record_why, "%s", hearth_err_msg());
    info->floors_known = info->record == HEARTH_OK ||
                         (info->state == HEARTH_OK && record_replaceable(s, info->record));
    if (info->record == HEARTH_OK) {
        if (info->state == HEARTH_OK &&
            (bs->min_security_version < info->record_floors.security_version ||
             bs->min_keyset_version < info->record_floors.keyset_version))
            info->state_behind = true;
        raise_to(bs, &info->record_floors);
    }
    if (info->floors_known) return HEARTH_OK;
    if (info->state != HEARTH_OK && info->record != HEARTH_OK && record_replaceable(s, info->record))
        return hearth_err(info->state,
                          "no authentic anti-rollback floors: boot state: %s; floor record: %s",
                          info->state_why, info->record_why);
    return hearth_err(info->record, "anti-rollback floor record unusable: %s", info->record_why);
}

hearth_status hearth_slots_write(hearth_slots *s, hearth_boot_state *bs)
{
    char p[PATH_MAX];
    uint8_t buf[HEARTH_BOOT_STATE_MAX];
    size_t len = 0;
    HEARTH_GUARD(state_path(s, p, sizeof p));
    /* The floor record first, and never a floor below it: a state written
     * here can never lower a floor, and a power cut between the two writes
     * leaves the record at or above the state (docs/boot.md). */
    hearth_floor_values rec, want;
    hearth_status rs = hearth_floors_read(s->floors, &rec);
    if (rs == HEARTH_OK)
        raise_to(bs, &rec);
    else if (!record_replaceable(s, rs))
        return hearth_err(rs, "boot state not written: anti-rollback floor record: %s",
                          hearth_err_msg());
    want.security_version = bs->min_security_version;
    want.keyset_version = bs->min_keyset_version;
    if (rs != HEARTH_OK || want.security_version > rec.security_version ||
        want.keyset_version > rec.keyset_version) {
        HEARTH_GUARD(hearth_floors_raise(s->floors, &want, true, NULL));
        hearth_fault_point("slots.floors_raised");
    }
    bs->generation++;
    HEARTH_GUARD(hearth_boot_state_encode(bs, s->key, buf, sizeof buf, &len));
    hearth_fault_point("slots.write");
    return hearth_fs_write_atomic(p, buf, len, 0600);
}

/* flock on boot/lock: serialises read-modify-write between processes. */
static hearth_status lock_acquire(const hearth_slots *s, int *fd)
{
    char p[PATH_MAX];
    HEARTH_GUARD(hearth_layout_path(s->dir, HEARTH_LAYOUT_BOOT_LOCK, p, sizeof p));
    int f = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) return hearth_err(HEARTH_ERR_IO, "open %s: %s", p, strerror(errno));
    while (flock(f, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(f);
        return hearth_err(HEARTH_ERR_IO, "lock %s: %s", p, strerror(e));
    }
    *fd = f;
    return HEARTH_OK;
}

static void lock_release(int fd)
{
    if (fd >= 0) close(fd); /* closing drops the flock */
}

/* The start of every read-modify-write: take the lock, then read the state
 * under it. The lock is held unless taking it failed (*fd stays -1), so the
 * caller always ends with lock_release(*fd). On failure @p bs is zeroed, so
 * no caller can act on a half-read state. */
static hearth_status lock_read_behind(hearth_slots *s, int *fd, hearth_boot_state *bs,
                                      bool *behind)
{
    *fd = -1;
    hearth_slots_load_info info;
    memset(&info, 0, sizeof info);
    hearth_status st = lock_acquire(s, fd);
    if (st == HEARTH_OK) st = hearth_slots_load(s, bs, &info);
    /* Verbs act only on an authentic state, with the record's floors. */
    if (st == HEARTH_OK && info.state != HEARTH_OK)
        st = hearth_err(info.state, "%s", info.state_why);
    if (st != HEARTH_OK) memset(bs, 0, sizeof *bs);
    if (behind != NULL) *behind = st == HEARTH_OK && info.state_behind;
    return st;
}

static hearth_status lock_read(hearth_slots *s, int *fd, hearth_boot_state *bs)
{
    return lock_read_behind(s, fd, bs, NULL);
}

hearth_status hearth_slots_update(hearth_slots *s, hearth_slots_update_fn fn, void *arg)
{
    int fd = -1;
    hearth_boot_state bs;
    hearth_status st = lock_read(s, &fd, &bs);
    if (st == HEARTH_OK) st = fn(&bs, arg);
    if (st == HEARTH_OK) st = hearth_slots_write(s, &bs);
    lock_release(fd);
    return st;
}

void hearth_boot_state_add_alert(hearth_boot_state *bs, int slot, int64_t when, const char *file,
                        const char *reason)
{
    if (bs->n_alerts == HEARTH_SLOTS_ALERTS_MAX) {
        memmove(&bs->alerts[0], &bs->alerts[1],
                sizeof bs->alerts[0] * (HEARTH_SLOTS_ALERTS_MAX - 1));
        bs->n_alerts--;
    }
    hearth_slot_alert *al = &bs->alerts[bs->n_alerts++];
    memset(al, 0, sizeof *al);
    al->slot = (int8_t)((slot == HEARTH_SLOT_A || slot == HEARTH_SLOT_B) ? slot : HEARTH_SLOT_NONE);
    al->time = when;
    /* Keep only printable bytes: the state decoder rejects control bytes. */
    const char *src[2] = {file ? file : "", reason ? reason : ""};
    char *dst[2] = {al->file, al->reason};
    const size_t cap[2] = {sizeof al->file, sizeof al->reason};
    for (int k = 0; k < 2; k++) {
        size_t o = 0;
        for (const char *c = src[k]; *c && o + 1 < cap[k]; c++)
            dst[k][o++] = (char)(((unsigned char)*c < 0x20 || *c == 0x7f) ? '?' : *c);
        dst[k][o] = '\0';
    }
    bs->alerts_total++;
}

/* ----------------------------------------------------------------- verbs */

/* Record that @p si holds verified software @p version (display string:
 * control bytes become '?', the state decoder rejects them). */
static void set_verified(hearth_slot_info *si, const char *version, uint64_t security_version)
{
    si->verify = HEARTH_SLOT_VERIFIED;
    si->security_version = security_version;
    si->verified_at = hearth_time_now();
    int n = snprintf(si->version, sizeof si->version, "%s", version ? version : "");
    (void)n; /* truncation of a display string is acceptable */
    for (char *c = si->version; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

/* Anti-rollback: software below the device's security-version floor is
 * refused by every path that puts software into a slot. */
static hearth_status check_floor(const hearth_boot_state *bs, uint64_t security_version)
{
    if (security_version < bs->min_security_version)
        return hearth_err(HEARTH_ERR_ROLLBACK,
                          "security version %llu is below the device minimum %llu",
                          (unsigned long long)security_version,
                          (unsigned long long)bs->min_security_version);
    return HEARTH_OK;
}

/* The arguments of a verb on one slot: a handle and slot a or b. */
static hearth_status slot_arg(const hearth_slots *s, int slot, const char *verb)
{
    if (s == NULL || (slot != HEARTH_SLOT_A && slot != HEARTH_SLOT_B))
        return hearth_err(HEARTH_ERR_INVALID, "%s: bad slot", verb);
    return HEARTH_OK;
}

/* The start of a verb on one slot: check the arguments, then lock_read().
 * The caller always ends with lock_release(*fd). */
static hearth_status slot_verb_begin(hearth_slots *s, int slot, const char *verb, int *fd,
                                     hearth_boot_state *bs)
{
    *fd = -1;
    hearth_status st = slot_arg(s, slot, verb);
    if (st != HEARTH_OK) {
        memset(bs, 0, sizeof *bs);
        return st;
    }
    return lock_read(s, fd, bs);
}

/* Security event for a change of @p slot's software: its version and one
 * number (@p key = @p value). */
static void log_slot_event(const char *event, int slot, const char *version, const char *key,
                           uint64_t value)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)value);
    hearth_seclog(HEARTH_SEV_INFO, event, "slot", hearth_slot_name(slot), "version",
                  version ? version : "", key, num, NULL);
}

hearth_status hearth_slots_init(hearth_slots *s, int slot, const char *version,
                                uint64_t security_version)
{
    HEARTH_GUARD(slot_arg(s, slot, "init"));
    int fd = -1;
    hearth_boot_state bs;
    hearth_slots_load_info info;
    hearth_status st = lock_acquire(s, &fd);
    if (st != HEARTH_OK) return st;
    st = hearth_slots_load(s, &bs, &info);
    /* Without an authentic state: the floors still come from the record;
     * only when nothing authentic is left at all (a fresh device, or every
     * copy deleted/unauthentic on the file backend) does the install start
     * from floor 0 -- the technician's install is then the factory install
     * (docs/boot.md, "What an attacker with write access can do"). */
    if (st != HEARTH_OK && info.state != HEARTH_OK && record_replaceable(s, info.record)) {
        hearth_boot_state_init_empty(&bs);
        st = HEARTH_OK;
    }
    if (st == HEARTH_OK && info.state != HEARTH_OK && info.state != HEARTH_ERR_NOT_FOUND) {
        char why[HEARTH_SLOTS_REASON_MAX + 1];
        snprintf(why, sizeof why, "%.120s", info.state_why);
        hearth_seclog(HEARTH_SEV_ALERT, "boot_state_tampered", "reason", why, "action",
                      "reinitialised by slot install", NULL);
        hearth_boot_state_add_alert(&bs, HEARTH_SLOT_NONE, hearth_time_now(),
                                    hearth_layout_name(HEARTH_LAYOUT_BOOT_STATE), why);
    }
    if (st == HEARTH_OK) st = check_floor(&bs, security_version);
    if (st == HEARTH_OK) {
        bs.active = (int8_t)slot;
        bs.pending = HEARTH_SLOT_NONE;
        bs.attempts_left = 0;
        bs.booted = HEARTH_SLOT_NONE;
        set_verified(&bs.slot[slot], version, security_version);
        if (security_version > bs.min_security_version)
            bs.min_security_version = security_version;
        hearth_fault_point("slots.init");
        st = hearth_slots_write(s, &bs);
    }
    lock_release(fd);
    return st;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    if (ftw->level == 0) return 0; /* keep the slot directory itself */
    return remove(path) == 0 ? 0 : -1;
}

static hearth_status empty_dir(const char *dir)
{
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return hearth_err(HEARTH_ERR_IO, "cannot empty %s: %s", dir, strerror(errno));
    return hearth_fs_sync_dir(dir);
}

hearth_status hs_prepare_install(hearth_slots *s, bool keep, int *slot, char *path, size_t cap,
                                bool *kept)
{
    if (s == NULL || slot == NULL || path == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "prepare install: missing argument");
    if (kept != NULL) *kept = false;
    int fd = -1;
    hearth_boot_state bs;
    hearth_status st = lock_read(s, &fd, &bs);
    int target = HEARTH_SLOT_NONE;
    if (st == HEARTH_OK) {
        if (bs.active == HEARTH_SLOT_NONE)
            st = hearth_err(HEARTH_ERR_STATE, "no active slot: use 'hearth slot install' first");
        else if (bs.pending != HEARTH_SLOT_NONE && bs.booted == bs.pending)
            st = hearth_err(HEARTH_ERR_STATE,
                            "slot %s is on trial; confirm or revert it before installing",
                            hearth_slot_name(bs.pending));
    }
    if (st == HEARTH_OK) {
        target = hearth_slot_other(bs.active);
        st = hearth_slots_path(s, target, path, cap);
    }
    /* A slot the persisted state already calls "installing" is never
     * bootable (nothing pending, hearth-boot only logs slot_incomplete), so
     * its content may stay for the caller to re-verify and resume. */
    bool keep_it = st == HEARTH_OK && keep && bs.pending != target &&
                   bs.slot[target].verify == HEARTH_SLOT_INSTALLING;
    if (st == HEARTH_OK && !keep_it) {
        if (bs.pending == target) {
            bs.pending = HEARTH_SLOT_NONE;
            bs.attempts_left = 0;
        }
        hearth_slot_info *si = &bs.slot[target];
        memset(si, 0, sizeof *si);
        si->verify = HEARTH_SLOT_INSTALLING;
        hearth_fault_point("slots.prepare_install");
        st = hearth_slots_write(s, &bs);
        if (st == HEARTH_OK) st = empty_dir(path);
    }
    lock_release(fd);
    if (st == HEARTH_OK) {
        *slot = target;
        if (kept != NULL) *kept = keep_it;
    }
    return st;
}

hearth_status hearth_slots_prepare_install(hearth_slots *s, int *slot, char *path, size_t cap)
{
    return hs_prepare_install(s, false, slot, path, cap, NULL);
}

hearth_status hearth_slots_mark_pending(hearth_slots *s, int slot, const char *version,
                                        uint64_t security_version)
{
    int fd = -1;
    hearth_boot_state bs;
    hearth_status st = slot_verb_begin(s, slot, "mark pending", &fd, &bs);
    if (st == HEARTH_OK && slot == bs.active)
        st = hearth_err(HEARTH_ERR_STATE, "slot %s is the active slot; install into the other",
                        hearth_slot_name(slot));
    if (st == HEARTH_OK) st = check_floor(&bs, security_version);
    if (st == HEARTH_OK) {
        bs.pending = (int8_t)slot;
        bs.attempts_left = HEARTH_SLOTS_ATTEMPTS;
        /* The updater verified it; hearth-boot re-verifies. */
        set_verified(&bs.slot[slot], version, security_version);
        hearth_fault_point("slots.mark_pending");
        st = hearth_slots_write(s, &bs);
    }
    lock_release(fd);
    if (st == HEARTH_OK)
        log_slot_event("update_pending", slot, version, "security_version", security_version);
    return st;
}

hearth_status hearth_slots_confirm(hearth_slots *s, int slot)
{
    int fd = -1;
    hearth_boot_state bs;
    hearth_status st = slot_verb_begin(s, slot, "confirm", &fd, &bs);
    bool wrote = false;
    if (st == HEARTH_OK) {
        if (bs.pending == slot && bs.booted == slot) {
            if (bs.slot[slot].verify != HEARTH_SLOT_VERIFIED ||
                bs.slot[slot].security_version < bs.min_security_version) {
                st = hearth_err(HEARTH_ERR_STATE, "slot %s was not verified by hearth-boot",
                                hearth_slot_name(slot));
            } else {
                bs.active = (int8_t)slot;
                bs.pending = HEARTH_SLOT_NONE;
                bs.attempts_left = 0;
                /* Anti-rollback floor moves only here, on acceptance. */
                if (bs.slot[slot].security_version > bs.min_security_version)
                    bs.min_security_version = bs.slot[slot].security_version;
                hearth_fault_point("slots.confirm");
                st = hearth_slots_write(s, &bs);
                wrote = st == HEARTH_OK;
            }
        } else if (!(bs.active == slot && bs.pending == HEARTH_SLOT_NONE)) {
            st = hearth_err(HEARTH_ERR_STATE,
                            "slot %s is not on trial (active %s, pending %s): nothing to confirm",
                            hearth_slot_name(slot), hearth_slot_name(bs.active),
                            hearth_slot_name(bs.pending));
        }
    }
    lock_release(fd);
    if (wrote)
        log_slot_event("update_confirmed", slot, bs.slot[slot].version, "min_security_version",
                       bs.min_security_version);
    return st;
}

hearth_status hearth_slots_record_alert(hearth_slots *s, int slot, const char *file,
                                        const char *reason)
{
    if (s == NULL) return hearth_err(HEARTH_ERR_INVALID, "record alert: missing argument");
    /* Log first: the alert must reach the log even if the state is unusable. */
    hearth_seclog(HEARTH_SEV_ALERT, "software_integrity_violation", "slot",
                  hearth_slot_name(slot), "file", file ? file : "", "reason",
                  reason ? reason : "", NULL);
    int fd = -1;
    hearth_boot_state bs;
    hearth_status st = lock_read(s, &fd, &bs);
    if (st == HEARTH_OK) {
        hearth_boot_state_add_alert(&bs, slot, hearth_time_now(), file, reason);
        hearth_fault_point("slots.record_alert");
        st = hearth_slots_write(s, &bs);
    }
    lock_release(fd);
    return st;
}

hearth_status hearth_slots_raise_keyset_floor(hearth_slots *s, uint64_t version, bool *raised)
{
    if (raised != NULL) *raised = false;
    if (s == NULL) return hearth_err(HEARTH_ERR_INVALID, "raise key-set floor: missing argument");
    int fd = -1;
    hearth_boot_state bs;
    bool behind = false;
    hearth_status st = lock_read_behind(s, &fd, &bs, &behind);
    uint64_t old = bs.min_keyset_version;
    /* Never lowered, equal is a no-op; a state left behind the floor record
     * (power cut between the two writes) is caught up. */
    bool up = st == HEARTH_OK && (version > old || behind);
    if (up) {
        if (version > bs.min_keyset_version) bs.min_keyset_version = version;
        hearth_fault_point("slots.raise_keyset_floor");
        st = hearth_slots_write(s, &bs);
    }
    lock_release(fd);
    if (st == HEARTH_OK && up) {
        if (raised != NULL) *raised = true;
        char from[24], to[24];
        snprintf(from, sizeof from, "%llu", (unsigned long long)old);
        snprintf(to, sizeof to, "%llu", (unsigned long long)version);
        hearth_seclog(HEARTH_SEV_INFO, "keyset_floor_raised", "from", from, "to", to, NULL);
    }
    return st;
}

void hearth_slots_installed(const hearth_boot_state *bs, uint64_t *security_version,
                            char *version, size_t cap)
{
    uint64_t v = bs->min_security_version;
    if (cap > 0) version[0] = '\0';
    if (bs->active == HEARTH_SLOT_A || bs->active == HEARTH_SLOT_B) {
        const hearth_slot_info *si = &bs->slot[bs->active];
        if (si->security_version > v) v = si->security_version;
        if (cap > 0) snprintf(version, cap, "%s", si->version);
    }
    *security_version = v;
}

hearth_status hearth_slots_installed_policy(hearth_slots *s, uint64_t *security_version,
                                            char *version, size_t cap,
                                            hearth_boot_state *bs_out,
                                            hearth_slots_load_info *info_out)
{
    /* Defined even when hearth_slots_load refuses its arguments. */
    hearth_boot_state bs = {0};
    hearth_slots_load_info info = {0};
    hearth_status st = hearth_slots_load(s, &bs, &info);
    if (info_out != NULL) *info_out = info;
    if (bs_out != NULL) *bs_out = bs;
    if (st != HEARTH_OK && !(info.state != HEARTH_OK && record_replaceable(s, info.record)))
        return st; /* e.g. a TPM floor index that exists but is unusable */
    /* Nothing authentic left (fresh device, or every copy gone on the file
     * backend): bs is the empty state, nothing counts as installed, and the
     * caller's install is a factory install. A missing or unauthentic state
     * with an authentic record: the record's floor, no version string. */
    hearth_slots_installed(&bs, security_version, version, cap);
    return HEARTH_OK;
}

hearth_status hearth_slots_floor_record(hearth_slots *s, hearth_floor_values *out, bool *in_tpm)
{
    if (in_tpm != NULL) *in_tpm = hearth_floors_in_tpm(s->floors);
    return hearth_floors_read(s->floors, out);
}

hearth_status hearth_slots_inactive_path(hearth_slots *s, int *slot, char *path, size_t cap)
{
    hearth_boot_state bs;
    HEARTH_GUARD(hearth_slots_read(s, &bs));
    int t = bs.active == HEARTH_SLOT_NONE ? HEARTH_SLOT_A : hearth_slot_other(bs.active);
    HEARTH_GUARD(hearth_slots_path(s, t, path, cap));
    *slot = t;
    return HEARTH_OK;
}

/* Exposed for hearth-boot: run fn under the lock even when the state is
 * missing or unauthentic (it then starts from an empty state). */
hearth_status hearth_slots_lock(hearth_slots *s, int *fd) { return lock_acquire(s, fd); }
void hearth_slots_unlock(int fd) { lock_release(fd); }
