/* Internal to the slots module: what slots.c offers slot_writer.c. */
#ifndef HEARTH_SLOTS_INTERNAL_H
#define HEARTH_SLOTS_INTERNAL_H

#include "hearth/slots.h"

/* hearth_slots_prepare_install(); with @p keep, an inactive slot the
 * persisted boot state already records as "installing" (so not pending,
 * never bootable) keeps its content and the state is not rewritten
 * (*kept = true): the streaming installer re-verifies that content and
 * resumes. Otherwise exactly hearth_slots_prepare_install(). */
hearth_status hs_prepare_install(hearth_slots *s, bool keep, int *slot, char *path, size_t cap,
                                 bool *kept) HEARTH_MUST_CHECK;

#endif
