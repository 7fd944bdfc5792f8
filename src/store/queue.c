/*
 * queue.c - the queue's rows: messages, recipients, events, suppressions
 * and sandbox captures.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static const char *const state_names[] = {
    [HD_RCPT_QUEUED] = "queued",         [HD_RCPT_DELIVERED] = "delivered",
    [HD_RCPT_BOUNCED] = "bounced",       [HD_RCPT_EXPIRED] = "expired",
    [HD_RCPT_SUPPRESSED] = "suppressed", [HD_RCPT_DELETED] = "deleted",
    [HD_RCPT_CORRUPT] = "corrupt",       [HD_RCPT_CAPTURED] = "captured",
};

const char *hd_rcpt_state_name(hd_rcpt_state s)
{
    return (size_t)s < sizeof state_names / sizeof *state_names ? state_names[s] : "?";
}

int hd_rcpt_state_parse(const char *name, hd_rcpt_state *out)
{
    for (size_t i = 0; i < sizeof state_names / sizeof *state_names; i++)
        if (strcmp(name, state_names[i]) == 0) {
            *out = (hd_rcpt_state)i;
            return 0;
        }
    return HD_EINVAL;
}

/* Run a statement that returns no rows, then finalize it. */
static int step_done(hd_store *st, sqlite3_stmt *stmt, const char *what, hd_err *err)
{
    int rc = sqlite3_step(stmt);
    int out = rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, what);
    sqlite3_finalize(stmt);
    return out;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

int hd_store_message_insert(hd_store *st, hd_store_message *m, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO messages (uuid, segment, offset, length, crc, mail_from, from_domain,"
        " message_id, submitter, received_at, expires_at, flags, pool, tags)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, m->uuid);
    sqlite3_bind_int64(s, 2, m->segment);
    sqlite3_bind_int64(s, 3, m->offset);
    sqlite3_bind_int64(s, 4, m->length);
    sqlite3_bind_int64(s, 5, m->crc);
    bind_text(s, 6, m->mail_from);
    bind_text(s, 7, m->from_domain);
    bind_text(s, 8, m->message_id);
    bind_text(s, 9, m->submitter);
    sqlite3_bind_int64(s, 10, m->received_at);
    sqlite3_bind_int64(s, 11, m->expires_at);
    sqlite3_bind_int(s, 12, (int)m->flags);
    bind_text(s, 13, m->pool[0] ? m->pool : NULL);
    bind_text(s, 14, m->tags[0] ? m->tags : NULL);
    if ((rc = step_done(st, s, "insert message", err)))
        return rc;
    m->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

#define MESSAGE_COLS "m.id, m.uuid, m.segment, m.offset, m.length, m.crc, m.mail_from," \
                     " m.from_domain, m.message_id, m.submitter, m.received_at, m.expires_at, m.flags," \
                     " m.pool, m.tags"

#define MESSAGE_NCOLS 15

static void read_message(sqlite3_stmt *s, int c, hd_store_message *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(s, c + 0);
    hd_store_col_text(s, c + 1, m->uuid, sizeof m->uuid);
    m->segment = sqlite3_column_int64(s, c + 2);
    m->offset = sqlite3_column_int64(s, c + 3);
    m->length = sqlite3_column_int64(s, c + 4);
    m->crc = (uint32_t)sqlite3_column_int64(s, c + 5);
    hd_store_col_text(s, c + 6, m->mail_from, sizeof m->mail_from);
    hd_store_col_text(s, c + 7, m->from_domain, sizeof m->from_domain);
    hd_store_col_text(s, c + 8, m->message_id, sizeof m->message_id);
    hd_store_col_text(s, c + 9, m->submitter, sizeof m->submitter);
    m->received_at = sqlite3_column_int64(s, c + 10);
    m->expires_at = sqlite3_column_int64(s, c + 11);
    m->flags = (unsigned)sqlite3_column_int(s, c + 12);
    hd_store_col_text(s, c + 13, m->pool, sizeof m->pool);
    hd_store_col_text(s, c + 14, m->tags, sizeof m->tags);
}

int hd_store_message_get(hd_store *st, const char *uuid, hd_store_message *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " MESSAGE_COLS " FROM messages m WHERE m.uuid = ?", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, uuid);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_message(s, 0, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no message %s", uuid);
    } else {
        rc = hd_store_sqlerr(st, err, "read message");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_message_get_id(hd_store *st, int64_t id, hd_store_message *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " MESSAGE_COLS " FROM messages m WHERE m.id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_message(s, 0, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no message with row id %lld", (long long)id);
    } else {
        rc = hd_store_sqlerr(st, err, "read message");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_message_release(hd_store *st, int64_t id, hd_err *err)
{
    sqlite3_stmt *s;
    /* the segment's release time mark first: the row forgets its segment */
    int rc = hd_store_prepare(st, "INSERT INTO segment_released (segment, offset_max)"
                              " SELECT segment, offset FROM messages WHERE id = ?"
                              " AND segment IS NOT NULL AND offset IS NOT NULL ON CONFLICT (segment)"
                              " DO UPDATE SET offset_max = max(offset_max, excluded.offset_max)",
                              &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_done(st, s, "release message", err)))
        return rc;
    rc = hd_store_prepare(st, "UPDATE messages SET segment = NULL WHERE id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    return step_done(st, s, "release message", err);
}

int hd_store_message_finished(hd_store *st, const char *prefix, hd_err *err)
{
    sqlite3_stmt *s;
    /* a range on the unique index: uuids are lower-case hex, below 'g' */
    /* the test prune uses: no recipient still queued. A release lost at a
     * stop (or a crash between the last update and the release) leaves
     * segment set on a message that is done: it is finished all the same */
    int rc = hd_store_prepare(st, "SELECT count(*), coalesce(sum(EXISTS (SELECT 1 FROM recipients r"
                              " WHERE r.message = m.id AND r.state = 'queued')), 0)"
                              " FROM messages m WHERE uuid >= ?1 AND uuid < ?1 || 'g'", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = hd_store_sqlerr(st, err, "message state");
        sqlite3_finalize(s);
        return rc;
    }
    bool finished = sqlite3_column_int64(s, 0) > 0 && sqlite3_column_int64(s, 1) == 0;
    sqlite3_finalize(s);
    return finished ? 1 : 0;
}

int hd_store_segment_released(hd_store *st, uint32_t segment, int64_t *out, hd_err *err)
{
    sqlite3_stmt *s;
    *out = segment ? -1 : 0;
    int rc = hd_store_prepare(st, segment ? "SELECT offset_max FROM segment_released WHERE segment = ?"
                                          : "SELECT count(*) FROM segment_released", &s, err);
    if (rc)
        return rc;
    if (segment)
        sqlite3_bind_int64(s, 1, segment);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else if (step != SQLITE_DONE)
        rc = hd_store_sqlerr(st, err, "segment released");
    sqlite3_finalize(s);
    return rc;
}

int hd_store_segment_highest(hd_store *st, uint32_t *out, hd_err *err)
{
    sqlite3_stmt *s;
    *out = 0;
    /* a released message forgets its segment; segment_released keeps it */
    int rc = hd_store_prepare(st, "SELECT max(coalesce((SELECT max(segment) FROM messages), 0),"
                              " coalesce((SELECT max(segment) FROM segment_released), 0))", &s, err);
    if (rc)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(s, 0);
        *out = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
    } else {
        rc = hd_store_sqlerr(st, err, "highest segment");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_message_known(hd_store *st, const char *prefix, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT 1 FROM messages WHERE uuid >= ?1 AND uuid < ?1 || 'g'"
                              " LIMIT 1", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step == SQLITE_ROW)
        return 1;
    return step == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "message known");
}

int hd_store_message_count(hd_store *st, int64_t *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT count(*) FROM messages", &s, err);
    if (rc)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        rc = hd_store_sqlerr(st, err, "count messages");
    sqlite3_finalize(s);
    return rc;
}

/* A failure to run the check: damage only when SQLite says the file is
 * corrupt or not a database; locked, I/O errors and lack of memory are
 * their own errors (the file may be sound). */
static int check_failed(hd_store *st, hd_err *err)
{
    int code = sqlite3_extended_errcode(st->db) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
        return hd_err_set(err, HD_ESTATE, "database damaged: %s", sqlite3_errmsg(st->db));
    return hd_err_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? HD_ETEMP : HD_EIO,
                      "cannot check the database (PRAGMA quick_check): %s", sqlite3_errmsg(st->db));
}

int hd_store_quick_check(hd_store *st, hd_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL) != SQLITE_OK)
        return check_failed(st, err);
    int step = sqlite3_step(s);
    char first[200] = "";
    if (step == SQLITE_ROW)
        hd_store_col_text(s, 0, first, sizeof first);
    for (char *p = first; *p; p++)      /* "*** in database main ***\nPage 16: ..." */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    int rc = 0;
    if (step != SQLITE_ROW)
        rc = check_failed(st, err);
    else if (strcmp(first, "ok") != 0)
        rc = hd_err_set(err, HD_ESTATE, "database damaged: PRAGMA quick_check says: %s", first);
    sqlite3_finalize(s);
    return rc;
}

int hd_store_recipient_insert(hd_store *st, hd_store_recipient *r, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO recipients (message, address, domain, state, attempts, next_attempt,"
        " last_reply, updated_at, mail_from) VALUES (?,?,?,?,?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, r->message);
    bind_text(s, 2, r->address);
    bind_text(s, 3, r->domain);
    bind_text(s, 4, hd_rcpt_state_name(r->state));
    sqlite3_bind_int(s, 5, r->attempts);
    sqlite3_bind_int64(s, 6, r->next_attempt);
    bind_text(s, 7, r->last_reply[0] ? r->last_reply : NULL);
    sqlite3_bind_int64(s, 8, r->updated_at);
    bind_text(s, 9, r->mail_from[0] ? r->mail_from : NULL);
    if ((rc = step_done(st, s, "insert recipient", err)))
        return rc;
    r->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int hd_store_recipient_update(hd_store *st, const hd_store_recipient *r, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "UPDATE recipients SET state = ?, attempts = ?, next_attempt = ?, last_reply = ?,"
        " updated_at = ?, mail_from = coalesce(?7, mail_from) WHERE id = ?6", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, hd_rcpt_state_name(r->state));
    sqlite3_bind_int(s, 2, r->attempts);
    sqlite3_bind_int64(s, 3, r->next_attempt);
    bind_text(s, 4, r->last_reply[0] ? r->last_reply : NULL);
    sqlite3_bind_int64(s, 5, r->updated_at);
    sqlite3_bind_int64(s, 6, r->id);
    bind_text(s, 7, r->mail_from[0] ? r->mail_from : NULL);
    return step_done(st, s, "update recipient", err);
}

#define RCPT_COLS "r.id, r.message, r.address, r.domain, r.state, r.attempts, r.next_attempt," \
                  " r.last_reply, r.updated_at, r.mail_from"

static void read_recipient(sqlite3_stmt *s, int c, hd_store_recipient *r)
{
    char state[16];
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, c + 0);
    r->message = sqlite3_column_int64(s, c + 1);
    hd_store_col_text(s, c + 2, r->address, sizeof r->address);
    hd_store_col_text(s, c + 3, r->domain, sizeof r->domain);
    hd_store_col_text(s, c + 4, state, sizeof state);
    if (hd_rcpt_state_parse(state, &r->state) != 0)
        r->state = HD_RCPT_QUEUED;
    r->attempts = sqlite3_column_int(s, c + 5);
    r->next_attempt = sqlite3_column_int64(s, c + 6);
    hd_store_col_text(s, c + 7, r->last_reply, sizeof r->last_reply);
    r->updated_at = sqlite3_column_int64(s, c + 8);
    hd_store_col_text(s, c + 9, r->mail_from, sizeof r->mail_from);
}

int hd_store_recipient_get(hd_store *st, int64_t id, hd_store_recipient *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " RCPT_COLS " FROM recipients r WHERE r.id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_recipient(s, 0, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no recipient with row id %lld", (long long)id);
    } else {
        rc = hd_store_sqlerr(st, err, "read recipient");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_recipient_each(hd_store *st, int64_t message,
                            int (*fn)(const hd_store_recipient *r, void *arg), void *arg,
                            hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT " RCPT_COLS " FROM recipients r WHERE r.message = ?"
                                  " ORDER BY r.id", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, message);
    hd_store_recipient r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_recipient(s, 0, &r);
        if (fn(&r, arg))
            break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "read recipients");
    sqlite3_finalize(s);
    return rc;
}

#define QUEUE_BATCH 1024 /* recipients of one message handed over at once */

int hd_store_queue_each(hd_store *st,
                        int (*fn)(const hd_store_message *m, const hd_store_recipient *r,
                                  size_t n, void *arg),
                        void *arg, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT " MESSAGE_COLS ", " RCPT_COLS " FROM messages m JOIN recipients r"
        " ON r.message = m.id WHERE m.segment IS NOT NULL AND r.state = 'queued'"
        " ORDER BY m.id, r.id", &s, err);
    if (rc)
        return rc;
    hd_store_message *m = malloc(sizeof *m);
    hd_store_recipient *rs = malloc(QUEUE_BATCH * sizeof *rs);
    if (!m || !rs) {
        free(m), free(rs);
        sqlite3_finalize(s);
        return hd_err_set(err, HD_ENOMEM, "out of memory loading the queue");
    }
    size_t n = 0;
    int stop = 0;
    m->id = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t mid = sqlite3_column_int64(s, 0);
        if (n > 0 && (mid != m->id || n == QUEUE_BATCH)) {
            stop = fn(m, rs, n, arg);
            n = 0;
        }
        if (n == 0)
            read_message(s, 0, m);
        read_recipient(s, MESSAGE_NCOLS, &rs[n++]);
    }
    if (!stop && n > 0)
        fn(m, rs, n, arg);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "load the queue");
    free(m), free(rs);
    sqlite3_finalize(s);
    return rc;
}

int hd_store_event_add(hd_store *st, const hd_store_event *e, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO events (at_ms, type, message, recipient, remote_host, reply, tls,"
        " duration_ms, detail) VALUES (?,?,?,?,?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, e->at_ms);
    bind_text(s, 2, e->type);
    bind_text(s, 3, e->message[0] ? e->message : NULL);
    bind_text(s, 4, e->recipient[0] ? e->recipient : NULL);
    bind_text(s, 5, e->remote_host[0] ? e->remote_host : NULL);
    bind_text(s, 6, e->reply[0] ? e->reply : NULL);
    bind_text(s, 7, e->tls[0] ? e->tls : NULL);
    if (e->duration_ms >= 0)
        sqlite3_bind_int64(s, 8, e->duration_ms);
    else
        sqlite3_bind_null(s, 8);
    bind_text(s, 9, e->detail);
    return step_done(st, s, "insert event", err);
}

int hd_store_event_each(hd_store *st, int64_t after_id, const char *message, size_t limit,
                        int (*fn)(const hd_store_event *e, void *arg), void *arg, hd_err *err)
{
    hd_store_event_filter f = {.after_id = after_id, .message = message, .limit = limit};
    return hd_store_event_query(st, &f, fn, arg, err);
}

int hd_store_event_query(hd_store *st, const hd_store_event_filter *f,
                         int (*fn)(const hd_store_event *e, void *arg), void *arg, hd_err *err)
{
    sqlite3_stmt *s;
    /* domains: a space-separated list; an event belongs to its message's
     * sending domain */
    int rc = hd_store_prepare(st,
        "SELECT id, at_ms, type, message, recipient, remote_host, reply, tls, duration_ms,"
        " detail, (SELECT m.from_domain FROM messages m WHERE m.uuid = events.message)"
        " FROM events WHERE id > ?1 AND (?2 IS NULL OR message = ?2)"
        " AND (?3 IS NULL OR type = ?3) AND at_ms >= ?4"
        " AND (?5 IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.uuid = events.message"
        " AND instr(' ' || ?5 || ' ', ' ' || m.from_domain || ' ') > 0))"
        " ORDER BY id LIMIT ?6",
        &s, err);
    if (rc)
        return rc;
    bool all_domains = f->domains == NULL || strcmp(f->domains, "*") == 0;
    sqlite3_bind_int64(s, 1, f->after_id);
    bind_text(s, 2, f->message);
    bind_text(s, 3, f->type);
    sqlite3_bind_int64(s, 4, f->since_ms);
    bind_text(s, 5, all_domains ? NULL : f->domains);
    sqlite3_bind_int64(s, 6, f->limit ? (int64_t)f->limit : -1);
    int stop = 0; /* the callback's: > 0 stops, < 0 is its error */
    hd_store_event *e = malloc(sizeof *e);
    if (!e) {
        sqlite3_finalize(s);
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(e, 0, sizeof *e);
        e->id = sqlite3_column_int64(s, 0);
        e->at_ms = sqlite3_column_int64(s, 1);
        hd_store_col_text(s, 2, e->type, sizeof e->type);
        hd_store_col_text(s, 3, e->message, sizeof e->message);
        hd_store_col_text(s, 4, e->recipient, sizeof e->recipient);
        hd_store_col_text(s, 5, e->remote_host, sizeof e->remote_host);
        hd_store_col_text(s, 6, e->reply, sizeof e->reply);
        hd_store_col_text(s, 7, e->tls, sizeof e->tls);
        e->duration_ms = sqlite3_column_type(s, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 8);
        e->detail = (char *)sqlite3_column_text(s, 9);
        hd_store_col_text(s, 10, e->domain, sizeof e->domain);
        if ((stop = fn(e, arg)) != 0)
            break;
    }
    rc = stop < 0   ? hd_err_set(err, stop, "reading events: %s", hd_strerror(stop))
         : rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : hd_store_sqlerr(st, err, "read events");
    free(e);
    sqlite3_finalize(s);
    return rc;
}

int hd_store_suppression_add(hd_store *st, const char *address, const char *reason,
                             const char *source, int64_t now, hd_err *err)
{
    return hd_store_suppression_add_until(st, address, reason, source, now, 0, err);
}

int hd_store_suppression_add_until(hd_store *st, const char *address, const char *reason,
                                   const char *source, int64_t now, int64_t expires, hd_err *err)
{
    sqlite3_stmt *s;
    /* the stronger stays: a lasting row is replaced only by a lasting one,
     * a temporary row by a lasting or a later one (which also starts anew
     * when the old one had run out) */
    int rc = hd_store_prepare(st,
        "INSERT INTO suppressions (address, reason, source, created, expires)"
        " VALUES (lower(?1),?2,?3,?4,?5)"
        " ON CONFLICT(address) DO UPDATE SET reason = excluded.reason, source = excluded.source,"
        " created = CASE WHEN expires IS NOT NULL AND expires <= excluded.created"
        " THEN excluded.created ELSE created END, expires = excluded.expires"
        " WHERE excluded.expires IS NULL OR (expires IS NOT NULL AND expires < excluded.expires)",
        &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, address);
    bind_text(s, 2, reason);
    bind_text(s, 3, source);
    sqlite3_bind_int64(s, 4, now);
    if (expires)
        sqlite3_bind_int64(s, 5, expires);
    else
        sqlite3_bind_null(s, 5);
    return step_done(st, s, "add suppression", err);
}

int hd_store_suppression_remove(hd_store *st, const char *address, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "DELETE FROM suppressions WHERE address = lower(?)", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, address);
    if ((rc = step_done(st, s, "remove suppression", err)))
        return rc;
    return sqlite3_changes(st->db) ? 0 : hd_err_set(err, HD_ENOTFOUND, "%s is not suppressed", address);
}

#define SUPPRESSION_COLS "SELECT address, reason, source, created, coalesce(expires, 0) FROM suppressions"
/* ?1 is now; 0 matches every row */
#define SUPPRESSION_IN_FORCE "(?1 = 0 OR expires IS NULL OR expires > ?1)"

int hd_store_suppression_each(hd_store *st, int64_t now,
                              int (*fn)(const char *address, const char *reason,
                                        const char *source, int64_t created, int64_t expires,
                                        void *arg),
                              void *arg, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, SUPPRESSION_COLS " WHERE " SUPPRESSION_IN_FORCE
                                  " ORDER BY address", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
               (const char *)sqlite3_column_text(s, 2), sqlite3_column_int64(s, 3),
               sqlite3_column_int64(s, 4), arg))
            break;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "read suppressions");
    sqlite3_finalize(s);
    return rc;
}

static void read_suppression(sqlite3_stmt *s, hd_store_suppression *out)
{
    memset(out, 0, sizeof *out);
    hd_store_col_text(s, 0, out->address, sizeof out->address);
    hd_store_col_text(s, 1, out->reason, sizeof out->reason);
    hd_store_col_text(s, 2, out->source, sizeof out->source);
    out->created = sqlite3_column_int64(s, 3);
    out->expires = sqlite3_column_int64(s, 4);
}

int hd_store_suppression_get(hd_store *st, const char *address, int64_t now,
                             hd_store_suppression *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, SUPPRESSION_COLS " WHERE address = lower(?2) AND "
                                  SUPPRESSION_IN_FORCE, &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    bind_text(s, 2, address);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_suppression(s, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "%s is not suppressed", address);
    } else {
        rc = hd_store_sqlerr(st, err, "read suppression");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_suppression_page(hd_store *st, const char *after, int64_t now, size_t limit,
                              int (*fn)(const hd_store_suppression *sup, void *arg), void *arg,
                              hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, SUPPRESSION_COLS " WHERE address > ?2 AND " SUPPRESSION_IN_FORCE
                                  " ORDER BY address LIMIT ?3", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    bind_text(s, 2, after ? after : "");
    sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1);
    hd_store_suppression *sup = malloc(sizeof *sup);
    if (!sup) {
        sqlite3_finalize(s);
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_suppression(s, sup);
        if (fn(sup, arg))
            break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "read suppressions");
    free(sup);
    sqlite3_finalize(s);
    return rc;
}

int hd_store_soft_bounce_count(hd_store *st, const char *address, const char *message,
                               int64_t since_ms, size_t *n, hd_err *err)
{
    sqlite3_stmt *s;
    /* the partial index events_bounced; the detail is inbound.c's */
    int rc = hd_store_prepare(st,
        "SELECT count(DISTINCT message) FROM events WHERE type = 'bounced'"
        " AND lower(recipient) = lower(?1) AND at_ms >= ?2 AND message <> ?3"
        " AND json_valid(detail) AND json_extract(detail, '$.async') = 1"
        " AND json_extract(detail, '$.kind') = 'soft'"
        " AND json_extract(detail, '$.action') = 'failed'"
        " AND json_extract(detail, '$.matched_by') <> 'message-id'", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, address);
    sqlite3_bind_int64(s, 2, since_ms);
    bind_text(s, 3, message);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = hd_store_sqlerr(st, err, "count soft bounces");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_idempotency_add(hd_store *st, const hd_store_idempotency *k, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT OR IGNORE INTO idempotency (scope, key, request, message, created)"
        " VALUES (?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, k->scope);
    bind_text(s, 2, k->key);
    bind_text(s, 3, k->request);
    bind_text(s, 4, k->message);
    sqlite3_bind_int64(s, 5, k->created);
    return step_done(st, s, "insert idempotency key", err);
}

int hd_store_idempotency_get(hd_store *st, const char *scope, const char *key,
                             hd_store_idempotency *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT scope, key, request, message, created FROM idempotency"
                                  " WHERE scope = ? AND key = ?", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, scope);
    bind_text(s, 2, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        hd_store_col_text(s, 0, out->scope, sizeof out->scope);
        hd_store_col_text(s, 1, out->key, sizeof out->key);
        hd_store_col_text(s, 2, out->request, sizeof out->request);
        hd_store_col_text(s, 3, out->message, sizeof out->message);
        out->created = sqlite3_column_int64(s, 4);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "no such idempotency key");
    } else {
        rc = hd_store_sqlerr(st, err, "read idempotency key");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_capture_add(hd_store *st, const hd_store_capture *c, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO captures (message, recipient, at, mail_from, verdict, detail, data)"
        " VALUES (?,?,?,?,?,?,?)", &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, c->message);
    bind_text(s, 2, c->recipient);
    sqlite3_bind_int64(s, 3, c->at);
    bind_text(s, 4, c->mail_from);
    bind_text(s, 5, c->verdict);
    bind_text(s, 6, c->detail);
    sqlite3_bind_blob64(s, 7, c->data.p, c->data.len, SQLITE_TRANSIENT);
    return step_done(st, s, "add capture", err);
}

int hd_store_capture_each(hd_store *st, int64_t after_id, const char *message, size_t limit,
                          int (*fn)(int64_t id, const hd_store_capture *c, void *arg), void *arg,
                          hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT id, message, recipient, at, mail_from, verdict, detail, data FROM captures"
        " WHERE id > ? AND (?2 IS NULL OR message = ?2) ORDER BY id LIMIT ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, after_id);
    bind_text(s, 2, message);
    sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1);
    int stop = 0; /* the callback's: > 0 stops, < 0 is its error */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hd_store_capture c = {
            .message = (const char *)sqlite3_column_text(s, 1),
            .recipient = (const char *)sqlite3_column_text(s, 2),
            .at = sqlite3_column_int64(s, 3),
            .mail_from = (const char *)sqlite3_column_text(s, 4),
            .verdict = (const char *)sqlite3_column_text(s, 5),
            .detail = (const char *)sqlite3_column_text(s, 6),
            .data = hd_slice_make(sqlite3_column_blob(s, 7), (size_t)sqlite3_column_bytes(s, 7)),
        };
        if ((stop = fn(sqlite3_column_int64(s, 0), &c, arg)) != 0)
            break;
    }
    rc = stop < 0   ? hd_err_set(err, stop, "reading captures: %s", hd_strerror(stop))
         : rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : hd_store_sqlerr(st, err, "read captures");
    sqlite3_finalize(s);
    return rc;
}

int hd_store_prune(hd_store *st, int64_t before, size_t limit, size_t *removed, hd_err *err)
{
    static const char *const sql[] = {
        /* the newest event stays: SQLite would otherwise number new events
         * from 1 again, and a reader's cursor (webhooks) would skip them */
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at_ms < ?1 * 1000"
        " AND id < (SELECT MAX(id) FROM events) ORDER BY id LIMIT ?2)",
        "DELETE FROM inbound WHERE id IN (SELECT id FROM inbound WHERE at < ?1"
        " ORDER BY id LIMIT ?2)",
        "DELETE FROM captures WHERE id IN (SELECT id FROM captures WHERE at < ?1"
        " ORDER BY id LIMIT ?2)",
        "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE created < ?1"
        " LIMIT ?2)",
        /* a suppression that ran out is kept as long as the events that explain it */
        "DELETE FROM suppressions WHERE rowid IN (SELECT rowid FROM suppressions"
        " WHERE expires IS NOT NULL AND expires < ?1 LIMIT ?2)",
        "DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m WHERE m.segment IS NULL"
        " AND m.received_at < ?1 AND NOT EXISTS (SELECT 1 FROM recipients r"
        " WHERE r.message = m.id AND r.state = 'queued') ORDER BY m.id LIMIT ?2)",
    };
    *removed = 0;
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        sqlite3_stmt *s;
        int rc = hd_store_prepare(st, sql[i], &s, err);
        if (rc)
            return rc;
        sqlite3_bind_int64(s, 1, before);
        sqlite3_bind_int64(s, 2, (int64_t)limit);
        if ((rc = step_done(st, s, "prune old rows", err)))
            return rc;
        *removed += (size_t)sqlite3_changes(st->db);
    }
    return 0;
}
