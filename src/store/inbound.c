/*
 * inbound.c - rows of the mail that comes back to the inbound listener
 * (bounces, complaints, DMARC reports), and the look-ups that match it to
 * the messages herald sent.
 */
#include <string.h>

#include "store/store_int.h"

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

int hd_store_inbound_add(hd_store *st, hd_store_inbound *in, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO inbound (at, remote, mail_from, rcpt, kind, outcome, message, summary, size,"
        " data) VALUES (?,?,?,?,?,?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, in->at);
    bind_text(s, 2, in->remote);
    bind_text(s, 3, in->mail_from);
    bind_text(s, 4, in->rcpt);
    bind_text(s, 5, in->kind);
    bind_text(s, 6, in->outcome);
    bind_text(s, 7, in->message[0] ? in->message : NULL);
    bind_text(s, 8, in->summary);
    sqlite3_bind_int64(s, 9, (int64_t)in->data.len);
    /* a zero-length blob with a NULL pointer would bind NULL: NOT NULL fails */
    sqlite3_bind_blob64(s, 10, in->data.p ? (const void *)in->data.p : "", in->data.len,
                        SQLITE_STATIC);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "add inbound mail");
    sqlite3_finalize(s);
    if (!rc)
        in->id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

#define INBOUND_COLS "id, at, remote, mail_from, rcpt, kind, outcome, message, summary, size"

static void read_row(sqlite3_stmt *s, hd_store_inbound *in)
{
    memset(in, 0, sizeof *in);
    in->id = sqlite3_column_int64(s, 0);
    in->at = sqlite3_column_int64(s, 1);
    hd_store_col_text(s, 2, in->remote, sizeof in->remote);
    hd_store_col_text(s, 3, in->mail_from, sizeof in->mail_from);
    hd_store_col_text(s, 4, in->rcpt, sizeof in->rcpt);
    hd_store_col_text(s, 5, in->kind, sizeof in->kind);
    hd_store_col_text(s, 6, in->outcome, sizeof in->outcome);
    hd_store_col_text(s, 7, in->message, sizeof in->message);
    hd_store_col_text(s, 8, in->summary, sizeof in->summary);
    in->size = sqlite3_column_int64(s, 9);
    in->data = hd_slice_make("", 0);
}

int hd_store_inbound_each(hd_store *st, int64_t after_id, const char *kind, size_t limit,
                          int (*fn)(const hd_store_inbound *in, void *arg), void *arg,
                          hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT " INBOUND_COLS " FROM inbound WHERE id > ? AND (?2 IS NULL OR kind = ?2)"
        " ORDER BY id LIMIT ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, after_id);
    bind_text(s, 2, kind);
    sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hd_store_inbound in;
        read_row(s, &in);
        if (fn(&in, arg))
            break;
    }
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : hd_store_sqlerr(st, err, "read inbound mail");
    sqlite3_finalize(s);
    return rc;
}

int hd_store_inbound_get(hd_store *st, int64_t id,
                         int (*fn)(const hd_store_inbound *in, void *arg), void *arg,
                         hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " INBOUND_COLS ", data FROM inbound WHERE id = ?", &s,
                              err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        hd_store_inbound in;
        read_row(s, &in);
        const void *p = sqlite3_column_blob(s, 10);     /* NULL for an empty blob */
        in.data = hd_slice_make(p ? p : "", (size_t)sqlite3_column_bytes(s, 10));
        fn(&in, arg);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no inbound mail %lld", (long long)id);
    } else {
        rc = hd_store_sqlerr(st, err, "read inbound mail");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_message_by_message_id(hd_store *st, const char *message_id, char uuid[40],
                                   hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT uuid FROM messages WHERE message_id = ? ORDER BY id DESC LIMIT 1", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, message_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        hd_store_col_text(s, 0, uuid, 40);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no message with Message-ID %s", message_id);
    } else {
        rc = hd_store_sqlerr(st, err, "find message by Message-ID");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_recipient_bounce_late(hd_store *st, int64_t id, const char *reply, int64_t now,
                                   bool *changed, hd_err *err)
{
    sqlite3_stmt *s;
    *changed = false;
    int rc = hd_store_prepare(st,
        "UPDATE recipients SET state = 'bounced', last_reply = ?, updated_at = ?"
        " WHERE id = ? AND state = 'delivered'", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, reply);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, id);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "mark recipient bounced");
    sqlite3_finalize(s);
    if (!rc)
        *changed = sqlite3_changes(st->db) > 0;
    return rc;
}
