/* `hearth keygen`: create an update-signing (or root) key pair. The private
 * key is written encrypted (PKCS#8, scrypt + AES-256-CBC) with mode 0600; the
 * passphrase comes from --pass-file or HEARTH_KEY_PASS, never from argv
 * (5.3-7, 5.5-3; docs/signing-keys.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "hearth/bundle.h"

static void keygen_usage(FILE *f)
{
    fprintf(f,
            "usage: hearth keygen --out FILE [--alg ed25519|p256] [--pass-file F]\n\n"
            "Write FILE (encrypted PKCS#8 PEM private key, mode 0600) and FILE.pub (public\n"
            "key PEM) and print the key id (SHA-256 of the public key). The passphrase is\n"
            "read from --pass-file F or the environment variable HEARTH_KEY_PASS.\n"
            "Existing files are never overwritten. Exit: 0 ok, 1 error, 2 usage.\n");
}

int hearth_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"alg", required_argument, NULL, 'a'},
                                         {"pass-file", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *pass_file = NULL;
    hearth_sig_alg alg = HEARTH_SIG_ED25519;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'p': pass_file = optarg; break;
        case 'a':
            if (strcmp(optarg, "ed25519") == 0) alg = HEARTH_SIG_ED25519;
            else if (strcmp(optarg, "p256") == 0) alg = HEARTH_SIG_ECDSA_P256_SHA256;
            else {
                fprintf(stderr, "hearth keygen: --alg must be ed25519 or p256\n");
                return 2;
            }
            break;
        case 'h': keygen_usage(stdout); return 0;
        default: keygen_usage(stderr); return 2;
        }
    }
    if (out == NULL || optind != argc) {
        keygen_usage(stderr);
        return 2;
    }
    char pub[4096];
    if (snprintf(pub, sizeof pub, "%s.pub", out) >= (int)sizeof pub) {
        fprintf(stderr, "hearth keygen: path too long\n");
        return 1;
    }
    if (access(out, F_OK) == 0 || access(pub, F_OK) == 0) {
        fprintf(stderr, "hearth keygen: %s or %s already exists; refusing to overwrite\n", out, pub);
        return 1;
    }
    char pass[1024];
    size_t plen = 0;
    if (hearth_key_passphrase(pass_file, pass, sizeof pass, &plen) != HEARTH_OK) {
        fprintf(stderr, "hearth keygen: %s\n", hearth_err_msg());
        return 1;
    }
    hearth_key *k = NULL;
    hearth_status st = hearth_key_generate(alg, &k);
    if (st == HEARTH_OK) st = hearth_key_write_private(k, out, pass, plen);
    hearth_memzero(pass, sizeof pass);
    if (st == HEARTH_OK) {
        st = hearth_key_write_public(k, pub);
        if (st != HEARTH_OK) unlink(out); /* no half key pair */
    }
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth keygen: %s\n", hearth_err_msg());
        hearth_key_free(k);
        return 1;
    }
    char id[2 * HEARTH_KEY_ID_LEN + 1];
    if (hearth_hex_encode(hearth_key_id(k), HEARTH_KEY_ID_LEN, id, sizeof id) != HEARTH_OK) id[0] = '\0';
    printf("%s key written to %s (public key %s)\nkey id %s\n", hearth_sig_alg_name(alg), out, pub, id);
    hearth_key_free(k);
    return 0;
}
