/* The three sandbox steps at one point, in their order (include/hearth/sandbox.h). */
#include "hearth/sandbox.h"

hearth_status hearth_sandbox_apply(const hearth_sandbox_policy *p)
{
    if (p == NULL) return hearth_err(HEARTH_ERR_INVALID, "sandbox: no policy");
    HEARTH_GUARD(hearth_sandbox_drop_privileges(p->program, p->user));
    hearth_sandbox_fs_policy fs = p->fs;
    if (fs.program == NULL) fs.program = p->program;
    HEARTH_GUARD(hearth_sandbox_landlock(&fs));
    return hearth_sandbox_seccomp(p->program, p->seccomp, p->nseccomp);
}
