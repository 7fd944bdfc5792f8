/*
 * signer/signer.h - the signer: the process of `herald serve` that alone
 * holds the sending domains' private DKIM keys (the OpenSMTPD `ca` model;
 * docs/architecture.md, "Processes").
 *
 * signer_start forks a keeper, before any key is read and before any
 * thread exists; the keeper forks the signer and forks a new one whenever
 * it dies. The signer reads the keys the database names (active and
 * retiring keys, files under DATA/keys only) and answers the protocol of
 * herald/signproto.h over socketpairs: one channel per worker, each with a
 * signing thread of its own in the signer (workers sign in parallel as
 * before), one channel for reloads. The server's side holds only the
 * public keys (hd_key_set_signer) and these functions.
 *
 * A request in flight when the signer dies fails as temporary (HD_ETEMP):
 * the message is refused with 451 (503 for the API), never accepted
 * unsigned.
 */
#ifndef HERALD_SIGNER_H
#define HERALD_SIGNER_H

#include <stdint.h>
#include <sys/types.h>

#include <herald/buf.h>
#include <herald/config.h>
#include <herald/err.h>
#include <herald/log.h>

typedef struct signer signer;

/* Fork the keeper and through it the signer. channels: at most how many
 * threads sign at once (the workers). log is copied. Call before threads
 * and before anything reads a key. */
int signer_start(const hd_config *cfg, unsigned channels, const hd_log *log, signer **out,
                 hd_err *err);

/* The signer reads the database and its key files again (a reload, a key
 * activation); main thread. summary (may be NULL) gets its answer, e.g.
 * "3 keys of 2 domains". Waits for the answer. */
int signer_reload(signer *s, char *summary, size_t size, hd_err *err);

/* Sign a SHA-256 digest with key key_id, appending the signature to sig;
 * any thread, at most `channels` at once (more wait). HD_ETEMP when the
 * signer refused, failed, restarted or did not answer. */
int signer_sign(signer *s, int64_t key_id, const uint8_t digest[32], hd_buf *sig, hd_err *err);

/* Add a sending domain with new keys (`POST /v1/domains`): the signer
 * makes the keys and writes the rows (hd_domain_add), so no private key
 * passes through the server; then reads its keys again. The signer's own
 * error (HD_EINVAL, HD_ESTATE: see hd_domain_add) comes back as it is;
 * HD_ETEMP when it could not be asked. Any thread; waits. */
int signer_add_domain(signer *s, const char *domain, const char *bounce, int64_t now,
                      hd_err *err);

/* The signer process's pid now (0 when none): for logs and tests. */
pid_t signer_pid(signer *s);

/* Close the channels: the keeper stops the signer and exits; waits for it. */
void signer_stop(signer *s);

/* Started as root with `user` set: become that user (its groups, no
 * capability but binding ports below 1024), for the process that talks to
 * the network. Not root: nothing to do. After signer_start, before threads
 * or any file of the data directory is opened. */
int signer_drop_privileges(const char *user, hd_log *log, hd_err *err);

/* For tests (tests/interop/serve_signer_proto.sh): the server's end of
 * channel i, to write raw frames to. */
int signer_channel_fd(signer *s, unsigned i);

#endif
