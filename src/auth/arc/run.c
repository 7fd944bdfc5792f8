/*
 * run.c - driving an ARC validation through an hd_dns resolver, and the
 * Authentication-Results fragment of its verdict (RFC 8617 §6).
 *
 * The run asks every key question at once through hd_dns_query_all.
 */
#include "auth/arc/arc_int.h"

#include <herald/authres.h>

#include <stdlib.h>
#include <string.h>

int hd_arc_verify_run(hd_arc_verifier *v, hd_slice msg, hd_dns *dns, hd_err *err)
{
    int rc = hd_arc_verify_start(v, msg, err);
    size_t n = rc == 0 ? hd_arc_verify_nqueries(v) : 0;
    if (rc != 0 || n == 0)
        return rc != 0 ? rc : hd_arc_verify_finish(v, err);
    const char **names = calloc(n, sizeof *names);
    hd_dns_answer **answers = calloc(n, sizeof *answers);
    if (names == NULL || answers == NULL)
        rc = hd_err_set(err, HD_ENOMEM, NULL);
    for (size_t i = 0; rc == 0 && i < n; i++)
        names[i] = hd_arc_verify_query(v, i);
    if (rc == 0)
        rc = hd_dns_query_all(dns, names, n, HD_DNS_T_TXT, answers, err);
    for (size_t i = 0; answers != NULL && i < n; i++) {
        if (rc == 0 && answers[i] != NULL)
            rc = hd_arc_verify_answer(v, i, answers[i], err);
        hd_dns_answer_free(answers[i]);
    }
    free(names);
    free(answers);
    return rc != 0 ? rc : hd_arc_verify_finish(v, err);
}


int hd_arc_result_to_ar(const hd_arc_result *r, hd_buf *out)
{
    int rc = hd_buf_printf(out, "arc=%s", hd_arc_cv_name(r->cv));
    if (rc == 0 && r->cv == HD_ARC_PASS)
        rc = hd_buf_printf(out, " (i=%zu) header.oldest-pass=%u", r->nsets, r->oldest_pass);
    else if (rc == 0 && r->cv == HD_ARC_FAIL)
        rc = hd_authres_append_comment(out, r->reason);
    return rc;
}
