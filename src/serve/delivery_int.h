/*
 * delivery_int.h - the delivery room's own structures: the in-memory
 * queue shared by queue.c (scheduler), deliver.c (outbound SMTP),
 * sandbox.c (capture) and metrics.c. Main thread only. No file outside
 * the room includes it (scripts/check-layers.sh).
 *
 * Every recipient not yet final is a q_rcpt. A due recipient sits in its
 * destination's ready list; a deferred one in the retry heap until its
 * time comes. A destination is a recipient domain (or, for sandboxed
 * sending domains, the one sandbox destination). A connection asks its
 * destination for batches: the ready recipients of one message, sent in
 * one transaction.
 */
#ifndef HERALD_SERVE_DELIVERY_INT_H
#define HERALD_SERVE_DELIVERY_INT_H

#include "serve/delivery.h"

typedef struct q_dest q_dest;
typedef struct q_batch q_batch;

typedef struct q_msg {
    int64_t id;
    char uuid[40];
    hd_spool_loc loc;
    char *mail_from;
    char from_domain[256];
    char *pool;                  /* asked for through the API, or NULL: the domain's */
    unsigned flags;
    int64_t received_at, expires_at;
    int64_t received_ms;         /* for the delivery-time histogram */
    size_t open;                 /* recipients not final */
    size_t busy;                 /* recipients in a batch right now */
    struct q_rcpt *rcpts;        /* its recipients not yet final */
    bool deleted;                /* by the operator: in-flight recipients end 'deleted' unless delivered */
    struct q_msg *hnext;
} q_msg;

typedef struct q_rcpt {
    int64_t id;
    q_msg *msg;
    char *address;
    char *last_reply;            /* of the last attempt, or NULL */
    char *sent_as;               /* the envelope sender of the last attempt, or NULL */
    q_dest *dest;
    int attempts;
    int64_t next_attempt;
    bool busy;                   /* in a batch */
    bool dest_down;              /* last deferred because no host of its destination answered */
    bool ready;                  /* in dest's ready list */
    size_t heap_idx;             /* in the retry heap, or SIZE_MAX */
    struct q_rcpt *next, *prev;  /* ready list */
    struct q_rcpt *mnext, *mprev; /* the message's recipients */
} q_rcpt;

/* What happened to one recipient of a batch. */
/* Q_DEFERRED is the zero value: a result nobody set means "try again",
 * never "delivered". */
typedef enum q_outcome {
    Q_DEFERRED,
    Q_DELIVERED,
    Q_BOUNCED,
    Q_CAPTURED,                  /* kept by the sandbox; nothing was sent */
} q_outcome;

typedef struct q_result {
    q_outcome outcome;
    bool suppress;               /* bounced because the mailbox is bad: suppress the address */
    hd_bounce_reason reason;     /* of a 4xx or 5xx reply (report.h) */
    hd_bounce_class kind;        /* hard, soft; none for a success */
    char reply[HD_STORE_TEXT_MAX];
} q_result;

struct q_batch {
    q_dest *dest;
    q_msg *msg;
    q_rcpt **rcpts;
    const char **addrs;          /* the recipients' addresses, for the SMTP session */
    q_result *results;
    size_t n;
    hd_buf data;                 /* the message bytes, read from the spool */
    char mail_from[HD_STORE_ADDR_MAX]; /* this batch's envelope sender: per recipient, or the message's */
    char *detail;                /* the sandbox's verdict (JSON) for the captured events, or NULL */
    char remote[HD_STORE_NAME_MAX]; /* "host[ip]:port" */
    char tls[16];
    int64_t started_ms;
};

struct q_dest {
    char *domain;                /* recipient domain; "" for the sandbox */
    char *pool;                  /* source-address pool, or NULL */
    unsigned next_address;       /* round robin over the pool's addresses */
    bool sandbox;
    q_rcpt *ready_head, *ready_tail;
    size_t n_ready;
    int conns;                   /* connections open or opening */
    int max_conns;               /* current limit (lowered after 4xx/421) */
    int64_t paused_until;        /* back-off after trouble (Unix s) */
    unsigned trouble;            /* consecutive troubled probes (one per pause) */
    size_t n_down;               /* its recipients in the retry heap with dest_down */
    bool probing;                /* in the queue's list of destinations to probe */
    int64_t minute_start;        /* messages-per-minute window */
    uint32_t minute_count;
    bool scheduled;              /* in the active list */
    struct q_dest *hnext, *anext;
    struct q_dest *pnext;        /* the list of destinations to probe */
};

/* deliver.c / sandbox.c → queue.c */
/* The next batch for a connection to dest, or NULL when nothing is due
 * (or the per-minute limit is reached). Reads the bytes from the spool;
 * a damaged record is moved aside and its recipients end 'corrupt'. */
q_batch *queue_next_batch(serve *sv, q_dest *dest);
/* Results are in b->results; the batch is freed. */
void queue_batch_done(serve *sv, q_batch *b);
/* How a connection ended: well, or in trouble at connection or session
 * level, after which the destination pauses (herald/backoff.h). */
typedef enum q_trouble {
    Q_TROUBLE_NONE,
    Q_TROUBLE_UNREACHABLE,       /* no host answered: refused, unreachable, silent, no MX answer */
    Q_TROUBLE_PUSHBACK,          /* a host answered and pushed back: 421, 4xx to MAIL or DATA, TLS */
} q_trouble;
void queue_conn_done(serve *sv, q_dest *dest, q_trouble trouble);
void queue_batch_free(q_batch *b);

/* deliver.c: one outbound connection's life is owned by queue.c's
 * destinations; deliver.c speaks SMTP on it. */
void deliver_start(serve *sv, q_dest *dest);

/* Sandbox delivery of one message's recipients (sandbox.c). */
void sandbox_deliver(serve *sv, q_batch *b);

#endif
