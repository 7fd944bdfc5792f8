/*
 * herald/limits.h - every named limit, with its reason. Each is a default;
 * the structs that use them take the value from configuration.
 */
#ifndef HERALD_LIMITS_H
#define HERALD_LIMITS_H

/* Messages ---------------------------------------------------------------- */

/* Largest message accepted for parsing, signing or verification. Matches a
 * generous SMTP SIZE; memory use is bounded by this. */
#define HD_LIMIT_MESSAGE_BYTES (64u * 1024 * 1024)
/* Header fields per message. RFC 5322 sets none; real mail has < 100. */
#define HD_LIMIT_HEADER_FIELDS 1000
/* Bytes in one header field including folding. RFC 5322 §2.1.1 caps a line
 * at 998 octets, but folded fields (Received, DKIM-Signature) are longer. */
#define HD_LIMIT_HEADER_FIELD_BYTES (64u * 1024)
/* Total header section. */
#define HD_LIMIT_HEADER_BYTES (1024u * 1024)
/* Addresses parsed from one From/To field. */
#define HD_LIMIT_ADDRESSES 1000

/* DNS --------------------------------------------------------------------- */

/* RFC 1035 §2.3.4: 255 octets on the wire, 253 in text form. */
#define HD_LIMIT_DNS_NAME 253
/* Records kept from one answer. */
#define HD_LIMIT_DNS_RRS 256
/* CNAME links followed (a recursive resolver's loop guard). */
#define HD_LIMIT_DNS_CNAME_CHAIN 8
/* Bytes of one zone fixture file. */
#define HD_LIMIT_ZONE_BYTES (16u * 1024 * 1024)
/* Default query timeout, milliseconds. */
#define HD_LIMIT_DNS_TIMEOUT_MS 5000

/* DKIM -------------------------------------------------------------------- */

/* Signatures verified per message; later ones are reported "not checked".
 * Bounds the DNS and RSA work an attacker can demand with one message. */
#define HD_LIMIT_DKIM_SIGNATURES 8
/* Tags in one tag-list (DKIM-Signature, key record, ARC, DMARC). */
#define HD_LIMIT_TAGS 64
/* Header names listed in one h= tag. */
#define HD_LIMIT_DKIM_SIGNED_HEADERS 128
/* RFC 8301 §3.2: verifiers MUST NOT consider keys below 1024 bits valid. */
#define HD_LIMIT_DKIM_RSA_MIN_BITS 1024
/* Largest RSA key we sign with or accept: bounds verification cost. */
#define HD_LIMIT_DKIM_RSA_MAX_BITS 8192
/* Longest footer the diagnosis of a failed body hash looks for (a list's
 * or a gateway's few lines; each line end tried costs one hash copy). */
#define HD_LIMIT_DKIM_FOOTER_BYTES 16384
/* Largest body that diagnosis copies (canonical and decoded) to look for
 * the signed body in it: bounds the memory a broken signature costs. The
 * text that lists and gateways rewrite is far smaller. */
#define HD_LIMIT_DKIM_DIAGNOSE_BYTES (4u * 1024 * 1024)
/* Bodies searched so per message (signatures with one body hash share
 * a search): an author's and a provider's signature; no more, so many
 * bad signatures cannot multiply the work. */
#define HD_LIMIT_DKIM_DIAGNOSES 2
/* Decoded b= bytes: an 8192-bit RSA signature is 1024 bytes. */
#define HD_LIMIT_DKIM_SIGNATURE_BYTES 2048
/* Private key files read (a PEM RSA-8192 key is about 6.5 KB). */
#define HD_LIMIT_KEY_FILE_BYTES (64u * 1024)
/* RFC 6376 §3.6.2.2: a key record may be split into several strings; a
 * TXT RRset beyond this is not a key record. */
#define HD_LIMIT_DKIM_KEY_RECORD_BYTES 8192

/* DMARC ------------------------------------------------------------------- */

/* A DMARC record (its TXT strings joined) beyond this is not one: real
 * records are well under 1 KB, and eight rua= plus eight ruf= URIs of the
 * longest kept (255 bytes) fit. The term count is HD_LIMIT_TAGS. */
#define HD_LIMIT_DMARC_RECORD_BYTES 8192u

#endif
