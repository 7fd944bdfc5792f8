/*
 * store_domain_test.c - the domains, dkim_keys and users tables on a
 * temporary database: add, get, duplicates, absent rows, iteration order,
 * key states (pending, activation), the stored hostname, cascades, that
 * rows survive closing and reopening, and that an older database gains
 * the columns added since.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include <herald/store.h>

typedef struct fixture {
    char *dir;
    char path[4096];
    hd_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->path, sizeof f->path, "%s/herald.db", f->dir);
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_open(f->path, false, &f->st, &err) != 0)
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hd_store_close(f->st);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static hd_store_domain domain(const char *name, const char *bounce, int64_t created)
{
    hd_store_domain d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.bounce_domain, sizeof d.bounce_domain, "%s", bounce);
    d.created = created;
    return d;
}

static hd_store_key key(const char *dom, const char *sel, const char *alg, const char *pub)
{
    hd_store_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.domain, sizeof k.domain, "%s", dom);
    snprintf(k.selector, sizeof k.selector, "%s", sel);
    snprintf(k.alg, sizeof k.alg, "%s", alg);
    snprintf(k.path, sizeof k.path, "/keys/%s/%s.pem", dom, sel);
    k.public_b64 = (char *)pub;
    k.state = HD_STORE_KEY_ACTIVE;
    k.created = 1800000000;
    return k;
}

static void test_domain_add_get(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    hd_store_domain d = domain("example.com", "bounce.example.com", 1800000000);
    assert_int_equal(hd_store_domain_add(f->st, &d, &err), 0);
    hd_store_domain got;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, &err), 0);
    assert_string_equal(got.name, "example.com");
    assert_string_equal(got.bounce_domain, "bounce.example.com");
    assert_int_equal(got.created, 1800000000);

    d.created = 1;
    assert_int_equal(hd_store_domain_add(f->st, &d, &err), HD_EINVAL);
    assert_string_equal(err.msg, "domain example.com already exists");
    /* the first row is untouched */
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, &err), 0);
    assert_int_equal(got.created, 1800000000);

    assert_int_equal(hd_store_domain_get(f->st, "example.net", &got, &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "example.net"));
    assert_int_equal(hd_store_domain_remove(f->st, "example.net", &err), HD_ENOTFOUND);
}

struct names {
    char list[8][64];
    size_t n, stop_after;
    int stop_value;
};

static int collect_domain(const hd_store_domain *d, void *arg)
{
    struct names *c = arg;
    snprintf(c->list[c->n++], sizeof c->list[0], "%s", d->name);
    return c->n == c->stop_after ? c->stop_value : 0;
}

static void test_domain_each_order_and_stop(void **state)
{
    fixture *f = *state;
    const char *names[] = {"zeta.example", "alpha.example", "mid.example"};
    for (size_t i = 0; i < 3; i++) {
        hd_store_domain d = domain(names[i], "b.example", (int64_t)i);
        assert_int_equal(hd_store_domain_add(f->st, &d, NULL), 0);
    }
    struct names c = {.stop_after = 99};
    assert_int_equal(hd_store_domain_each(f->st, collect_domain, &c, NULL), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.list[0], "alpha.example");
    assert_string_equal(c.list[1], "mid.example");
    assert_string_equal(c.list[2], "zeta.example");
    /* a positive return stops quietly, a negative one is handed back */
    c = (struct names){.stop_after = 1, .stop_value = 1};
    assert_int_equal(hd_store_domain_each(f->st, collect_domain, &c, NULL), 0);
    assert_int_equal(c.n, 1);
    c = (struct names){.stop_after = 2, .stop_value = HD_EIO};
    assert_int_equal(hd_store_domain_each(f->st, collect_domain, &c, NULL), HD_EIO);
    assert_int_equal(c.n, 2);
}

struct keys {
    hd_store_key k[8];
    char pub[8][64];
    size_t n;
};

static int collect_key(const hd_store_key *k, void *arg)
{
    struct keys *c = arg;
    c->k[c->n] = *k;
    snprintf(c->pub[c->n], sizeof c->pub[0], "%s", k->public_b64);
    c->k[c->n].public_b64 = NULL; /* borrowed: freed after the callback */
    c->n++;
    return 0;
}

static void test_keys(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    hd_store_domain d = domain("example.com", "bounce.example.com", 1);
    assert_int_equal(hd_store_domain_add(f->st, &d, &err), 0);
    hd_store_key a = key("example.com", "s1-rsa", "rsa", "AAAA");
    hd_store_key b = key("example.com", "s1-ed", "ed25519", "BBBB");
    assert_int_equal(hd_store_key_add(f->st, &a, &err), 0);
    assert_int_equal(hd_store_key_add(f->st, &b, &err), 0);
    assert_true(a.id > 0);
    assert_true(b.id > a.id);

    hd_store_key dup = key("example.com", "s1-rsa", "rsa", "CCCC");
    assert_int_equal(hd_store_key_add(f->st, &dup, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "s1-rsa"));
    hd_store_key orphan = key("example.org", "s1-rsa", "rsa", "CCCC");
    assert_int_equal(hd_store_key_add(f->st, &orphan, &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "example.org"));

    struct keys c = {0};
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.k[0].selector, "s1-rsa"); /* oldest first */
    assert_string_equal(c.k[0].alg, "rsa");
    assert_string_equal(c.k[0].path, "/keys/example.com/s1-rsa.pem");
    assert_string_equal(c.pub[0], "AAAA");
    assert_int_equal(c.k[0].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(c.k[0].retire_at, 0);
    assert_int_equal(c.k[0].created, 1800000000);
    assert_string_equal(c.k[1].selector, "s1-ed");
    assert_string_equal(c.pub[1], "BBBB");

    assert_int_equal(hd_store_key_set_state(f->st, a.id, HD_STORE_KEY_RETIRING, 1800604800,
                                            &err),
                     0);
    assert_int_equal(hd_store_key_set_state(f->st, 9999, HD_STORE_KEY_RETIRED, 0, &err),
                     HD_ENOTFOUND);
    memset(&c, 0, sizeof c);
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRING);
    assert_int_equal(c.k[0].retire_at, 1800604800);
    assert_int_equal(c.k[1].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(hd_store_key_set_state(f->st, a.id, HD_STORE_KEY_RETIRED, 0, &err), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRED);
    assert_int_equal(c.k[0].retire_at, 0);

    /* the same selector is fine for another domain */
    hd_store_domain d2 = domain("example.net", "bounce.example.net", 1);
    assert_int_equal(hd_store_domain_add(f->st, &d2, &err), 0);
    hd_store_key other = key("example.net", "s1-rsa", "rsa", "DDDD");
    assert_int_equal(hd_store_key_add(f->st, &other, &err), 0);

    /* removing a domain removes its keys, not another's */
    assert_int_equal(hd_store_domain_remove(f->st, "example.com", &err), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(hd_store_key_each(f->st, "example.net", collect_key, &c, &err), 0);
    assert_int_equal(c.n, 1);
    hd_store_domain got;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, &err), HD_ENOTFOUND);
    /* and it can be added again, with the old selectors */
    assert_int_equal(hd_store_domain_add(f->st, &d, &err), 0);
    a = key("example.com", "s1-rsa", "rsa", "EEEE");
    assert_int_equal(hd_store_key_add(f->st, &a, &err), 0);
}

static void test_key_clear(void **state)
{
    hd_store_key k;
    memset(&k, 0, sizeof k);
    k.public_b64 = strdup("AAAA");
    hd_store_key_clear(&k);
    assert_null(k.public_b64);
    hd_store_key_clear(&k); /* twice is harmless */
    hd_store_key_clear(NULL);
}

static void test_transaction_rollback(void **state)
{
    fixture *f = *state;
    hd_store_domain d = domain("example.com", "bounce.example.com", 1);
    assert_int_equal(hd_store_begin(f->st, NULL), 0);
    assert_int_equal(hd_store_domain_add(f->st, &d, NULL), 0);
    hd_store_key a = key("example.com", "s1-rsa", "rsa", "AAAA");
    assert_int_equal(hd_store_key_add(f->st, &a, NULL), 0);
    /* remove inside a transaction (a savepoint nests) */
    assert_int_equal(hd_store_domain_remove(f->st, "nothere.example", NULL), HD_ENOTFOUND);
    hd_store_rollback(f->st);
    hd_store_domain got;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, NULL), HD_ENOTFOUND);
    struct keys c = {0};
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, NULL), 0);
    assert_int_equal(c.n, 0);
}

static int collect_user(const hd_store_user *u, void *arg)
{
    struct names *c = arg;
    snprintf(c->list[c->n++], sizeof c->list[0], "%s", u->name);
    return 0;
}

static void test_users(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    hd_store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "app");
    snprintf(u.pwhash, sizeof u.pwhash, "$scrypt$ln=15,r=8,p=1$x$y");
    snprintf(u.domains, sizeof u.domains, "example.com example.net");
    u.created = 1800000000;
    assert_int_equal(hd_store_user_add(f->st, &u, &err), 0);
    assert_int_equal(hd_store_user_add(f->st, &u, &err), HD_EINVAL);
    assert_string_equal(err.msg, "user app already exists");
    snprintf(u.name, sizeof u.name, "billing");
    snprintf(u.domains, sizeof u.domains, "*");
    assert_int_equal(hd_store_user_add(f->st, &u, &err), 0);

    hd_store_user got;
    assert_int_equal(hd_store_user_get(f->st, "app", &got, &err), 0);
    assert_string_equal(got.name, "app");
    assert_string_equal(got.pwhash, "$scrypt$ln=15,r=8,p=1$x$y");
    assert_string_equal(got.domains, "example.com example.net");
    assert_int_equal(got.created, 1800000000);
    assert_int_equal(hd_store_user_get(f->st, "nobody", &got, &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nobody"));

    struct names c = {0};
    assert_int_equal(hd_store_user_each(f->st, collect_user, &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.list[0], "app");
    assert_string_equal(c.list[1], "billing");

    assert_int_equal(hd_store_user_remove(f->st, "app", &err), 0);
    assert_int_equal(hd_store_user_remove(f->st, "app", &err), HD_ENOTFOUND);
    assert_int_equal(hd_store_user_get(f->st, "app", &got, &err), HD_ENOTFOUND);
}

static void test_persists_and_mode(void **state)
{
    fixture *f = *state;
    hd_store_domain d = domain("example.com", "bounce.example.com", 7);
    assert_int_equal(hd_store_domain_add(f->st, &d, NULL), 0);
    hd_store_close(f->st);
    f->st = NULL;
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_open(f->path, true, &f->st, &err), 0);
    hd_store_domain got;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, &err), 0);
    assert_int_equal(got.created, 7);
}

static void test_hostname_and_pending(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    hd_store_domain d = domain("example.com", "bounce.example.com", 1);
    snprintf(d.hostname, sizeof d.hostname, "mail.example.net");
    hd_store_domain n = domain("example.net", "bounce.example.net", 1);
    assert_int_equal(hd_store_domain_add(f->st, &d, &err), 0);
    assert_int_equal(hd_store_domain_add(f->st, &n, &err), 0);
    hd_store_domain got;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, &err), 0);
    assert_string_equal(got.hostname, "mail.example.net");
    assert_int_equal(hd_store_domain_get(f->st, "example.net", &got, &err), 0);
    assert_string_equal(got.hostname, ""); /* none stored */

    hd_store_key a = key("example.com", "s1-rsa", "rsa", "AAAA");
    hd_store_key p = key("example.com", "s2-rsa", "rsa", "BBBB");
    p.state = HD_STORE_KEY_PENDING;
    p.grace = 86400;
    assert_int_equal(hd_store_key_add(f->st, &a, &err), 0);
    assert_int_equal(hd_store_key_add(f->st, &p, &err), 0);
    struct keys c = {0};
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.k[1].state, HD_STORE_KEY_PENDING);
    assert_int_equal(c.k[1].grace, 86400);
    assert_int_equal(c.k[1].activated, 0);
    assert_int_equal(c.k[0].grace, 0); /* only a pending key keeps a grace */

    /* only a pending key can be activated, once */
    assert_int_equal(hd_store_key_activate(f->st, a.id, 1800000100, &err), HD_ESTATE);
    assert_int_equal(hd_store_key_activate(f->st, 9999, 1800000100, &err), HD_ENOTFOUND);
    assert_int_equal(hd_store_key_activate(f->st, p.id, 1800000100, &err), 0);
    assert_int_equal(hd_store_key_activate(f->st, p.id, 1800000200, &err), HD_ESTATE);
    memset(&c, 0, sizeof c);
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.k[1].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(c.k[1].activated, 1800000100);
}

/* A database made before the hostname, grace and activated columns:
 * opening it adds them, and its rows read as before. */
static void test_older_database(void **state)
{
    fixture *f = *state;
    hd_store_close(f->st);
    f->st = NULL;
    tu_rmtree(f->dir);
    free(f->dir);
    f->dir = tu_mkdtemp();
    snprintf(f->path, sizeof f->path, "%s/herald.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE domains (name TEXT PRIMARY KEY, bounce_domain TEXT NOT NULL, "
                     "created INTEGER NOT NULL);"
                     "CREATE TABLE dkim_keys (id INTEGER PRIMARY KEY, domain TEXT NOT NULL "
                     "REFERENCES domains(name) ON DELETE CASCADE, selector TEXT NOT NULL, "
                     "alg TEXT NOT NULL, path TEXT NOT NULL, public TEXT NOT NULL, state TEXT "
                     "NOT NULL, created INTEGER NOT NULL, retire_at INTEGER, "
                     "UNIQUE (domain, selector));"
                     "INSERT INTO domains VALUES ('example.com', 'bounce.example.com', 7);"
                     "INSERT INTO dkim_keys VALUES (1, 'example.com', 's1-rsa', 'rsa', '/k', "
                     "'AAAA', 'retiring', 7, 1800000000);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_open(f->path, false, &f->st, &err) != 0)
        fail_msg("open an older database: %s", err.msg);
    hd_store_domain got;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &got, &err), 0);
    assert_int_equal(got.created, 7);
    assert_string_equal(got.hostname, "");
    struct keys c = {0};
    assert_int_equal(hd_store_key_each(f->st, "example.com", collect_key, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRING);
    assert_int_equal(c.k[0].retire_at, 1800000000);
    assert_int_equal(c.k[0].grace, 0);
    assert_int_equal(c.k[0].activated, 0);
    /* and the new columns take values */
    hd_store_key p = key("example.com", "s2-rsa", "rsa", "BBBB");
    p.state = HD_STORE_KEY_PENDING;
    p.grace = 3600;
    assert_int_equal(hd_store_key_add(f->st, &p, &err), 0);
    hd_store_domain d = domain("example.org", "bounce.example.org", 1);
    snprintf(d.hostname, sizeof d.hostname, "mx.example.org");
    assert_int_equal(hd_store_domain_add(f->st, &d, &err), 0);
    assert_int_equal(hd_store_domain_get(f->st, "example.org", &got, &err), 0);
    assert_string_equal(got.hostname, "mx.example.org");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_domain_add_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_each_order_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test(test_key_clear),
        cmocka_unit_test_setup_teardown(test_transaction_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persists_and_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostname_and_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
