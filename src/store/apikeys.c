/*
 * apikeys.c - the api_keys rows (see herald/store.h).
 */
#include <string.h>

#include "store/store_int.h"

static void bind(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

int hd_store_apikey_add(hd_store *st, const hd_store_apikey *k, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO api_keys (id, name, secret_hash, domains, created) VALUES (?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    bind(s, 1, k->id);
    bind(s, 2, k->name);
    bind(s, 3, k->secret_hash);
    bind(s, 4, k->domains);
    sqlite3_bind_int64(s, 5, k->created);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
        return hd_err_set(err, HD_EINVAL, "an API key named %s already exists", k->name);
    return rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "add API key");
}

static void read_key(sqlite3_stmt *s, hd_store_apikey *k)
{
    memset(k, 0, sizeof *k);
    hd_store_col_text(s, 0, k->id, sizeof k->id);
    hd_store_col_text(s, 1, k->name, sizeof k->name);
    hd_store_col_text(s, 2, k->secret_hash, sizeof k->secret_hash);
    hd_store_col_text(s, 3, k->domains, sizeof k->domains);
    k->created = sqlite3_column_int64(s, 4);
    k->revoked = sqlite3_column_int64(s, 5);
}

#define KEY_COLS "id, name, secret_hash, domains, created, COALESCE(revoked, 0)"

int hd_store_apikey_get(hd_store *st, const char *id, hd_store_apikey *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " KEY_COLS " FROM api_keys WHERE id = ?", &s, err);
    if (rc)
        return rc;
    bind(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_key(s, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no API key %s", id);
    } else {
        rc = hd_store_sqlerr(st, err, "read API key");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_apikey_revoke(hd_store *st, const char *name_or_id, int64_t now, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "UPDATE api_keys SET revoked = ?1 WHERE (name = ?2 OR id = ?2) AND revoked IS NULL", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    bind(s, 2, name_or_id);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return hd_store_sqlerr(st, err, "revoke API key");
    return sqlite3_changes(st->db) ? 0 : hd_err_set(err, HD_ENOTFOUND, "no API key in force named %s", name_or_id);
}

int hd_store_apikey_each(hd_store *st, int (*fn)(const hd_store_apikey *k, void *arg), void *arg,
                         hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " KEY_COLS " FROM api_keys ORDER BY name", &s, err);
    if (rc)
        return rc;
    hd_store_apikey k;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_key(s, &k);
        if (fn(&k, arg))
            break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "read API keys");
    sqlite3_finalize(s);
    return rc;
}
