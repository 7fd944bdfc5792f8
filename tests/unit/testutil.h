/*
 * testutil.h - small helpers shared by the unit tests.
 */
#ifndef HERALD_TESTUTIL_H
#define HERALD_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <herald/buf.h>

/* Read a whole file (under tests/data or elsewhere in the source tree) into
 * a malloc'ed NUL-terminated buffer; fails the test if it cannot. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Path join into a static buffer: tu_path(HERALD_TESTDATA, "openspf/x"). */
const char *tu_path(const char *dir, const char *rel);
/* Make a temporary directory (under $TMPDIR or /tmp); caller removes it
 * with tu_rmtree. */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);

#endif
