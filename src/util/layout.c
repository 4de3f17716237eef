/* The layout of a device's state: one table, one function that reads it. */
#include "hearth/layout.h"

#include <string.h>

#include "hearth/util.h"

#ifndef HEARTH_TRUST_DEFAULT_DIR
#error "HEARTH_TRUST_DEFAULT_DIR must come from the build (src/CMakeLists.txt)"
#endif

/* Relative entries are joined to the state directory; absolute ones are used
 * as they are (a product with keys on their own partition writes, for
 * example, "/persist/hearth/keys" here). */
static const char *const layout[HEARTH_LAYOUT_COUNT] = {
    [HEARTH_LAYOUT_DEVICE_JSON] = "device.json",
    [HEARTH_LAYOUT_DEVICE_MAC] = "device.mac",
    [HEARTH_LAYOUT_DEVICE_CRT] = "device.crt",
    [HEARTH_LAYOUT_CA_CRT] = "ca.crt",
    [HEARTH_LAYOUT_KEYS] = "keys",
    [HEARTH_LAYOUT_DATA] = "data",
    [HEARTH_LAYOUT_BOOT] = "boot",
    [HEARTH_LAYOUT_BOOT_STATE] = "boot/state",
    [HEARTH_LAYOUT_BOOT_LOCK] = "boot/lock",
    [HEARTH_LAYOUT_BOOT_RECOVERY] = "boot/recovery",
    [HEARTH_LAYOUT_SLOTS] = "slots",
    [HEARTH_LAYOUT_SLOT_A] = "slots/a",
    [HEARTH_LAYOUT_SLOT_B] = "slots/b",
    [HEARTH_LAYOUT_EVENTS_LOG] = "events.log",
    [HEARTH_LAYOUT_KEYSET] = "keyset.hks",
    [HEARTH_LAYOUT_UPDATES] = "updates",
    [HEARTH_LAYOUT_TRUST] = HEARTH_TRUST_DEFAULT_DIR,
    [HEARTH_LAYOUT_FACTORY] = "factory.rec",
    [HEARTH_LAYOUT_RESET] = "reset.new",
    [HEARTH_LAYOUT_OUTBOX] = "outbox",
};

const char *hearth_layout_name(hearth_layout_item item)
{
    return (unsigned)item < HEARTH_LAYOUT_COUNT ? layout[item] : NULL;
}

hearth_status hearth_layout_path(const char *state_dir, hearth_layout_item item, char *buf,
                                 size_t cap)
{
    const char *name = hearth_layout_name(item);
    if (name == NULL) return hearth_err(HEARTH_ERR_INVALID, "unknown state item %d", (int)item);
    if (name[0] == '/') {
        size_t n = strlen(name);
        if (n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long: %s", name);
        memcpy(buf, name, n + 1);
        return HEARTH_OK;
    }
    if (state_dir == NULL || state_dir[0] == '\0')
        return hearth_err(HEARTH_ERR_INVALID, "no state directory");
    return hearth_path_join(buf, cap, state_dir, name);
}
