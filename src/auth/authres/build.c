/*
 * build.c - writing our own Authentication-Results (RFC 8601 §2.2) and
 * ARC-Authentication-Results (RFC 8617 §4.1.1) fields.
 *
 * The builder collects method fragments (copied, each checked to be one
 * resinfo and free of CR, LF and NUL: docs/style.md rule 12), then writes
 *
 *     Authentication-Results: <authserv-id>;\r\n\t<fragment 1>;\r\n\t<fragment 2>\r\n
 *
 * or "Authentication-Results: <authserv-id>; none\r\n" without fragments.
 * A fragment longer than a line is folded before a space outside quoted
 * strings (the parse is unchanged: folding inside a comment is removed).
 * Finally the field is parsed back and compared, result by result, with
 * what each fragment parsed to alone; a difference is refused, so herald
 * never emits a field that a reader would understand otherwise.
 *
 * Ownership: the builder owns copies of the id and the fragments; the
 * output goes to the caller's hd_buf (whose cap bounds it).
 */
#include <herald/authres.h>
#include <herald/limits.h>

#include <stdlib.h>
#include <string.h>

#define LINE_SOFT 78 /* RFC 5322 §2.1.1: SHOULD be no more than 78 octets */

struct hd_authres_builder {
    hd_buf head;  /* "Authentication-Results: id;" */
    size_t value_at; /* where the field value begins in head */
    unsigned instance; /* 0: Authentication-Results; else ARC */
    char id[HD_AUTHRES_MAX_ID + 1];
    hd_buf frags; /* the fragments, back to back */
    size_t off[HD_AUTHRES_MAX_RESULTS], len[HD_AUTHRES_MAX_RESULTS];
    hd_authres *parsed[HD_AUTHRES_MAX_RESULTS];
    size_t n;
};

/* RFC 8601 §2.5: a domain-like token. */
int hd_authres_check_id(const char *id, hd_err *err)
{
    if (id == NULL || id[0] == '\0')
        return hd_err_set(err, HD_EINVAL, "authserv-id: empty");
    size_t n = strlen(id);
    if (strpbrk(id, "\r\n") != NULL)
        return hd_err_set(err, HD_EINVAL, "authserv-id: holds CR or LF");
    if (n > HD_AUTHRES_MAX_ID)
        return hd_err_set(err, HD_EINVAL, "authserv-id: longer than %d bytes", HD_AUTHRES_MAX_ID);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return hd_err_set(err, HD_EINVAL, "authserv-id: byte %zu is not a letter, digit, '-', '_' or '.'", i);
        if (c == '.' && (i == 0 || i + 1 == n || id[i + 1] == '.'))
            return hd_err_set(err, HD_EINVAL, "authserv-id: empty label at byte %zu", i);
    }
    return 0;
}

static int builder_new(unsigned instance, const char *id, hd_authres_builder **out, hd_err *err)
{
    *out = NULL;
    int rc = hd_authres_check_id(id, err);
    if (rc != 0)
        return rc;
    hd_authres_builder *b = calloc(1, sizeof *b);
    if (b == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    memcpy(b->id, id, strlen(id) + 1);
    b->instance = instance;
    hd_buf_init(&b->head, 64 + HD_AUTHRES_MAX_ID);
    hd_buf_init(&b->frags, HD_LIMIT_HEADER_FIELD_BYTES);
    rc = hd_buf_append_cstr(&b->head, instance ? "ARC-Authentication-Results:" : "Authentication-Results:");
    b->value_at = b->head.len;
    if (rc == 0 && instance)
        rc = hd_buf_printf(&b->head, " i=%u;", instance);
    if (rc == 0)
        rc = hd_buf_printf(&b->head, " %s;", id);
    if (rc != 0) {
        hd_authres_builder_free(b);
        return hd_err_set(err, rc, NULL);
    }
    *out = b;
    return 0;
}

int hd_authres_builder_new(const char *authserv_id, hd_authres_builder **out, hd_err *err)
{
    return builder_new(0, authserv_id, out, err);
}

int hd_authres_builder_new_arc(unsigned instance, const char *authserv_id, hd_authres_builder **out,
                               hd_err *err)
{
    if (instance < 1 || instance > HD_AUTHRES_ARC_MAX_INSTANCE) {
        *out = NULL;
        return hd_err_set(err, HD_EINVAL, "ARC instance %u not in 1..%d", instance,
                          HD_AUTHRES_ARC_MAX_INSTANCE);
    }
    return builder_new(instance, authserv_id, out, err);
}

void hd_authres_builder_free(hd_authres_builder *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        hd_authres_free(b->parsed[i]);
    hd_buf_free(&b->head);
    hd_buf_free(&b->frags);
    free(b);
}

int hd_authres_builder_add(hd_authres_builder *b, hd_slice frag, hd_err *err)
{
    if (b->n == HD_AUTHRES_MAX_RESULTS)
        return hd_err_set(err, HD_ELIMIT, "more than %d results", HD_AUTHRES_MAX_RESULTS);
    for (size_t i = 0; i < frag.len; i++) {
        if (frag.p[i] == '\r' || frag.p[i] == '\n')
            return hd_err_set(err, HD_EINVAL, "fragment: CR or LF at offset %zu", i);
        if (frag.p[i] == '\0')
            return hd_err_set(err, HD_EINVAL, "fragment: NUL at offset %zu", i);
    }
    frag = hd_slice_trim_wsp(frag);
    /* Alone, a fragment parses as a field without an authserv-id: exactly
     * one result and nothing else. */
    hd_authres *ar = NULL;
    int rc = hd_authres_parse(frag, &ar, err);
    if (rc != 0) {
        hd_err_prefix(err, "fragment: ");
        return rc;
    }
    unsigned bad = HD_AUTHRES_Q_TRAILING_SEMI | HD_AUTHRES_Q_EMPTY_RESINFO | HD_AUTHRES_Q_NO_RESULTS;
    if (!(hd_authres_quirks(ar) & HD_AUTHRES_Q_NO_AUTHSERV_ID) || hd_authres_count(ar) != 1 ||
        (hd_authres_quirks(ar) & bad)) {
        hd_authres_free(ar);
        return hd_err_set(err, HD_EINVAL, "fragment: not a single method=result");
    }
    b->off[b->n] = b->frags.len;
    if ((rc = hd_buf_append_slice(&b->frags, frag)) != 0) {
        hd_authres_free(ar);
        return hd_err_set(err, rc, "fragments too long");
    }
    b->len[b->n] = frag.len;
    b->parsed[b->n++] = ar;
    return 0;
}

/* Append one fragment, folding before a space (outside quoted strings)
 * when the line would pass LINE_SOFT; *col is the current line length.
 * Never folds before a run of spaces alone (no whitespace-only line). */
static int append_folded(hd_buf *out, hd_slice f, size_t *col)
{
    size_t i = 0;
    bool quoted = false, escaped = false;
    unsigned depth = 0;
    while (i < f.len) {
        /* the next word: from i up to the next breakable space */
        size_t j = i + 1;
        for (; j < f.len; j++) {
            uint8_t c = f.p[j - 1];
            if (escaped)
                escaped = false;
            else if (c == '\\' && (quoted || depth > 0))
                escaped = true;
            else if (c == '"' && depth == 0)
                quoted = !quoted;
            else if (c == '(' && !quoted)
                depth++;
            else if (c == ')' && !quoted && depth > 0)
                depth--;
            if (f.p[j] == ' ' && !quoted && !escaped)
                break;
        }
        bool blank = true;
        for (size_t k = i; k < j && blank; k++)
            blank = f.p[k] == ' ';
        int rc = 0;
        if (i > 0 && !blank && *col > 1 && *col + (j - i) > LINE_SOFT) {
            rc = hd_buf_append_cstr(out, "\r\n");
            *col = 0;
        }
        if (rc == 0)
            rc = hd_buf_append(out, f.p + i, j - i);
        if (rc != 0)
            return rc;
        *col += j - i;
        i = j;
    }
    return 0;
}

/* Parse the field just written (from start in out) and compare it with
 * the fragments. */
static int verify(const hd_authres_builder *b, const hd_buf *out, size_t start, hd_err *err)
{
    hd_slice value = hd_slice_make(out->p + start + b->value_at, out->len - start - b->value_at);
    hd_authres *ar = NULL;
    unsigned inst = 0;
    hd_err perr;
    int rc = b->instance ? hd_authres_parse_arc(value, &inst, &ar, &perr)
                         : hd_authres_parse(value, &ar, &perr);
    if (rc != 0)
        return hd_err_set(err, HD_EINVAL, "generated field does not parse: %s", perr.msg);
    const char *why = NULL;
    if (inst != b->instance)
        why = "instance";
    else if (strcmp(hd_authres_authserv_id(ar), b->id) != 0)
        why = "authserv-id";
    else if (hd_authres_count(ar) != b->n || hd_authres_is_none(ar) != (b->n == 0))
        why = "number of results";
    for (size_t i = 0; why == NULL && i < b->n; i++)
        if (!hd_authres_result_eq(hd_authres_get(ar, i), hd_authres_get(b->parsed[i], 0)))
            why = "a result";
    hd_authres_free(ar);
    if (why != NULL)
        return hd_err_set(err, HD_EINVAL, "generated field parses back with a different %s", why);
    return 0;
}

int hd_authres_builder_finish(hd_authres_builder *b, hd_buf *out, hd_err *err)
{
    size_t start = out->len;
    int rc = hd_buf_append_slice(out, hd_buf_slice(&b->head));
    if (rc == 0 && b->n == 0)
        rc = hd_buf_append_cstr(out, " none");
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        size_t col = 1;
        rc = hd_buf_append_cstr(out, i == 0 ? "\r\n\t" : ";\r\n\t");
        if (rc == 0)
            rc = append_folded(out, hd_slice_make(b->frags.p + b->off[i], b->len[i]), &col);
    }
    if (rc == 0)
        rc = hd_buf_append_cstr(out, "\r\n");
    if (rc == 0)
        rc = verify(b, out, start, err);
    else
        hd_err_set(err, rc, "Authentication-Results field: %s", hd_strerror(rc));
    if (rc != 0)
        out->len = start; /* nothing half-written */
    if (out->p != NULL)
        out->p[out->len] = '\0';
    return rc;
}

int hd_authres_build(const char *authserv_id, const hd_slice *fragments, size_t n, hd_buf *out,
                     hd_err *err)
{
    hd_authres_builder *b = NULL;
    int rc = hd_authres_builder_new(authserv_id, &b, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = hd_authres_builder_add(b, fragments[i], err);
    if (rc == 0)
        rc = hd_authres_builder_finish(b, out, err);
    hd_authres_builder_free(b);
    return rc;
}

/* Whether text's parentheses nest properly (never more closed than
 * opened, all closed, not deeper than a reader takes inside our own
 * comment): then they stay nested comments (RFC 5322 §3.2.2), which read
 * as written; otherwise each is a quoted-pair. A backslash in text escapes
 * nothing: it is written as a quoted-pair of its own, so the parenthesis
 * after it counts (text "\\)" must not close our comment). */
static bool parens_nest(const char *text)
{
    int depth = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '(' && ++depth >= HD_AUTHRES_MAX_COMMENT_DEPTH)
            return false;
        else if (*p == ')' && --depth < 0)
            return false;
    }
    return depth == 0;
}

/* Header text in ASCII: a field is no place for raw UTF-8 (RFC 5322 §2.2;
 * RFC 6532 needs an SMTPUTF8 path), and '?' for each byte of it hides what
 * was meant ("??4.3"). The one non-ASCII character of herald's own
 * reasons, "§", becomes "section"; any other character is one '?'. */
static int append_ascii(hd_buf *out, const char *text, bool comment)
{
    bool nest = comment && parens_nest(text);
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && rc == 0; p++) {
        unsigned char c = *p;
        if (c == 0xc2 && p[1] == 0xa7) { /* U+00A7 SECTION SIGN */
            p++;
            rc = hd_buf_append_cstr(out, p[1] && p[1] != ' ' ? "section " : "section");
            continue;
        }
        if (c >= 0x80) {
            while (c >= 0xc0 && (p[1] & 0xc0) == 0x80) /* the rest of this character */
                p++;
            c = '?';
        } else if (c == '\t') {
            c = ' ';
        } else if (c < 0x20 || c == 0x7f) {
            c = '?';
        }
        bool pair = c == '\\' || (comment ? (c == '(' || c == ')') && !nest : c == '"');
        if (pair)
            rc = hd_buf_append_byte(out, '\\');
        if (rc == 0)
            rc = hd_buf_append_byte(out, c);
    }
    return rc;
}

int hd_authres_append_ctext(hd_buf *out, const char *text)
{
    return append_ascii(out, text, true);
}

int hd_authres_append_qtext(hd_buf *out, const char *text)
{
    return append_ascii(out, text, false);
}

int hd_authres_append_comment(hd_buf *out, const char *text)
{
    int rc = hd_buf_append_cstr(out, " (");
    if (rc == 0)
        rc = append_ascii(out, text, true);
    return rc == 0 ? hd_buf_append_byte(out, ')') : rc;
}

int hd_authres_append_property(hd_buf *out, const char *name, const char *value)
{
    static const char plain[] = "!#$%&'*+-.^_`{|}~@";
    bool quote = value[0] == '\0';
    for (const char *p = value; *p && !quote; p++) {
        unsigned char c = (unsigned char)*p;
        quote = !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != 0 && strchr(plain, c) != NULL));
    }
    int rc = hd_buf_printf(out, " %s=%s", name, quote ? "\"" : "");
    if (rc == 0)
        rc = append_ascii(out, value, false); /* a token is plain ASCII already */
    if (rc == 0 && quote)
        rc = hd_buf_append_byte(out, '"');
    return rc;
}
