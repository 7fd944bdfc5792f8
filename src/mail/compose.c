/*
 * compose.c - a structured message (the API's JSON, already decoded) into
 * RFC 5322 + MIME bytes. See herald/compose.h for the rules it follows.
 *
 * Shape: every input field is checked first (check_*), so nothing is
 * written for a message that will be refused. Then the header section is
 * written through a folding writer (fw) that knows the current column and
 * folds before a token when the line would pass 78 characters. MIME
 * entities are rendered bottom-up into their own buffers, so a multipart
 * can pick a boundary that appears in none of its children before writing
 * them out.
 *
 * Boundaries are "=_hd_<unique>_<mix|alt|rel>": "=_" never appears in
 * quoted-printable or base64 output, and 7bit is chosen only for text
 * without "=_", so the first choice almost always holds; each is still
 * checked against the children and a counter appended until it is absent.
 *
 * Ownership: nothing is kept; out receives the message, or is left as it
 * was on error.
 */
#include <herald/base64.h>
#include <herald/compose.h>
#include <herald/mail.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINE_SOFT 78  /* RFC 5322 §2.1.1: SHOULD */
#define LINE_HARD 998 /* RFC 5322 §2.1.1: MUST */
#define EW_MAX 75     /* RFC 2047 §2: an encoded word is at most 75 characters */
#define EW_OVERHEAD 12 /* "=?utf-8?B?" + "?=" */
#define QP_LINE 76    /* RFC 2045 §6.7 (5): encoded lines at most 76 characters */
#define B64_LINE_BYTES 57 /* 76 base64 characters per line */
#define UNIQUE_MAX 40
#define HEADER_NAME_MAX 76
#define BOUNDARY_TRIES 100

/* Characters -------------------------------------------------------------- */

/* RFC 5322 §3.2.3 atext. */
static bool is_atext(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 2045 §5.1 token characters. */
static bool is_token(uint8_t c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 2047 §5 (3): the characters a Q-encoded word may hold literally in
 * any context (a phrase is the strictest). */
static bool is_q_safe(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

/* RFC 5987 §3.2.1 attr-char: what RFC 2231 values may hold unescaped. */
static bool is_attr_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* Length of the well-formed UTF-8 character at p (RFC 3629 §4: no
 * overlongs, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

static bool is_ascii(hd_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] >= 0x80)
            return false;
    return true;
}

static bool has_str(hd_slice s, const char *needle)
{
    return hd_slice_find(s, hd_slice_cstr(needle)) != (size_t)-1;
}

/* Checks ------------------------------------------------------------------ */

/* A header-bound text: UTF-8, no control characters (HTAB when allowed),
 * at most max bytes. */
static int check_text(const char *field, hd_slice s, size_t max, bool tab, hd_err *err)
{
    if (s.len > max)
        return hd_err_set(err, HD_ELIMIT, "%s: %zu bytes, more than the %zu allowed", field,
                          s.len, max);
    for (size_t i = 0; i < s.len;) {
        uint8_t c = s.p[i];
        if ((c < 0x20 && !(tab && c == '\t')) || c == 0x7f)
            return hd_err_set(err, HD_EINVAL,
                              "%s: control character 0x%02x at byte %zu (CR, LF and NUL "
                              "could inject header fields)",
                              field, c, i);
        size_t n = utf8_len(s.p + i, s.len - i);
        if (n == 0)
            return hd_err_set(err, HD_EINVAL, "%s: not valid UTF-8 at byte %zu", field, i);
        i += n;
    }
    return 0;
}

/* RFC 5321 §4.1.2 dot-string. */
static bool is_dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '.' ? s[i + 1] == '.' : !is_atext(c))
            return false;
    }
    return true;
}

/* RFC 5321 §4.1.2 Domain (LDH labels) or address-literal (dtext inside). */
static bool is_domain(const char *s, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < n; i++) {
            uint8_t c = (uint8_t)s[i];
            if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
                return false;
        }
        return true;
    }
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        uint8_t c = i < n ? (uint8_t)s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '-') {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

int hd_compose_check_address(const char *field, const char *a, hd_err *err)
{
    if (a == NULL || a[0] == '\0')
        return hd_err_set(err, HD_EINVAL, "%s: missing", field);
    size_t n = strlen(a);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)a[i];
        if (c < 0x20 || c == 0x7f)
            return hd_err_set(err, HD_EINVAL,
                              "%s: control character 0x%02x at byte %zu (header injection?)",
                              field, c, i);
        if (c >= 0x80)
            return hd_err_set(err, HD_EUNSUPPORTED,
                              "%s: a non-ASCII address needs SMTPUTF8 (RFC 6531), which "
                              "herald does not support yet",
                              field);
    }
    /* RFC 5321 §4.5.3.1.3: a path holds at most 256 octets with its <>. */
    if (n > 254)
        return hd_err_set(err, HD_ELIMIT, "%s: %zu characters, more than 254", field, n);
    const char *at = strrchr(a, '@');
    if (at == NULL)
        return hd_err_set(err, HD_EINVAL, "%s: \"%s\" has no @domain", field, a);
    size_t local = (size_t)(at - a);
    if (local > 64) /* RFC 5321 §4.5.3.1.1 */
        return hd_err_set(err, HD_ELIMIT, "%s: local part of %zu characters, more than 64",
                          field, local);
    if (!is_dot_atom(a, local))
        return hd_err_set(err, HD_EINVAL,
                          "%s: local part of \"%s\" is not a dot-atom (quoted local parts "
                          "are not supported)",
                          field, a);
    if (!is_domain(at + 1, n - local - 1))
        return hd_err_set(err, HD_EINVAL, "%s: domain of \"%s\" is not a host name or "
                          "address literal", field, a);
    return 0;
}

static int check_addr(const char *field, const hd_compose_addr *a, hd_err *err)
{
    char sub[96];
    snprintf(sub, sizeof sub, "%s.address", field);
    int rc = hd_compose_check_address(sub, a->address, err);
    if (rc)
        return rc;
    snprintf(sub, sizeof sub, "%s.name", field);
    return check_text(sub, hd_slice_cstr(a->name), HD_COMPOSE_MAX_NAME, false, err);
}

static int check_addrs(const char *field, const hd_compose_addr *v, size_t n, hd_err *err)
{
    if (n > 0 && v == NULL)
        return hd_err_set(err, HD_EINVAL, "%s: %zu addresses but no array", field, n);
    for (size_t i = 0; i < n; i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s[%zu]", field, i);
        int rc = check_addr(sub, &v[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Fields herald writes itself: a caller may not add or replace them. */
static bool is_reserved_header(const char *name)
{
    static const char *const reserved[] = {
        "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID",
        "MIME-Version", "Return-Path", "Received", "DKIM-Signature",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    return strncasecmp(name, "Content-", 8) == 0;
}

static int check_header(size_t i, const hd_compose_header *h, hd_err *err)
{
    const char *name = h->name != NULL ? h->name : "";
    size_t n = strlen(name);
    if (n == 0 || n > HEADER_NAME_MAX)
        return hd_err_set(err, HD_EINVAL, "headers[%zu].name: must be 1 to %d characters", i,
                          HEADER_NAME_MAX);
    for (size_t k = 0; k < n; k++) {
        uint8_t c = (uint8_t)name[k];
        if (c < 33 || c > 126 || c == ':') /* RFC 5322 §3.6.8 ftext */
            return hd_err_set(err, HD_EINVAL,
                              "headers[%zu].name: byte 0x%02x at %zu is not allowed in a "
                              "field name (RFC 5322 §3.6.8)",
                              i, c, k);
    }
    if (is_reserved_header(name))
        return hd_err_set(err, HD_EINVAL, "headers[%zu].name: %s is written by herald itself",
                          i, name);
    char field[48];
    snprintf(field, sizeof field, "headers[%zu].value", i);
    return check_text(field, hd_slice_cstr(h->value), HD_COMPOSE_MAX_HEADER_VALUE, true, err);
}

static int check_content_type(const char *field, const char *t, hd_err *err)
{
    const char *slash = t != NULL ? strchr(t, '/') : NULL;
    size_t n = t != NULL ? strlen(t) : 0;
    bool ok = slash != NULL && slash != t && slash[1] != '\0' && n <= 127;
    for (size_t i = 0; ok && i < n; i++)
        ok = t + i == slash || is_token((uint8_t)t[i]);
    if (!ok)
        return hd_err_set(err, HD_EINVAL,
                          "%s: \"%s\" is not type/subtype (RFC 2045 §5.1; no parameters)",
                          field, t != NULL ? t : "");
    /* RFC 2045 §6.4: composite types may not be base64-encoded. */
    if (strncasecmp(t, "multipart/", 10) == 0 || strncasecmp(t, "message/", 8) == 0)
        return hd_err_set(err, HD_EINVAL,
                          "%s: %s cannot be sent base64-encoded (RFC 2045 §6.4); use "
                          "application/octet-stream",
                          field, t);
    return 0;
}

/* A Content-ID without its <>: atext, dots and @ (RFC 2392 msg-id, loosely). */
static int check_content_id(const char *field, const char *cid, hd_err *err)
{
    size_t n = strlen(cid);
    bool ok = n > 0 && n <= 250;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_atext((uint8_t)cid[i]) || cid[i] == '.' || cid[i] == '@';
    if (!ok)
        return hd_err_set(err, HD_EINVAL,
                          "%s: must be 1 to 250 characters of letters, digits, dots, @ and "
                          "!#$%%&'*+-/=?^_`{|}~ (no <>)",
                          field);
    return 0;
}

static int check_attachment(size_t i, const hd_compose_attachment *a, hd_err *err)
{
    char field[64];
    snprintf(field, sizeof field, "attachments[%zu].filename", i);
    int rc = check_text(field, hd_slice_cstr(a->filename), HD_COMPOSE_MAX_FILENAME, false, err);
    if (rc == 0 && a->content_type != NULL) {
        snprintf(field, sizeof field, "attachments[%zu].content_type", i);
        rc = check_content_type(field, a->content_type, err);
    }
    if (rc == 0 && a->content_id != NULL) {
        snprintf(field, sizeof field, "attachments[%zu].content_id", i);
        rc = check_content_id(field, a->content_id, err);
    }
    if (rc == 0 && a->data.len > 0 && a->data.p == NULL)
        rc = hd_err_set(err, HD_EINVAL, "attachments[%zu].data: length without bytes", i);
    return rc;
}

static int check_unique(const hd_compose_msg *m, hd_err *err)
{
    size_t n = m->unique != NULL ? strlen(m->unique) : 0;
    bool ok = n > 0 && n <= UNIQUE_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = m->unique[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return hd_err_set(err, HD_EINVAL, "unique: must be 1 to %d of A-Z a-z 0-9 . _ -",
                          UNIQUE_MAX);
    if (m->message_id_domain != NULL &&
        !is_domain(m->message_id_domain, strlen(m->message_id_domain)))
        return hd_err_set(err, HD_EINVAL, "message_id_domain: not a host name");
    return 0;
}

/* A body: UTF-8 without NUL (text/html are declared charset=utf-8). */
static int check_body(const char *field, hd_slice s, hd_err *err)
{
    if (s.len > 0 && s.p == NULL)
        return hd_err_set(err, HD_EINVAL, "%s: length without bytes", field);
    for (size_t i = 0; i < s.len;) {
        if (s.p[i] == 0)
            return hd_err_set(err, HD_EINVAL, "%s: NUL byte at %zu", field, i);
        size_t n = utf8_len(s.p + i, s.len - i);
        if (n == 0)
            return hd_err_set(err, HD_EINVAL, "%s: not valid UTF-8 at byte %zu", field, i);
        i += n;
    }
    return 0;
}

static int check_msg(const hd_compose_msg *m, hd_err *err)
{
    int rc = check_unique(m, err);
    if (rc == 0)
        rc = check_addr("from", &m->from, err);
    if (rc)
        return rc;
    if (m->n_to > HD_COMPOSE_MAX_ADDRESSES || m->n_cc > HD_COMPOSE_MAX_ADDRESSES ||
        m->n_reply_to > HD_COMPOSE_MAX_ADDRESSES ||
        m->n_to + m->n_cc + m->n_reply_to > HD_COMPOSE_MAX_ADDRESSES)
        return hd_err_set(err, HD_ELIMIT, "to, cc and reply_to: more than %d addresses",
                          HD_COMPOSE_MAX_ADDRESSES);
    if ((rc = check_addrs("to", m->to, m->n_to, err)) != 0 ||
        (rc = check_addrs("cc", m->cc, m->n_cc, err)) != 0 ||
        (rc = check_addrs("reply_to", m->reply_to, m->n_reply_to, err)) != 0)
        return rc;
    if ((rc = check_text("subject", hd_slice_cstr(m->subject), HD_COMPOSE_MAX_SUBJECT, true,
                         err)) != 0)
        return rc;
    if ((rc = check_body("text", m->text, err)) != 0 || (rc = check_body("html", m->html, err)))
        return rc;
    if (m->n_headers > HD_COMPOSE_MAX_HEADERS)
        return hd_err_set(err, HD_ELIMIT, "headers: %zu, more than %d", m->n_headers,
                          HD_COMPOSE_MAX_HEADERS);
    if (m->n_headers > 0 && m->headers == NULL)
        return hd_err_set(err, HD_EINVAL, "headers: a count but no array");
    for (size_t i = 0; i < m->n_headers; i++)
        if ((rc = check_header(i, &m->headers[i], err)) != 0)
            return rc;
    if (m->n_att > HD_COMPOSE_MAX_ATTACHMENTS)
        return hd_err_set(err, HD_ELIMIT, "attachments: %zu, more than %d", m->n_att,
                          HD_COMPOSE_MAX_ATTACHMENTS);
    if (m->n_att > 0 && m->att == NULL)
        return hd_err_set(err, HD_EINVAL, "attachments: a count but no array");
    for (size_t i = 0; i < m->n_att; i++)
        if ((rc = check_attachment(i, &m->att[i], err)) != 0)
            return rc;
    return 0;
}

/* Folding header writer ---------------------------------------------------- */

typedef struct fw {
    hd_buf *b;
    size_t col;   /* bytes on the current line */
    size_t start; /* col just after "Name:" */
} fw;

static int fw_begin(fw *w, hd_buf *b, const char *name)
{
    w->b = b;
    int rc = hd_buf_printf(b, "%s:", name);
    w->col = w->start = strlen(name) + 1;
    return rc;
}

static int fw_fold(fw *w)
{
    w->col = 0;
    return hd_buf_append(w->b, "\r\n", 2);
}

/* Append whitespace ws then tok; fold before ws when the line would pass
 * 78 characters and may_fold (ws must be non-empty to fold). HD_EINVAL
 * when even a fold cannot keep the line within 998. */
static int fw_put(fw *w, hd_slice ws, hd_slice tok, bool may_fold)
{
    int rc;
    if (may_fold && ws.len > 0 && w->col > w->start &&
        w->col + ws.len + tok.len > LINE_SOFT && (rc = fw_fold(w)) != 0)
        return rc;
    if ((rc = hd_buf_append_slice(w->b, ws)) != 0 || (rc = hd_buf_append_slice(w->b, tok)))
        return rc;
    w->col += ws.len + tok.len;
    return w->col > LINE_HARD ? HD_EINVAL : 0;
}

static int fw_end(fw *w)
{
    return hd_buf_append(w->b, "\r\n", 2);
}

/* RFC 2047 encoded words ---------------------------------------------------- */

static size_t q_cost(const uint8_t *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (is_q_safe(p[i]) || p[i] == ' ') ? 1 : 3;
    return c;
}

static size_t b_cost(size_t n)
{
    return (n + 2) / 3 * 4;
}

static int ew_word(hd_buf *word, hd_slice chunk, bool q)
{
    int rc = hd_buf_append_cstr(word, q ? "=?utf-8?Q?" : "=?utf-8?B?");
    if (q) {
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; rc == 0 && i < chunk.len; i++) {
            uint8_t c = chunk.p[i];
            if (is_q_safe(c))
                rc = hd_buf_append_byte(word, c);
            else if (c == ' ') /* RFC 2047 §4.2 (2) */
                rc = hd_buf_append_byte(word, '_');
            else
                rc = hd_buf_printf(word, "=%c%c", hex[c >> 4], hex[c & 15]);
        }
    } else if (rc == 0) {
        rc = hd_b64_encode(chunk, word);
    }
    return rc ? rc : hd_buf_append_cstr(word, "?=");
}

/* Write s (UTF-8) as encoded words separated by folding whitespace. pre is
 * glued before the first word and post after the last (a quoted-string's
 * quotes). Each word holds whole characters and fits in 75 characters. */
static int put_encoded(fw *w, hd_slice s, const char *pre, const char *post)
{
    bool q = q_cost(s.p, s.len) <= b_cost(s.len);
    size_t prelen = strlen(pre), postlen = strlen(post);
    hd_buf word;
    hd_buf_init(&word, 256);
    int rc = 0;
    size_t i = 0;
    do {
        size_t first = s.len > i ? utf8_len(s.p + i, s.len - i) : 0;
        size_t need = EW_OVERHEAD + (q ? q_cost(s.p + i, first) : b_cost(first));
        size_t extra = (i == 0 ? prelen : 0) + postlen;
        size_t avail = w->col + 1 + extra < LINE_SOFT ? LINE_SOFT - w->col - 1 - extra : 0;
        /* fold when the next character does not fit, or when a fold would
         * keep the rest in one word (some readers, Python's among them,
         * keep the space between encoded words of a display name) */
        size_t rest = EW_OVERHEAD + (q ? q_cost(s.p + i, s.len - i) : b_cost(s.len - i));
        bool whole_after_fold = rest <= EW_MAX && rest <= LINE_SOFT - 1 - extra;
        if ((avail < need || (rest > avail && whole_after_fold)) && w->col > 1 &&
            (rc = fw_fold(w)) != 0)
            break;
        if (w->col == 0)
            avail = LINE_SOFT - 1 - extra;
        if (avail > EW_MAX)
            avail = EW_MAX;
        /* take whole characters while the word fits */
        size_t end = i, cost = 0;
        while (end < s.len) {
            size_t n = utf8_len(s.p + end, s.len - end);
            size_t c = q ? cost + q_cost(s.p + end, n) : b_cost(end + n - i);
            if (end > i && EW_OVERHEAD + c > avail)
                break;
            cost = c;
            end += n;
        }
        hd_buf_reset(&word);
        if (i == 0)
            rc = hd_buf_append(&word, pre, prelen);
        if (rc == 0)
            rc = ew_word(&word, hd_slice_make(s.p + i, end - i), q);
        if (rc == 0 && end == s.len)
            rc = hd_buf_append(&word, post, postlen);
        if (rc == 0)
            rc = fw_put(w, hd_slice_cstr(" "), hd_buf_slice(&word), false);
        i = end;
    } while (rc == 0 && i < s.len);
    hd_buf_free(&word);
    return rc;
}

/* Header values -------------------------------------------------------------- */

static hd_slice trim(hd_slice s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* The longest run of non-whitespace in s. */
static size_t longest_word(hd_slice s)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < s.len; i++) {
        run = (s.p[i] == ' ' || s.p[i] == '\t') ? 0 : run + 1;
        if (run > best)
            best = run;
    }
    return best;
}

/* ASCII unstructured text folded at its own whitespace (which is kept). */
static int put_ascii_words(fw *w, hd_slice s)
{
    size_t i = 0;
    bool first = true;
    while (i < s.len) {
        size_t ws = i;
        while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t'))
            i++;
        size_t wd = i;
        while (i < s.len && s.p[i] != ' ' && s.p[i] != '\t')
            i++;
        hd_slice space = first ? hd_slice_cstr(" ") : hd_slice_make(s.p + ws, wd - ws);
        int rc = fw_put(w, space, hd_slice_make(s.p + wd, i - wd), true);
        if (rc)
            return rc;
        first = false;
    }
    return 0;
}

/* RFC 5322 §3.2.5 unstructured (Subject, custom fields). Leading and
 * trailing whitespace is dropped. Non-ASCII text, text that would read as
 * encoded words, and (when encode_long) words too long to fold nicely are
 * written as encoded words. */
static int put_unstructured(fw *w, hd_slice s, bool encode_long)
{
    s = trim(s);
    if (s.len == 0)
        return 0;
    bool encode = !is_ascii(s) || (encode_long && (has_str(s, "=?") ||
                                                   longest_word(s) > LINE_SOFT - 10));
    return encode ? put_encoded(w, s, "", "") : put_ascii_words(w, s);
}

/* A display name (RFC 5322 §3.2.5 phrase): atoms as they are, other ASCII
 * as a quoted string, non-ASCII (or long) as encoded words. */
static int put_phrase(fw *w, hd_slice s)
{
    bool atoms = s.len > 0 && s.p[0] != ' ' && s.p[s.len - 1] != ' ';
    bool quotable = true;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!is_atext(c) && !(c == ' ' && i + 1 < s.len && s.p[i + 1] != ' '))
            atoms = false;
        if (c >= 0x80)
            quotable = false;
    }
    if (has_str(s, "=?") || s.len > 60)
        atoms = quotable = false;
    if (atoms)
        return put_ascii_words(w, s);
    if (!quotable)
        return put_encoded(w, s, "", "");
    hd_buf q;
    hd_buf_init(&q, 2 * s.len + 3);
    int rc = hd_buf_append_byte(&q, '"');
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        if (s.p[i] == '"' || s.p[i] == '\\') /* RFC 5322 §3.2.4 quoted-pair */
            rc = hd_buf_append_byte(&q, '\\');
        if (rc == 0)
            rc = hd_buf_append_byte(&q, s.p[i]);
    }
    if (rc == 0)
        rc = hd_buf_append_byte(&q, '"');
    if (rc == 0)
        rc = fw_put(w, hd_slice_cstr(" "), hd_buf_slice(&q), true);
    hd_buf_free(&q);
    return rc;
}

static int put_mailbox(fw *w, const hd_compose_addr *a, bool last)
{
    char tok[260];
    int rc = 0;
    if (a->name != NULL && a->name[0] != '\0') {
        rc = put_phrase(w, hd_slice_cstr(a->name));
        snprintf(tok, sizeof tok, "<%s>%s", a->address, last ? "" : ",");
    } else {
        snprintf(tok, sizeof tok, "%s%s", a->address, last ? "" : ",");
    }
    return rc ? rc : fw_put(w, hd_slice_cstr(" "), hd_slice_cstr(tok), true);
}

static int put_addr_field(hd_buf *b, const char *name, const hd_compose_addr *v, size_t n)
{
    if (n == 0)
        return 0;
    fw w;
    int rc = fw_begin(&w, b, name);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = put_mailbox(&w, &v[i], i + 1 == n);
    return rc ? rc : fw_end(&w);
}

static int put_date(hd_buf *b, int64_t t)
{
    char date[40];
    hd_mail_date(t, date);
    return hd_buf_printf(b, "Date: %s\r\n", date);
}

/* Bodies ---------------------------------------------------------------------- */

/* text with every line end (LF, CR, CRLF) as CRLF: RFC 2046 §4.1.1. */
static int to_crlf(hd_slice s, hd_buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        if (s.p[i] == '\r' || s.p[i] == '\n') {
            rc = hd_buf_append(out, "\r\n", 2);
            if (s.p[i] == '\r' && i + 1 < s.len && s.p[i + 1] == '\n')
                i++;
        } else {
            rc = hd_buf_append_byte(out, s.p[i]);
        }
    }
    return rc;
}

/* 7bit (RFC 2045 §2.7) with lines short enough to leave alone, and no "=_"
 * (which starts every boundary). */
static bool fits_7bit(hd_slice s)
{
    size_t col = 0;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c == '\r') {
            i++; /* always CRLF after to_crlf */
            col = 0;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c >= 0x7f || ++col > LINE_SOFT)
            return false;
    }
    return !has_str(s, "=_");
}

/* RFC 2045 §6.7 quoted-printable of CRLF text: soft breaks keep every line
 * within 76 characters; SP and HTAB before a line end are encoded. */
static int put_qp(hd_slice s, hd_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c == '\r') {
            rc = hd_buf_append(out, "\r\n", 2);
            i++;
            col = 0;
            continue;
        }
        bool before_crlf = i + 1 < s.len && s.p[i + 1] == '\r';
        bool at_eol = before_crlf || i + 1 == s.len;
        bool lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
        size_t u = lit ? 1 : 3;
        /* room for the unit and a soft break's "=", unless a line end
         * follows (the end of the text may get a final soft break) */
        if (col + u > (before_crlf ? QP_LINE : QP_LINE - 1)) {
            rc = hd_buf_append(out, "=\r\n", 3);
            col = 0;
        }
        if (rc == 0)
            rc = lit ? hd_buf_append_byte(out, c)
                     : hd_buf_printf(out, "=%c%c", hex[c >> 4], hex[c & 15]);
        col += u;
    }
    return rc;
}

/* One text part: headers, blank line, body. At the top level the body must
 * end in CRLF, so text without a final line end gets a QP soft break there
 * (which decodes to nothing). */
static int render_text(const char *subtype, hd_slice text, bool top, hd_buf *out)
{
    hd_buf crlf;
    hd_buf_init(&crlf, out->max);
    int rc = to_crlf(text, &crlf);
    hd_slice s = hd_buf_slice(&crlf);
    bool ends = s.len == 0 || s.p[s.len - 1] == '\n';
    bool seven = fits_7bit(s) && (ends || !top);
    if (rc == 0)
        rc = hd_buf_printf(out,
                           "Content-Type: text/%s; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: %s\r\n\r\n",
                           subtype, seven ? "7bit" : "quoted-printable");
    if (rc == 0)
        rc = seven ? hd_buf_append_slice(out, s) : put_qp(s, out);
    if (rc == 0 && !seven && top && !ends)
        rc = hd_buf_append(out, "=\r\n", 3);
    hd_buf_free(&crlf);
    return rc;
}

/* Attachments ------------------------------------------------------------------ */

/* A file name plain enough for name="..." and filename="...". */
static bool plain_filename(hd_slice s)
{
    if (s.len == 0 || s.len > 60 || has_str(s, "=?"))
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < 32 || s.p[i] > 126 || s.p[i] == '"' || s.p[i] == '\\')
            return false;
    return true;
}

/* RFC 2231 §3-4: filename*=utf-8''%XX..., split into numbered sections of
 * whole characters when long. */
static int put_2231(fw *w, const char *attr, hd_slice s)
{
    static const char hex[] = "0123456789ABCDEF";
    hd_buf tok;
    hd_buf_init(&tok, 256);
    size_t total = 0; /* encoded length, to know whether one section fits */
    for (size_t i = 0; i < s.len; i++)
        total += is_attr_char(s.p[i]) ? 1 : 3;
    bool one = strlen(attr) + 10 + total <= LINE_SOFT - 2;
    int rc = 0;
    size_t i = 0;
    for (unsigned sec = 0; rc == 0 && (i < s.len || sec == 0); sec++) {
        hd_buf_reset(&tok);
        rc = one ? hd_buf_printf(&tok, "%s*=", attr) : hd_buf_printf(&tok, "%s*%u*=", attr, sec);
        if (rc == 0 && sec == 0)
            rc = hd_buf_append_cstr(&tok, "utf-8''");
        while (rc == 0 && i < s.len) {
            size_t n = utf8_len(s.p + i, s.len - i);
            if (!one && tok.len + 3 * n > 60 && tok.len > 20)
                break;
            for (size_t k = 0; rc == 0 && k < n; k++) {
                uint8_t c = s.p[i + k];
                rc = is_attr_char(c) ? hd_buf_append_byte(&tok, c)
                                     : hd_buf_printf(&tok, "%%%c%c", hex[c >> 4], hex[c & 15]);
            }
            i += n;
        }
        if (rc == 0 && i < s.len)
            rc = hd_buf_append_byte(&tok, ';');
        if (rc == 0)
            rc = fw_put(w, hd_slice_cstr(" "), hd_buf_slice(&tok), true);
    }
    hd_buf_free(&tok);
    return rc;
}

/* Content-Type with name=, Content-Disposition with filename=. */
static int put_filename_param(fw *w, const char *attr, hd_slice name)
{
    if (plain_filename(name)) {
        char tok[80];
        snprintf(tok, sizeof tok, "%s=\"%.*s\"", attr, (int)name.len, (const char *)name.p);
        return fw_put(w, hd_slice_cstr(" "), hd_slice_cstr(tok), true);
    }
    if (strcmp(attr, "filename") == 0)
        return put_2231(w, attr, name);
    /* name=: the RFC 2047-in-quotes form many readers still look at */
    char pre[16];
    snprintf(pre, sizeof pre, "%s=\"", attr);
    return put_encoded(w, name, pre, "\"");
}

static int render_attachment(const hd_compose_attachment *a, bool is_inline, hd_buf *out)
{
    hd_slice name = hd_slice_cstr(a->filename);
    const char *type = a->content_type != NULL ? a->content_type : "application/octet-stream";
    fw w;
    int rc = fw_begin(&w, out, "Content-Type");
    if (rc == 0)
        rc = fw_put(&w, hd_slice_cstr(" "), hd_slice_cstr(type), false);
    if (rc == 0 && name.len > 0 && (rc = hd_buf_append_byte(out, ';')) == 0) {
        w.col++;
        rc = put_filename_param(&w, "name", name);
    }
    if (rc == 0 && (rc = fw_end(&w)) == 0)
        rc = fw_begin(&w, out, "Content-Disposition");
    if (rc == 0)
        rc = fw_put(&w, hd_slice_cstr(" "),
                    hd_slice_cstr(is_inline ? "inline" : "attachment"), false);
    if (rc == 0 && name.len > 0 && (rc = hd_buf_append_byte(out, ';')) == 0) {
        w.col++;
        rc = put_filename_param(&w, "filename", name);
    }
    if (rc == 0)
        rc = fw_end(&w);
    if (rc == 0 && a->content_id != NULL)
        rc = hd_buf_printf(out, "Content-ID: <%s>\r\n", a->content_id);
    if (rc == 0)
        rc = hd_buf_append_cstr(out, "Content-Transfer-Encoding: base64\r\n\r\n");
    /* RFC 2045 §6.8: lines of at most 76 characters */
    for (size_t i = 0; rc == 0 && i < a->data.len; i += B64_LINE_BYTES) {
        size_t n = a->data.len - i < B64_LINE_BYTES ? a->data.len - i : B64_LINE_BYTES;
        rc = hd_b64_encode(hd_slice_make(a->data.p + i, n), out);
        if (rc == 0)
            rc = hd_buf_append(out, "\r\n", 2);
    }
    return rc;
}

/* Multiparts -------------------------------------------------------------------- */

typedef struct parts {
    hd_buf *v;
    size_t n, cap;
    size_t max;
} parts;

static hd_buf *parts_add(parts *ps)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 4;
        hd_buf *v = realloc(ps->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        ps->v = v;
        ps->cap = cap;
    }
    hd_buf *b = &ps->v[ps->n++];
    hd_buf_init(b, ps->max);
    return b;
}

static void parts_free(parts *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        hd_buf_free(&ps->v[i]);
    free(ps->v);
    ps->v = NULL;
    ps->n = ps->cap = 0;
}

/* A boundary whose delimiter ("--" boundary) occurs in no child
 * (RFC 2046 §5.1.1). */
static int pick_boundary(const char *unique, const char *tag, const parts *ps, char out[80])
{
    for (unsigned k = 0; k < BOUNDARY_TRIES; k++) {
        if (k == 0)
            snprintf(out, 80, "=_hd_%s_%s", unique, tag);
        else
            snprintf(out, 80, "=_hd_%s_%s_%u", unique, tag, k);
        char delim[84];
        snprintf(delim, sizeof delim, "--%s", out);
        bool clash = false;
        for (size_t i = 0; !clash && i < ps->n; i++)
            clash = hd_slice_find(hd_buf_slice(&ps->v[i]), hd_slice_cstr(delim)) != (size_t)-1;
        if (!clash)
            return 0;
    }
    return HD_ELIMIT;
}

/* A multipart entity of the given children. A single child is passed
 * through unless force. */
static int render_multipart(const char *unique, const char *subtype, const char *tag,
                            const parts *ps, bool force, hd_buf *out)
{
    if (ps->n == 1 && !force)
        return hd_buf_append_slice(out, hd_buf_slice(&ps->v[0]));
    char b[80];
    int rc = pick_boundary(unique, tag, ps, b);
    if (rc == 0)
        rc = hd_buf_printf(out, "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n\r\n",
                           subtype, b);
    for (size_t i = 0; rc == 0 && i < ps->n; i++) {
        rc = hd_buf_printf(out, "%s--%s\r\n", i == 0 ? "" : "\r\n", b);
        if (rc == 0)
            rc = hd_buf_append_slice(out, hd_buf_slice(&ps->v[i]));
    }
    if (rc == 0)
        rc = hd_buf_printf(out, "\r\n--%s--\r\n", b);
    return rc;
}

/* The html part, with its inline attachments in a multipart/related
 * (RFC 2387) when there are any. */
static int render_html(const hd_compose_msg *m, bool top, hd_buf *out)
{
    bool related = false;
    for (size_t i = 0; i < m->n_att; i++)
        related |= m->att[i].content_id != NULL;
    parts ps = {.max = out->max};
    hd_buf *b = parts_add(&ps);
    int rc = b ? render_text("html", m->html, top && !related, b) : HD_ENOMEM;
    for (size_t i = 0; rc == 0 && i < m->n_att; i++)
        if (m->att[i].content_id != NULL)
            rc = (b = parts_add(&ps)) ? render_attachment(&m->att[i], true, b) : HD_ENOMEM;
    if (rc == 0)
        rc = render_multipart(m->unique, "related", "rel", &ps, false, out);
    parts_free(&ps);
    return rc;
}

/* text, html or both as multipart/alternative (RFC 2046 §5.1.4: text first). */
static int render_body(const hd_compose_msg *m, bool top, hd_buf *out)
{
    bool nested = m->text.p != NULL && m->html.p != NULL;
    parts ps = {.max = out->max};
    hd_buf *b;
    int rc = 0;
    if (m->text.p != NULL)
        rc = (b = parts_add(&ps)) ? render_text("plain", m->text, top && !nested, b) : HD_ENOMEM;
    if (rc == 0 && m->html.p != NULL)
        rc = (b = parts_add(&ps)) ? render_html(m, top && !nested, b) : HD_ENOMEM;
    if (rc == 0)
        rc = render_multipart(m->unique, "alternative", "alt", &ps, false, out);
    parts_free(&ps);
    return rc;
}

/* The root entity: the body, and the attachments in a multipart/mixed.
 * Inline attachments go with the html; without html they are mixed parts
 * shown inline. */
static int render_root(const hd_compose_msg *m, hd_buf *out)
{
    bool has_html = m->html.p != NULL;
    size_t mixed_att = 0;
    for (size_t i = 0; i < m->n_att; i++)
        mixed_att += !(has_html && m->att[i].content_id != NULL);
    bool has_body = m->text.p != NULL || has_html;
    if (mixed_att == 0) {
        if (has_body)
            return render_body(m, true, out);
        return render_text("plain", hd_slice_make("", 0), true, out);
    }
    parts ps = {.max = out->max};
    hd_buf *b;
    int rc = 0;
    if (has_body)
        rc = (b = parts_add(&ps)) ? render_body(m, false, b) : HD_ENOMEM;
    for (size_t i = 0; rc == 0 && i < m->n_att; i++) {
        const hd_compose_attachment *a = &m->att[i];
        if (has_html && a->content_id != NULL)
            continue;
        rc = (b = parts_add(&ps)) ? render_attachment(a, a->content_id != NULL, b) : HD_ENOMEM;
    }
    /* one attachment alone still goes in a multipart/mixed */
    if (rc == 0)
        rc = render_multipart(m->unique, "mixed", "mix", &ps, true, out);
    parts_free(&ps);
    return rc;
}

/* The message ---------------------------------------------------------------- */

static int put_header_section(const hd_compose_msg *m, hd_buf *out, hd_err *err)
{
    int rc = put_date(out, m->now);
    if (rc == 0)
        rc = put_addr_field(out, "From", &m->from, 1);
    if (rc == 0)
        rc = put_addr_field(out, "Reply-To", m->reply_to, m->n_reply_to);
    if (rc == 0)
        rc = put_addr_field(out, "To", m->to, m->n_to);
    if (rc == 0)
        rc = put_addr_field(out, "Cc", m->cc, m->n_cc);
    if (rc)
        return hd_err_set(err, rc, "cannot write the address fields: %s", hd_strerror(rc));
    fw w;
    if (m->subject != NULL) {
        rc = fw_begin(&w, out, "Subject");
        if (rc == 0)
            rc = put_unstructured(&w, hd_slice_cstr(m->subject), true);
        if (rc == 0)
            rc = fw_end(&w);
        if (rc)
            return hd_err_set(err, rc, "subject: cannot write: %s", hd_strerror(rc));
    }
    if (m->message_id_domain != NULL &&
        (rc = hd_buf_printf(out, "Message-ID: <%s@%s>\r\n", m->unique, m->message_id_domain)))
        return hd_err_set(err, rc, "cannot write the Message-ID: %s", hd_strerror(rc));
    for (size_t i = 0; i < m->n_headers; i++) {
        rc = fw_begin(&w, out, m->headers[i].name);
        if (rc == 0)
            rc = put_unstructured(&w, hd_slice_cstr(m->headers[i].value), false);
        if (rc == 0)
            rc = fw_end(&w);
        if (rc == HD_EINVAL)
            return hd_err_set(err, rc,
                              "headers[%zu].value: a word too long to fold within %d bytes",
                              i, LINE_HARD);
        if (rc)
            return hd_err_set(err, rc, "headers[%zu]: cannot write: %s", i, hd_strerror(rc));
    }
    if ((rc = hd_buf_append_cstr(out, "MIME-Version: 1.0\r\n")) != 0)
        return hd_err_set(err, rc, "cannot write the header: %s", hd_strerror(rc));
    return 0;
}

int hd_compose(const hd_compose_msg *m, hd_buf *out, hd_err *err)
{
    if (m == NULL || out == NULL)
        return hd_err_set(err, HD_EINVAL, "hd_compose: no message or no buffer");
    int rc = check_msg(m, err);
    if (rc)
        return rc;
    size_t max = m->max_bytes ? m->max_bytes : HD_COMPOSE_MAX_BYTES;
    hd_buf msg;
    hd_buf_init(&msg, max);
    rc = put_header_section(m, &msg, err);
    if (rc == 0 && (rc = render_root(m, &msg)) != 0)
        hd_err_set(err, rc, "cannot compose the body: %s", hd_strerror(rc));
    /* every buffer is capped at max, so a limit hit is the size cap */
    if (rc == HD_ELIMIT)
        hd_err_set(err, rc, "the composed message would exceed %zu bytes", max);
    if (rc == 0 && (rc = hd_buf_append_slice(out, hd_buf_slice(&msg))) != 0)
        hd_err_set(err, rc, "the output buffer cannot take the %zu-byte message", msg.len);
    hd_buf_free(&msg);
    return rc;
}
