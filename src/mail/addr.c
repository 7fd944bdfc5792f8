/*
 * addr.c - RFC 5322 §3.4 address lists (with the §4.4 obsolete forms) for
 * From, Sender, Reply-To, To and Cc field values.
 *
 * Shape: a lexer turns the value into tokens (atom, quoted string, domain
 * literal, special), skipping CFWS - whitespace, folding and nested
 * comments - and noting whether CFWS came before each token. The parser
 * reads one token ahead with no recursion: a phrase of words and dots is
 * collected once into two scratch forms (as a display name and as a local
 * part) and the token after it decides which one it was (§3.4: '<'
 * name-addr, ':' group, '@' addr-spec).
 *
 * Ownership: every string of an hd_addr is malloc'ed and owned by the list
 * (hd_addr_list_free). On error the list is left empty ({NULL, 0}).
 *
 * Bounds: at most HD_LIMIT_ADDRESSES addresses; comments nest at most
 * COMMENT_DEPTH_MAX deep; scratch buffers are capped at the value's size.
 *
 * Choices:
 *   - display: words joined with one space where CFWS separated them;
 *     quoted strings unquoted, quoted-pairs resolved, folding removed;
 *     encoded words (RFC 2047) left as they are. NULL when absent, "" for
 *     `"" <a@b>`. Dots may appear anywhere in it (lenient obs-phrase).
 *   - local: the words as written joined by '.', CFWS between them dropped
 *     (obs-local-part); a quoted string keeps its quotes and quoted-pairs.
 *   - domain: atoms joined by '.', CFWS dropped (obs-domain); a domain
 *     literal keeps its brackets and quoted-pairs, its FWS removed.
 *   - bytes >= 0x80 are accepted in atoms, quoted strings, comments and
 *     domain literals (RFC 6532 §3.2) without checking UTF-8 well-formedness.
 *   - an empty list (empty value, only CFWS or commas) parses to n == 0;
 *     hd_addr_parse_from refuses it. A group must end with ';'.
 *   - a line end must be folding (followed by WSP), or end the value; no
 *     output string holds a CR, LF or NUL (NUL is refused everywhere).
 *   - groups are accepted in every list, From included (RFC 6854); the
 *     null address "<>" is refused.
 */
#include <herald/limits.h>
#include <herald/mail.h>

#include <stdlib.h>
#include <string.h>

#define COMMENT_DEPTH_MAX 32

typedef enum { TK_END, TK_ATOM, TK_QSTR, TK_DLIT, TK_SPECIAL } tk_type;

typedef struct token {
    tk_type type;
    size_t start, end; /* raw bytes [start, end) of the value */
    uint8_t ch;        /* the byte of a TK_SPECIAL */
    bool cfws_before;  /* CFWS between the previous token and this one */
} token;

typedef struct aparser {
    const uint8_t *p;
    size_t len, pos;
    token tok;     /* lookahead, valid when have_tok */
    bool have_tok;
    hd_buf disp, local, domain; /* scratch, reused per address */
    hd_addr_list *out;
    size_t cap;
    hd_err *err;
} aparser;

/* Character classes (RFC 5322 §3.2.3, RFC 6532 §3.2) ---------------------- */

static bool is_atext(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
        return true;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool is_special(uint8_t c)
{
    return c == '<' || c == '>' || c == '@' || c == ',' || c == ';' || c == ':' || c == '.';
}

static int syntax(aparser *ap, size_t off, const char *what)
{
    return hd_err_set(ap->err, HD_ESYNTAX, "offset %zu: %s", off, what);
}

/* Lexer ------------------------------------------------------------------- */

/* Length of the line end at pos when it is folding (§3.2.2: followed by
 * WSP) or ends the value; 0 when pos holds no line end at all; sets *bad
 * when it is a line end of neither kind. */
static size_t eol_len(const aparser *ap, size_t pos, bool *bad)
{
    size_t n = 0;
    if (ap->p[pos] == '\r' && pos + 1 < ap->len && ap->p[pos + 1] == '\n')
        n = 2;
    else if (ap->p[pos] == '\n')
        n = 1;
    else if (ap->p[pos] == '\r')
        n = 1; /* bare CR: never folding */
    *bad = n > 0 && !(pos + n == ap->len || (ap->p[pos + n - 1] == '\n' && is_wsp(ap->p[pos + n])));
    return n;
}

/* Step over one element inside a quoted string, comment or domain
 * literal at *pos: a byte, a quoted-pair (§3.2.1; obs-qp allows any byte
 * but we refuse NUL, which no output string could hold) or a folding. */
static int step_inner(aparser *ap, size_t *pos, size_t open, const char *what)
{
    uint8_t c = ap->p[*pos];
    bool bad;
    if (c == 0)
        return syntax(ap, *pos, "NUL byte");
    if (c == '\\') {
        if (*pos + 1 >= ap->len)
            return hd_err_set(ap->err, HD_ESYNTAX, "offset %zu: unterminated %s", open, what);
        if (ap->p[*pos + 1] == 0)
            return syntax(ap, *pos + 1, "NUL byte");
        *pos += 2;
        return 0;
    }
    size_t n = eol_len(ap, *pos, &bad);
    if (bad)
        return syntax(ap, *pos, "line end not followed by whitespace");
    *pos += n ? n : 1;
    return 0;
}

/* A comment (§3.2.2), nested up to COMMENT_DEPTH_MAX; pos is on '('. */
static int skip_comment(aparser *ap)
{
    size_t open = ap->pos, pos = ap->pos;
    int depth = 0;
    while (pos < ap->len) {
        uint8_t c = ap->p[pos];
        if (c == '(') {
            if (++depth > COMMENT_DEPTH_MAX)
                return hd_err_set(ap->err, HD_ELIMIT, "offset %zu: comments nested deeper than %d",
                                  pos, COMMENT_DEPTH_MAX);
            pos++;
        } else if (c == ')') {
            pos++;
            if (--depth == 0) {
                ap->pos = pos;
                return 0;
            }
        } else {
            int rc = step_inner(ap, &pos, open, "comment");
            if (rc != 0)
                return rc;
        }
    }
    return syntax(ap, open, "unterminated comment");
}

/* Skip CFWS (§3.2.2); *saw says whether there was any. */
static int skip_cfws(aparser *ap, bool *saw)
{
    *saw = false;
    while (ap->pos < ap->len) {
        uint8_t c = ap->p[ap->pos];
        bool bad;
        size_t n;
        if (is_wsp(c)) {
            ap->pos++;
        } else if (c == '(') {
            int rc = skip_comment(ap);
            if (rc != 0)
                return rc;
        } else if ((n = eol_len(ap, ap->pos, &bad)) > 0) {
            if (bad)
                return syntax(ap, ap->pos, "line end not followed by whitespace");
            ap->pos += n;
        } else {
            return 0;
        }
        *saw = true;
    }
    return 0;
}

/* A quoted string or domain literal: pos is on the opening byte. */
static int lex_delimited(aparser *ap, uint8_t close, const char *what)
{
    size_t open = ap->pos, pos = ap->pos + 1;
    while (pos < ap->len && ap->p[pos] != close) {
        if (close == ']' && ap->p[pos] == '[')
            return syntax(ap, pos, "'[' inside a domain literal");
        int rc = step_inner(ap, &pos, open, what);
        if (rc != 0)
            return rc;
    }
    if (pos >= ap->len)
        return close == ']' ? syntax(ap, open, "expected ']' to close the domain literal")
                            : syntax(ap, open, "unterminated quoted string");
    ap->pos = pos + 1;
    return 0;
}

static int unexpected_byte(aparser *ap, uint8_t c)
{
    if (c > 32 && c < 127)
        return hd_err_set(ap->err, HD_ESYNTAX, "offset %zu: unexpected '%c'", ap->pos, c);
    return hd_err_set(ap->err, HD_ESYNTAX, "offset %zu: unexpected byte 0x%02x", ap->pos, c);
}

static int lex(aparser *ap, token *t)
{
    int rc = skip_cfws(ap, &t->cfws_before);
    if (rc != 0)
        return rc;
    t->start = ap->pos;
    t->ch = 0;
    if (ap->pos >= ap->len) {
        t->type = TK_END;
    } else if (is_atext(ap->p[ap->pos])) {
        while (ap->pos < ap->len && is_atext(ap->p[ap->pos]))
            ap->pos++;
        t->type = TK_ATOM;
    } else if (ap->p[ap->pos] == '"') {
        t->type = TK_QSTR;
        rc = lex_delimited(ap, '"', "quoted string");
    } else if (ap->p[ap->pos] == '[') {
        t->type = TK_DLIT;
        rc = lex_delimited(ap, ']', "domain literal");
    } else if (is_special(ap->p[ap->pos])) {
        t->type = TK_SPECIAL;
        t->ch = ap->p[ap->pos++];
    } else if (ap->p[ap->pos] == ')') {
        return syntax(ap, ap->pos, "')' without a matching '('");
    } else {
        return unexpected_byte(ap, ap->p[ap->pos]);
    }
    t->end = ap->pos;
    return rc;
}

static int peek(aparser *ap, const token **t)
{
    if (!ap->have_tok) {
        int rc = lex(ap, &ap->tok);
        if (rc != 0)
            return rc;
        ap->have_tok = true;
    }
    *t = &ap->tok;
    return 0;
}

static void take(aparser *ap)
{
    ap->have_tok = false;
}

static bool is_ch(const token *t, uint8_t c)
{
    return t->type == TK_SPECIAL && t->ch == c;
}

/* Text builders ----------------------------------------------------------- */

/* How raw bytes become output text. Line ends of folding are always
 * dropped (§3.2.2), as is a quoted-pair of a CR or LF (obs-qp). */
typedef enum {
    TEXT_RAW,     /* as written: quoted-pairs kept */
    TEXT_UNQUOTE, /* quoted-pairs resolved (display names) */
    TEXT_LITERAL, /* as written, minus unescaped WSP (domain literals) */
} text_mode;

static int append_text(aparser *ap, hd_buf *b, size_t from, size_t to, text_mode mode)
{
    for (size_t i = from; i < to; i++) {
        uint8_t c = ap->p[i];
        int rc = 0;
        if (c == '\r' || c == '\n' || (mode == TEXT_LITERAL && is_wsp(c)))
            continue;
        if (c == '\\' && i + 1 < to) {
            c = ap->p[++i];
            if (c == '\r' || c == '\n')
                continue;
            if (mode != TEXT_UNQUOTE)
                rc = hd_buf_append_byte(b, '\\');
        }
        if (rc == 0)
            rc = hd_buf_append_byte(b, c);
        if (rc != 0)
            return hd_err_set(ap->err, rc, "out of memory for an address");
    }
    return 0;
}

static int add_display_word(aparser *ap, const token *t, bool first)
{
    if (!first && t->cfws_before && hd_buf_append_byte(&ap->disp, ' ') != 0)
        return hd_err_set(ap->err, HD_ENOMEM, "out of memory for an address");
    if (t->type == TK_QSTR)
        return append_text(ap, &ap->disp, t->start + 1, t->end - 1, TEXT_UNQUOTE);
    return append_text(ap, &ap->disp, t->start, t->end, TEXT_RAW);
}

/* A phrase: the words and dots before '<', ':' or '@'. As a local part
 * it must be word *("." word) (§3.4.1, §4.4 obs-local-part). */
typedef struct phrase {
    size_t ntok;
    size_t start;        /* offset of its first token */
    size_t bad_at;       /* where the local-part shape breaks, or SIZE_MAX */
    const char *bad_why; /* and why */
} phrase;

static void check_local_shape(phrase *ph, const token *t, bool word, bool want_word)
{
    if (ph->bad_at != SIZE_MAX || word == want_word)
        return;
    ph->bad_at = t->start;
    ph->bad_why = word ? "expected '.' or '@' after a word of the local part"
                       : "expected a word before '.' in the local part";
}

/* Collect a phrase into ap->local, and into ap->disp when display is set.
 * Leaves the token after it as the lookahead. */
static int collect_phrase(aparser *ap, phrase *ph, bool display)
{
    const token *t;
    bool want_word = true;
    if (display)
        hd_buf_reset(&ap->disp);
    hd_buf_reset(&ap->local);
    *ph = (phrase){0, 0, SIZE_MAX, NULL};
    for (;;) {
        int rc = peek(ap, &t);
        if (rc != 0)
            return rc;
        bool word = t->type == TK_ATOM || t->type == TK_QSTR;
        if (!word && !is_ch(t, '.'))
            break;
        if (ph->ntok == 0)
            ph->start = t->start;
        check_local_shape(ph, t, word, want_word);
        want_word = !word;
        if (display)
            rc = add_display_word(ap, t, ph->ntok == 0);
        if (rc == 0 && word)
            rc = append_text(ap, &ap->local, t->start, t->end, TEXT_RAW);
        else if (rc == 0 && hd_buf_append_byte(&ap->local, '.') != 0)
            rc = hd_err_set(ap->err, HD_ENOMEM, "out of memory for an address");
        if (rc != 0)
            return rc;
        ph->ntok++;
        take(ap);
    }
    if (ph->ntok > 0 && want_word && ph->bad_at == SIZE_MAX) {
        ph->bad_at = t->start;
        ph->bad_why = "expected a word after '.' in the local part";
    }
    return 0;
}

/* Domains (§3.4.1, §4.4 obs-domain) --------------------------------------- */

static int parse_domain(aparser *ap)
{
    const token *t;
    hd_buf_reset(&ap->domain);
    int rc = peek(ap, &t);
    if (rc != 0)
        return rc;
    if (t->type == TK_DLIT) {
        take(ap);
        return append_text(ap, &ap->domain, ap->tok.start, ap->tok.end, TEXT_LITERAL);
    }
    for (bool first = true;; first = false) {
        if (t->type != TK_ATOM)
            return syntax(ap, t->start, first ? "expected a domain after '@'"
                                              : "expected a domain label after '.'");
        rc = hd_buf_append(&ap->domain, ap->p + t->start, t->end - t->start);
        if (rc == 0) {
            take(ap);
            rc = peek(ap, &t);
            if (rc != 0 || !is_ch(t, '.'))
                return rc;
            take(ap);
            rc = hd_buf_append_byte(&ap->domain, '.');
        }
        if (rc != 0)
            return hd_err_set(ap->err, rc, "out of memory for an address");
        rc = peek(ap, &t);
        if (rc != 0)
            return rc;
    }
}

/* Emitting ---------------------------------------------------------------- */

static int push_addr(aparser *ap, size_t off, bool with_display, const char *group)
{
    hd_addr_list *l = ap->out;
    if (l->n >= HD_LIMIT_ADDRESSES)
        return hd_err_set(ap->err, HD_ELIMIT, "offset %zu: more than %d addresses", off,
                          HD_LIMIT_ADDRESSES);
    if (l->n == ap->cap) {
        size_t ncap = ap->cap ? ap->cap * 2 : 4;
        hd_addr *nv = realloc(l->v, ncap * sizeof *nv);
        if (nv == NULL)
            return hd_err_set(ap->err, HD_ENOMEM, "out of memory for an address");
        l->v = nv;
        ap->cap = ncap;
    }
    hd_addr a = {
        .display = with_display ? hd_slice_strdup(hd_buf_slice(&ap->disp)) : NULL,
        .local = hd_slice_strdup(hd_buf_slice(&ap->local)),
        .domain = hd_slice_strdup(hd_buf_slice(&ap->domain)),
        .group = group ? hd_slice_strdup(hd_slice_cstr(group)) : NULL,
    };
    l->v[l->n++] = a; /* owned by the list even when a copy failed */
    if ((with_display && !a.display) || !a.local || !a.domain || (group && !a.group))
        return hd_err_set(ap->err, HD_ENOMEM, "out of memory for an address");
    return 0;
}

/* Mailboxes (§3.4, §4.4) -------------------------------------------------- */

/* "@" domain after a local part collected in ph. */
static int finish_addr_spec(aparser *ap, const phrase *ph)
{
    if (ph->ntok == 0)
        return syntax(ap, ap->tok.start, "expected a local part before '@'");
    if (ph->bad_at != SIZE_MAX)
        return syntax(ap, ph->bad_at, ph->bad_why);
    take(ap); /* '@' */
    return parse_domain(ap);
}

/* obs-route = obs-domain-list ":" (dropped); the lookahead is '@' or ','. */
static int skip_route(aparser *ap)
{
    const token *t;
    bool need_sep = false, any = false;
    for (;;) {
        int rc = peek(ap, &t);
        if (rc != 0)
            return rc;
        if (is_ch(t, ':') && any) {
            take(ap);
            return 0;
        }
        if (is_ch(t, ',')) {
            take(ap);
            need_sep = false;
        } else if (is_ch(t, '@') && !need_sep) {
            take(ap);
            rc = parse_domain(ap);
            if (rc != 0)
                return rc;
            need_sep = any = true;
        } else {
            return syntax(ap, t->start, "expected ',' or ':' in the route");
        }
    }
}

/* angle-addr = "<" [obs-route] addr-spec ">"; the lookahead is '<'. */
static int parse_angle_addr(aparser *ap)
{
    const token *t;
    size_t open = ap->tok.start;
    take(ap);
    int rc = peek(ap, &t);
    if (rc == 0 && (is_ch(t, '@') || is_ch(t, ',')))
        rc = skip_route(ap);
    if (rc == 0)
        rc = peek(ap, &t);
    if (rc != 0)
        return rc;
    if (is_ch(t, '>'))
        return syntax(ap, open, "empty angle address '<>'");
    phrase ph;
    rc = collect_phrase(ap, &ph, false); /* ap->disp keeps the display name */
    if (rc != 0)
        return rc;
    if (!is_ch(&ap->tok, '@'))
        return syntax(ap, ap->tok.start, ph.ntok ? "expected '@' after the local part"
                                                 : "expected an address after '<'");
    rc = finish_addr_spec(ap, &ph);
    if (rc == 0)
        rc = peek(ap, &t);
    if (rc != 0)
        return rc;
    if (!is_ch(t, '>'))
        return syntax(ap, t->start, "expected '>' to close the angle address");
    take(ap);
    return 0;
}

static const char *token_name(const token *t)
{
    static const char *const names[] = {"end of input", "a word", "a quoted string",
                                        "a domain literal", "a special"};
    return names[t->type];
}

static int expected_address(aparser *ap, const token *t)
{
    if (t->type == TK_SPECIAL)
        return hd_err_set(ap->err, HD_ESYNTAX, "offset %zu: expected an address, found '%c'",
                          t->start, t->ch);
    return hd_err_set(ap->err, HD_ESYNTAX, "offset %zu: expected an address, found %s",
                      t->start, token_name(t));
}

/* mailbox = name-addr / addr-spec (§3.4). At the top level (group ==
 * NULL) a phrase followed by ':' starts a group instead: *is_group is set
 * and the group name is left in ap->disp. */
static int parse_mailbox(aparser *ap, const char *group, bool *is_group)
{
    phrase ph;
    *is_group = false;
    int rc = collect_phrase(ap, &ph, true);
    if (rc != 0)
        return rc;
    const token *t = &ap->tok;
    if (is_ch(t, '<')) {
        size_t off = ph.ntok ? ph.start : t->start;
        rc = parse_angle_addr(ap);
        return rc != 0 ? rc : push_addr(ap, off, ph.ntok > 0, group);
    }
    if (is_ch(t, '@')) {
        rc = finish_addr_spec(ap, &ph);
        return rc != 0 ? rc : push_addr(ap, ph.start, false, group);
    }
    if (is_ch(t, ':') && ph.ntok > 0 && group == NULL) {
        *is_group = true;
        return 0;
    }
    if (ph.ntok == 0)
        return expected_address(ap, t);
    return syntax(ap, t->start, group ? "expected '@' or '<' after the words"
                                      : "expected '@', '<' or ':' after the words");
}

/* The members of a group after its ':' up to ';' (§3.4, obs-group-list). */
static int parse_group_members(aparser *ap, const char *name)
{
    const token *t;
    ap->out->had_group = true;
    for (;;) {
        int rc = peek(ap, &t);
        if (rc != 0)
            return rc;
        if (is_ch(t, ';')) {
            take(ap);
            return 0;
        }
        if (is_ch(t, ',')) {
            take(ap);
            continue;
        }
        if (t->type == TK_END)
            return syntax(ap, t->start, "expected ';' to close the group");
        bool ignored; /* never set inside a group */
        rc = parse_mailbox(ap, name, &ignored);
        if (rc == 0)
            rc = peek(ap, &t);
        if (rc != 0)
            return rc;
        if (t->type == TK_END)
            return syntax(ap, t->start, "expected ';' to close the group");
        if (!is_ch(t, ',') && !is_ch(t, ';'))
            return syntax(ap, t->start, "expected ',' or ';' after a group member");
    }
}

static int parse_group(aparser *ap)
{
    take(ap); /* ':' */
    char *name = hd_slice_strdup(hd_buf_slice(&ap->disp));
    if (name == NULL)
        return hd_err_set(ap->err, HD_ENOMEM, "out of memory for an address");
    int rc = parse_group_members(ap, name);
    free(name);
    return rc;
}

/* address-list with obs-addr-list empty elements (§3.4, §4.4). */
static int parse_list(aparser *ap)
{
    const token *t;
    for (;;) {
        int rc = peek(ap, &t);
        if (rc != 0 || t->type == TK_END)
            return rc;
        if (is_ch(t, ',')) {
            take(ap);
            continue;
        }
        bool is_group;
        rc = parse_mailbox(ap, NULL, &is_group);
        if (rc == 0 && is_group)
            rc = parse_group(ap);
        if (rc == 0)
            rc = peek(ap, &t);
        if (rc != 0)
            return rc;
        if (t->type != TK_END && !is_ch(t, ','))
            return syntax(ap, t->start, "expected ',' between addresses");
    }
}

int hd_addr_parse_list(hd_slice value, hd_addr_list *out, hd_err *err)
{
    if (out == NULL)
        return hd_err_set(err, HD_EINVAL, "hd_addr_parse_list: no output list");
    *out = (hd_addr_list){NULL, 0, false};
    if (value.p == NULL && value.len > 0)
        return hd_err_set(err, HD_EINVAL, "hd_addr_parse_list: NULL bytes");
    aparser ap = {.p = value.p, .len = value.len, .out = out, .err = err};
    hd_buf_init(&ap.disp, value.len + 1);
    hd_buf_init(&ap.local, value.len + 1);
    hd_buf_init(&ap.domain, value.len + 1);
    int rc = parse_list(&ap);
    hd_buf_free(&ap.disp);
    hd_buf_free(&ap.local);
    hd_buf_free(&ap.domain);
    if (rc != 0)
        hd_addr_list_free(out);
    return rc;
}

void hd_addr_list_free(hd_addr_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++) {
        free(list->v[i].display);
        free(list->v[i].local);
        free(list->v[i].domain);
        free(list->v[i].group);
    }
    free(list->v);
    *list = (hd_addr_list){NULL, 0, false};
}

/* RFC 5322 §3.6.2 / RFC 7489 §6.6.1: one author mailbox wanted. */
int hd_addr_parse_from(hd_slice value, hd_addr_list *out, bool *multiple, hd_err *err)
{
    if (multiple != NULL)
        *multiple = false;
    int rc = hd_addr_parse_list(value, out, err);
    if (rc != 0)
        return rc;
    if (out->n == 0) {
        hd_addr_list_free(out);
        return hd_err_set(err, HD_ESYNTAX, "From has no address");
    }
    if (out->n > 1 && multiple != NULL)
        *multiple = true;
    return 0;
}
