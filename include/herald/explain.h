/*
 * herald/explain.h - a receiver's verdict in plain words: what happened to
 * a message's SPF, DKIM, DMARC (and ARC) results, and what the sender's
 * mail admin can do about it. A pure function of the verdicts: no DNS, no
 * message parsing.
 */
#ifndef HERALD_EXPLAIN_H
#define HERALD_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include <herald/buf.h>
#include <herald/dkim.h>
#include <herald/dmarc.h>
#include <herald/spf.h>

/* What the oldest ARC-Authentication-Results of an ARC chain records
 * that DMARC could use (RFC 8617 §7.2.1), each result read on its own and
 * its identifier aligned with the From domain as DMARC aligns. */
typedef enum hd_explain_arc_vouch {
    HD_EXPLAIN_ARC_NOTHING,    /* no aligned pass recorded */
    HD_EXPLAIN_ARC_DKIM_PASS,  /* dkim=pass for a header.d= that aligns */
    HD_EXPLAIN_ARC_SPF_PASS,   /* spf=pass for a MAIL FROM domain that aligns */
    HD_EXPLAIN_ARC_DMARC_PASS, /* dmarc=pass for header.from= the From domain */
} hd_explain_arc_vouch;

typedef struct hd_explain_input {
    const char *from_domain;
    bool multiple_from;
    const char *ip;
    const char *mail_from;          /* "" for the null sender */
    const char *helo;
    bool facts_guessed;             /* ip/helo/mail-from read from the message */
    bool arc_checked;               /* ARC was validated: without arc_present
                                     * below, the message has no chain */
    const hd_spf_verdict *spf;      /* may be NULL when SPF was not checked */
    const hd_dkim_result *dkim;     /* the signatures, in header order */
    size_t ndkim;
    const hd_dmarc_verdict *dmarc;  /* may be NULL */
    /* ARC, when a chain was validated */
    bool arc_present;
    const char *arc_cv;             /* "none", "pass", "fail" */
    const char *arc_sealer;         /* d= of the newest seal */
    hd_explain_arc_vouch arc_vouch; /* what the oldest AAR vouches for */
    const char *arc_vouch_domain;   /* the d=, MAIL FROM or From domain of it */
    const char *arc_recorder;       /* d= of the oldest seal (who wrote that AAR) */
    /* message facts that point at forwarding or lists */
    const char *list_id;            /* List-Id value, or NULL */
    bool subject_tagged;            /* Subject starts with "[...]" */
} hd_explain_input;

/* Append the diagnosis, one paragraph per finding, each ending in "\n". */
int hd_explain(const hd_explain_input *in, hd_buf *out);

#endif
