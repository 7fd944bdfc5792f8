/*
 * fuzz_smtpc.c - the SMTP client session fed arbitrary server bytes.
 *
 * Input: byte 0 picks the options (TLS policy, TLS from the start, whether
 * the handshake fails), byte 1 seeds the sizes of the pieces the rest is
 * fed in. The driver acts like the delivery shell: it begins a transaction
 * whenever the session is READY (three at most, then QUIT), completes
 * STARTTLS, and reports EOF at the end.
 *
 * Invariants: after TXN_DONE every recipient has a result (a reply code
 * 200-599, or 0 for a local failure); the output is always whole CRLF
 * lines, no bare CR or LF, and stays small; the session ends in CLOSE
 * after EOF; step() never spins.
 */
#include <herald/smtpc.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const rcpts[] = {"r1@example.com", "r2@example.com", "r3@example.com"};

static const char *const messages[] = {
    "Subject: one\r\n\r\nbody\r\n",
    ".leading dot\r\n..two\r\n.\r\nno final CRLF",
    "bare\nLF\n.\nand bare\rCR\r\n",
};

static void check_output(hd_smtpc *c)
{
    hd_slice o = hd_smtpc_output(c);
    if (o.len == 0)
        return;
    if (o.len > 8192 || o.len < 2 || o.p[o.len - 2] != '\r' || o.p[o.len - 1] != '\n')
        abort();
    for (size_t i = 0; i < o.len; i++) {
        if (o.p[i] == '\r' && (i + 1 >= o.len || o.p[i + 1] != '\n'))
            abort();
        if (o.p[i] == '\n' && (i == 0 || o.p[i - 1] != '\r'))
            abort();
    }
    /* the shell writes it in two pieces */
    hd_smtpc_output_done(c, o.len / 2);
    hd_slice rest = hd_smtpc_output(c);
    if (rest.len != o.len - o.len / 2 || memcmp(rest.p, o.p + o.len / 2, rest.len) != 0)
        abort();
    hd_smtpc_output_done(c, rest.len);
}

static void check_results(hd_smtpc *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const hd_smtpc_result *r = hd_smtpc_rcpt_result(c, i);
        if (r == NULL || (r->code != 0 && (r->code < 200 || r->code > 599)))
            abort();
        if (r->code == 0 && r->phase != HD_SMTPC_PHASE_SESSION &&
            r->phase != HD_SMTPC_PHASE_STARTTLS)
            abort();
        if (strlen(r->text) >= sizeof r->text || strlen(r->enhanced) >= sizeof r->enhanced)
            abort();
    }
    if (hd_smtpc_rcpt_result(c, n) != NULL)
        abort();
}

struct driver {
    hd_smtpc_txn txns[3];
    size_t begun;
    bool fail_tls, closed;
};

/* Step until the session waits or closes, acting as the shell would. */
static void drive(hd_smtpc *c, struct driver *d)
{
    for (int guard = 0;; guard++) {
        if (guard > 1000)
            abort();
        hd_smtpc_event ev = hd_smtpc_step(c);
        check_output(c);
        switch (ev) {
        case HD_SMTPC_EV_NEED_INPUT:
            return;
        case HD_SMTPC_EV_CLOSE:
            d->closed = true;
            return;
        case HD_SMTPC_EV_STARTTLS:
            if (d->fail_tls)
                hd_smtpc_tls_failed(c);
            else
                hd_smtpc_tls_started(c);
            break;
        case HD_SMTPC_EV_READY:
            if (d->begun < 3) {
                if (hd_smtpc_begin(c, &d->txns[d->begun++], NULL) != 0)
                    abort();
            } else {
                hd_smtpc_quit(c);
            }
            break;
        case HD_SMTPC_EV_TXN_DONE:
            check_results(c, d->txns[d->begun - 1].n_rcpts);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    hd_smtpc_opts o;
    hd_smtpc_opts_init(&o);
    o.helo_name = "client.example.org";
    o.tls = (hd_smtpc_tls_policy)(data[0] % 3);
    o.tls_active = (data[0] & 4) != 0;
    struct driver d = {.fail_tls = (data[0] & 8) != 0};
    for (size_t i = 0; i < 3; i++) {
        hd_smtpc_txn *t = &d.txns[i];
        t->mail_from = i == 1 ? "" : "sender@example.org";
        t->rcpts = rcpts;
        t->n_rcpts = i + 1;
        t->message = hd_slice_cstr(messages[i]);
        t->body_8bit = i == 1;
        t->smtputf8 = i == 2 && (data[0] & 16);
    }
    hd_smtpc *c = NULL;
    if (hd_smtpc_new(&o, &c, NULL) != 0)
        return 0;
    uint32_t seed = data[1];
    size_t pos = 2;
    drive(c, &d);
    while (pos < size && !d.closed) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 97;
        if (n > size - pos)
            n = size - pos;
        hd_smtpc_feed(c, data + pos, n, NULL);
        pos += n;
        drive(c, &d);
    }
    hd_smtpc_lost(c, "eof");
    drive(c, &d);
    if (!d.closed || hd_smtpc_step(c) != HD_SMTPC_EV_CLOSE)
        abort();
    hd_smtpc_free(c);
    return 0;
}
