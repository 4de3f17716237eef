/**
 * @file disclosure.h
 * @brief The manufacturer's vulnerability disclosure and support-period
 *        configuration, and the device's security.txt (RFC 9116)
 *        (EN 303 645 5.2-1, 5.3-13).
 *
 * The configuration is a small `key = value` file the manufacturer writes
 * (packaging/config/manufacturer.conf, build option HEARTH_MANUFACTURER_CONF).
 * The build embeds its text in the programs, so it is part of the signed
 * software in every update bundle and nothing on the device's writable
 * storage steers it; each update brings a fresh security.txt expiry. The
 * format, every key and the expiry rule: docs/vulnerability-disclosure.md.
 */
#ifndef HEARTH_DISCLOSURE_H
#define HEARTH_DISCLOSURE_H

#include <stdint.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_MFR_VALUE_MAX 200    /**< longest value, bytes */
#define HEARTH_MFR_CONTACTS_MAX 4   /**< Contact URIs at most */
#define HEARTH_MFR_TEXT_MAX 8192    /**< longest configuration file */
#define HEARTH_MFR_EXPIRES_DAYS_MAX 365 /**< RFC 9116: Expires less than a year ahead */
#define HEARTH_SECURITYTXT_MAX 2048 /**< longest security.txt rendered */

/** The manufacturer's configuration (every string NUL-terminated; optional ones may be ""). */
typedef struct {
    char manufacturer[HEARTH_MFR_VALUE_MAX + 1]; /**< legal name (SBOM supplier, CSAF publisher) */
    char contact[HEARTH_MFR_CONTACTS_MAX][HEARTH_MFR_VALUE_MAX + 1]; /**< mailto:, https: or tel: */
    size_t n_contact;                            /**< 1..HEARTH_MFR_CONTACTS_MAX */
    char policy[HEARTH_MFR_VALUE_MAX + 1];       /**< https: URL of the disclosure policy */
    char canonical[HEARTH_MFR_VALUE_MAX + 1];    /**< optional https: URL of the published copy */
    char encryption[HEARTH_MFR_VALUE_MAX + 1];   /**< optional https: URL of an OpenPGP key */
    char acknowledgments[HEARTH_MFR_VALUE_MAX + 1]; /**< optional https: URL */
    char languages[HEARTH_MFR_VALUE_MAX + 1];    /**< "en, de": RFC 5646 tags, comma separated */
    char support_until[11];                      /**< "YYYY-MM-DD": last day of security updates */
    uint32_t expires_days;                       /**< security.txt valid this long after the build */
    int64_t built;                               /**< UNIX time the expiry counts from (0 if unset) */
} hearth_manufacturer;

/**
 * Parse a configuration file's text strictly: known keys only, each once
 * (contact 1..HEARTH_MFR_CONTACTS_MAX times), required keys present
 * (manufacturer, contact, policy, preferred_languages, support_until,
 * expires_days), URIs of the allowed schemes, printable ASCII, bounded.
 * @p out->built is left 0.
 * @return HEARTH_ERR_INVALID with the line at fault in the message
 */
hearth_status hearth_manufacturer_parse(const char *text, size_t len,
                                        hearth_manufacturer *out) HEARTH_MUST_CHECK;

/**
 * The configuration built into this program (HEARTH_MANUFACTURER_CONF),
 * parsed, with @c built set to the build's time (SOURCE_DATE_EPOCH when
 * set). HEARTH_ERR_INVALID if the built-in text does not parse (a build
 * defect the unit tests catch).
 */
hearth_status hearth_manufacturer_builtin(hearth_manufacturer *out) HEARTH_MUST_CHECK;

/** The raw text of the built-in configuration file. */
const char *hearth_manufacturer_builtin_text(void);

/** When security.txt expires: @c built + @c expires_days days (UNIX time). */
int64_t hearth_manufacturer_expires(const hearth_manufacturer *m);

/** The support period's end as UNIX time: the end (23:59:59 UTC) of @c support_until. */
int64_t hearth_manufacturer_support_end(const hearth_manufacturer *m);

/**
 * Render security.txt (RFC 9116; CRLF-free, LF line ends) at time @p now:
 * Contact (each), Expires (RFC 3339, UTC), Encryption, Acknowledgments,
 * Preferred-Languages, Canonical, Policy, and a comment giving the support
 * period's end. Nothing device-specific (no model or serial: 5.6-2).
 * @return HEARTH_ERR_EXPIRED if @p now is at or past the expiry (the
 *         device must not serve stale data), HEARTH_ERR_STATE if @c built
 *         is 0, HEARTH_ERR_TOO_LARGE if @p cap is too small
 */
hearth_status hearth_securitytxt_render(const hearth_manufacturer *m, int64_t now, char *out,
                                        size_t cap, size_t *len) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
