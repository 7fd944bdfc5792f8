/*
 * records.c - a cache of parsed SPF records, keyed by the record's text.
 *
 * The DNS answer cache keeps TXT records; evaluating them again and again
 * (every message from a big provider walks the same include tree) would
 * parse them again and again. This cache keeps the parse: the text is
 * copied in and the terms point into that copy. Keyed by the whole text,
 * never by where it came from, so a stale entry can only be the right
 * parse of the same bytes. Bounded: emptied whole when full, but only
 * between runs of an evaluation (spf_records_make_room), since a run
 * holds pointers into entries. One thread.
 */
#include "auth/spf/spf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec_slot {
    uint64_t hash;
    uint8_t *text; /* owned; NULL: empty slot */
    size_t len;
    spf_record rec;
    int rc;        /* parse result, with msg when not 0 */
    char msg[HD_ERR_MSG_MAX];
} rec_slot;

struct hd_spf_records {
    rec_slot *slots;
    size_t nslots, used, max;
};

hd_spf_records *hd_spf_records_new(size_t max_entries)
{
    hd_spf_records *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->max = max_entries ? max_entries : 1;
    c->nslots = 8;
    while (c->nslots < c->max * 2)
        c->nslots *= 2;
    if ((c->slots = calloc(c->nslots, sizeof *c->slots)) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void clear_all(hd_spf_records *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        if (c->slots[i].text != NULL) {
            free(c->slots[i].text);
            spf_record_free(&c->slots[i].rec);
        }
        memset(&c->slots[i], 0, sizeof c->slots[i]);
    }
    c->used = 0;
}

void hd_spf_records_free(hd_spf_records *c)
{
    if (c == NULL)
        return;
    clear_all(c);
    free(c->slots);
    free(c);
}

static uint64_t text_hash(hd_slice t)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < t.len; i++)
        h = (h ^ t.p[i]) * 1099511628211ull;
    return h;
}

void spf_records_make_room(hd_spf_records *c)
{
    if (c->used >= c->max)
        clear_all(c);
}

int spf_records_get(hd_spf_records *c, hd_slice text, const spf_record **out, hd_err *err)
{
    uint64_t h = text_hash(text);
    size_t mask = c->nslots - 1;
    rec_slot *s = NULL;
    for (size_t i = h & mask, n = 0; n < c->nslots; i = (i + 1) & mask, n++) {
        rec_slot *x = &c->slots[i];
        if (x->text == NULL) {
            s = x;
            break;
        }
        if (x->hash == h && x->len == text.len && memcmp(x->text, text.p, text.len) == 0) {
            if (x->rc != 0)
                return hd_err_set(err, x->rc, "%s", x->msg);
            *out = &x->rec;
            return 0;
        }
    }
    if (s == NULL || c->used >= c->max)
        return SPF_RECORDS_FULL; /* entries may be in use: never empty it here */
    if ((s->text = malloc(text.len ? text.len : 1)) == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    memcpy(s->text, text.p, text.len);
    s->len = text.len;
    s->hash = h;
    c->used++;
    hd_err perr;
    hd_err_clear(&perr);
    s->rc = spf_record_parse(hd_slice_make(s->text, s->len), &s->rec, &perr);
    if (s->rc != 0) {
        snprintf(s->msg, sizeof s->msg, "%s", perr.msg);
        return hd_err_set(err, s->rc, "%s", s->msg);
    }
    *out = &s->rec;
    return 0;
}
