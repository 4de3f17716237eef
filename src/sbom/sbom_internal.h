/* Internal interface of the sbom module. */
#ifndef HEARTH_SBOM_INTERNAL_H
#define HEARTH_SBOM_INTERNAL_H

#include <stdint.h>

/** The build's time (SOURCE_DATE_EPOCH when set), from the generated manufacturer_builtin.c. */
int64_t hearth_manufacturer_builtin_time(void);

#endif
