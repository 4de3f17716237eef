/**
 * @file sbom.h
 * @brief The software bill of materials (CycloneDX 1.6 JSON) of what a
 *        device runs, and matching it against vulnerability feeds
 *        (EN 303 645 5.2-3; docs/sbom.md).
 *
 * The SBOM lists the programs a release installs (name, version, SHA-256)
 * and every shared library they load, resolved to the Debian package that
 * ships it (name, version, architecture, source package and version, purl
 * `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12`), with the
 * dependency graph program -> packages. `hearth sbom generate` builds it
 * at build time from the programs' real link set; `hearth bundle create
 * --sbom` signs it into the bundle's manifest; the device serves it.
 */
#ifndef HEARTH_SBOM_H
#define HEARTH_SBOM_H

#include <stdint.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_SBOM_MAX (256u * 1024u) /**< longest SBOM accepted anywhere, bytes */
#define HEARTH_SBOM_COMPONENTS_MAX 256 /**< components in one SBOM */
#define HEARTH_SBOM_STR_MAX 128        /**< name, version, arch, source fields */
#define HEARTH_SBOM_PURL_MAX 512       /**< purl */

/** One component: a program of the release (@c sha256 set) or a Debian package. */
typedef struct {
    char name[HEARTH_SBOM_STR_MAX];           /**< program name or Debian binary package */
    char version[HEARTH_SBOM_STR_MAX];        /**< release version or Debian version */
    char arch[HEARTH_SBOM_STR_MAX];           /**< Debian architecture ("" for programs) */
    char source[HEARTH_SBOM_STR_MAX];         /**< Debian source package ("" for programs) */
    char source_version[HEARTH_SBOM_STR_MAX]; /**< Debian source version */
    char purl[HEARTH_SBOM_PURL_MAX];          /**< package URL ("" if none) */
    char sha256[65];                          /**< lower-case hex, programs only ("" otherwise) */
    uint64_t depends;                         /**< programs: bit i = loads components[i] (i < 64) */
} hearth_sbom_component;

/** What an SBOM describes. */
typedef struct {
    const char *product;       /**< the release's name (model), e.g. "HT-100" */
    const char *version;       /**< the release's software version */
    const char *supplier;      /**< manufacturer (hearth_manufacturer::manufacturer) */
    const char *distro;        /**< purl distro qualifier, e.g. "debian-12" */
    int64_t timestamp;         /**< UNIX time of generation */
    const uint8_t *serial;     /**< 16 random bytes: the urn:uuid serial number */
    const hearth_sbom_component *components; /**< programs first, then packages */
    size_t n;                  /**< 1..HEARTH_SBOM_COMPONENTS_MAX (dependencies: first 64) */
} hearth_sbom_spec;

/**
 * The purl of a Debian binary package: `pkg:deb/debian/NAME@VERSION?arch=A&distro=D`,
 * with the version percent-encoded (an epoch's ':' becomes %3A).
 */
hearth_status hearth_sbom_deb_purl(const char *name, const char *version, const char *arch,
                                   const char *distro, char *out, size_t cap) HEARTH_MUST_CHECK;

/**
 * Build the CycloneDX 1.6 JSON document of @p spec (UTF-8, no trailing NUL
 * counted). @p *out is malloc'd; caller frees.
 */
hearth_status hearth_sbom_build(const hearth_sbom_spec *spec, char **out,
                                size_t *len) HEARTH_MUST_CHECK;

/** What hearth_sbom_parse() found besides the components. */
typedef struct {
    char product[HEARTH_SBOM_STR_MAX]; /**< metadata.component.name */
    char version[HEARTH_SBOM_STR_MAX]; /**< metadata.component.version */
    char distro[HEARTH_SBOM_STR_MAX];  /**< the debian packages' distro qualifier, "" if none */
} hearth_sbom_info;

/**
 * Parse an SBOM strictly enough to trust what is used: at most
 * HEARTH_SBOM_MAX bytes of JSON, bomFormat "CycloneDX", specVersion "1.6",
 * metadata.component with name and version, at most
 * HEARTH_SBOM_COMPONENTS_MAX components, each with a name and a version of
 * bounded length; a purl, if present, bounded; Debian source and source
 * version read from the component's properties. Unknown members are
 * ignored (the document is validated against the full schema by the tests).
 * @param[out] comps  malloc'd array (caller frees), @p n entries
 */
hearth_status hearth_sbom_parse(const char *json, size_t len, hearth_sbom_info *info,
                                hearth_sbom_component **comps, size_t *n) HEARTH_MUST_CHECK;

/**
 * Compare two Debian versions the way dpkg does ([epoch:]upstream[-revision],
 * '~' sorts before everything). Returns <0, 0 or >0.
 */
int hearth_deb_version_cmp(const char *a, const char *b);

/** SHA-256 of the file at @p path as 64 lower-case hex digits (streamed). */
hearth_status hearth_sbom_file_sha256(const char *path, char hex[65]) HEARTH_MUST_CHECK;

/**
 * Check that @p json (an SBOM) describes the payloads of a bundle: every
 * program component (one with a SHA-256) whose name is a payload's name has
 * that payload's SHA-256. @p names / @p paths: the payloads (@p n).
 * HEARTH_ERR_INVALID naming the first mismatch, or when no program of the
 * SBOM is among the payloads.
 */
hearth_status hearth_sbom_check_payloads(const char *json, size_t len, const char *const *names,
                                         const char *const *paths, size_t n) HEARTH_MUST_CHECK;

/**
 * The SBOM of the software running from @p slot of @p state_dir (what
 * hearthd serves): the SBOM in the slot's manifest, if the authenticated
 * boot state says @p slot is the one hearth-boot launched and records the
 * manifest's software and security version for it. HEARTH_ERR_NOT_FOUND:
 * the slot's bundle had no SBOM; HEARTH_ERR_TAMPERED: the manifest is not
 * the one verified at boot (security event slot_manifest_changed).
 * @param[out] json  malloc'd (caller frees), @p len bytes, no NUL counted
 */
hearth_status hearth_sbom_running(const char *state_dir, int slot, char **json,
                                  size_t *len) HEARTH_MUST_CHECK;

/** true if @p v is a syntactically valid Debian version (bounded, allowed characters). */
bool hearth_deb_version_valid(const char *v);

#ifdef __cplusplus
}
#endif
#endif
