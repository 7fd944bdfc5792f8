/*
 * store.c - opening herald's SQLite database, the schema, transactions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define BUSY_TIMEOUT_MS 5000

int hd_store_sqlerr(hd_store *st, hd_err *err, const char *what)
{
    int rc = st && st->db ? sqlite3_extended_errcode(st->db) : SQLITE_ERROR;
    int code = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? HD_ETEMP : HD_EIO;
    return hd_err_set(err, code, "%s: %s", what,
                      st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

int hd_store_prepare(hd_store *st, const char *sql, sqlite3_stmt **out, hd_err *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK)
        return hd_store_sqlerr(st, err, "database statement");
    return 0;
}

void hd_store_col_text(sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(stmt, col) : 0;
    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* Create the file with mode 0600 before SQLite does, so that the database
 * (which holds password hashes) is never readable by others, whatever the
 * umask. The -wal and -shm files take the main file's mode from SQLite.
 * Only when it does not exist yet: closing a descriptor of a database this
 * process already has open would drop SQLite's POSIX locks on it (fcntl
 * locks belong to the process), and another process could then take the
 * WAL for abandoned and reset it under the running server. */
static int create_private(const char *path, hd_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return hd_err_set(err, HD_EIO, "%s: cannot create the database: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return 0;
}

static int exec(hd_store *st, const char *sql, hd_err *err, const char *what)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return hd_store_sqlerr(st, err, what);
    return 0;
}

static bool has_column(hd_store *st, const char *table, const char *column)
{
    sqlite3_stmt *s;
    bool found = false;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return false;
    while (!found && sqlite3_step(s) == SQLITE_ROW)
        found = strcmp((const char *)sqlite3_column_text(s, 1), column) == 0;
    sqlite3_finalize(s);
    return found;
}

/* One column an older database lacks. */
static int add_column(hd_store *st, const hd_store_column *c, hd_err *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", c->table, c->name, c->decl);
    if (!c->then) {
        int rc = exec(st, sql, err, "database schema upgrade");
        return rc && !has_column(st, c->table, c->name) ? rc : 0; /* another process may have added it */
    }
    /* the column and the data whose meaning it changes: together, once */
    int rc = exec(st, "BEGIN IMMEDIATE", err, "database schema upgrade");
    if (rc)
        return rc;
    if (!has_column(st, c->table, c->name) && !(rc = exec(st, sql, err, "database schema upgrade")))
        rc = exec(st, c->then, err, "database data upgrade");
    if (!rc)
        rc = exec(st, "COMMIT", err, "database schema upgrade");
    if (rc)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Bring an older database's tables up to the schema. */
static int add_missing_columns(hd_store *st, hd_err *err)
{
    for (const hd_store_column *c = hd_store_added_columns; c->table; c++) {
        int rc = has_column(st, c->table, c->name) ? 0 : add_column(st, c, err);
        if (rc)
            return rc;
    }
    return 0;
}

const char *hd_store_sqlite_version(void)
{
    return sqlite3_libversion();
}

int hd_store_open(const char *path, bool durable, hd_store **out, hd_err *err)
{
    *out = NULL;
    int rc = create_private(path, err);
    if (rc)
        return rc;
    hd_store *st = calloc(1, sizeof *st);
    if (!st)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = hd_store_sqlerr(st, err, path);
        hd_store_close(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if ((rc = exec(st, "PRAGMA journal_mode=WAL", err, "journal mode")) ||
        (rc = exec(st, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                   err, "synchronous mode")) ||
        (rc = exec(st, "PRAGMA foreign_keys=ON", err, "foreign keys")) ||
        (rc = exec(st, hd_store_schema, err, "database schema")) ||
        (rc = add_missing_columns(st, err)) ||
        (rc = exec(st, hd_store_late_indexes, err, "database indexes"))) {
        hd_err_prefix(err, "%s: ", path);
        hd_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void hd_store_close(hd_store *st)
{
    if (!st)
        return;
    sqlite3_close_v2(st->db);
    free(st);
}

int hd_store_begin(hd_store *st, hd_err *err)
{
    return exec(st, "BEGIN IMMEDIATE", err, "begin transaction");
}

int hd_store_commit(hd_store *st, hd_err *err)
{
    return exec(st, "COMMIT", err, "commit");
}

void hd_store_rollback(hd_store *st)
{
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}
