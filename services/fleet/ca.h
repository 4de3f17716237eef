/* The service CA directory as the fleet service keeps it (docs/operational-
 * identity.md "Service CA directory"):
 *   ca.key, ca.crt   the service CA (hearth_ca_init() format, key 0600)
 *   crl.pem          its CRL (rewritten atomically on every revocation)
 *   issued.log       one line per operational certificate issued:
 *                    "<serial hex> <CN> <notAfter UNIX>"
 *   revoked.txt      one revoked device serial per line
 *   lock             flock(2) target: issuing and revoking exclude each other,
 *                    so a certificate issued concurrently with a revocation
 *                    is either refused or in the new CRL.
 * Shared by ca-init, enrol-server, revoke and ca-prune. */
#ifndef HEARTH_FLEET_CA_H
#define HEARTH_FLEET_CA_H

#include <stdbool.h>
#include <stdint.h>

#include "hearth/common.h"
#include "hearth/enrol.h"

#define FLEET_CA_CRL "crl.pem"
#define FLEET_CA_ISSUED "issued.log"
#define FLEET_CA_REVOKED "revoked.txt"
/** CRL nextUpdate: it must be regenerated before (revoke --refresh). */
#define FLEET_CA_CRL_VALID_S (30 * 86400L)

/** Take the CA directory's exclusive lock; *fd to fleet_ca_unlock(). */
hearth_status fleet_ca_lock(const char *dir, int *fd) HEARTH_MUST_CHECK;
void fleet_ca_unlock(int fd);

/** Is device @p cn in revoked.txt? (Under the lock.) */
hearth_status fleet_ca_is_revoked(const char *dir, const char *cn, bool *revoked) HEARTH_MUST_CHECK;

/** Append an issued certificate to issued.log and fsync it (under the lock). */
hearth_status fleet_ca_record_issue(const char *dir, const char *serial_hex, const char *cn,
                                    int64_t not_after) HEARTH_MUST_CHECK;

/** Add @p cn to revoked.txt (no-op if present; under the lock). */
hearth_status fleet_ca_add_revoked(const char *dir, const char *cn) HEARTH_MUST_CHECK;

/**
 * Rewrite @p crl_path (NULL: DIR/crl.pem) from issued.log and revoked.txt:
 * every unexpired certificate of every revoked device (under the lock).
 * *@p listed: how many serials the CRL holds.
 */
hearth_status fleet_ca_rebuild_crl(const char *dir, const char *crl_path, size_t *listed) HEARTH_MUST_CHECK;

/** issued.log entries are kept this long past their notAfter (ca-prune,
 *  enrol-server): the CRL only needs unexpired ones; the margin covers clock
 *  steps and leaves a week of history. */
#define FLEET_CA_KEEP_EXPIRED_DAYS 7
#define FLEET_CA_KEEP_EXPIRED_MIN_DAYS 1u
#define FLEET_CA_KEEP_EXPIRED_MAX_DAYS 3650u

/**
 * Drop from issued.log the entries whose notAfter is more than @p keep_s
 * before @p now (under the lock). Nothing the CRL or a revocation reads is
 * dropped: the CRL lists only unexpired certificates, and revocation is
 * decided by revoked.txt. Lines that do not parse are kept as they are
 * (counted in *@p odd). When anything is dropped, the file is replaced
 * atomically (new file, fsync, rename, directory fsync): after a crash at
 * any step it is the old log or the new one. Leftover temporary files of an
 * interrupted prune are removed first.
 */
hearth_status fleet_ca_prune_issued(const char *dir, int64_t now, int64_t keep_s, size_t *kept, size_t *pruned,
                                    size_t *odd) HEARTH_MUST_CHECK;

/* The identity subcommands (main.c's table). */
int fleet_cmd_ca_init(int argc, char **argv);
int fleet_cmd_enrol_server(int argc, char **argv);
int fleet_cmd_revoke(int argc, char **argv);
int fleet_cmd_ca_prune(int argc, char **argv);

/** A device serial as provisioning makes them: [A-Za-z0-9-], 1..32. */
bool fleet_ca_valid_id(const char *id);

#endif
