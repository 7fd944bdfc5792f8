/*
 * memo.c - the answers one evaluation was given (see dns.h), and asking
 * many questions at once for a synchronous caller.
 */
#include <herald/dns.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct memo_entry {
    char *name;
    uint16_t type;
    hd_dns_answer *ans; /* owned copy */
} memo_entry;

struct hd_dns_memo {
    memo_entry *v;
    size_t n;
};

hd_dns_memo *hd_dns_memo_new(void)
{
    return calloc(1, sizeof(hd_dns_memo));
}

void hd_dns_memo_free(hd_dns_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        hd_dns_answer_free(m->v[i].ans);
    }
    free(m->v);
    free(m);
}

const hd_dns_answer *hd_dns_memo_get(const hd_dns_memo *m, hd_dns_cache *cache,
                                     const char *name, uint16_t type, int64_t now)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].type == type && strcasecmp(m->v[i].name, name) == 0)
            return m->v[i].ans;
    return cache != NULL ? hd_dns_cache_get(cache, name, type, now) : NULL;
}

int hd_dns_memo_put(hd_dns_memo *m, hd_dns_cache *cache, const char *name, uint16_t type,
                    const hd_dns_answer *ans, int64_t now)
{
    memo_entry *v = realloc(m->v, (m->n + 1) * sizeof *v);
    if (v == NULL)
        return HD_ENOMEM;
    m->v = v;
    memo_entry *e = &v[m->n];
    e->name = strdup(name);
    e->type = type;
    e->ans = hd_dns_answer_dup(ans);
    if (e->name == NULL || e->ans == NULL) {
        free(e->name);
        hd_dns_answer_free(e->ans);
        return HD_ENOMEM;
    }
    m->n++;
    if (cache != NULL) { /* keyed by the question as asked */
        char *answered = e->ans->qname;
        e->ans->qname = e->name;
        hd_dns_cache_put(cache, e->ans, now);
        e->ans->qname = answered;
    }
    return 0;
}

/* A question's mailbox. It lives on the heap: when the wait fails while
 * it is still out, it is abandoned and the callback, should it ever run,
 * frees the answer and the slot. */
typedef struct slot {
    hd_dns_answer *ans;
    bool abandoned;
} slot;

static void slot_cb(void *arg, hd_dns_answer *ans)
{
    slot *s = arg;
    if (s->abandoned) {
        hd_dns_answer_free(ans);
        free(s);
        return;
    }
    s->ans = ans;
}

int hd_dns_query_all(hd_dns *dns, const char *const *names, size_t n, uint16_t type,
                     hd_dns_answer **answers, hd_err *err)
{
    if (n == 0)
        return 0;
    slot **slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    int rc = 0;
    size_t submitted = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        answers[i] = NULL;
        if ((slots[i] = calloc(1, sizeof *slots[i])) == NULL)
            rc = hd_err_set(err, HD_ENOMEM, NULL);
        else if ((rc = hd_dns_submit(dns, names[i], type, slot_cb, slots[i], err)) == 0)
            submitted++;
    }
    if (rc == 0)
        rc = hd_dns_wait(dns, err);
    for (size_t i = 0; i < n; i++) {
        if (slots[i] == NULL)
            continue;
        if (i < submitted && slots[i]->ans == NULL) {
            slots[i]->abandoned = true; /* still out: the callback frees it */
            continue;
        }
        if (rc == 0)
            answers[i] = slots[i]->ans;
        else
            hd_dns_answer_free(slots[i]->ans);
        free(slots[i]);
    }
    free(slots);
    return rc;
}
