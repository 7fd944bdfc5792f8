/*
 * store_webhook_test.c - the webhook outbox: cursors, events with their
 * sending domain, the due query (order per message, back-off, dead rows
 * not holding later ones back), updates, revival and counts.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/store.h>

static hd_store *st;
static char *dir;

static int setup(void **state)
{
    char path[4096];
    dir = tu_mkdtemp();
    snprintf(path, sizeof path, "%s/herald.db", dir);
    hd_err err = {0};
    if (hd_store_open(path, false, &st, &err) != 0)
        fail_msg("open: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    hd_store_close(st);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static void add(int64_t event_id, const char *message, int64_t created)
{
    hd_store_webhook w = {.event_id = event_id, .created = created, .body = "{}"};
    snprintf(w.endpoint, sizeof w.endpoint, "app");
    snprintf(w.message, sizeof w.message, "%s", message);
    snprintf(w.type, sizeof w.type, "accepted");
    hd_err err = {0};
    assert_int_equal(hd_store_webhook_add(st, &w, &err), 0);
}

typedef struct seen {
    hd_store_webhook rows[16];
    size_t n;
} seen;

static int collect(const hd_store_webhook *w, void *arg)
{
    seen *s = arg;
    s->rows[s->n] = *w;
    s->rows[s->n++].body = NULL;
    return 0;
}

static seen due(int64_t now)
{
    seen s = {.n = 0};
    hd_err err = {0};
    assert_int_equal(hd_store_webhook_due(st, "app", now, 0, collect, &s, &err), 0);
    return s;
}

static void test_cursor_and_events(void **state)
{
    hd_err err = {0};
    int64_t c = -1;
    assert_int_equal(hd_store_webhook_cursor(st, "app", &c, &err), HD_ENOTFOUND);
    assert_int_equal(hd_store_event_last_id(st, &c, &err), 0);
    assert_int_equal(c, 0);
    hd_store_message m = {.received_at = 1, .expires_at = 2};
    snprintf(m.uuid, sizeof m.uuid, "m1");
    snprintf(m.from_domain, sizeof m.from_domain, "example.com");
    assert_int_equal(hd_store_message_insert(st, &m, &err), 0);
    hd_store_event e = {.at_ms = 5, .duration_ms = -1};
    snprintf(e.type, sizeof e.type, "accepted");
    snprintf(e.message, sizeof e.message, "m1");
    assert_int_equal(hd_store_event_add(st, &e, &err), 0);
    snprintf(e.message, sizeof e.message, "gone");
    assert_int_equal(hd_store_event_add(st, &e, &err), 0);
    assert_int_equal(hd_store_event_last_id(st, &c, &err), 0);
    assert_int_equal(c, 2);
    assert_int_equal(hd_store_webhook_set_cursor(st, "app", 1, &err), 0);
    assert_int_equal(hd_store_webhook_set_cursor(st, "app", 2, &err), 0);
    assert_int_equal(hd_store_webhook_cursor(st, "app", &c, &err), 0);
    assert_int_equal(c, 2);
}

static int domains_of(const hd_store_event *e, const char *domain, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%s;", domain[0] ? domain : "-");
    return 0;
}

static void test_event_domains(void **state)
{
    char got[64] = "";
    hd_err err = {0};
    assert_int_equal(hd_store_webhook_events(st, 0, 10, domains_of, got, &err), 0);
    assert_string_equal(got, "example.com;-;");
    got[0] = '\0';
    assert_int_equal(hd_store_webhook_events(st, 1, 10, domains_of, got, &err), 0);
    assert_string_equal(got, "-;");
}

static void test_due_order(void **state)
{
    hd_err err = {0};
    add(10, "M", 100);
    add(11, "M", 100);
    add(12, "N", 100);
    add(13, "", 100);
    add(10, "M", 200);      /* the same event again: ignored */
    seen s = due(100);
    assert_int_equal(s.n, 3);          /* 11 waits behind 10 */
    assert_int_equal(s.rows[0].event_id, 10);
    assert_int_equal(s.rows[1].event_id, 12);
    assert_int_equal(s.rows[2].event_id, 13);
    assert_int_equal(due(99).n, 0);    /* not yet due */
    /* 10 fails: retried at 150; 11 still waits for it */
    hd_store_webhook w = s.rows[0];
    w.attempts = 1;
    w.next_at = 150;
    w.last_at = 100;
    snprintf(w.last_error, sizeof w.last_error, "HTTP 500");
    assert_int_equal(hd_store_webhook_update(st, &w, &err), 0);
    /* 11 is held back with it: not due (not even scanned) before 150 */
    seen all = {.n = 0};
    assert_int_equal(hd_store_webhook_each(st, "app", false, collect, &all, &err), 0);
    for (size_t i = 0; i < all.n; i++)
        if (all.rows[i].event_id == 11)
            assert_int_equal(all.rows[i].next_at, 150);
    s = due(120);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.rows[0].event_id, 12);
    s = due(150);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.rows[2].event_id, 10);
    assert_int_equal(s.rows[2].attempts, 1);
    assert_string_equal(s.rows[2].last_error, "HTTP 500");
    int64_t pending, dead;
    assert_int_equal(hd_store_webhook_counts(st, "app", &pending, &dead, &err), 0);
    assert_int_equal(pending, 4);
    assert_int_equal(dead, 0);
    /* 10 dies: 11 goes on */
    w.dead = true;
    assert_int_equal(hd_store_webhook_update(st, &w, &err), 0);
    s = due(1000);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.rows[0].event_id, 11);
    assert_int_equal(hd_store_webhook_counts(st, "app", &pending, &dead, &err), 0);
    assert_int_equal(pending, 3);
    assert_int_equal(dead, 1);
    seen d = {.n = 0};
    assert_int_equal(hd_store_webhook_each(st, NULL, true, collect, &d, &err), 0);
    assert_int_equal(d.n, 1);
    assert_true(d.rows[0].dead);
    /* delivered rows go */
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(hd_store_webhook_remove(st, s.rows[i].id, 1000, &err), 0);
    assert_int_equal(due(1000).n, 0);
    /* revive: due now, attempts reset, a new window */
    int n = 0;
    assert_int_equal(hd_store_webhook_revive(st, 0, 2000, &n, &err), 0);
    assert_int_equal(n, 1);
    s = due(2000);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rows[0].attempts, 0);
    assert_int_equal(s.rows[0].created, 2000);
    assert_int_equal(hd_store_webhook_revive(st, s.rows[0].id, 2000, &n, &err), 0);
    assert_int_equal(n, 0);            /* not dead any more */
    /* retention: only dead rows, only old ones */
    w = s.rows[0];
    w.dead = true;
    w.last_at = 2100;
    assert_int_equal(hd_store_webhook_update(st, &w, &err), 0);
    add(20, "P", 50);                   /* pending, and older: stays */
    size_t removed = 9;
    assert_int_equal(hd_store_webhook_prune(st, 2100, 100, &removed, &err), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(hd_store_webhook_prune(st, 2101, 100, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(hd_store_webhook_counts(st, "app", &pending, &dead, &err), 0);
    assert_int_equal(pending, 1);
    assert_int_equal(dead, 0);
}

/* The rows of message Q among those due at t. */
static seen due_q(int64_t t)
{
    seen all = due(t), q = {.n = 0};
    for (size_t i = 0; i < all.n; i++)
        if (strcmp(all.rows[i].message, "Q") == 0)
            q.rows[q.n++] = all.rows[i];
    return q;
}

/* A delivered head releases the rows held behind it at once. */
static void test_release_on_delivery(void **state)
{
    hd_err err = {0};
    add(30, "Q", 100);
    add(31, "Q", 100);
    seen s = due_q(100);
    assert_int_equal(s.n, 1);
    hd_store_webhook w = s.rows[0];
    w.attempts = 1;
    w.next_at = 500;
    w.last_at = 100;
    assert_int_equal(hd_store_webhook_update(st, &w, &err), 0);
    assert_int_equal(due_q(200).n, 0);          /* 30 waits for 500, 31 with it */
    assert_int_equal(hd_store_webhook_remove(st, w.id, 200, &err), 0);
    s = due_q(200);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rows[0].event_id, 31);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_and_events),
        cmocka_unit_test(test_event_domains),
        cmocka_unit_test(test_due_order),
        cmocka_unit_test(test_release_on_delivery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
