/*
 * intake_int.h - what the files of the SMTP intake share (intake.c: the
 * session; intake_auth.c: AUTH; intake_listen.c: listeners and per-client
 * caps), for them alone (scripts/check-layers.sh): the session, the
 * listener, the room's state, and the functions one file gives the
 * others (intake__ names).
 */
#ifndef HERALD_SERVE_INTAKE_INT_H
#define HERALD_SERVE_INTAKE_INT_H

#include <netinet/in.h>
#include <stdbool.h>

#include <event2/event.h>

#include <herald/clientkey.h>
#include <herald/smtpd.h>
#include "serve/intake.h"

#define IP_WINDOW 60            /* seconds over which AUTH failures and inbound messages are counted */
#define IP_TRACK 1024           /* client addresses remembered for that */
/* Password checks queued or running at once, every client together: with
 * scrypt at ~0.1-0.2 s a check, a few seconds of waiting at most for a
 * real user; past it AUTH gets 454 4.7.0 (try again). */
#define AUTH_PENDING_MAX 16

typedef struct session {
    serve *sv;
    struct bufferevent *bev;
    hd_smtpd *smtpd;
    char ip[INET6_ADDRSTRLEN];
    char client[HD_CLIENTKEY_MAX]; /* what the per-client limits count: ip, or its /64 */
    /* the id of the session's own log lines: "s1a2b3c 127.0.0.1:5544", a
     * number of this process's and the client's address, so two sessions
     * from one address can be told apart (lines limited per client keep
     * the client as their id) */
    char id[8 + INET6_ADDRSTRLEN + 8];
    bool refused;               /* refused at connection: the refusal was logged (limited) */
    bool trusted;               /* in smtp.trusted_networks: may submit without AUTH */
    bool tls;
    bool busy;                  /* a worker or the committer holds the session */
    bool dead;                  /* connection gone while busy */
    bool closing;
    bool out_paused;            /* not reading: too many replies unsent */
    bool tls_pending;           /* STARTTLS answered: the handshake waits for the output to drain */
    bool limit_exempt;          /* in client_limit_exceptions: no per-client caps */
    struct event *auth_wait;    /* AUTH waiting for this client's check under way */
    unsigned auth_wait_ticks;
    unsigned policy_errors;     /* our refusals smtpd does not count (inbound MAIL limit) */
    struct event *linger;       /* closing: waits for the output to drain */
    struct event *deadline;     /* a line must be complete before it fires */
    unsigned accepted, refusals; /* messages queued; 4xx/5xx replies sent */
    char last_refusal[160];     /* the last 4xx/5xx reply line, for the log */
    unsigned linger_checks;
    bool half_closed;           /* FIN sent; waiting for the client's */
    char user[HD_STORE_NAME_MAX];   /* authenticated user */
    char user_domains[1024];
    bool inbound;               /* on the inbound listener (bounces, reports) */
    unsigned bad_rcpts;         /* inbound: recipients refused */
    size_t held;                /* inbound: bytes counted in serve_intake.inflight */
    struct session *next, *prev;
} session;

/* Something counted per client address over a minute. */
typedef struct ip_count {
    char ip[INET6_ADDRSTRLEN];
    int64_t window_start;
    unsigned count;
} ip_count;

/* One SMTP listener; after accept() failed (out of descriptors) it
 * pauses, and resume turns it back on. */
typedef struct listener {
    serve *sv;
    struct evconnlistener *l;
    struct event *resume;
    bool inbound;
    char spec[300];             /* address:port, for the log */
} listener;

struct serve_intake {
    listener *listeners;
    size_t n_listeners;
    session *sessions;
    size_t n_sessions;
    size_t n_inbound;           /* of which on the inbound listener */
    size_t n_refused[2];        /* of which refused at connection, closing: [0] submission, [1] inbound */
    ip_count auth_fails[IP_TRACK];       /* failed AUTH per client */
    ip_count inbound_msgs[IP_TRACK];     /* messages taken on the inbound listener per client */
    /* password checks in hand, by client key ("" = free): one per client */
    char auth_pending[AUTH_PENDING_MAX][HD_CLIENTKEY_MAX];
    ip_count connections[2][IP_TRACK];   /* connections per client key: [0] submission, [1] inbound */
    uint32_t session_seq;                /* the last session's number (its log id) */
};

/* ---- the session (intake.c) ---- */
void intake__session_start(session *s);   /* accepted: read, greet, drive */
void intake__drive(session *s);           /* step the session until it waits */
void intake__session_free(session *s);    /* or, while busy, once it comes back */
/* The worker or committer answered; false when the session died meanwhile
 * (then it is freed here). */
bool intake__session_back(session *s);
void intake__session_hold(session *s);    /* a worker holds it: not read */
void intake__session_resume(session *s);  /* after an answer: go on with input */
void intake__begin_close(session *s);     /* close once the last reply is out */

/* ---- AUTH (intake_auth.c) ---- */
void intake__start_auth(session *s);      /* the credentials are in */

/* ---- per-client counts (intake_listen.c) ---- */
/* The count of ip in table (IP_TRACK slots) over the last IP_WINDOW
 * seconds; NULL when absent and not create. */
ip_count *intake__ip_slot(ip_count *table, const char *ip, bool create);

#endif
