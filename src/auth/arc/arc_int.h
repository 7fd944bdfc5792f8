/*
 * arc_int.h - what the files of the ARC module share; not a public door.
 * ARC builds on the DKIM module's internals (canonicalization, header
 * selection, key records), which it includes on purpose.
 */
#ifndef HERALD_ARC_INT_H
#define HERALD_ARC_INT_H

#include <herald/arc.h>

#include "auth/dkim/dkim_keyrec.h"

/* The three fields of an ARC set, in the order the seal hashes them
 * (RFC 8617 §5.1.1). */
typedef enum arc_kind {
    ARC_AAR,
    ARC_AMS,
    ARC_AS,
    ARC_KINDS,
} arc_kind;

extern const char *const arc_field_names[ARC_KINDS];

#define ARC_NO_FIELD ((size_t)-1)

/* The ARC fields of a message, by instance. */
typedef struct arc_chain {
    unsigned max_instance;  /* highest instance seen, 0 when none */
    size_t nfields;         /* ARC fields seen */
    size_t field[HD_ARC_MAX_INSTANCE + 1][ARC_KINDS]; /* index in the hd_msg */
    bool broken;            /* a field is unreadable, duplicated or missing */
    unsigned bad_instance;  /* where, when known */
    char why[256];
} arc_chain;

/* Find and place every ARC field of m (RFC 8617 §5.2 steps 1 and 3A-B):
 * sets c->broken with the reason on the first problem. */
void arc_collect(const hd_msg *m, arc_chain *c);

/* Parse an instance value: 1..HD_ARC_MAX_INSTANCE, digits only; 0 when
 * not a number, HD_ARC_MAX_INSTANCE + 1 when beyond. */
unsigned arc_instance(hd_slice v);

/* AAR value: "i=" N [CFWS] ";" payload (RFC 8617 §4.1.1). Returns 0 with
 * the instance and the payload, or -1. */
int arc_aar_split(hd_slice value, unsigned *instance, hd_slice *payload);
/* authserv-id of a payload (RFC 8601 §2.2: a value, token or quoted). */
void arc_authserv_id(hd_slice payload, char *out, size_t size);
/* Copy with folding undone and whitespace runs made one space. */
void arc_unfold(hd_slice v, char *out, size_t size);

/* Canonical form (relaxed for every AS, c= for an AMS) of a whole field (raw "Name: value", no final
 * line end), with CRLF; or, with blank_b, with the b= value deleted and
 * no CRLF (RFC 6376 §3.7, the field being signed). HD_ESYNTAX when
 * blank_b and the value has no b= tag. */
int arc_canon_field(hd_dkim_canon canon, hd_slice raw, bool blank_b, hd_buf *out);

/* Copy a tag value into a fixed field, printable bytes only. */
void arc_copy_text(char *dst, size_t size, hd_slice v);

#endif
