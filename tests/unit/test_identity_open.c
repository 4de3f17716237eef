/* identity_open_check STATE_DIR: open a provisioned device with
 * hearth_device_open (the daemon's start-up check) and print its identity.
 * Used by tests/integration/test_provision_tpm.sh. Exit: 0 opened,
 * 3 tampered, 1 any other error, 2 usage. */
#include <stdio.h>

#include "hearth/identity.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: identity_open_check STATE_DIR\n");
        return 2;
    }
    hearth_device *d = NULL;
    hearth_status st = hearth_device_open(argv[1], &d);
    if (st != HEARTH_OK) {
        fprintf(stderr, "open failed: %s: %s\n", hearth_status_name(st), hearth_err_msg());
        return st == HEARTH_ERR_TAMPERED ? 3 : 1;
    }
    printf("model=%s\nserial=%s\nhw_id=%s\nfingerprint=%s\n", hearth_device_model(d),
           hearth_device_serial(d), hearth_device_hw_id(d), hearth_device_fingerprint(d));
    hearth_device_close(d);
    return 0;
}
