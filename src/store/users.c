/*
 * users.c - the users table: submission users, their password hashes
 * (herald/passwd.h; never a password) and the From domains they may use.
 *
 * Same conventions as domains.c: prepared statements, a duplicate is
 * HD_EINVAL, an absent user HD_ENOTFOUND.
 */
#include <string.h>

#include "store/store_int.h"

static void bind_text(sqlite3_stmt *stmt, int col, const char *s, size_t max)
{
    sqlite3_bind_text(stmt, col, s, (int)strnlen(s, max), SQLITE_STATIC);
}

int hd_store_user_add(hd_store *st, const hd_store_user *u, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(
        st, "INSERT INTO users (name, pwhash, domains, created) VALUES (?1, ?2, ?3, ?4)", &stmt,
        err);
    if (rc)
        return rc;
    bind_text(stmt, 1, u->name, sizeof u->name);
    bind_text(stmt, 2, u->pwhash, sizeof u->pwhash);
    bind_text(stmt, 3, u->domains, sizeof u->domains);
    sqlite3_bind_int64(stmt, 4, u->created);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
            rc = hd_err_set(err, HD_EINVAL, "user %.*s already exists", HD_STORE_NAME_MAX,
                            u->name);
        else
            rc = hd_store_sqlerr(st, err, "add user");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static void user_row(sqlite3_stmt *stmt, hd_store_user *out)
{
    hd_store_col_text(stmt, 0, out->name, sizeof out->name);
    hd_store_col_text(stmt, 1, out->pwhash, sizeof out->pwhash);
    hd_store_col_text(stmt, 2, out->domains, sizeof out->domains);
    out->created = sqlite3_column_int64(stmt, 3);
}

int hd_store_user_get(hd_store *st, const char *name, hd_store_user *out, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(
        st, "SELECT name, pwhash, domains, created FROM users WHERE name = ?1", &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, name, HD_STORE_NAME_MAX);
    int s = sqlite3_step(stmt);
    if (s == SQLITE_ROW)
        user_row(stmt, out);
    else if (s == SQLITE_DONE)
        rc = hd_err_set(err, HD_ENOTFOUND, "no user %.*s", HD_STORE_NAME_MAX, name);
    else
        rc = hd_store_sqlerr(st, err, "read user");
    sqlite3_finalize(stmt);
    return rc;
}

int hd_store_user_remove(hd_store *st, const char *name, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(st, "DELETE FROM users WHERE name = ?1", &stmt, err);
    if (rc)
        return rc;
    bind_text(stmt, 1, name, HD_STORE_NAME_MAX);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "remove user");
    else if (sqlite3_changes(st->db) == 0)
        rc = hd_err_set(err, HD_ENOTFOUND, "no user %.*s", HD_STORE_NAME_MAX, name);
    sqlite3_finalize(stmt);
    return rc;
}

int hd_store_user_each(hd_store *st, int (*fn)(const hd_store_user *u, void *arg),
                       void *arg, hd_err *err)
{
    sqlite3_stmt *stmt;
    int rc = hd_store_prepare(
        st, "SELECT name, pwhash, domains, created FROM users ORDER BY name", &stmt, err);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(stmt)) == SQLITE_ROW) {
        hd_store_user u;
        user_row(stmt, &u);
        int stop = fn(&u, arg);
        if (stop != 0) {
            /* a negative value is the callback's error: hand it on */
            rc = stop < 0 ? stop : 0;
            break;
        }
    }
    if (rc == 0 && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "list users");
    sqlite3_finalize(stmt);
    return rc;
}
