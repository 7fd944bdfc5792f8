/*
 * domains.c - the domains and dkim_keys tables: sending domains and their
 * DKIM keys (rows only; the key files are the domain module's business).
 *
 * Every statement is prepared, bound and finalized within its function;
 * strings are bound as borrowed (SQLITE_STATIC) since they outlive the
 * statement. A duplicate is HD_EINVAL, an absent row HD_ENOTFOUND, both
 * with a message naming the row.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* Bind at most max bytes of s (the fixed-size fields of the row structs). */
static void bind_text(sqlite3_stmt *stmt, int col, const char *s, size_t max)
{
    sqlite3_bind_text(stmt, col, s, (int)strnlen(s, max), SQLITE_STATIC);
}

static bool is_constraint(hd_store *st, int ext)
{
    return sqlite3_extended_errcode(st->db) == ext;
}

/* Domains ------------------------------------------------------------------ */

int hd_store_domain_add(hd_store *st, const hd_store_domain *d, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(
        st, "INSERT INTO domains (name, bounce_domain, created, hostname) VALUES (?1, ?2, ?3, ?4)",
        &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, d->name, sizeof d->name);
    bind_text(stmt, 2, d->bounce_domain, sizeof d->bounce_domain);
    sqlite3_bind_int64(stmt, 3, d->created);
    if (d->hostname[0] != '\0')
        bind_text(stmt, 4, d->hostname, sizeof d->hostname);
    else
        sqlite3_bind_null(stmt, 4);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        if (is_constraint(st, SQLITE_CONSTRAINT_PRIMARYKEY))
            rc = hd_err_set(err, HD_EINVAL, "domain %.*s already exists", HD_STORE_NAME_MAX,
                            d->name);
        else
            rc = hd_store_sqlerr(st, err, "add domain");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static void domain_row(sqlite3_stmt *stmt, hd_store_domain *out)
{
    hd_store_col_text(stmt, 0, out->name, sizeof out->name);
    hd_store_col_text(stmt, 1, out->bounce_domain, sizeof out->bounce_domain);
    out->created = sqlite3_column_int64(stmt, 2);
    hd_store_col_text(stmt, 3, out->hostname, sizeof out->hostname); /* NULL reads as "" */
}

int hd_store_domain_get(hd_store *st, const char *name, hd_store_domain *out, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(
        st, "SELECT name, bounce_domain, created, hostname FROM domains WHERE name = ?1", &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, name, HD_STORE_NAME_MAX);
    int s = sqlite3_step(stmt);
    if (s == SQLITE_ROW)
        domain_row(stmt, out);
    else if (s == SQLITE_DONE)
        rc = hd_err_set(err, HD_ENOTFOUND, "no domain %.*s", HD_STORE_NAME_MAX, name);
    else
        rc = hd_store_sqlerr(st, err, "read domain");
    sqlite3_finalize(stmt);
    return rc;
}

/* Run one statement with name bound to ?1; *changed gets the rows it
 * changed. */
static int exec_name(hd_store *st, const char *sql, const char *name, int *changed,
                     const char *what, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(st, sql, &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, name, HD_STORE_NAME_MAX);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, what);
    else if (changed)
        *changed = sqlite3_changes(st->db);
    sqlite3_finalize(stmt);
    return rc;
}

int hd_store_domain_remove(hd_store *st, const char *name, hd_err *err)
{
    /* a savepoint nests inside a caller's transaction, or is one alone */
    if (sqlite3_exec(st->db, "SAVEPOINT domain_remove", NULL, NULL, NULL) != SQLITE_OK)
        return hd_store_sqlerr(st, err, "remove domain");
    int changed = 0;
    int rc = exec_name(st, "DELETE FROM dkim_keys WHERE domain = ?1", name, NULL,
                       "remove domain keys", err);
    if (rc == 0)
        rc = exec_name(st, "DELETE FROM domains WHERE name = ?1", name, &changed,
                       "remove domain", err);
    if (rc == 0 && changed == 0)
        rc = hd_err_set(err, HD_ENOTFOUND, "no domain %.*s", HD_STORE_NAME_MAX, name);
    if (rc != 0)
        sqlite3_exec(st->db, "ROLLBACK TO domain_remove", NULL, NULL, NULL);
    if (sqlite3_exec(st->db, "RELEASE domain_remove", NULL, NULL, NULL) != SQLITE_OK && rc == 0)
        rc = hd_store_sqlerr(st, err, "remove domain");
    return rc;
}

int hd_store_domain_each(hd_store *st, int (*fn)(const hd_store_domain *d, void *arg),
                         void *arg, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(
        st, "SELECT name, bounce_domain, created, hostname FROM domains ORDER BY name", &stmt, err);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(stmt)) == SQLITE_ROW) {
        hd_store_domain d;
        domain_row(stmt, &d);
        int stop = fn(&d, arg);
        if (stop != 0) {
            /* a negative value is the callback's error: hand it on */
            rc = stop < 0 ? stop : 0;
            break;
        }
    }
    if (rc == 0 && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "list domains");
    sqlite3_finalize(stmt);
    return rc;
}

/* DKIM keys ----------------------------------------------------------------- */

static const char *const key_state_names[] = {
    [HD_STORE_KEY_ACTIVE] = "active",
    [HD_STORE_KEY_RETIRING] = "retiring",
    [HD_STORE_KEY_RETIRED] = "retired",
    [HD_STORE_KEY_PENDING] = "pending",
};

static int key_state_parse(const char *s, hd_store_key_state *out)
{
    for (size_t i = 0; i < sizeof key_state_names / sizeof key_state_names[0]; i++)
        if (strcmp(s, key_state_names[i]) == 0) {
            *out = (hd_store_key_state)i;
            return 0;
        }
    return -1;
}

static const char *key_state_name(hd_store_key_state s)
{
    return (unsigned)s < sizeof key_state_names / sizeof key_state_names[0]
               ? key_state_names[s]
               : NULL;
}

void hd_store_key_clear(hd_store_key *k)
{
    if (k == NULL)
        return;
    free(k->public_b64);
    k->public_b64 = NULL;
}

int hd_store_key_add(hd_store *st, hd_store_key *k, hd_err *err)
{
    const char *state = key_state_name(k->state);
    if (state == NULL || k->public_b64 == NULL)
        return hd_err_set(err, HD_EINVAL, "add key: %s", state ? "no public key" : "bad state");
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(st,
                              "INSERT INTO dkim_keys (domain, selector, alg, path, public, state, "
                              "created, retire_at, grace, activated) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                              &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, k->domain, sizeof k->domain);
    bind_text(stmt, 2, k->selector, sizeof k->selector);
    bind_text(stmt, 3, k->alg, sizeof k->alg);
    bind_text(stmt, 4, k->path, sizeof k->path);
    sqlite3_bind_text(stmt, 5, k->public_b64, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, k->created);
    if (k->retire_at != 0)
        sqlite3_bind_int64(stmt, 8, k->retire_at);
    else
        sqlite3_bind_null(stmt, 8);
    if (k->state == HD_STORE_KEY_PENDING)
        sqlite3_bind_int64(stmt, 9, k->grace);
    else
        sqlite3_bind_null(stmt, 9);
    if (k->activated != 0)
        sqlite3_bind_int64(stmt, 10, k->activated);
    else
        sqlite3_bind_null(stmt, 10);
    if (sqlite3_step(stmt) == SQLITE_DONE) {
        k->id = sqlite3_last_insert_rowid(st->db);
    } else if (is_constraint(st, SQLITE_CONSTRAINT_UNIQUE)) {
        rc = hd_err_set(err, HD_EINVAL, "selector %.*s already exists for domain %.*s",
                        (int)sizeof k->selector, k->selector, HD_STORE_NAME_MAX, k->domain);
    } else if (is_constraint(st, SQLITE_CONSTRAINT_FOREIGNKEY)) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no domain %.*s", HD_STORE_NAME_MAX, k->domain);
    } else {
        rc = hd_store_sqlerr(st, err, "add key");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int key_row(sqlite3_stmt *stmt, hd_store_key *k, hd_err *err)
{
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(stmt, 0);
    hd_store_col_text(stmt, 1, k->domain, sizeof k->domain);
    hd_store_col_text(stmt, 2, k->selector, sizeof k->selector);
    hd_store_col_text(stmt, 3, k->alg, sizeof k->alg);
    hd_store_col_text(stmt, 4, k->path, sizeof k->path);
    char state[16];
    hd_store_col_text(stmt, 6, state, sizeof state);
    if (key_state_parse(state, &k->state) != 0)
        return hd_err_set(err, HD_ESYNTAX, "key %lld: unknown state \"%s\"", (long long)k->id,
                          state);
    k->created = sqlite3_column_int64(stmt, 7);
    k->retire_at = sqlite3_column_int64(stmt, 8); /* NULL reads as 0 */
    int64_t grace = sqlite3_column_int64(stmt, 9);
    k->grace = grace > 0 && grace <= UINT32_MAX ? (uint32_t)grace : 0;
    k->activated = sqlite3_column_int64(stmt, 10);
    const unsigned char *pub = sqlite3_column_text(stmt, 5);
    int n = sqlite3_column_bytes(stmt, 5);
    k->public_b64 = malloc((size_t)n + 1);
    if (k->public_b64 == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    if (n > 0)
        memcpy(k->public_b64, pub, (size_t)n);
    k->public_b64[n] = '\0';
    return 0;
}

int hd_store_key_each(hd_store *st, const char *domain,
                      int (*fn)(const hd_store_key *k, void *arg), void *arg, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(st,
                              "SELECT id, domain, selector, alg, path, public, state, created, "
                              "retire_at, grace, activated FROM dkim_keys WHERE domain = ?1 "
                              "ORDER BY id",
                              &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, domain, HD_STORE_NAME_MAX);
    int s;
    while ((s = sqlite3_step(stmt)) == SQLITE_ROW) {
        hd_store_key k;
        rc = key_row(stmt, &k, err);
        /* the row is the callback's to read, not to keep */
        int stop = rc == 0 ? fn(&k, arg) : 0;
        hd_store_key_clear(&k);
        if (rc != 0)
            break;
        if (stop != 0) {
            rc = stop < 0 ? stop : 0;
            break;
        }
    }
    if (rc == 0 && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "list keys");
    sqlite3_finalize(stmt);
    return rc;
}

static bool key_exists(hd_store *st, int64_t id, hd_err *err)
{
    sqlite3_stmt *stmt;
    if (hd_store_prepare(st, "SELECT 1 FROM dkim_keys WHERE id = ?1", &stmt, err) != 0)
        return false;
    sqlite3_bind_int64(stmt, 1, id);
    bool found = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return found;
}

int hd_store_key_set_state(hd_store *st, int64_t id, hd_store_key_state state,
                           int64_t retire_at, hd_err *err)
{
    const char *name = key_state_name(state);
    if (name == NULL)
        return hd_err_set(err, HD_EINVAL, "key %lld: bad state %d", (long long)id, (int)state);
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(st, "UPDATE dkim_keys SET state = ?1, retire_at = ?2 WHERE id = ?3",
                              &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (retire_at != 0)
        sqlite3_bind_int64(stmt, 2, retire_at);
    else
        sqlite3_bind_null(stmt, 2);
    sqlite3_bind_int64(stmt, 3, id);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "set key state");
    else if (sqlite3_changes(st->db) == 0)
        rc = hd_err_set(err, HD_ENOTFOUND, "no key %lld", (long long)id);
    sqlite3_finalize(stmt);
    return rc;
}

int hd_store_key_activate(hd_store *st, int64_t id, int64_t now, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(st,
                              "UPDATE dkim_keys SET state = 'active', activated = ?1, "
                              "retire_at = NULL WHERE id = ?2 AND state = 'pending'",
                              &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, now);
    sqlite3_bind_int64(stmt, 2, id);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "activate key");
    else if (sqlite3_changes(st->db) == 0)
        rc = key_exists(st, id, err) ? hd_err_set(err, HD_ESTATE, "key %lld is not pending",
                                                  (long long)id)
                                     : hd_err_set(err, HD_ENOTFOUND, "no key %lld", (long long)id);
    sqlite3_finalize(stmt);
    return rc;
}
