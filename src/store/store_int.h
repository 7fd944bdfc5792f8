/* store_int.h - shared by the files of the store module only. */
#ifndef HERALD_STORE_INT_H
#define HERALD_STORE_INT_H

#include <sqlite3.h>

#include <herald/store.h>

struct hd_store {
    sqlite3 *db;
};

extern const char hd_store_schema[];

typedef struct hd_store_column {
    const char *table, *name, *decl;
    const char *then;   /* SQL run with the ALTER TABLE, in its transaction: the
                         * data the new column changes the meaning of; or NULL */
} hd_store_column;
extern const hd_store_column hd_store_added_columns[];
/* Indexes on added columns: run after they exist. */
extern const char hd_store_late_indexes[];

/* err gets "what: sqlite message"; returns code (HD_EIO, or HD_ETEMP when
 * the database stayed busy). */
int hd_store_sqlerr(hd_store *st, hd_err *err, const char *what);

/* Prepare sql or fail with an error naming what. */
int hd_store_prepare(hd_store *st, const char *sql, sqlite3_stmt **out, hd_err *err);

/* Copy a text column into a fixed buffer (truncating, NUL-terminated). */
void hd_store_col_text(sqlite3_stmt *stmt, int col, char *dst, size_t size);

#endif
