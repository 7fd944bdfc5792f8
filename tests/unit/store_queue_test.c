/*
 * store_queue_test.c - the queue's rows on a temporary database: messages,
 * recipients, the queue loader's grouping, events, suppressions, sandbox
 * captures, and recipient state names.
 */
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/store.h>

typedef struct fixture {
    char *dir;
    char path[4096];
    hd_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->path, sizeof f->path, "%s/herald.db", f->dir);
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_open(f->path, false, &f->st, &err) != 0)
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hd_store_close(f->st);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static hd_store_message message(const char *uuid, int64_t segment, int64_t offset)
{
    hd_store_message m;
    memset(&m, 0, sizeof m);
    snprintf(m.uuid, sizeof m.uuid, "%s", uuid);
    m.segment = segment;
    m.offset = offset;
    m.length = 1234;
    m.crc = 0xdeadbeef;
    snprintf(m.mail_from, sizeof m.mail_from, "b-%s-aaaaaaaaaaaaaaaa@bounce.example.com", uuid);
    snprintf(m.from_domain, sizeof m.from_domain, "example.com");
    snprintf(m.message_id, sizeof m.message_id, "<%s@mx.example.net>", uuid);
    snprintf(m.submitter, sizeof m.submitter, "alice");
    m.received_at = 1800000000;
    m.expires_at = 1800432000;
    m.flags = HD_MSG_8BIT;
    return m;
}

static int64_t insert_message(fixture *f, const char *uuid, int64_t segment)
{
    hd_store_message m = message(uuid, segment, 0);
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_message_insert(f->st, &m, &err) != 0)
        fail_msg("insert message %s: %s", uuid, err.msg);
    assert_true(m.id > 0);
    return m.id;
}

static hd_store_recipient recipient(int64_t msg, const char *address, hd_rcpt_state state)
{
    hd_store_recipient r;
    memset(&r, 0, sizeof r);
    r.message = msg;
    snprintf(r.address, sizeof r.address, "%s", address);
    const char *at = strchr(address, '@');
    snprintf(r.domain, sizeof r.domain, "%s", at ? at + 1 : "");
    r.state = state;
    r.next_attempt = 1800000000;
    r.updated_at = 1800000000;
    return r;
}

static int64_t insert_rcpt(fixture *f, int64_t msg, const char *address, hd_rcpt_state state)
{
    hd_store_recipient r = recipient(msg, address, state);
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_recipient_insert(f->st, &r, &err) != 0)
        fail_msg("insert recipient %s: %s", address, err.msg);
    assert_true(r.id > 0);
    return r.id;
}

/* ---- messages ---- */

static void test_message_insert_get(void **state)
{
    fixture *f = *state;
    hd_store_message m = message("q1", 7, 4096);
    m.length = 5000000000; /* past 32 bits */
    m.crc = 0xffffffff;
    m.flags = HD_MSG_8BIT | HD_MSG_SMTPUTF8;
    memset(m.mail_from, 'm', sizeof m.mail_from - 1); /* longest that fits */
    m.mail_from[sizeof m.mail_from - 1] = '\0';
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_message_insert(f->st, &m, &err), 0);
    assert_true(m.id > 0);

    hd_store_message got;
    memset(&got, 0x55, sizeof got);
    assert_int_equal(hd_store_message_get(f->st, "q1", &got, &err), 0);
    assert_int_equal(got.id, m.id);
    assert_string_equal(got.uuid, "q1");
    assert_int_equal(got.segment, 7);
    assert_int_equal(got.offset, 4096);
    assert_int_equal(got.length, 5000000000);
    assert_int_equal(got.crc, 0xffffffff);
    assert_string_equal(got.mail_from, m.mail_from);
    assert_string_equal(got.from_domain, "example.com");
    assert_string_equal(got.message_id, "<q1@mx.example.net>");
    assert_string_equal(got.submitter, "alice");
    assert_int_equal(got.received_at, 1800000000);
    assert_int_equal(got.expires_at, 1800432000);
    assert_int_equal(got.flags, HD_MSG_8BIT | HD_MSG_SMTPUTF8);

    hd_store_message m2 = message("q2", 8, 0);
    assert_int_equal(hd_store_message_insert(f->st, &m2, &err), 0);
    assert_true(m2.id > m.id);

    assert_int_equal(hd_store_message_get(f->st, "nope", &got, &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    /* the uuid is unique */
    hd_store_message dup = message("q1", 9, 0);
    hd_err_clear(&err);
    assert_true(hd_store_message_insert(f->st, &dup, &err) < 0);
    assert_true(err.msg[0] != '\0');
}

static void test_message_release(void **state)
{
    fixture *f = *state;
    int64_t id = insert_message(f, "rel", 3);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_message_release(f->st, id, &err), 0);
    hd_store_message got;
    assert_int_equal(hd_store_message_get(f->st, "rel", &got, &err), 0);
    assert_int_equal(got.segment, 0);
    assert_int_equal(got.length, 1234); /* the rest stays */
}

/* ---- recipients ---- */

struct rcpts {
    hd_store_recipient r[8];
    size_t n, stop_after;
};

static int collect_rcpt(const hd_store_recipient *r, void *arg)
{
    struct rcpts *c = arg;
    if (c->n < 8)
        c->r[c->n] = *r;
    c->n++;
    return c->n == c->stop_after;
}

static void test_recipients(void **state)
{
    fixture *f = *state;
    int64_t m1 = insert_message(f, "m1", 1), m2 = insert_message(f, "m2", 1);
    int64_t a = insert_rcpt(f, m1, "a@one.example", HD_RCPT_QUEUED);
    int64_t other = insert_rcpt(f, m2, "x@two.example", HD_RCPT_QUEUED);
    int64_t b = insert_rcpt(f, m1, "b@two.example", HD_RCPT_QUEUED);
    int64_t c = insert_rcpt(f, m1, "c@three.example", HD_RCPT_SUPPRESSED);
    assert_true(a < other && other < b && b < c);

    struct rcpts got = {.stop_after = 99};
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_recipient_each(f->st, m1, collect_rcpt, &got, &err), 0);
    assert_int_equal(got.n, 3);
    assert_int_equal(got.r[0].id, a);
    assert_int_equal(got.r[1].id, b);
    assert_int_equal(got.r[2].id, c);
    assert_int_equal(got.r[0].message, m1);
    assert_string_equal(got.r[1].address, "b@two.example");
    assert_string_equal(got.r[1].domain, "two.example");
    assert_int_equal(got.r[1].state, HD_RCPT_QUEUED);
    assert_int_equal(got.r[2].state, HD_RCPT_SUPPRESSED);
    assert_int_equal(got.r[0].attempts, 0);
    assert_string_equal(got.r[0].last_reply, "");
    assert_string_equal(got.r[0].mail_from, ""); /* not tried yet */

    /* update, with the envelope sender of the attempt */
    hd_store_recipient u = got.r[1];
    snprintf(u.mail_from, sizeof u.mail_from, "b-r2-abcdefghijklmnop@bounce.two.example");
    u.state = HD_RCPT_DELIVERED;
    u.attempts = 2;
    u.next_attempt = 1800000600;
    snprintf(u.last_reply, sizeof u.last_reply, "250 2.0.0 Ok: queued as 4Zx");
    u.updated_at = 1800000601;
    assert_int_equal(hd_store_recipient_update(f->st, &u, &err), 0);
    /* and back to an empty reply */
    hd_store_recipient v = got.r[0];
    v.state = HD_RCPT_BOUNCED;
    v.attempts = 1;
    assert_int_equal(hd_store_recipient_update(f->st, &v, &err), 0);

    got = (struct rcpts){.stop_after = 99};
    assert_int_equal(hd_store_recipient_each(f->st, m1, collect_rcpt, &got, &err), 0);
    assert_int_equal(got.n, 3);
    assert_int_equal(got.r[0].state, HD_RCPT_BOUNCED);
    assert_string_equal(got.r[0].last_reply, "");
    assert_int_equal(got.r[1].state, HD_RCPT_DELIVERED);
    assert_int_equal(got.r[1].attempts, 2);
    assert_int_equal(got.r[1].next_attempt, 1800000600);
    assert_string_equal(got.r[1].last_reply, "250 2.0.0 Ok: queued as 4Zx");
    assert_int_equal(got.r[1].updated_at, 1800000601);
    assert_string_equal(got.r[1].mail_from, "b-r2-abcdefghijklmnop@bounce.two.example");
    assert_string_equal(got.r[1].address, "b@two.example"); /* untouched */
    /* an update without an envelope sender keeps the one stored */
    u = got.r[1];
    u.mail_from[0] = '\0';
    u.attempts = 3;
    assert_int_equal(hd_store_recipient_update(f->st, &u, &err), 0);
    assert_int_equal(hd_store_recipient_get(f->st, u.id, &u, &err), 0);
    assert_int_equal(u.attempts, 3);
    assert_string_equal(u.mail_from, "b-r2-abcdefghijklmnop@bounce.two.example");
    assert_int_equal(got.r[2].state, HD_RCPT_SUPPRESSED);

    /* the other message's recipient was not touched */
    got = (struct rcpts){.stop_after = 99};
    assert_int_equal(hd_store_recipient_each(f->st, m2, collect_rcpt, &got, &err), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.r[0].id, other);
    assert_int_equal(got.r[0].state, HD_RCPT_QUEUED);

    /* stopping early, and a message without recipients */
    got = (struct rcpts){.stop_after = 1};
    assert_int_equal(hd_store_recipient_each(f->st, m1, collect_rcpt, &got, &err), 0);
    assert_int_equal(got.n, 1);
    got = (struct rcpts){.stop_after = 99};
    assert_int_equal(hd_store_recipient_each(f->st, 9999, collect_rcpt, &got, &err), 0);
    assert_int_equal(got.n, 0);

    /* a recipient of no message is refused (foreign key) */
    hd_store_recipient orphan = recipient(9999, "o@x.example", HD_RCPT_QUEUED);
    hd_err_clear(&err);
    assert_true(hd_store_recipient_insert(f->st, &orphan, &err) < 0);
    assert_true(err.msg[0] != '\0');
}

/* ---- the queue loader ---- */

#define MAX_CALLS 16

struct load_call {
    char uuid[40];
    int64_t msg_id, segment;
    size_t n;
    int64_t first, last; /* recipient ids */
    bool ascending, all_queued, right_message;
};

struct load {
    struct load_call call[MAX_CALLS];
    size_t calls, stop_after;
};

static int collect_load(const hd_store_message *m, const hd_store_recipient *r, size_t n, void *arg)
{
    struct load *l = arg;
    assert_true(l->calls < MAX_CALLS);
    assert_true(n > 0);
    struct load_call *c = &l->call[l->calls++];
    snprintf(c->uuid, sizeof c->uuid, "%s", m->uuid);
    c->msg_id = m->id;
    c->segment = m->segment;
    c->n = n;
    c->first = r[0].id;
    c->last = r[n - 1].id;
    c->ascending = c->all_queued = c->right_message = true;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && r[i].id <= r[i - 1].id)
            c->ascending = false;
        if (r[i].state != HD_RCPT_QUEUED)
            c->all_queued = false;
        if (r[i].message != m->id)
            c->right_message = false;
    }
    return l->calls == l->stop_after;
}

static void test_queue_each_grouping(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    int64_t a = insert_message(f, "A", 1);
    int64_t b = insert_message(f, "B", 1);
    int64_t c = insert_message(f, "C", 2);
    int64_t d = insert_message(f, "D", 2);
    int64_t e = insert_message(f, "E", 3);
    /* interleaved inserts: rows of one message are not contiguous */
    int64_t a1 = insert_rcpt(f, a, "1@a.example", HD_RCPT_QUEUED);
    insert_rcpt(f, b, "1@b.example", HD_RCPT_BOUNCED);
    insert_rcpt(f, a, "2@a.example", HD_RCPT_DELIVERED);
    int64_t d1 = insert_rcpt(f, d, "1@d.example", HD_RCPT_QUEUED);
    insert_rcpt(f, c, "1@c.example", HD_RCPT_QUEUED);
    int64_t a3 = insert_rcpt(f, a, "3@a.example", HD_RCPT_QUEUED);
    insert_rcpt(f, b, "2@b.example", HD_RCPT_EXPIRED);
    insert_rcpt(f, d, "2@d.example", HD_RCPT_QUEUED);
    int64_t d3 = insert_rcpt(f, d, "3@d.example", HD_RCPT_QUEUED);
    int64_t e1 = insert_rcpt(f, e, "1@e.example", HD_RCPT_QUEUED);
    insert_rcpt(f, e, "2@e.example", HD_RCPT_CORRUPT);
    /* C still has a queued recipient but its bytes are gone */
    assert_int_equal(hd_store_message_release(f->st, c, &err), 0);

    struct load l = {.stop_after = 99};
    assert_int_equal(hd_store_queue_each(f->st, collect_load, &l, &err), 0);
    assert_int_equal(l.calls, 3);
    const char *want_uuid[] = {"A", "D", "E"};
    const int64_t want_id[] = {a, d, e}, want_seg[] = {1, 2, 3};
    const size_t want_n[] = {2, 3, 1};
    const int64_t want_first[] = {a1, d1, e1}, want_last[] = {a3, d3, e1};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(l.call[i].uuid, want_uuid[i]);
        assert_int_equal(l.call[i].msg_id, want_id[i]);
        assert_int_equal(l.call[i].segment, want_seg[i]);
        assert_int_equal(l.call[i].n, want_n[i]);
        assert_int_equal(l.call[i].first, want_first[i]);
        assert_int_equal(l.call[i].last, want_last[i]);
        assert_true(l.call[i].ascending && l.call[i].all_queued && l.call[i].right_message);
    }

    /* a positive return stops the walk */
    l = (struct load){.stop_after = 1};
    assert_int_equal(hd_store_queue_each(f->st, collect_load, &l, &err), 0);
    assert_int_equal(l.calls, 1);
}

static void test_queue_each_empty(void **state)
{
    fixture *f = *state;
    insert_message(f, "lonely", 1); /* no recipients at all */
    struct load l = {.stop_after = 99};
    assert_int_equal(hd_store_queue_each(f->st, collect_load, &l, NULL), 0);
    assert_int_equal(l.calls, 0);
}

/* A message with more recipients than one call hands over (1024) comes
 * in several calls, in order, none lost or repeated. */
static void test_queue_each_many_recipients(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_begin(f->st, &err), 0);
    int64_t exact = insert_message(f, "exact", 1);
    int64_t big = insert_message(f, "big", 1);
    int64_t small = insert_message(f, "small", 1);
    int64_t first_big = 0, last_big = 0;
    for (int i = 0; i < 1024; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "e%d@x.example", i);
        insert_rcpt(f, exact, addr, HD_RCPT_QUEUED);
    }
    for (int i = 0; i < 2600; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "r%d@x.example", i);
        /* every 10th is already delivered */
        int64_t id = insert_rcpt(f, big, addr, i % 10 == 9 ? HD_RCPT_DELIVERED : HD_RCPT_QUEUED);
        if (i == 0)
            first_big = id;
        if (i == 2598)
            last_big = id;
    }
    insert_rcpt(f, small, "s@x.example", HD_RCPT_QUEUED);
    assert_int_equal(hd_store_commit(f->st, &err), 0);

    struct load l = {.stop_after = 99};
    assert_int_equal(hd_store_queue_each(f->st, collect_load, &l, &err), 0);
    /* exact: 1024 in one call; big: 2340 queued = 1024 + 1024 + 292 */
    assert_int_equal(l.calls, 5);
    assert_string_equal(l.call[0].uuid, "exact");
    assert_int_equal(l.call[0].n, 1024);
    const size_t want_n[] = {1024, 1024, 292};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(l.call[1 + i].uuid, "big");
        assert_int_equal(l.call[1 + i].msg_id, big);
        assert_int_equal(l.call[1 + i].n, want_n[i]);
        assert_true(l.call[1 + i].ascending && l.call[1 + i].all_queued && l.call[1 + i].right_message);
        if (i > 0)
            assert_true(l.call[1 + i].first > l.call[i].last);
    }
    assert_int_equal(l.call[1].first, first_big);
    assert_int_equal(l.call[3].last, last_big);
    assert_string_equal(l.call[4].uuid, "small");
    assert_int_equal(l.call[4].n, 1);
}

/* ---- events ---- */

struct events {
    hd_store_event e[8];
    char detail[8][64];
    bool detail_null[8];
    size_t n;
};

static int collect_event(const hd_store_event *e, void *arg)
{
    struct events *c = arg;
    assert_true(c->n < 8);
    c->e[c->n] = *e;
    c->detail_null[c->n] = e->detail == NULL;
    snprintf(c->detail[c->n], sizeof c->detail[0], "%s", e->detail ? e->detail : "");
    c->e[c->n].detail = NULL; /* borrowed: valid during the call only */
    c->n++;
    return 0;
}

static void add_event(fixture *f, int64_t at, const char *type, const char *msg, int64_t duration,
                      char *detail)
{
    hd_store_event e;
    memset(&e, 0, sizeof e);
    e.at_ms = at;
    snprintf(e.type, sizeof e.type, "%s", type);
    snprintf(e.message, sizeof e.message, "%s", msg);
    if (strcmp(type, "delivered") == 0) {
        snprintf(e.recipient, sizeof e.recipient, "bob@example.org");
        snprintf(e.remote_host, sizeof e.remote_host, "mx.example.org[192.0.2.7]:25");
        snprintf(e.reply, sizeof e.reply, "250 2.0.0 Ok");
        snprintf(e.tls, sizeof e.tls, "TLSv1.3");
    }
    e.duration_ms = duration;
    e.detail = detail;
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_event_add(f->st, &e, &err) != 0)
        fail_msg("add event: %s", err.msg);
}

static void test_events(void **state)
{
    fixture *f = *state;
    char detail[] = "{\"dkim\":\"pass\"}";
    add_event(f, 1000, "accepted", "m1", -1, NULL);
    add_event(f, 1001, "accepted", "m2", -1, NULL);
    add_event(f, 1002, "delivered", "m1", 42, detail);
    add_event(f, 1003, "deferred", "m2", 0, NULL);
    add_event(f, 1004, "captured", "", -1, detail); /* no message */

    struct events c = {0};
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_event_each(f->st, 0, NULL, 0, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 5);
    int64_t id[5];
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(c.e[i].at_ms, 1000 + (int64_t)i); /* in the order added */
        id[i] = c.e[i].id;
        if (i > 0)
            assert_true(id[i] > id[i - 1]);
    }
    /* every field of the full one, and the empty ones */
    assert_string_equal(c.e[2].type, "delivered");
    assert_string_equal(c.e[2].message, "m1");
    assert_string_equal(c.e[2].recipient, "bob@example.org");
    assert_string_equal(c.e[2].remote_host, "mx.example.org[192.0.2.7]:25");
    assert_string_equal(c.e[2].reply, "250 2.0.0 Ok");
    assert_string_equal(c.e[2].tls, "TLSv1.3");
    assert_int_equal(c.e[2].duration_ms, 42);
    assert_false(c.detail_null[2]);
    assert_string_equal(c.detail[2], detail);
    assert_int_equal(c.e[3].duration_ms, 0);
    assert_int_equal(c.e[0].duration_ms, -1);
    assert_true(c.detail_null[0]);
    assert_string_equal(c.e[0].recipient, "");
    assert_string_equal(c.e[0].tls, "");
    assert_string_equal(c.e[4].message, "");

    /* after_id */
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, id[1], NULL, 0, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.e[0].id, id[2]);
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, id[4], NULL, 0, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 0);

    /* message filter */
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, 0, "m1", 0, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.e[0].id, id[0]);
    assert_int_equal(c.e[1].id, id[2]);
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, 0, "nobody", 0, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 0);

    /* limit, alone and with the others */
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, 0, NULL, 2, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.e[1].id, id[1]);
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, id[0], "m2", 1, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.e[0].id, id[1]);
    c = (struct events){0};
    assert_int_equal(hd_store_event_each(f->st, id[1], "m2", 1, collect_event, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.e[0].id, id[3]);
}

/* ---- suppressions ---- */

struct supps {
    char address[8][128], reason[8][64], source[8][32];
    int64_t created[8];
    size_t n;
};

static int collect_supp(const char *address, const char *reason, const char *source, int64_t created,
                        int64_t expires, void *arg)
{
    (void)expires;
    struct supps *c = arg;
    assert_true(c->n < 8);
    snprintf(c->address[c->n], sizeof c->address[0], "%s", address);
    snprintf(c->reason[c->n], sizeof c->reason[0], "%s", reason);
    snprintf(c->source[c->n], sizeof c->source[0], "%s", source);
    c->created[c->n] = created;
    c->n++;
    return 0;
}

static void test_suppressions(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_suppression_add(f->st, "Bob@Example.COM", "550 5.1.1 no such user",
                                              "bounce", 100, &err), 0);
    assert_int_equal(hd_store_suppression_add(f->st, "alice@example.com", "asked", "manual", 200, &err), 0);
    struct supps c = {0};
    assert_int_equal(hd_store_suppression_each(f->st, 0, collect_supp, &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.address[0], "alice@example.com"); /* address order */
    assert_string_equal(c.address[1], "bob@example.com");   /* lower case */
    assert_string_equal(c.reason[1], "550 5.1.1 no such user");
    assert_string_equal(c.source[1], "bounce");
    assert_int_equal(c.created[1], 100);

    /* the same address in another case updates the row */
    assert_int_equal(hd_store_suppression_add(f->st, "BOB@example.com", "complaint", "manual", 300, &err), 0);
    c = (struct supps){0};
    assert_int_equal(hd_store_suppression_each(f->st, 0, collect_supp, &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.address[1], "bob@example.com");
    assert_string_equal(c.reason[1], "complaint");
    assert_string_equal(c.source[1], "manual");

    /* removal, in any case; then it is gone */
    assert_int_equal(hd_store_suppression_remove(f->st, "bOb@EXAMPLE.com", &err), 0);
    hd_err_clear(&err);
    assert_int_equal(hd_store_suppression_remove(f->st, "bob@example.com", &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "bob@example.com"));
    assert_int_equal(hd_store_suppression_remove(f->st, "never@example.com", &err), HD_ENOTFOUND);
    c = (struct supps){0};
    assert_int_equal(hd_store_suppression_each(f->st, 0, collect_supp, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.address[0], "alice@example.com");
}

/* A suppression with an expiry: in force before it, gone at it; a lasting
 * one is never replaced by a temporary one, and a temporary one only by a
 * later or lasting one; prune removes it once it is older than retention. */
static void test_suppression_expiry(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    hd_store_suppression s;
    assert_int_equal(hd_store_suppression_add_until(f->st, "Soft@example.com", "3 soft bounces",
                                                    "soft-bounce", 1000, 2000, &err), 0);
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 1999, &s, &err), 0);
    assert_int_equal(s.expires, 2000);
    assert_int_equal(s.created, 1000);
    assert_string_equal(s.source, "soft-bounce");
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 2000, &s, &err), HD_ENOTFOUND);
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 0, &s, &err), 0);
    struct supps c = {0};
    assert_int_equal(hd_store_suppression_each(f->st, 1500, collect_supp, &c, &err), 0);
    assert_int_equal(c.n, 1);
    c = (struct supps){0};
    assert_int_equal(hd_store_suppression_each(f->st, 2500, collect_supp, &c, &err), 0);
    assert_int_equal(c.n, 0);

    /* an earlier expiry does not shorten it; a later one extends it */
    assert_int_equal(hd_store_suppression_add_until(f->st, "soft@example.com", "x", "soft-bounce",
                                                    1100, 1500, &err), 0);
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 0, &s, &err), 0);
    assert_int_equal(s.expires, 2000);
    assert_string_equal(s.reason, "3 soft bounces");
    /* after it ran out, a new one starts anew */
    assert_int_equal(hd_store_suppression_add_until(f->st, "soft@example.com", "again", "soft-bounce",
                                                    3000, 4000, &err), 0);
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 3500, &s, &err), 0);
    assert_int_equal(s.created, 3000);
    assert_int_equal(s.expires, 4000);
    /* a lasting one replaces it, and is not replaced by a temporary one */
    assert_int_equal(hd_store_suppression_add(f->st, "soft@example.com", "550 5.1.1", "bounce",
                                              3600, &err), 0);
    assert_int_equal(hd_store_suppression_add_until(f->st, "soft@example.com", "soft", "soft-bounce",
                                                    3700, 9000, &err), 0);
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 99999, &s, &err), 0);
    assert_int_equal(s.expires, 0);
    assert_string_equal(s.source, "bounce");

    /* listing pages skip what ran out */
    assert_int_equal(hd_store_suppression_add_until(f->st, "old@example.com", "soft", "soft-bounce",
                                                    100, 200, &err), 0);
    c = (struct supps){0};
    assert_int_equal(hd_store_suppression_each(f->st, 500, collect_supp, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.address[0], "soft@example.com");
    size_t n = 0;
    assert_int_equal(hd_store_prune(f->st, 150, 100, &n, &err), 0);
    assert_int_equal(hd_store_suppression_get(f->st, "old@example.com", 0, &s, &err), 0);
    assert_int_equal(hd_store_prune(f->st, 201, 100, &n, &err), 0);
    assert_int_equal(hd_store_suppression_get(f->st, "old@example.com", 0, &s, &err), HD_ENOTFOUND);
    assert_int_equal(hd_store_suppression_get(f->st, "soft@example.com", 0, &s, &err), 0);
}

static void add_bounce(fixture *f, int64_t at_ms, const char *msg, const char *rcpt,
                       const char *detail)
{
    hd_store_event e;
    memset(&e, 0, sizeof e);
    e.at_ms = at_ms;
    snprintf(e.type, sizeof e.type, "bounced");
    snprintf(e.message, sizeof e.message, "%s", msg);
    snprintf(e.recipient, sizeof e.recipient, "%s", rcpt);
    e.duration_ms = -1;
    e.detail = (char *)detail;
    hd_err err;
    hd_err_clear(&err);
    if (hd_store_event_add(f->st, &e, &err) != 0)
        fail_msg("add event: %s", err.msg);
}

/* What [inbound] soft_bounce_limit counts: failed soft async bounces matched
 * through VERP, one per message, in the window, not the message at hand. */
static void test_soft_bounce_count(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    static const char soft[] =
        "{\"kind\":\"soft\",\"action\":\"failed\",\"matched_by\":\"verp\",\"async\":true}";
    add_bounce(f, 1000, "m1", "Bob@example.com", soft);
    add_bounce(f, 2000, "m2", "bob@example.com", soft);
    add_bounce(f, 2001, "m2", "bob@example.com", soft);            /* the same message again */
    add_bounce(f, 2002, "m3", "bob@example.com",                   /* a delay: not a failure */
               "{\"kind\":\"soft\",\"action\":\"delayed\",\"matched_by\":\"verp\",\"async\":true}");
    add_bounce(f, 2003, "m4", "bob@example.com",                   /* by Message-ID: anyone */
               "{\"kind\":\"soft\",\"action\":\"failed\",\"matched_by\":\"message-id\",\"async\":true}");
    add_bounce(f, 2004, "m5", "bob@example.com",                   /* hard */
               "{\"kind\":\"hard\",\"action\":\"failed\",\"matched_by\":\"verp\",\"async\":true}");
    add_bounce(f, 2005, "m6", "bob@example.com",                   /* at SMTP time */
               "{\"kind\":\"soft\",\"action\":\"failed\"}");
    add_bounce(f, 2006, "m7", "bob@example.com", "not json");
    add_bounce(f, 2007, "m8", "carol@example.com", soft);
    add_bounce(f, 3000, "m9", "BOB@EXAMPLE.COM", soft);
    size_t n = 99;
    assert_int_equal(hd_store_soft_bounce_count(f->st, "bob@example.com", "m0", 0, &n, &err), 0);
    assert_int_equal(n, 3);                     /* m1 m2 m9 */
    assert_int_equal(hd_store_soft_bounce_count(f->st, "bob@example.com", "m9", 0, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hd_store_soft_bounce_count(f->st, "bob@example.com", "m0", 1001, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hd_store_soft_bounce_count(f->st, "dave@example.com", "m0", 0, &n, &err), 0);
    assert_int_equal(n, 0);
}

/* ---- captures ---- */

static void test_capture_add(void **state)
{
    fixture *f = *state;
    static const uint8_t data[] = "From: a@example.com\r\n\r\nbin\0ary\xff\r\n";
    hd_store_capture cap = {
        .message = "m1",
        .recipient = "bob@example.org",
        .at = 1800000000,
        .mail_from = "b-m1-aaaaaaaaaaaaaaaa@bounce.example.com",
        .verdict = "mx.example.org; dkim=pass header.d=example.com",
        .detail = "{\"dkim\":\"pass\"}",
        .data = hd_slice_make(data, sizeof data - 1),
    };
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_store_capture_add(f->st, &cap, &err), 0);
    assert_int_equal(hd_store_capture_add(f->st, &cap, &err), 0);

    /* no reader in the API: look at the row directly */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT message, recipient, at, mail_from, verdict, detail,"
                                            " data, (SELECT count(*) FROM captures) FROM captures"
                                            " ORDER BY id LIMIT 1", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "m1");
    assert_string_equal((const char *)sqlite3_column_text(s, 1), "bob@example.org");
    assert_int_equal(sqlite3_column_int64(s, 2), 1800000000);
    assert_string_equal((const char *)sqlite3_column_text(s, 3), cap.mail_from);
    assert_string_equal((const char *)sqlite3_column_text(s, 4), cap.verdict);
    assert_string_equal((const char *)sqlite3_column_text(s, 5), cap.detail);
    assert_int_equal(sqlite3_column_bytes(s, 6), sizeof data - 1);
    assert_memory_equal(sqlite3_column_blob(s, 6), data, sizeof data - 1);
    assert_int_equal(sqlite3_column_int(s, 7), 2);
    sqlite3_finalize(s);
    sqlite3_close(db);

    /* required fields */
    hd_store_capture bad = cap;
    bad.verdict = NULL;
    hd_err_clear(&err);
    assert_true(hd_store_capture_add(f->st, &bad, &err) < 0);
}

/* ---- recipient states ---- */

static void test_rcpt_state_names(void **state)
{
    const char *names[] = {"queued", "delivered", "bounced", "expired", "suppressed", "deleted", "corrupt",
                           "captured"};
    const hd_rcpt_state states[] = {HD_RCPT_QUEUED, HD_RCPT_DELIVERED, HD_RCPT_BOUNCED, HD_RCPT_EXPIRED,
                                    HD_RCPT_SUPPRESSED, HD_RCPT_DELETED, HD_RCPT_CORRUPT,
                                    HD_RCPT_CAPTURED};
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(hd_rcpt_state_name(states[i]), names[i]);
        hd_rcpt_state s = (hd_rcpt_state)99;
        assert_int_equal(hd_rcpt_state_parse(names[i], &s), 0);
        assert_int_equal(s, states[i]);
    }
    hd_rcpt_state s = HD_RCPT_DELIVERED;
    const char *bad[] = {"", "?", "Queued", "queued ", "queue", "bounce"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hd_rcpt_state_parse(bad[i], &s), HD_EINVAL);
    assert_int_equal(s, HD_RCPT_DELIVERED); /* untouched on failure */
    assert_string_equal(hd_rcpt_state_name((hd_rcpt_state)8), "?");
    assert_string_equal(hd_rcpt_state_name((hd_rcpt_state)-1), "?");
}

/* ---- event types ---- */

/* The names are what the events table, webhooks and the API carry: they
 * must not change. */
static const struct {
    hd_event_type type;
    const char *name;
    bool only_named;
} event_names[] = {
    {HD_EVENT_ACCEPTED, "accepted", false},
    {HD_EVENT_DEFERRED, "deferred", false},
    {HD_EVENT_DELIVERED, "delivered", false},
    {HD_EVENT_BOUNCED, "bounced", false},
    {HD_EVENT_COMPLAINED, "complained", false},
    {HD_EVENT_FEEDBACK, "feedback", false},
    {HD_EVENT_SUPPRESSED, "suppressed", false},
    {HD_EVENT_EXPIRED, "expired", false},
    {HD_EVENT_CAPTURED, "captured", false},
    {HD_EVENT_DELETED, "deleted", false},
    {HD_EVENT_CORRUPT, "corrupt", false},
    {HD_EVENT_BOUNCED_UNVERIFIED, "bounced_unverified", true},
    {HD_EVENT_COMPLAINED_UNVERIFIED, "complained_unverified", true},
    {HD_EVENT_FEEDBACK_UNVERIFIED, "feedback_unverified", true},
};

static void test_event_type_names(void **state)
{
    (void)state;
    size_t n = sizeof event_names / sizeof event_names[0];
    assert_int_equal(HD_EVENT_TYPE_COUNT, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(hd_event_type_name(event_names[i].type), event_names[i].name);
        hd_event_type t = HD_EVENT_TYPE_COUNT;
        assert_int_equal(hd_event_type_parse(hd_slice_cstr(event_names[i].name), &t), 0);
        assert_int_equal(t, event_names[i].type);
        assert_int_equal(hd_event_type_explicit(t), event_names[i].only_named);
    }
    /* every enum value round-trips through its name */
    for (int t = 0; t < HD_EVENT_TYPE_COUNT; t++) {
        hd_event_type back = HD_EVENT_TYPE_COUNT;
        assert_int_equal(hd_event_type_parse(hd_slice_cstr(hd_event_type_name((hd_event_type)t)),
                                             &back), 0);
        assert_int_equal(back, t);
    }
}

static void test_event_type_unknown(void **state)
{
    (void)state;
    const char *bad[] = {"", "?", "Delivered", "delivered ", " delivered", "deliver", "sent",
                         "bounce", "_unverified", "bounced_unverifie", "bounced_unverified_",
                         "queued", "delivered\r\n"};
    hd_event_type t = HD_EVENT_EXPIRED;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hd_event_type_parse(hd_slice_cstr(bad[i]), &t), HD_EINVAL);
    assert_int_equal(t, HD_EVENT_EXPIRED); /* untouched on failure */
    /* the length is the slice's: no NUL is looked for */
    assert_int_equal(hd_event_type_parse(hd_slice_make("delivered", 8), &t), HD_EINVAL);
    assert_int_equal(hd_event_type_parse(hd_slice_make("deliveredX", 9), &t), 0);
    assert_int_equal(t, HD_EVENT_DELIVERED);
    assert_int_equal(hd_event_type_parse(hd_slice_make(NULL, 0), &t), HD_EINVAL);
    assert_string_equal(hd_event_type_name(HD_EVENT_TYPE_COUNT), "?");
    assert_string_equal(hd_event_type_name((hd_event_type)-1), "?");
    assert_false(hd_event_type_explicit(HD_EVENT_TYPE_COUNT));
    assert_false(hd_event_type_explicit((hd_event_type)-1));
}

/* Every state survives a write and a read through the database. */
static void test_rcpt_state_stored(void **state)
{
    fixture *f = *state;
    int64_t m = insert_message(f, "states", 1);
    for (int s = HD_RCPT_QUEUED; s <= HD_RCPT_CAPTURED; s++)
        insert_rcpt(f, m, "x@example.com", (hd_rcpt_state)s);
    struct rcpts got = {.stop_after = 99};
    assert_int_equal(hd_store_recipient_each(f->st, m, collect_rcpt, &got, NULL), 0);
    assert_int_equal(got.n, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(got.r[i].state, (hd_rcpt_state)i);
}

/* A database from before recipients.mail_from: the column is added, and
 * the recipients the sandbox captured then (recorded 'delivered', with a
 * 'captured' event) become 'captured'; really delivered ones stay; a
 * second open changes nothing. */
static void test_upgrade_captured(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *old =
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, segment INTEGER,"
        " offset INTEGER, length INTEGER NOT NULL, crc INTEGER NOT NULL, mail_from TEXT NOT NULL,"
        " from_domain TEXT NOT NULL, message_id TEXT NOT NULL, submitter TEXT NOT NULL,"
        " received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
        " pool TEXT, tags TEXT);"
        "CREATE TABLE recipients (id INTEGER PRIMARY KEY, message INTEGER NOT NULL REFERENCES"
        " messages(id) ON DELETE CASCADE, address TEXT NOT NULL, domain TEXT NOT NULL,"
        " state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL,"
        " last_reply TEXT, updated_at INTEGER NOT NULL);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, type TEXT NOT NULL,"
        " message TEXT, recipient TEXT, remote_host TEXT, reply TEXT, tls TEXT, duration_ms INTEGER,"
        " detail TEXT);"
        "INSERT INTO messages VALUES (1,'sand',NULL,0,10,0,'b-sand-x@b.example','s.example','<1@x>',"
        " 'app',1,2,0,NULL,NULL);"
        "INSERT INTO messages VALUES (2,'real',NULL,0,10,0,'b-real-x@b.example','r.example','<2@x>',"
        " 'app',1,2,0,NULL,NULL);"
        "INSERT INTO recipients VALUES (1,1,'a@rx.test','rx.test','delivered',1,1,"
        " '250 2.0.0 captured (sandbox): spf=pass',1);"
        "INSERT INTO recipients VALUES (2,1,'b@rx.test','rx.test','suppressed',0,1,NULL,1);"
        "INSERT INTO recipients VALUES (3,2,'a@rx.test','rx.test','delivered',1,1,'250 ok',1);"
        "INSERT INTO events VALUES (1,1,'captured','sand','a@rx.test','sandbox',NULL,NULL,1,NULL);"
        "INSERT INTO events VALUES (2,1,'suppressed','sand','b@rx.test',NULL,NULL,NULL,NULL,NULL);"
        "INSERT INTO events VALUES (3,1,'delivered','real','a@rx.test','mx',NULL,NULL,1,NULL);";
    assert_int_equal(sqlite3_exec(db, old, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* a reader upgrades nothing: it says what to do instead of failing
     * later on a missing column */
    {
        hd_store *ro = NULL;
        hd_err err = {0};
        assert_int_equal(hd_store_open_readonly(path, &ro, &err), HD_ESTATE);
        assert_null(ro);
        assert_non_null(strstr(err.msg, "made by an older herald"));
        assert_non_null(strstr(err.msg, "start herald serve once"));
    }

    static const hd_rcpt_state want[] = {HD_RCPT_CAPTURED, HD_RCPT_SUPPRESSED, HD_RCPT_DELIVERED};
    for (int round = 0; round < 2; round++) {
        hd_store *st;
        hd_err err;
        hd_err_clear(&err);
        if (hd_store_open(path, false, &st, &err) != 0)
            fail_msg("open an older database: %s", err.msg);
        for (int64_t id = 1; id <= 3; id++) {
            hd_store_recipient r;
            assert_int_equal(hd_store_recipient_get(st, id, &r, &err), 0);
            assert_int_equal(r.state, want[id - 1]);
            assert_string_equal(r.mail_from, "");
        }
        hd_store_close(st);
    }
    tu_rmtree(dir);
    free(dir);
}

/* The spool's floor (issue 14 item 5): the highest segment number any row
 * means, a released message's too (its row forgets the segment, the
 * segment_released mark keeps it), so a new segment never takes it. */
static void test_segment_highest(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    uint32_t hi = 99;
    assert_int_equal(hd_store_segment_highest(f->st, &hi, &err), 0);
    assert_int_equal(hi, 0);
    int64_t a = insert_message(f, "0123456789abcdef0123456789abcdef", 3);
    insert_message(f, "fedcba9876543210fedcba9876543210", 2);
    assert_int_equal(hd_store_segment_highest(f->st, &hi, &err), 0);
    assert_int_equal(hi, 3);
    assert_int_equal(hd_store_message_release(f->st, a, &err), 0);
    assert_int_equal(hd_store_segment_highest(f->st, &hi, &err), 0);
    assert_int_equal(hi, 3);
}

/* Collection's proof (issue 14 item 5): a message is finished only when
 * this database has it and no recipient of it is queued (released or not:
 * a release can be lost at a stop); unknown or queued is no proof. */
static void test_message_finished(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    int64_t n = -1;
    assert_int_equal(hd_store_message_count(f->st, &n, &err), 0);
    assert_int_equal(n, 0);
    int64_t a = insert_message(f, "0123456789abcdef0123456789abcdef", 1);
    int64_t ra = insert_rcpt(f, a, "a@x.test", HD_RCPT_QUEUED);
    int64_t b = insert_message(f, "fedcba9876543210fedcba9876543210", 1);
    insert_rcpt(f, b, "b@x.test", HD_RCPT_QUEUED);
    assert_int_equal(hd_store_message_count(f->st, &n, &err), 0);
    assert_int_equal(n, 2);
    /* the spool's id is the uuid's first 16 characters */
    assert_int_equal(hd_store_message_finished(f->st, "0123456789abcdef", &err), 0);   /* queued */
    hd_store_recipient r = recipient(a, "a@x.test", HD_RCPT_DELIVERED);
    r.id = ra;
    assert_int_equal(hd_store_recipient_update(f->st, &r, &err), 0);
    /* done, its release not (yet) recorded: finished all the same */
    assert_int_equal(hd_store_message_finished(f->st, "0123456789abcdef", &err), 1);
    int64_t mark = -1;
    assert_int_equal(hd_store_segment_released(f->st, 1, &mark, &err), 0);
    assert_int_equal(mark, -1);
    assert_int_equal(hd_store_message_release(f->st, a, &err), 0);
    assert_int_equal(hd_store_message_finished(f->st, "0123456789abcdef", &err), 1);
    /* the release marks its segment with the message's place (pruned mail) */
    assert_int_equal(hd_store_segment_released(f->st, 1, &mark, &err), 0);
    assert_int_equal(mark, 0);    /* the fixture's offset */
    assert_int_equal(hd_store_segment_released(f->st, 2, &mark, &err), 0);
    assert_int_equal(mark, -1);
    assert_int_equal(hd_store_segment_released(f->st, 0, &mark, &err), 0);
    assert_int_equal(mark, 1);
    assert_int_equal(hd_store_message_finished(f->st, "fedcba9876543210", &err), 0);
    assert_int_equal(hd_store_message_finished(f->st, "0000000000000000", &err), 0);   /* unknown */
    assert_int_equal(hd_store_message_known(f->st, "fedcba9876543210", &err), 1);      /* queued */
    assert_int_equal(hd_store_message_known(f->st, "0123456789abcdef", &err), 1);      /* finished */
    assert_int_equal(hd_store_message_known(f->st, "0000000000000000", &err), 0);
    /* two messages sharing the prefix: finished only when both are */
    int64_t c = insert_message(f, "0123456789abcdefffffffffffffffff", 2);
    insert_rcpt(f, c, "c@x.test", HD_RCPT_QUEUED);
    assert_int_equal(hd_store_message_finished(f->st, "0123456789abcdef", &err), 0);
}

static void test_quick_check(void **state)
{
    fixture *f = *state;
    hd_err err;
    hd_err_clear(&err);
    for (int i = 0; i < 200; i++) {     /* a few pages of rows */
        char uuid[40];
        snprintf(uuid, sizeof uuid, "%032x", i);
        insert_message(f, uuid, 1);
    }
    assert_int_equal(hd_store_quick_check(f->st, &err), 0);
    /* the messages table's root page spoiled behind SQLite's back */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_master WHERE name = 'messages'",
                                        -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int root = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
    hd_store_close(f->st);
    f->st = NULL;
    FILE *fp = fopen(f->path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)(root - 1) * 4096, SEEK_SET), 0);
    static const char junk[64] = "herald test: this is no b-tree page header, not at all.....";
    assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    fclose(fp);
    assert_int_equal(hd_store_open(f->path, false, &f->st, &err), 0);
    assert_int_equal(hd_store_quick_check(f->st, &err), HD_ESTATE);
    assert_non_null(strstr(err.msg, "database damaged"));
    assert_null(strchr(err.msg, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_message_insert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recipients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_each_grouping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_each_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_each_many_recipients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppressions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppression_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_bounce_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_add, setup, teardown),
        cmocka_unit_test(test_rcpt_state_names),
        cmocka_unit_test(test_event_type_names),
        cmocka_unit_test(test_event_type_unknown),
        cmocka_unit_test_setup_teardown(test_rcpt_state_stored, setup, teardown),
        cmocka_unit_test(test_upgrade_captured),
        cmocka_unit_test_setup_teardown(test_message_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_highest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quick_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
