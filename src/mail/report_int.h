/*
 * report_int.h - what the three files of the report module share (not a
 * door: include/herald/report.h is). report.c reads DSNs and feedback
 * reports and classifies; report_rules.c parses the rule table and
 * matches its phrases; report_bounce.c reads bounces with it (addresses,
 * plain-text bounces, a DSN's reasons). Internal names are hd_report__.
 */
#ifndef HERALD_MAIL_REPORT_INT_H
#define HERALD_MAIL_REPORT_INT_H

#include <herald/mail.h>
#include <herald/mime.h>
#include <herald/report.h>

#include <stdint.h>

/* Bounce explanations come first; rules do not read a whole novel. */
#define RULE_SCAN_MAX (64u * 1024)
#define RULE_TEXT_MAX 200
#define RULE_ADDR_METHODS 64
#define RULE_VENDORS_MAX 64 /* bits of rules_ctx.active */
#define RULE_CUTS_MAX 32

static inline bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static inline uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* report.c ------------------------------------------------------------------ */

/* Called with the returned message's header (with_original). */
typedef void (*orig_fn)(const hd_msg *h, void *ctx, unsigned *flags);

hd_slice hd_report__next_line(hd_slice text, size_t *pos);
hd_slice hd_report__trim_line(hd_slice line);
void hd_report__copy_value(char *dst, size_t cap, hd_slice v, unsigned *flags);
hd_slice hd_report__split_typed(hd_slice v, hd_slice *type);
hd_slice hd_report__angle_addr(hd_slice v);
hd_slice hd_report__field_value(const hd_msg *h, const char *name);
int hd_report__parse_status(hd_slice v, char out[16]);
int hd_report__failure_code(const char *text, bool permanent, char code[16]);
void hd_report__classify(hd_dsn_rcpt *r);
void hd_report__decode_part(const hd_mime_part *p, hd_buf *b, unsigned *flags);
void hd_report__with_original(const hd_mime *m, size_t from, orig_fn fn, void *ctx, unsigned *flags);
bool hd_report__plausible_addr(const char *a);
int hd_report__dsn_blocks(hd_dsn *d, hd_slice body, hd_err *err);
void hd_report__dsn_original(const hd_msg *h, void *ctx, unsigned *flags);
void hd_report__dsn_finish(hd_dsn *d, const hd_mime *m);
int hd_report__normalise_groups(hd_slice in, hd_buf *out, unsigned *flags, hd_err *err);
int hd_report__dsn_from_mime(const hd_mime *m, hd_dsn *out, hd_err *err);
int hd_report__parse_mime(hd_slice msg, hd_mime **m, hd_err *err);

/* report_rules.c: the table ------------------------------------------------- */

/* A phrase: text (lowercased) gives a status, a reason, or both. */
typedef struct rule {
    char status[16];       /* "" when the rule names only a reason */
    int status_class;      /* 4, 5 or 0 */
    hd_bounce_reason reason; /* HD_REASON_UNDEFINED: from the status */
    uint8_t text[RULE_TEXT_MAX];
    size_t len;
    int vendor; /* -1: general; else the section it belongs to */
} rule;

typedef enum addr_kind {
    ADDR_COLON,
    ADDR_FIELD,
    ADDR_AFTER,
    ADDR_BEFORE,
    ADDR_HEADER,
    ADDR_RETURNED,
} addr_kind;

typedef struct addr_method {
    addr_kind kind;
    uint8_t text[RULE_TEXT_MAX]; /* ADDR_FIELD: "name:"; ADDR_AFTER: the phrase, lowercased;
                                  * ADDR_HEADER: the field name, NUL-ended */
    size_t len;
    int vendor;
} addr_method;

/* A vendor section: its rules apply when the message holds the signature. */
typedef struct vendor_sig {
    char name[64];
    uint8_t sig[RULE_TEXT_MAX]; /* lowercased */
    size_t len;
} vendor_sig;

struct hd_report_rules {
    rule *rules;
    size_t n;
    addr_method addr[RULE_ADDR_METHODS];
    size_t naddr;
    vendor_sig vendors[RULE_VENDORS_MAX];
    size_t nvendors;
    rule cuts[RULE_CUTS_MAX]; /* "cut": where the returned message starts */
    size_t ncuts;
    int section; /* while parsing: the open vendor section, or -1 */
};

/* Which vendor sections a message switched on. */
typedef struct rules_ctx {
    const hd_report_rules *rs;
    uint64_t active;
} rules_ctx;

uint8_t *hd_report__lowered(hd_slice text, size_t *len);
bool hd_report__holds(hd_slice low, const uint8_t *text, size_t len);
rules_ctx hd_report__rules_activate(const hd_report_rules *rs, hd_slice msg);
bool hd_report__in_scope(const rules_ctx *c, int vendor, bool vendors_pass);
const rule *hd_report__match_rule(const rules_ctx *c, hd_slice low, bool want_status, size_t *at);
void hd_report__reason_from_text(hd_dsn_rcpt *r, const rules_ctx *c, const char *text);
void hd_report__reclassify(hd_dsn_rcpt *r, const rules_ctx *c);
void hd_report__reclassify_all(hd_dsn *d, const rules_ctx *c);

#endif
