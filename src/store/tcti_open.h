/* Internal: open a validated TPM connection through a fixed transport. */
#ifndef HEARTH_STORE_TCTI_OPEN_H
#define HEARTH_STORE_TCTI_OPEN_H

#include <tss2/tss2_tcti.h>

#include "hearth/store.h"

/**
 * Initialise the transport @p t names: device, swtpm and mssim are linked
 * in (libtss2-tcti-device/-swtpm/-mssim); tabrmd is loaded by its fixed
 * soname. Nothing in @p t can name a library. HEARTH_ERR_IO if the TPM
 * cannot be reached.
 */
hearth_status rot_tcti_open(const hearth_tcti *t, TSS2_TCTI_CONTEXT **out) HEARTH_MUST_CHECK;
/** Finalize and free; *ctx becomes NULL. NULL is allowed. */
void rot_tcti_close(TSS2_TCTI_CONTEXT **ctx);
/**
 * Resolve the connection a caller asks for: @p text if non-NULL and
 * non-empty (an explicit command-line value), else the platform
 * configuration (hearth_platform_load()). Validated either way.
 */
hearth_status rot_tcti_resolve(const char *text, hearth_tcti *out) HEARTH_MUST_CHECK;

#endif
