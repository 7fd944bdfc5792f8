/*
 * run.c - driving an ARC validation through an hd_dns resolver, and the
 * Authentication-Results fragment of its verdict (RFC 8617 §6).
 *
 * The run submits every key question at once and waits; a question still
 * out when the run fails keeps its heap slot, which its callback frees.
 */
#include "arc_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct run_slot {
    hd_dns_answer *ans;
    bool abandoned;
} run_slot;

static void run_cb(void *arg, hd_dns_answer *ans)
{
    run_slot *slot = arg;
    if (slot->abandoned) {
        hd_dns_answer_free(ans);
        free(slot);
        return;
    }
    slot->ans = ans;
}

int hd_arc_verify_run(hd_arc_verifier *v, hd_slice msg, hd_dns *dns, hd_err *err)
{
    int rc = hd_arc_verify_start(v, msg, err);
    if (rc != 0)
        return rc;
    size_t n = hd_arc_verify_nqueries(v), submitted = 0;
    run_slot **slots = n ? calloc(n, sizeof *slots) : NULL;
    if (n && slots == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((slots[i] = calloc(1, sizeof *slots[i])) == NULL)
            rc = hd_err_set(err, HD_ENOMEM, NULL);
        else if ((rc = hd_dns_submit(dns, hd_arc_verify_query(v, i), HD_DNS_T_TXT, run_cb,
                                     slots[i], err)) == 0)
            submitted++;
    }
    if (rc == 0 && n > 0)
        rc = hd_dns_wait(dns, err);
    for (size_t i = 0; i < n; i++) {
        if (slots[i] == NULL)
            continue;
        if (rc == 0 && slots[i]->ans != NULL)
            rc = hd_arc_verify_answer(v, i, slots[i]->ans, err);
        if (i < submitted && slots[i]->ans == NULL) {
            slots[i]->abandoned = true;
            continue;
        }
        hd_dns_answer_free(slots[i]->ans);
        free(slots[i]);
    }
    free(slots);
    return rc != 0 ? rc : hd_arc_verify_finish(v, err);
}

/* A reason inside an RFC 8601 comment: printable ASCII, no parentheses
 * or backslashes, so nothing can close the comment or start a line. */
static int append_comment(hd_buf *out, const char *text)
{
    int rc = hd_buf_append_cstr(out, " (");
    for (const char *p = text; *p && rc == 0; p++) {
        unsigned char c = (unsigned char)*p;
        c = c == '(' ? '[' : c == ')' ? ']' : c == '\\' ? '/' : (c < 0x20 || c > 0x7e) ? '?' : c;
        rc = hd_buf_append_byte(out, c);
    }
    return rc == 0 ? hd_buf_append_byte(out, ')') : rc;
}

int hd_arc_result_to_ar(const hd_arc_result *r, hd_buf *out)
{
    int rc = hd_buf_printf(out, "arc=%s", hd_arc_cv_name(r->cv));
    if (rc == 0 && r->cv == HD_ARC_PASS)
        rc = hd_buf_printf(out, " (i=%zu) header.oldest-pass=%u", r->nsets, r->oldest_pass);
    else if (rc == 0 && r->cv == HD_ARC_FAIL)
        rc = append_comment(out, r->reason);
    return rc;
}
