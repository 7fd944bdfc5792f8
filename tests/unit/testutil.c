/*
 * testutil.c - helpers shared by the unit tests.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_non_null(p);
    if (fread(p, 1, (size_t)n, f) != (size_t)n)
        fail_msg("cannot read %s", path);
    fclose(f);
    p[n] = '\0';
    if (len != NULL)
        *len = (size_t)n;
    return p;
}

const char *tu_path(const char *dir, const char *rel)
{
    static char path[8][4096];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 4096, "%s/%s", dir, rel);
    return p;
}

char *tu_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/herald-test-XXXXXX", tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

void tu_rmtree(const char *dir)
{
    char cmd[4200];
    /* test-only helper: dir is a path we created with mkdtemp */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}
