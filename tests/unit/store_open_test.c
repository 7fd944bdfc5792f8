/*
 * store_open_test.c - opening the database read-only
 * (hd_store_open_readonly): a missing file is HD_ENOTFOUND and nothing is
 * made; an existing one is read with and without a writer, never written,
 * and leaves no -wal or -shm file when no writer has it open; a file that
 * is no database is HD_EIO naming it. (Permission errors need another user
 * and are checked by tests/interop/cli_readonly.sh.)
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <herald/store.h>

static bool exists(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void add_user(hd_store *st, const char *name)
{
    hd_store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.pwhash, sizeof u.pwhash, "x");
    snprintf(u.domains, sizeof u.domains, "*");
    u.created = 1800000000;
    hd_err err = {0};
    if (hd_store_user_add(st, &u, &err) != 0)
        fail_msg("user add: %s", err.msg);
}

static void test_missing(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/sub/herald.db", dir);
    hd_store *st = (hd_store *)1;
    hd_err err = {0};
    assert_int_equal(hd_store_open_readonly(path, &st, &err), HD_ENOTFOUND);
    assert_null(st);
    assert_non_null(strstr(err.msg, path));
    assert_false(exists(dir, "sub"));
    snprintf(path, sizeof path, "%s/herald.db", dir);
    assert_int_equal(hd_store_open_readonly(path, &st, &err), HD_ENOTFOUND);
    assert_false(exists(dir, "herald.db"));
    tu_rmtree(dir);
    free(dir);
}

static int count_user(const hd_store_user *u, void *arg)
{
    (void)u;
    (*(int *)arg)++;
    return 0;
}

static void test_read_without_and_with_writer(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[4096];
    /* a name that needs escaping in a URI */
    snprintf(path, sizeof path, "%s/a%%b?c#d.db", dir);
    hd_store *w, *r;
    hd_err err = {0};
    assert_int_equal(hd_store_open(path, false, &w, &err), 0);
    add_user(w, "one");
    hd_store_close(w);
    assert_false(exists(dir, "a%b?c#d.db-wal"));

    /* no writer: read as it stands, nothing made, nothing written */
    assert_int_equal(hd_store_open_readonly(path, &r, &err), 0);
    int n = 0;
    assert_int_equal(hd_store_user_each(r, count_user, &n, &err), 0);
    assert_int_equal(n, 1);
    hd_store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "two");
    assert_int_not_equal(hd_store_user_add(r, &u, &err), 0);
    assert_false(exists(dir, "a%b?c#d.db-wal"));
    assert_false(exists(dir, "a%b?c#d.db-shm"));
    hd_store_close(r);
    assert_false(exists(dir, "a%b?c#d.db-wal"));

    /* a writer holds it open: its committed rows are read through the WAL */
    assert_int_equal(hd_store_open(path, false, &w, &err), 0);
    add_user(w, "three");
    assert_true(exists(dir, "a%b?c#d.db-wal"));
    assert_int_equal(hd_store_open_readonly(path, &r, &err), 0);
    n = 0;
    assert_int_equal(hd_store_user_each(r, count_user, &n, &err), 0);
    assert_int_equal(n, 2);
    add_user(w, "four");
    n = 0;
    assert_int_equal(hd_store_user_each(r, count_user, &n, &err), 0);
    assert_int_equal(n, 3);
    hd_store_close(r);
    hd_store_close(w);
    tu_rmtree(dir);
    free(dir);
}

static void test_not_a_database(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, but long enough to have a header ......\n", f);
    fclose(f);
    hd_store *st;
    hd_err err = {0};
    assert_int_equal(hd_store_open_readonly(path, &st, &err), HD_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, path));
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_read_without_and_with_writer),
        cmocka_unit_test(test_not_a_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
