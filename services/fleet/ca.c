/* `hearth-fleet ca-init DIR`: create the service CA (docs/operational-
 * identity.md): the CA that signs the broker's and the fleet service's
 * certificates and the devices' operational certificates. Also issues the
 * fleet service's client certificate (CN hearth-fleet) and, with
 * --server-names, one server certificate for the broker and the enrolment
 * endpoint; their keys are written 0600 beside the CA. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "commands.h"
#include "hearth/identity.h"
#include "hearth/util.h"

#define SERVICE_CERT_LIFETIME_S (397L * 86400) /* the CA/B Forum's ceiling for server certificates */

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet ca-init DIR [--name CN] [--server-names SAN]\n\n"
               "Create the service CA in DIR (0700): ca.key (P-256, 0600), ca.crt, an empty\n"
               "crl.pem, and fleet.crt/fleet.key (client certificate, CN hearth-fleet).\n"
               "--server-names \"DNS:mqtt.example.com,IP:192.0.2.1\": also server.crt/server.key\n"
               "for the broker and the enrolment endpoint. An existing CA is never overwritten.\n");
}

/* A new P-256 key pair: the private key to @p key_path (PEM, 0600), the
 * public key as DER SPKI. */
static hearth_status new_key(const char *key_path, unsigned char **spki, int *spki_len)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k == NULL) return hearth_err(HEARTH_ERR_CRYPTO, "key generation failed");
    BIO *b = BIO_new(BIO_s_secmem());
    hearth_status st = HEARTH_OK;
    *spki = NULL;
    if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
        (*spki_len = i2d_PUBKEY(k, spki)) <= 0) {
        st = hearth_err(HEARTH_ERR_CRYPTO, "key encoding failed");
    } else {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        st = hearth_fs_write_atomic(key_path, data, (size_t)n, 0600);
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return st;
}

static hearth_status issue_pair(const char *dir, const char *base, const char *cn, bool server,
                                const char *san)
{
    char kp[4096], cp[4096], kname[64], cname[64];
    snprintf(kname, sizeof kname, "%s.key", base);
    snprintf(cname, sizeof cname, "%s.crt", base);
    HEARTH_GUARD(hearth_path_join(kp, sizeof kp, dir, kname));
    HEARTH_GUARD(hearth_path_join(cp, sizeof cp, dir, cname));
    unsigned char *spki = NULL;
    int sl = 0;
    HEARTH_GUARD(new_key(kp, &spki, &sl));
    hearth_cert_spec spec = {.cn = cn, .spki_der = spki, .spki_len = (size_t)sl, .server = server,
                             .san = san, .lifetime_s = SERVICE_CERT_LIFETIME_S};
    char *pem = NULL;
    size_t pl = 0;
    char serial[HEARTH_ENROL_SERIAL_HEX_MAX];
    hearth_status st = hearth_service_ca_issue(dir, &spec, &pem, &pl, serial);
    if (st == HEARTH_OK) st = hearth_fs_write_atomic(cp, pem, pl, 0644);
    free(pem);
    OPENSSL_free(spki);
    return st;
}

int fleet_cmd_ca_init(int argc, char **argv)
{
    const char *dir = NULL, *name = "Hearth Service CA", *san = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(argv[i], "--name") == 0 || strcmp(argv[i], "--server-names") == 0) &&
                   i + 1 < argc) {
            if (argv[i][2] == 'n') name = argv[++i];
            else san = argv[++i];
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (dir == NULL) {
        usage(stderr);
        return 2;
    }
    /* Only DNS: and IP: entries, no other X509V3 config syntax. */
    if (san != NULL) {
        size_t n = strlen(san);
        if (n == 0 || n > 1024 || strspn(san, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789.-:,") != n) {
            fprintf(stderr, "hearth-fleet ca-init: --server-names: DNS:name or IP:address, comma-separated\n");
            return 2;
        }
    }
    hearth_status st = hearth_ca_init(dir, name);
    size_t listed = 0;
    if (st == HEARTH_OK) st = fleet_ca_rebuild_crl(dir, NULL, &listed);
    if (st == HEARTH_OK) st = issue_pair(dir, "fleet", HEARTH_ENROL_FLEET_CN, false, NULL);
    if (st == HEARTH_OK && san != NULL) {
        /* The server's CN: its first name. */
        char cn[65] = "hearth-service";
        const char *c = strchr(san, ':');
        if (c != NULL) {
            size_t l = strcspn(c + 1, ",");
            if (l > 0 && l < sizeof cn) {
                memcpy(cn, c + 1, l);
                cn[l] = '\0';
            }
        }
        st = issue_pair(dir, "server", cn, true, san);
    }
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet ca-init: %s\n", hearth_err_msg());
        return 1;
    }
    printf("service CA in %s: ca.crt, crl.pem, fleet.crt%s\n", dir, san != NULL ? ", server.crt" : "");
    return 0;
}
