/*
 * sandbox.c - sandbox delivery: the message is kept in the captures table
 * with the verdict a receiver would give it once the domain's DNS records
 * (as `herald domain add` printed them) are published: DKIM against the
 * published keys, SPF for the bounce domain from the server's address,
 * DMARC. Nothing leaves the machine, so its recipients end 'captured'
 * (never 'delivered'), and each 'captured' event carries the verdict as
 * its detail: the JSON `herald verify --json` prints, with the
 * Authentication-Results field and the explanation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <herald/json.h>
#include <herald/verdict.h>
#include "serve/delivery_int.h"

typedef struct sandbox_job {
    serve *sv;
    q_batch *b;
    serve_domains *ds;
    char *verdict;     /* Authentication-Results value */
    char *detail;      /* JSON */
    char summary[256];
} sandbox_job;

/* "spf=pass dkim=pass dkim=pass dmarc=pass" from the AR field. */
static void summarize(const char *ar, char *out, size_t size)
{
    static const char *const methods[] = {"spf=", "dkim=", "arc=", "dmarc="};
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = ar; *p && n + 1 < size; p++) {
        if (p != ar && (p[-1] != ';' && p[-1] != '\t' && p[-1] != ' '))
            continue;
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            size_t ml = strlen(methods[m]);
            if (strncmp(p, methods[m], ml) != 0)
                continue;
            size_t len = ml;
            while (p[len] >= 'a' && p[len] <= 'z')
                len++;
            int w = snprintf(out + n, size - n, "%s%.*s", n ? " " : "", (int)len, p);
            if (w > 0)
                n += (size_t)w < size - n ? (size_t)w : size - n - 1;
        }
    }
}

/* The detail when no verdict could be made: {"error": why}. */
static char *no_verdict(const char *why)
{
    json_t *o = json_pack("{s:o}", "error", hd_json_text(why));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s ? s : strdup("{}");
}

static void sandbox_work(worker *w, void *arg)
{
    sandbox_job *j = arg;
    q_batch *b = j->b;
    hd_err err = {0};
    const serve_domain *dom = domains_find(j->ds, b->msg->from_domain);
    hd_dns *zone = dom ? worker_zone(w, j->ds, dom, &err) : NULL;
    hd_verdict *v = NULL;
    hd_buf ar, js;
    hd_buf_init(&ar, 64 * 1024);
    hd_buf_init(&js, 256 * 1024);
    if (!zone) {
        snprintf(j->summary, sizeof j->summary, "no verdict: %s",
                 dom ? hd_err_str(&err) : "the sending domain is gone");
    } else {
        hd_verdict_request req = {
            .ip = "127.0.0.1",
            .helo = j->sv->cfg->hostname,
            .mail_from = b->msg->mail_from,
            .now = serve_now(),
        };
        if (hd_verdict_run(&req, hd_buf_slice(&b->data), zone, &v, &err) != 0 ||
            hd_verdict_ar(v, j->sv->cfg->hostname, &ar, &err) != 0 ||
            hd_verdict_json(v, j->sv->cfg->hostname, true, &js, &err) != 0)
            snprintf(j->summary, sizeof j->summary, "no verdict: %s", hd_err_str(&err));
        else {
            while (ar.len > 0 && (ar.p[ar.len - 1] == '\n' || ar.p[ar.len - 1] == '\r'))
                ar.p[--ar.len] = '\0';
            summarize(hd_buf_cstr(&ar), j->summary, sizeof j->summary);
        }
    }
    size_t len;
    j->verdict = ar.len ? (char *)hd_buf_steal(&ar, &len) : strdup(j->summary);
    j->detail = js.len ? (char *)hd_buf_steal(&js, &len) : no_verdict(j->summary);
    hd_buf_free(&ar);
    hd_buf_free(&js);
    hd_verdict_free(v);
}

static void sandbox_done(void *arg)
{
    sandbox_job *j = arg;
    serve *sv = j->sv;
    q_batch *b = j->b;
    q_dest *d = b->dest;
    /* one capture for the batch (the recipients of one message), so a
     * message to many recipients is stored once, not once per recipient */
    hd_buf rcpts;
    hd_buf_init(&rcpts, (size_t)b->n * HD_STORE_ADDR_MAX);
    for (size_t i = 0; i < b->n; i++)
        hd_buf_printf(&rcpts, "%s%s", i ? " " : "", b->rcpts[i]->address);
    commit_op *op = commit_op_capture(&(hd_store_capture){
        .message = b->msg->uuid, .recipient = hd_buf_cstr(&rcpts), .at = serve_now(),
        .mail_from = b->msg->mail_from, .verdict = j->verdict ? j->verdict : "",
        .detail = j->detail ? j->detail : "{}", .data = hd_buf_slice(&b->data)});
    hd_buf_free(&rcpts);
    commit_op_post(sv, op);
    /* no SMTP reply: nobody answered; the verdict in short instead */
    for (size_t i = 0; i < b->n; i++) {
        b->results[i].outcome = Q_CAPTURED;
        snprintf(b->results[i].reply, sizeof b->results[i].reply,
                 "captured by the sandbox, not sent: %s", j->summary);
    }
    snprintf(b->remote, sizeof b->remote, "sandbox");
    b->detail = j->detail;          /* the captured events' detail */
    domains_put(j->ds);
    free(j->verdict);
    free(j);
    queue_batch_done(sv, b);
    queue_conn_done(sv, d, Q_TROUBLE_NONE);
}

void sandbox_deliver(serve *sv, q_batch *b)
{
    sandbox_job *j = calloc(1, sizeof *j);
    if (!j) {
        for (size_t i = 0; i < b->n; i++) {
            b->results[i].outcome = Q_DEFERRED;
            snprintf(b->results[i].reply, sizeof b->results[i].reply, "451 4.3.0 out of memory");
        }
        q_dest *d = b->dest;
        queue_batch_done(sv, b);
        queue_conn_done(sv, d, Q_TROUBLE_PUSHBACK);     /* a local failure: the longer pause */
        return;
    }
    j->sv = sv;
    j->b = b;
    j->ds = domains_get(sv);
    serve_work(sv, sandbox_work, sandbox_done, j);
}
