/*
 * webhooks.c - the webhook_cursors and webhook_pending rows (see
 * herald/store.h): the outbox the server's webhook dispatcher works from.
 */
#include <string.h>

#include "store/store_int.h"

static void bind(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static int step_done(hd_store *st, sqlite3_stmt *s, const char *what, hd_err *err)
{
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, what);
}

int hd_store_webhook_cursor(hd_store *st, const char *endpoint, int64_t *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT last_event FROM webhook_cursors WHERE endpoint = ?", &s,
                              err);
    if (rc)
        return rc;
    bind(s, 1, endpoint);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = hd_err_set(err, HD_ENOTFOUND, "webhook %s has no cursor", endpoint);
    } else {
        rc = hd_store_sqlerr(st, err, "read webhook cursor");
    }
    sqlite3_finalize(s);
    return rc;
}

int hd_store_webhook_set_cursor(hd_store *st, const char *endpoint, int64_t last_event,
                                hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO webhook_cursors (endpoint, last_event) VALUES (?, ?)"
        " ON CONFLICT(endpoint) DO UPDATE SET last_event = excluded.last_event", &s, err);
    if (rc)
        return rc;
    bind(s, 1, endpoint);
    sqlite3_bind_int64(s, 2, last_event);
    return step_done(st, s, "write webhook cursor", err);
}

int hd_store_event_last_id(hd_store *st, int64_t *out, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st, "SELECT COALESCE(MAX(id), 0) FROM events", &s, err);
    if (rc)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : hd_store_sqlerr(st, err, "read the last event id");
}

int hd_store_webhook_events(hd_store *st, int64_t after_id, size_t limit,
                            int (*fn)(const hd_store_event *e, const char *domain, void *arg),
                            void *arg, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT e.id, e.at_ms, e.type, e.message, e.recipient, e.remote_host, e.reply, e.tls,"
        " e.duration_ms, e.detail, m.from_domain FROM events e"
        " LEFT JOIN messages m ON m.uuid = e.message WHERE e.id > ? ORDER BY e.id LIMIT ?",
        &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, limit ? (int64_t)limit : -1);
    hd_store_event e;
    char domain[HD_STORE_NAME_MAX];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&e, 0, sizeof e);
        e.id = sqlite3_column_int64(s, 0);
        e.at_ms = sqlite3_column_int64(s, 1);
        hd_store_col_text(s, 2, e.type, sizeof e.type);
        hd_store_col_text(s, 3, e.message, sizeof e.message);
        hd_store_col_text(s, 4, e.recipient, sizeof e.recipient);
        hd_store_col_text(s, 5, e.remote_host, sizeof e.remote_host);
        hd_store_col_text(s, 6, e.reply, sizeof e.reply);
        hd_store_col_text(s, 7, e.tls, sizeof e.tls);
        e.duration_ms = sqlite3_column_type(s, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 8);
        e.detail = (char *)sqlite3_column_text(s, 9);
        hd_store_col_text(s, 10, domain, sizeof domain);
        if (fn(&e, domain, arg))
            break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "read events");
    sqlite3_finalize(s);
    return rc;
}

int hd_store_webhook_add(hd_store *st, const hd_store_webhook *w, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "INSERT INTO webhook_pending (endpoint, event_id, message, type, body, created, attempts,"
        " next_at, state) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'pending')"
        " ON CONFLICT(endpoint, event_id) DO NOTHING", &s, err);
    if (rc)
        return rc;
    bind(s, 1, w->endpoint);
    sqlite3_bind_int64(s, 2, w->event_id);
    bind(s, 3, w->message);
    bind(s, 4, w->type);
    bind(s, 5, w->body ? w->body : "");
    sqlite3_bind_int64(s, 6, w->created);
    sqlite3_bind_int64(s, 7, w->created);
    return step_done(st, s, "add webhook event", err);
}

#define ROW_COLS                                                                          \
    "p.id, p.endpoint, p.event_id, p.message, p.type, p.body, p.created, p.attempts,"     \
    " p.next_at, COALESCE(p.last_at, 0), p.last_error, p.state"

static int each_row(hd_store *st, sqlite3_stmt *s, int (*fn)(const hd_store_webhook *w, void *arg),
                    void *arg, hd_err *err)
{
    hd_store_webhook w;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&w, 0, sizeof w);
        w.id = sqlite3_column_int64(s, 0);
        hd_store_col_text(s, 1, w.endpoint, sizeof w.endpoint);
        w.event_id = sqlite3_column_int64(s, 2);
        hd_store_col_text(s, 3, w.message, sizeof w.message);
        hd_store_col_text(s, 4, w.type, sizeof w.type);
        w.body = (const char *)sqlite3_column_text(s, 5);
        w.created = sqlite3_column_int64(s, 6);
        w.attempts = sqlite3_column_int(s, 7);
        w.next_at = sqlite3_column_int64(s, 8);
        w.last_at = sqlite3_column_int64(s, 9);
        hd_store_col_text(s, 10, w.last_error, sizeof w.last_error);
        const unsigned char *state = sqlite3_column_text(s, 11);
        w.dead = state && strcmp((const char *)state, "dead") == 0;
        if (fn(&w, arg))
            break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hd_store_sqlerr(st, err, "read webhook rows");
    sqlite3_finalize(s);
    return rc;
}

int hd_store_webhook_due(hd_store *st, const char *endpoint, int64_t now, size_t limit,
                         int (*fn)(const hd_store_webhook *w, void *arg), void *arg, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT " ROW_COLS " FROM webhook_pending p"
        " WHERE p.endpoint = ?1 AND p.state = 'pending' AND p.next_at <= ?2"
        " AND (p.message = '' OR NOT EXISTS (SELECT 1 FROM webhook_pending q"
        "  WHERE q.endpoint = p.endpoint AND q.message = p.message AND q.event_id < p.event_id"
        "  AND q.state = 'pending'))"
        " ORDER BY p.next_at, p.event_id LIMIT ?3", &s, err);
    if (rc)
        return rc;
    bind(s, 1, endpoint);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1);
    return each_row(st, s, fn, arg, err);
}

int hd_store_webhook_remove(hd_store *st, int64_t id, int64_t now, hd_err *err)
{
    /* the next rows of its message were held back with it: due now */
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "UPDATE webhook_pending SET next_at = ?2 WHERE (endpoint, message) ="
        " (SELECT endpoint, message FROM webhook_pending WHERE id = ?1) AND message != ''"
        " AND state = 'pending' AND id != ?1 AND next_at > ?2", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = step_done(st, s, "release webhook events", err)))
        return rc;
    if ((rc = hd_store_prepare(st, "DELETE FROM webhook_pending WHERE id = ?", &s, err)))
        return rc;
    sqlite3_bind_int64(s, 1, id);
    return step_done(st, s, "remove webhook event", err);
}

int hd_store_webhook_update(hd_store *st, const hd_store_webhook *w, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "UPDATE webhook_pending SET attempts = ?, next_at = ?, last_at = ?, last_error = ?,"
        " state = ? WHERE id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int(s, 1, w->attempts);
    sqlite3_bind_int64(s, 2, w->next_at);
    sqlite3_bind_int64(s, 3, w->last_at);
    bind(s, 4, w->last_error);
    bind(s, 5, w->dead ? "dead" : "pending");
    sqlite3_bind_int64(s, 6, w->id);
    if ((rc = step_done(st, s, "update webhook event", err)) || !w->message[0])
        return rc;
    /* The later rows of its message wait for it: they are not due before
     * it (so a down endpoint's backlog is not scanned on every tick). A
     * dead row no longer holds them back: due from now. */
    rc = hd_store_prepare(st,
        "UPDATE webhook_pending SET next_at = ?1 WHERE endpoint = ?2 AND message = ?3"
        " AND event_id > ?4 AND state = 'pending' AND next_at != ?1", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, w->dead ? w->last_at : w->next_at);
    bind(s, 2, w->endpoint);
    bind(s, 3, w->message);
    sqlite3_bind_int64(s, 4, w->event_id);
    return step_done(st, s, "hold webhook events", err);
}

int hd_store_webhook_revive(hd_store *st, int64_t id, int64_t now, int *n, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "UPDATE webhook_pending SET state = 'pending', attempts = 0, created = ?1, next_at = ?1"
        " WHERE state = 'dead' AND (?2 = 0 OR id = ?2)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, id);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return hd_store_sqlerr(st, err, "retry webhook events");
    *n = sqlite3_changes(st->db);
    return 0;
}

int hd_store_webhook_each(hd_store *st, const char *endpoint, bool dead_only,
                          int (*fn)(const hd_store_webhook *w, void *arg), void *arg, hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT " ROW_COLS " FROM webhook_pending p WHERE (?1 IS NULL OR p.endpoint = ?1)"
        " AND (?2 = 0 OR p.state = 'dead') ORDER BY p.id", &s, err);
    if (rc)
        return rc;
    if (endpoint)
        bind(s, 1, endpoint);
    sqlite3_bind_int(s, 2, dead_only);
    return each_row(st, s, fn, arg, err);
}

int hd_store_webhook_counts(hd_store *st, const char *endpoint, int64_t *pending, int64_t *dead,
                            hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'dead'), 0)"
        " FROM webhook_pending WHERE endpoint = ?", &s, err);
    if (rc)
        return rc;
    bind(s, 1, endpoint);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *pending = sqlite3_column_int64(s, 0);
        *dead = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : hd_store_sqlerr(st, err, "count webhook events");
}

int hd_store_webhook_prune(hd_store *st, int64_t before, size_t limit, size_t *removed,
                           hd_err *err)
{
    sqlite3_stmt *s;
    int rc = hd_store_prepare(st,
        "DELETE FROM webhook_pending WHERE id IN (SELECT id FROM webhook_pending"
        " WHERE state = 'dead' AND COALESCE(last_at, created) < ? LIMIT ?)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int64(s, 2, limit ? (int64_t)limit : -1);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return hd_store_sqlerr(st, err, "prune dead webhook events");
    *removed = (size_t)sqlite3_changes(st->db);
    return 0;
}
