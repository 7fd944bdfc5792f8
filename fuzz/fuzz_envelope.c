/*
 * fuzz_envelope.c - the spool's envelope record (herald/spool.h), read
 * back from a disk that may hold anything: a parse either fails with a
 * reason or gives fields that write back to text that parses to the same
 * fields (the writer refuses what the reader could not take).
 */
#include <herald/spool.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const char *a, const char *b)
{
    if (strcmp(a, b) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_spool_envelope env, again;
    hd_err err;
    if (hd_spool_envelope_parse(data, size, &env, &err) != 0) {
        if (!err.msg[0])
            abort();        /* every refusal says why */
        return 0;
    }
    if (env.n_rcpts == 0 || env.n_rcpts > HD_SPOOL_ENVELOPE_RCPTS || strlen(env.uuid) != 32)
        abort();
    hd_buf b;
    hd_buf_init(&b, HD_SPOOL_ENVELOPE_MAX);
    /* a value over HD_SPOOL_FIELD_MAX cannot come from a line the parser
     * takes; anything it gave must write back */
    if (hd_spool_envelope_write(&env, &b, &err) != 0 ||
        hd_spool_envelope_parse(b.p, b.len, &again, &err) != 0)
        abort();
    same(env.uuid, again.uuid);
    same(env.mail_from, again.mail_from);
    same(env.from_domain, again.from_domain);
    same(env.message_id, again.message_id);
    same(env.submitter, again.submitter);
    same(env.pool, again.pool);
    if (env.received_at != again.received_at || env.expires_at != again.expires_at ||
        env.flags != again.flags || env.n_rcpts != again.n_rcpts)
        abort();
    for (size_t i = 0; i < env.n_rcpts; i++)
        same(env.rcpts[i], again.rcpts[i]);
    hd_spool_envelope_free(&again);
    hd_spool_envelope_free(&env);
    hd_buf_free(&b);
    return 0;
}
