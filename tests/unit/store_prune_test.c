/*
 * store_prune_test.c - retention (hd_store_prune): old events and captures
 * go, finished messages go with their recipients, a message that still has
 * a queued recipient or spool bytes stays whatever its age, and the limit
 * bounds one pass.
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

/* A message received at t with one recipient in state s; segment 0 means
 * its bytes have left the spool. */
static int64_t add_message(const char *uuid, int64_t t, int64_t segment, hd_rcpt_state s)
{
    hd_store_message m = {0};
    snprintf(m.uuid, sizeof m.uuid, "%s", uuid);
    m.segment = 7;
    snprintf(m.mail_from, sizeof m.mail_from, "b@bounce.example.com");
    snprintf(m.from_domain, sizeof m.from_domain, "example.com");
    snprintf(m.message_id, sizeof m.message_id, "<%s@x>", uuid);
    snprintf(m.submitter, sizeof m.submitter, "alice");
    m.received_at = t;
    m.expires_at = t + 100;
    hd_err err = {0};
    assert_int_equal(hd_store_message_insert(st, &m, &err), 0);
    if (segment == 0)
        assert_int_equal(hd_store_message_release(st, m.id, &err), 0);
    hd_store_recipient r = {0};
    r.message = m.id;
    snprintf(r.address, sizeof r.address, "r@%s.test", uuid);
    snprintf(r.domain, sizeof r.domain, "%s.test", uuid);
    r.state = s;
    assert_int_equal(hd_store_recipient_insert(st, &r, &err), 0);
    return m.id;
}

static void add_event(int64_t at_ms)
{
    hd_store_event e = {0};
    e.at_ms = at_ms;
    snprintf(e.type, sizeof e.type, "delivered");
    e.duration_ms = -1;
    hd_err err = {0};
    assert_int_equal(hd_store_event_add(st, &e, &err), 0);
}

static void add_capture(int64_t at)
{
    hd_store_capture c = {.message = "m", .recipient = "r@x.test", .at = at, .mail_from = "b@x",
                          .verdict = "v", .detail = "{}", .data = hd_slice_cstr("data")};
    hd_err err = {0};
    assert_int_equal(hd_store_capture_add(st, &c, &err), 0);
}

static int count_cb(const hd_store_event *e, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

static size_t n_events(void)
{
    size_t n = 0;
    hd_err err = {0};
    assert_int_equal(hd_store_event_each(st, 0, NULL, 0, count_cb, &n, &err), 0);
    return n;
}

static int cap_cb(int64_t id, const hd_store_capture *c, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

static size_t n_captures(void)
{
    size_t n = 0;
    hd_err err = {0};
    assert_int_equal(hd_store_capture_each(st, 0, NULL, 0, cap_cb, &n, &err), 0);
    return n;
}

static int rcpt_cb(const hd_store_recipient *r, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

static bool message_exists(const char *uuid)
{
    hd_store_message m;
    hd_err err = {0};
    return hd_store_message_get(st, uuid, &m, &err) == 0;
}

static void test_prune(void **state)
{
    int64_t oldfinal = add_message("oldfinal", 1000, 0, HD_RCPT_DELIVERED);
    add_message("oldqueued", 1000, 0, HD_RCPT_QUEUED);      /* still to deliver */
    add_message("oldspool", 1000, 7, HD_RCPT_BOUNCED);      /* bytes still held */
    add_message("newfinal", 5000, 0, HD_RCPT_DELIVERED);
    add_event(1000 * 1000);
    add_event(1000 * 1000 + 1);
    add_event(5000 * 1000);
    add_capture(1000);
    add_capture(5000);

    size_t removed = 0;
    hd_err err = {0};
    assert_int_equal(hd_store_prune(st, 2000, 100, &removed, &err), 0);
    assert_int_equal(removed, 2 + 1 + 1);
    assert_false(message_exists("oldfinal"));
    assert_true(message_exists("oldqueued"));
    assert_true(message_exists("oldspool"));
    assert_true(message_exists("newfinal"));
    assert_int_equal(n_events(), 1);
    assert_int_equal(n_captures(), 1);
    /* the pruned message's recipients went with it (ON DELETE CASCADE) */
    size_t rcpts = 0;
    assert_int_equal(hd_store_recipient_each(st, oldfinal, rcpt_cb, &rcpts, &err), 0);
    assert_int_equal(rcpts, 0);
    size_t n = 0;
    assert_int_equal(hd_store_prune(st, 2000, 100, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_prune_limit(void **state)
{
    for (int i = 0; i < 25; i++)
        add_event(1000);
    size_t removed = 0;
    hd_err err = {0};
    assert_int_equal(hd_store_prune(st, 2000, 10, &removed, &err), 0);
    assert_int_equal(removed, 10);
    assert_int_equal(n_events(), 15);
}

/* Every event old: the newest stays, so ids keep growing after a prune
 * (a reader's cursor, webhooks', must not see ids start again from 1). */
static void test_prune_keeps_newest_event(void **state)
{
    for (int i = 0; i < 5; i++)
        add_event(1000);
    size_t removed = 0;
    hd_err err = {0};
    assert_int_equal(hd_store_prune(st, 2000, 100, &removed, &err), 0);
    assert_int_equal(removed, 4);
    assert_int_equal(n_events(), 1);
    int64_t last = 0;
    assert_int_equal(hd_store_event_last_id(st, &last, &err), 0);
    assert_int_equal(last, 5);
    add_event(3000 * 1000);
    assert_int_equal(hd_store_event_last_id(st, &last, &err), 0);
    assert_int_equal(last, 6);
}

/* Mail that came back and idempotency keys age out like events. */
static void test_prune_inbound_and_keys(void **state)
{
    hd_err err = {0};
    hd_store_inbound old = {.at = 1000, .data = hd_slice_cstr("x")}, young = {.at = 5000,
                                                                         .data = hd_slice_cstr("y")};
    snprintf(old.kind, sizeof old.kind, "dsn");
    snprintf(old.outcome, sizeof old.outcome, "matched");
    young = old, young.at = 5000;
    assert_int_equal(hd_store_inbound_add(st, &old, &err), 0);
    assert_int_equal(hd_store_inbound_add(st, &young, &err), 0);
    hd_store_idempotency k1 = {.scope = "s", .key = "old", .request = "r", .message = "m",
                               .created = 1000};
    hd_store_idempotency k2 = k1;
    snprintf(k2.key, sizeof k2.key, "young");
    k2.created = 5000;
    assert_int_equal(hd_store_idempotency_add(st, &k1, &err), 0);
    assert_int_equal(hd_store_idempotency_add(st, &k2, &err), 0);
    size_t removed = 0;
    assert_int_equal(hd_store_prune(st, 2000, 100, &removed, &err), 0);
    assert_int_equal(removed, 2);
    hd_store_idempotency got;
    assert_int_equal(hd_store_idempotency_get(st, "s", "old", &got, &err), HD_ENOTFOUND);
    assert_int_equal(hd_store_idempotency_get(st, "s", "young", &got, &err), 0);
    assert_string_equal(got.message, "m");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prune_keeps_newest_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_inbound_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
