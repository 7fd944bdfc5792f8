/*
 * store.c - opening herald's SQLite database (for changes, or for reading
 * only), the schema, transactions.
 *
 * Files are probed with faccessat(), never opened and closed: closing any
 * descriptor of a database this process has open drops SQLite's POSIX
 * locks on it (fcntl locks belong to the process), and the server opens
 * several connections to the one file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

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

/* The directory part of path ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, size, ".");
    else if (slash == path)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* May this process (its effective ids) use path as mode asks (R_OK,
 * W_OK)? HD_ENOTFOUND when it does not exist, HD_EPERM when it or the
 * directory holding it is closed to us (the message names which), HD_EIO
 * for anything else; each message says what and where. */
static int check_access(const char *path, int mode, hd_err *err)
{
    if (faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0)
        return 0;
    int e = errno;
    if (e == ENOENT)
        return hd_err_set(err, HD_ENOTFOUND, "%s: no such file", path);
    if (e != EACCES && e != EPERM && e != EROFS)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(e));
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    if (faccessat(AT_FDCWD, dir, X_OK, AT_EACCESS) != 0 && (errno == EACCES || errno == EPERM))
        return hd_err_set(err, HD_EPERM, "%s: permission denied (its directory %s is closed "
                                         "to this user)", path, dir);
    if (e == EROFS)
        return hd_err_set(err, HD_EPERM, "%s: on a read-only file system", path);
    return hd_err_set(err, HD_EPERM, "%s: permission denied (it may not be %s by this user)",
                      path, mode & W_OK ? "read and written" : "read");
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
    if (errno != ENOENT) /* not "cannot create" for a file that may be there */
        return check_access(path, R_OK | W_OK, err);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return hd_err_set(err, errno == EACCES || errno == EPERM ? HD_EPERM : HD_EIO,
                          "%s: cannot create the database: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return 0;
}

/* The code for a failed SQLite open or first read, from the errno of the
 * system call that failed (EACCES: permission, else I/O). */
static int open_failure(hd_store *st, const char *path, hd_err *err)
{
    int e = st->db ? sqlite3_system_errno(st->db) : 0;
    const char *msg = st->db ? sqlite3_errmsg(st->db) : "out of memory";
    if (e == EACCES || e == EPERM)
        return hd_err_set(err, HD_EPERM, "%s: permission denied (%s)", path, msg);
    return hd_err_set(err, HD_EIO, "%s: %s", path, msg);
}

static int exec(hd_store *st, const char *sql, hd_err *err, const char *what)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return hd_store_sqlerr(st, err, what);
    return 0;
}

enum { COLUMN_MISSING, COLUMN_THERE, COLUMN_UNKNOWN };

/* Whether table has column; COLUMN_UNKNOWN when the database cannot be
 * asked (busy, unreadable). */
static int column_state(hd_store *st, const char *table, const char *column)
{
    sqlite3_stmt *s;
    bool found = false;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return COLUMN_UNKNOWN;
    int rc = SQLITE_DONE;
    while (!found && (rc = sqlite3_step(s)) == SQLITE_ROW)
        found = strcmp((const char *)sqlite3_column_text(s, 1), column) == 0;
    sqlite3_finalize(s);
    return found ? COLUMN_THERE : rc == SQLITE_DONE ? COLUMN_MISSING : COLUMN_UNKNOWN;
}

static bool has_column(hd_store *st, const char *table, const char *column)
{
    return column_state(st, table, column) == COLUMN_THERE;
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
    /* SQLite would quietly open a file it may not write for reading only */
    if (rc == 0)
        rc = check_access(path, R_OK | W_OK, err);
    if (rc)
        return rc;
    hd_store *st = calloc(1, sizeof *st);
    if (!st)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = open_failure(st, path, err);
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

/* "file:" URI of path for sqlite3_open_v2 (RFC 8089; SQLite's URI
 * filenames): '%', '?' and '#' are escaped, and a leading "//" is made
 * one '/', which would otherwise start an authority. */
static int file_uri(const char *path, const char *query, hd_buf *out, hd_err *err)
{
    while (path[0] == '/' && path[1] == '/')
        path++;
    int rc = hd_buf_append_cstr(out, "file:");
    for (const char *p = path; *p && rc == 0; p++)
        rc = *p == '%' || *p == '?' || *p == '#' ? hd_buf_printf(out, "%%%02X", (unsigned char)*p)
                                                 : hd_buf_append_byte(out, (uint8_t)*p);
    if (rc == 0)
        rc = hd_buf_printf(out, "?%s", query);
    return rc ? hd_err_set(err, HD_ELIMIT, "%s: path too long", path) : 0;
}

int hd_store_open_readonly(const char *path, hd_store **out, hd_err *err)
{
    *out = NULL;
    char wal[4096], shm[4096];
    if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int)sizeof wal)
        return hd_err_set(err, HD_ELIMIT, "%s: path too long", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    int rc = check_access(path, R_OK, err);
    if (rc)
        return rc;
    /* A -wal file means a writer has the database open (or stopped
     * without cleaning up): read through it and its -shm, which SQLite
     * maps read-only when it may not write them. Without one the file
     * holds everything, and it is read as it stands (immutable): a
     * read-only connection would otherwise make the -wal and -shm files,
     * or fail when it may not write the directory. A writer that starts
     * meanwhile writes to its own new WAL, not to the main file, until
     * its first checkpoint. */
    bool writer = faccessat(AT_FDCWD, wal, F_OK, AT_EACCESS) == 0;
    if (writer && (rc = check_access(wal, R_OK, err)) == 0 &&
        faccessat(AT_FDCWD, shm, F_OK, AT_EACCESS) == 0)
        rc = check_access(shm, R_OK, err);
    hd_buf uri;
    hd_buf_init(&uri, 3 * sizeof wal + 64);
    if (rc == 0)
        rc = file_uri(path, writer ? "mode=ro" : "mode=ro&immutable=1", &uri, err);
    hd_store *st = rc ? NULL : calloc(1, sizeof *st);
    if (rc == 0 && !st)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    if (rc == 0 && sqlite3_open_v2(hd_buf_cstr(&uri), &st->db, SQLITE_OPEN_READONLY |
                                   SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
        rc = open_failure(st, path, err);
    hd_buf_free(&uri);
    if (rc) {
        hd_store_close(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* read now, so a file that is no database, or a WAL that may not be
     * read, is said here and not at the first query */
    if (sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
        SQLITE_OK) {
        rc = open_failure(st, path, err);
        hd_store_close(st);
        return rc;
    }
    /* a reader adds no column: a database an older herald made is read
     * once the server (or a command that changes it) has brought it up
     * to date; queries would otherwise fail on the missing column */
    for (const hd_store_column *c = hd_store_added_columns; c->table; c++)
        if ((rc = column_state(st, c->table, c->name)) != COLUMN_THERE) {
            /* a database that could not be asked says why, as at the open */
            rc = rc == COLUMN_UNKNOWN ? open_failure(st, path, err)
                                      : hd_err_set(err, HD_ESTATE,
                                                   "%s: made by an older herald (no column "
                                                   "%s.%s): start herald serve once, which "
                                                   "brings it up to date",
                                                   path, c->table, c->name);
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

int hd_store_probe_write(hd_store *st, int64_t now, hd_err *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta (key, value) VALUES "
             "('last_probe_write', '%lld')", (long long)now);
    int rc = hd_store_begin(st, err);
    if (!rc && !(rc = exec(st, sql, err, "probe write")))
        rc = hd_store_commit(st, err);
    if (rc)
        hd_store_rollback(st);
    return rc;
}
