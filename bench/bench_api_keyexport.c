/*
 * bench_api_keyexport STATE_DIR: write the device private key (PKCS#8 DER)
 * to stdout. Benchmark-only helper: bench_api.sh needs the same key for its
 * nginx reference server and deletes the copy when it ends. Refuses to write
 * to a terminal. Not installed and not part of the product.
 */
#include <stdio.h>
#include <unistd.h>

#include "hearth/identity.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_api_keyexport STATE_DIR >key.der\n");
        return 2;
    }
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "bench_api_keyexport: refusing to write a private key to a terminal\n");
        return 2;
    }
    hearth_device *d = NULL;
    uint8_t der[4096];
    size_t len = 0;
    if (hearth_device_open(argv[1], &d) != HEARTH_OK ||
        hearth_device_private_key_der(d, der, sizeof der, &len) != HEARTH_OK) {
        fprintf(stderr, "bench_api_keyexport: %s\n", hearth_err_msg());
        hearth_device_close(d);
        return 1;
    }
    int rc = fwrite(der, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
    hearth_memzero(der, sizeof der);
    hearth_device_close(d);
    return rc;
}
