/*
 * store_inbound_test.c - the bounce intake's rows on a temporary database:
 * inbound mail stored and read back (with and without its bytes, by kind),
 * the Message-ID look-up, and the late bounce that only turns a delivered
 * recipient into a bounced one.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/store.h>

typedef struct fixture {
    char *dir;
    hd_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", f->dir);
    hd_err err = {0};
    if (hd_store_open(path, false, &f->st, &err) != 0)
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

static hd_store_inbound row(const char *kind, const char *outcome, const char *data, size_t len)
{
    hd_store_inbound in;
    memset(&in, 0, sizeof in);
    in.at = 1800000000;
    snprintf(in.remote, sizeof in.remote, "192.0.2.7");
    snprintf(in.rcpt, sizeof in.rcpt, "dmarc@example.com postmaster@example.com");
    snprintf(in.kind, sizeof in.kind, "%s", kind);
    snprintf(in.outcome, sizeof in.outcome, "%s", outcome);
    snprintf(in.summary, sizeof in.summary, "summary of %s", kind);
    in.data = hd_slice_make(data, len);
    return in;
}

typedef struct seen {
    int n;
    int64_t ids[8];
    char kinds[8][16];
    int64_t sizes[8];
    size_t data_len[8];
    char data[64];
    char message[40];
} seen;

static int collect(const hd_store_inbound *in, void *arg)
{
    seen *s = arg;
    s->ids[s->n] = in->id;
    snprintf(s->kinds[s->n], sizeof s->kinds[s->n], "%s", in->kind);
    s->sizes[s->n] = in->size;
    s->data_len[s->n] = in->data.len;
    assert_non_null(in->data.p);    /* even when empty */
    if (in->data.len < sizeof s->data) {
        memcpy(s->data, in->data.p, in->data.len);
        s->data[in->data.len] = '\0';
    }
    snprintf(s->message, sizeof s->message, "%s", in->message);
    s->n++;
    return 0;
}

static void test_inbound_rows(void **state)
{
    fixture *f = *state;
    hd_err err = {0};
    static const char bin[] = "a\0b\r\nc";   /* bytes, not text: kept exactly */
    hd_store_inbound a = row("dsn", "matched", bin, sizeof bin - 1);
    snprintf(a.message, sizeof a.message, "0123456789abcdef0123456789abcdef");
    hd_store_inbound b = row("dmarc", "stored", "<feedback/>", 11);
    hd_store_inbound c = row("other", "unparsed", NULL, 0);     /* empty is allowed */
    assert_int_equal(hd_store_inbound_add(f->st, &a, &err), 0);
    assert_int_equal(hd_store_inbound_add(f->st, &b, &err), 0);
    assert_int_equal(hd_store_inbound_add(f->st, &c, &err), 0);
    assert_true(a.id > 0 && b.id > a.id && c.id > b.id);

    seen s = {0};
    assert_int_equal(hd_store_inbound_each(f->st, 0, NULL, 0, collect, &s, &err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.kinds[0], "dsn");
    assert_int_equal(s.sizes[0], 6);
    assert_int_equal(s.data_len[0], 0);      /* lists come without the bytes */

    memset(&s, 0, sizeof s);
    assert_int_equal(hd_store_inbound_each(f->st, 0, "dmarc", 0, collect, &s, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], b.id);
    memset(&s, 0, sizeof s);
    assert_int_equal(hd_store_inbound_each(f->st, a.id, NULL, 1, collect, &s, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], b.id);

    memset(&s, 0, sizeof s);
    assert_int_equal(hd_store_inbound_get(f->st, a.id, collect, &s, &err), 0);
    assert_int_equal(s.data_len[0], 6);
    assert_memory_equal(s.data, bin, 6);
    assert_string_equal(s.message, "0123456789abcdef0123456789abcdef");
    memset(&s, 0, sizeof s);
    assert_int_equal(hd_store_inbound_get(f->st, c.id, collect, &s, &err), 0);
    assert_int_equal(s.data_len[0], 0);
    assert_string_equal(s.message, "");
    assert_int_equal(hd_store_inbound_get(f->st, c.id + 1, collect, &s, &err), HD_ENOTFOUND);
}

static void test_message_id_and_late_bounce(void **state)
{
    fixture *f = *state;
    hd_err err = {0};
    hd_store_message m;
    memset(&m, 0, sizeof m);
    snprintf(m.uuid, sizeof m.uuid, "aaaa");
    snprintf(m.message_id, sizeof m.message_id, "<x@example.com>");
    m.received_at = 1;
    assert_int_equal(hd_store_message_insert(f->st, &m, &err), 0);
    snprintf(m.uuid, sizeof m.uuid, "bbbb");   /* the same Message-ID again: the newest wins */
    assert_int_equal(hd_store_message_insert(f->st, &m, &err), 0);
    char uuid[40];
    assert_int_equal(hd_store_message_by_message_id(f->st, "<x@example.com>", uuid, &err), 0);
    assert_string_equal(uuid, "bbbb");
    assert_int_equal(hd_store_message_by_message_id(f->st, "<y@example.com>", uuid, &err),
                     HD_ENOTFOUND);

    hd_store_recipient r;
    memset(&r, 0, sizeof r);
    r.message = m.id;
    snprintf(r.address, sizeof r.address, "bob@example.net");
    snprintf(r.domain, sizeof r.domain, "example.net");
    r.state = HD_RCPT_QUEUED;
    assert_int_equal(hd_store_recipient_insert(f->st, &r, &err), 0);
    bool changed = true;
    /* still queued: the queue owns it, nothing changes */
    assert_int_equal(hd_store_recipient_bounce_late(f->st, r.id, "5.1.1 gone", 5, &changed, &err), 0);
    assert_false(changed);
    r.state = HD_RCPT_DELIVERED;
    assert_int_equal(hd_store_recipient_update(f->st, &r, &err), 0);
    assert_int_equal(hd_store_recipient_bounce_late(f->st, r.id, "5.1.1 gone", 5, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(hd_store_recipient_bounce_late(f->st, r.id, "5.1.1 gone", 6, &changed, &err), 0);
    assert_false(changed);      /* once */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inbound_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_id_and_late_bounce, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
