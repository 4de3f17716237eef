/*
 * Removing a unit test's temporary directory tree (header-only, shared by
 * the unit tests that make one with mkdtemp).
 */
#ifndef HEARTH_TEST_TMPDIR_H
#define HEARTH_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>

static int test_tmpdir_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/** rm -r @p dir (best effort: a test's cleanup). */
static inline void test_tmpdir_remove(const char *dir)
{
    (void)nftw(dir, test_tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
