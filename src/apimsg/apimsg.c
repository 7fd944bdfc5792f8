/*
 * apimsg.c - POST /v1/messages: JSON in, envelope and message out.
 *
 * jansson parses (duplicate keys refused, so a field cannot be given twice
 * with the second silently winning); this file walks the tree, checks
 * every field and names it in each refusal, and hands the structured form
 * to hd_compose(), which does the MIME. Strings stay in the tree until the
 * message is composed (hd_compose borrows them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <herald/apimsg.h>
#include <herald/base64.h>
#include <herald/compose.h>
#include <herald/mail.h>

#define FIELD_MAX 96   /* "attachments[99].content_type" and the like */

static const char *const known_fields[] = {
    "from", "to", "cc", "bcc", "reply_to", "subject", "text", "html",
    "headers", "attachments", "tags", "pool", "raw", "raw_base64",
};
/* What a raw message already has in it. */
static const char *const structured_only[] = {
    "from", "reply_to", "subject", "text", "html", "headers", "attachments",
};

static bool in_list(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, v[i]) == 0)
            return true;
    return false;
}

#define N(v) (sizeof v / sizeof v[0])

/* A string without NUL (the C side ends strings there). The outputs are set
 * on every path, so no caller reads an unset one. */
static int get_string(json_t *v, const char *field, const char **out, size_t *len, hd_err *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (!json_is_string(v))
        return hd_err_set(err, HD_EINVAL, "%s: must be a string", field);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n)
        return hd_err_set(err, HD_EINVAL, "%s: contains a NUL character", field);
    *out = s;
    if (len)
        *len = n;
    return 0;
}

static int read_addr(json_t *v, const char *field, hd_compose_addr *out, hd_err *err)
{
    char sub[FIELD_MAX];
    out->name = NULL;
    out->address = NULL;
    if (json_is_string(v)) {
        int rc = get_string(v, field, &out->address, NULL, err);
        if (!rc && strchr(out->address, '<'))
            return hd_err_set(err, HD_EINVAL,
                              "%s: give a display name as {\"name\": ..., \"address\": ...}, "
                              "not \"Name <address>\"", field);
        return rc ? rc : hd_compose_check_address(field, out->address, err);
    }
    if (!json_is_object(v))
        return hd_err_set(err, HD_EINVAL,
                          "%s: an address is a string or {\"address\": ..., \"name\": ...}", field);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (strcmp(key, "address") != 0 && strcmp(key, "name") != 0)
            return hd_err_set(err, HD_EINVAL, "%s: unknown field \"%.64s\" (address, name)",
                              field, key);
    }
    json_t *a = json_object_get(v, "address");
    snprintf(sub, sizeof sub, "%s.address", field);
    if (!a)
        return hd_err_set(err, HD_EINVAL, "%s: missing", sub);
    int rc = get_string(a, sub, &out->address, NULL, err);
    if (!rc)
        rc = hd_compose_check_address(sub, out->address, err);
    json_t *name = json_object_get(v, "name");
    if (!rc && name && !json_is_null(name)) {
        snprintf(sub, sizeof sub, "%s.name", field);
        rc = get_string(name, sub, &out->name, NULL, err);
    }
    return rc;
}

/* One address or an array of them; absent: none. */
static int read_addrs(json_t *root, const char *key, size_t max, hd_compose_addr **out, size_t *n,
                      hd_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (count > max)
        return hd_err_set(err, HD_ELIMIT, "%s: %zu addresses, more than %zu", key, count, max);
    if (count == 0)
        return 0;
    *out = calloc(count, sizeof **out);
    if (!*out)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    *n = count;
    if (!json_is_array(v))
        return read_addr(v, key, &(*out)[0], err);
    for (size_t i = 0; i < count; i++) {
        char field[FIELD_MAX];
        snprintf(field, sizeof field, "%s[%zu]", key, i);
        int rc = read_addr(json_array_get(v, i), field, &(*out)[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

static int add_rcpt(hd_apimsg *m, const char *address)
{
    for (size_t i = 0; i < m->n_rcpts; i++)
        if (strcasecmp(m->rcpts[i], address) == 0)
            return 0;
    char **v = realloc(m->rcpts, (m->n_rcpts + 1) * sizeof *v);
    if (!v)
        return HD_ENOMEM;
    m->rcpts = v;
    if (!(v[m->n_rcpts] = strdup(address)))
        return HD_ENOMEM;
    m->n_rcpts++;
    return 0;
}

typedef struct envelope {
    hd_compose_addr *to, *cc, *bcc;
    size_t n_to, n_cc, n_bcc;
} envelope;

static void envelope_free(envelope *e)
{
    free(e->to);
    free(e->cc);
    free(e->bcc);
}

static int read_envelope(json_t *root, const hd_apimsg_opts *o, envelope *e, hd_apimsg *m,
                         hd_err *err)
{
    size_t max = o->max_recipients ? o->max_recipients : 1000;
    int rc;
    if ((rc = read_addrs(root, "to", max, &e->to, &e->n_to, err)) ||
        (rc = read_addrs(root, "cc", max, &e->cc, &e->n_cc, err)) ||
        (rc = read_addrs(root, "bcc", max, &e->bcc, &e->n_bcc, err)))
        return rc;
    size_t total = e->n_to + e->n_cc + e->n_bcc;
    if (total == 0)
        return hd_err_set(err, HD_EINVAL, "to: at least one recipient is needed (to, cc or bcc)");
    if (total > max)
        return hd_err_set(err, HD_ELIMIT, "to, cc, bcc: %zu recipients, more than %zu", total, max);
    const hd_compose_addr *lists[] = {e->to, e->cc, e->bcc};
    size_t ns[] = {e->n_to, e->n_cc, e->n_bcc};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < ns[l]; i++)
            if (add_rcpt(m, lists[l][i].address) != 0)
                return hd_err_set(err, HD_ENOMEM, "out of memory");
    return 0;
}

static bool tag_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

static int read_tags(json_t *root, hd_apimsg *m, hd_err *err)
{
    json_t *v = json_object_get(root, "tags");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return hd_err_set(err, HD_EINVAL, "tags: must be an array of strings");
    if (json_array_size(v) > HD_APIMSG_MAX_TAGS)
        return hd_err_set(err, HD_ELIMIT, "tags: %zu tags, more than %d", json_array_size(v),
                          HD_APIMSG_MAX_TAGS);
    size_t o = 0;
    m->tags[o++] = '[';
    for (size_t i = 0; i < json_array_size(v); i++) {
        char field[FIELD_MAX];
        const char *t;
        size_t n;
        snprintf(field, sizeof field, "tags[%zu]", i);
        int rc = get_string(json_array_get(v, i), field, &t, &n, err);
        if (rc)
            return rc;
        if (n == 0 || n > HD_APIMSG_TAG_MAX)
            return hd_err_set(err, HD_EINVAL, "%s: 1 to %d characters", field, HD_APIMSG_TAG_MAX);
        for (size_t k = 0; k < n; k++)
            if (!tag_char(t[k]))
                return hd_err_set(err, HD_EINVAL,
                                  "%s: character %zu is not one of A-Z a-z 0-9 _ . : -", field, k);
        /* the characters need no JSON escaping */
        o += (size_t)snprintf(m->tags + o, sizeof m->tags - o, "%s\"%s\"", i ? "," : "", t);
    }
    snprintf(m->tags + o, sizeof m->tags - o, "]");
    return 0;
}

static int read_pool(json_t *root, hd_apimsg *m, hd_err *err)
{
    json_t *v = json_object_get(root, "pool");
    if (!v || json_is_null(v))
        return 0;
    const char *p;
    size_t n;
    int rc = get_string(v, "pool", &p, &n, err);
    if (rc)
        return rc;
    if (n == 0 || n > HD_APIMSG_POOL_MAX)
        return hd_err_set(err, HD_EINVAL, "pool: 1 to %d characters", HD_APIMSG_POOL_MAX);
    for (size_t k = 0; k < n; k++)
        if (!tag_char(p[k]) || p[k] == ':')
            return hd_err_set(err, HD_EINVAL, "pool: \"%.64s\" is not a pool name", p);
    memcpy(m->pool, p, n + 1);
    return 0;
}

/* ---- raw ---- */

static int check_raw_bytes(hd_slice s, bool *eight_bit, hd_err *err)
{
    *eight_bit = false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = (uint8_t)s.p[i];
        if (c == 0)
            return hd_err_set(err, HD_EINVAL, "raw: a NUL byte at byte %zu", i);
        /* RFC 5322 §2.3: CR only before LF (a bare CR is how SMTP smuggling starts) */
        if (c == '\r' && (i + 1 == s.len || s.p[i + 1] != '\n'))
            return hd_err_set(err, HD_EINVAL, "raw: a CR not followed by LF at byte %zu", i);
        if (c >= 0x80)
            *eight_bit = true;
    }
    return 0;
}

static int read_raw(json_t *root, const hd_apimsg_opts *o, hd_apimsg *m, hd_err *err)
{
    json_t *raw = json_object_get(root, "raw");
    json_t *b64 = json_object_get(root, "raw_base64");
    if (raw && b64)
        return hd_err_set(err, HD_EINVAL, "raw_base64: give raw or raw_base64, not both");
    for (size_t i = 0; i < N(structured_only); i++)
        if (json_object_get(root, structured_only[i]))
            return hd_err_set(err, HD_EINVAL,
                              "%s: not with raw (a raw message carries its own header fields)",
                              structured_only[i]);
    hd_buf decoded;
    hd_buf_init(&decoded, o->max_bytes);
    hd_slice bytes;
    int rc = 0;
    if (raw) {
        const char *s;
        size_t n;
        if ((rc = get_string(raw, "raw", &s, &n, err)))
            goto out;
        bytes = hd_slice_make(s, n);
    } else {
        const char *s;
        size_t n;
        if ((rc = get_string(b64, "raw_base64", &s, &n, err)))
            goto out;
        if (hd_b64_decoded_max(n) > o->max_bytes + 3) {
            rc = hd_err_set(err, HD_ELIMIT, "raw_base64: the message is over %zu bytes", o->max_bytes);
            goto out;
        }
        if ((rc = hd_b64_decode(hd_slice_make(s, n), HD_B64_IGNORE_WSP, &decoded, err))) {
            hd_err_prefix(err, "raw_base64: ");
            goto out;
        }
        bytes = hd_buf_slice(&decoded);
    }
    if (bytes.len == 0) {
        rc = hd_err_set(err, HD_EINVAL, "raw: empty");
        goto out;
    }
    if (bytes.len > o->max_bytes) {
        rc = hd_err_set(err, HD_ELIMIT, "raw: %zu bytes, more than %zu", bytes.len, o->max_bytes);
        goto out;
    }
    if ((rc = check_raw_bytes(bytes, &m->eight_bit, err)))
        goto out;
    if (hd_mail_to_crlf(bytes, &m->message) != 0)
        rc = hd_err_set(err, HD_ELIMIT, "raw: over %zu bytes with CRLF line ends", o->max_bytes);
    m->raw = true;
out:
    hd_buf_free(&decoded);
    return rc;
}

/* ---- structured ---- */

typedef struct parts {
    hd_compose_addr from;
    hd_compose_addr *reply_to;
    size_t n_reply_to;
    hd_compose_header *headers;
    size_t n_headers;
    hd_compose_attachment *att;
    hd_buf *att_data;
    size_t n_att;
} parts;

static void parts_free(parts *p)
{
    free(p->reply_to);
    free(p->headers);
    for (size_t i = 0; i < p->n_att; i++)
        hd_buf_free(&p->att_data[i]);
    free(p->att_data);
    free(p->att);
}

static int read_headers(json_t *root, parts *p, hd_err *err)
{
    json_t *v = json_object_get(root, "headers");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return hd_err_set(err, HD_EINVAL, "headers: must be an object of name: value strings");
    size_t n = json_object_size(v);
    if (n > HD_COMPOSE_MAX_HEADERS)
        return hd_err_set(err, HD_ELIMIT, "headers: %zu fields, more than %d", n,
                          HD_COMPOSE_MAX_HEADERS);
    if (n == 0)
        return 0;
    if (!(p->headers = calloc(n, sizeof *p->headers)))
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        char field[FIELD_MAX];
        snprintf(field, sizeof field, "headers.%.64s", key);
        const char *value;
        int rc = get_string(val, field, &value, NULL, err);
        if (rc)
            return rc;
        size_t bad = strcspn(value, "\r\n");
        if (value[bad])
            return hd_err_set(err, HD_EINVAL,
                              "%s: CR or LF at byte %zu (header injection?)", field, bad);
        p->headers[p->n_headers].value = value;
        p->headers[p->n_headers++].name = key;
    }
    return 0;
}

static int read_attachment(json_t *v, size_t i, size_t budget, hd_compose_attachment *a,
                           hd_buf *data, hd_err *err)
{
    static const char *const keys[] = {"filename", "content_type", "content", "content_id"};
    char field[FIELD_MAX];
    snprintf(field, sizeof field, "attachments[%zu]", i);
    if (!json_is_object(v))
        return hd_err_set(err, HD_EINVAL, "%s: must be an object", field);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!in_list(key, keys, N(keys)))
            return hd_err_set(err, HD_EINVAL,
                              "%s: unknown field \"%.64s\" (filename, content_type, content, "
                              "content_id)", field, key);
    }
    const char **strs[] = {&a->filename, &a->content_type, NULL, &a->content_id};
    for (size_t k = 0; k < N(keys); k++) {
        json_t *s = json_object_get(v, keys[k]);
        if (!strs[k] || !s || json_is_null(s))
            continue;
        char sub[FIELD_MAX + 16];
        snprintf(sub, sizeof sub, "%s.%s", field, keys[k]);
        int rc = get_string(s, sub, strs[k], NULL, err);
        if (rc)
            return rc;
    }
    json_t *c = json_object_get(v, "content");
    const char *b64;
    size_t n;
    char sub[FIELD_MAX + 16];
    snprintf(sub, sizeof sub, "%s.content", field);
    if (!c)
        return hd_err_set(err, HD_EINVAL, "%s: missing (the file, in base64)", sub);
    int rc = get_string(c, sub, &b64, &n, err);
    if (rc)
        return rc;
    if (hd_b64_decoded_max(n) > budget + 3)
        return hd_err_set(err, HD_ELIMIT, "%s: the attachments are over %zu bytes in all", sub,
                          budget);
    hd_buf_init(data, budget + 3);
    if ((rc = hd_b64_decode(hd_slice_make(b64, n), HD_B64_IGNORE_WSP, data, err))) {
        hd_err_prefix(err, "%s: ", sub);
        return rc;
    }
    a->data = hd_buf_slice(data);
    return 0;
}

static int read_attachments(json_t *root, size_t max_bytes, parts *p, hd_err *err)
{
    json_t *v = json_object_get(root, "attachments");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return hd_err_set(err, HD_EINVAL, "attachments: must be an array");
    size_t n = json_array_size(v);
    if (n > HD_COMPOSE_MAX_ATTACHMENTS)
        return hd_err_set(err, HD_ELIMIT, "attachments: %zu, more than %d", n,
                          HD_COMPOSE_MAX_ATTACHMENTS);
    if (n == 0)
        return 0;
    p->att = calloc(n, sizeof *p->att);
    p->att_data = calloc(n, sizeof *p->att_data);
    if (!p->att || !p->att_data)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        p->n_att = i + 1;
        int rc = read_attachment(json_array_get(v, i), i, max_bytes - used, &p->att[i],
                                 &p->att_data[i], err);
        if (rc)
            return rc;
        used += p->att[i].data.len;
    }
    return 0;
}

static int read_text(json_t *root, const char *key, hd_slice *out, hd_err *err)
{
    *out = (hd_slice){0};
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    const char *s;
    size_t n;
    int rc = get_string(v, key, &s, &n, err);
    if (!rc)
        *out = hd_slice_make(s, n);
    return rc;
}

static int compose(json_t *root, const hd_apimsg_opts *o, const envelope *e, hd_apimsg *m,
                   hd_err *err)
{
    parts p = {0};
    hd_compose_msg cm = {0};
    int rc;
    json_t *from = json_object_get(root, "from");
    if (!from) {
        rc = hd_err_set(err, HD_EINVAL, "from: missing");
        goto out;
    }
    if ((rc = read_addr(from, "from", &p.from, err)) ||
        (rc = read_addrs(root, "reply_to", HD_COMPOSE_MAX_ADDRESSES, &p.reply_to, &p.n_reply_to,
                         err)) ||
        (rc = read_headers(root, &p, err)) ||
        (rc = read_attachments(root, o->max_bytes, &p, err)) ||
        (rc = read_text(root, "text", &cm.text, err)) ||
        (rc = read_text(root, "html", &cm.html, err)))
        goto out;
    json_t *subject = json_object_get(root, "subject");
    if (subject && !json_is_null(subject) && (rc = get_string(subject, "subject", &cm.subject, NULL, err)))
        goto out;
    cm.from = p.from;
    cm.to = e->to, cm.n_to = e->n_to;
    cm.cc = e->cc, cm.n_cc = e->n_cc;
    cm.reply_to = p.reply_to, cm.n_reply_to = p.n_reply_to;
    cm.headers = p.headers, cm.n_headers = p.n_headers;
    cm.att = p.att, cm.n_att = p.n_att;
    cm.now = o->now;
    cm.unique = o->unique;
    cm.max_bytes = o->max_bytes;
    rc = hd_compose(&cm, &m->message, err);
    m->eight_bit = false;   /* hd_compose writes 7-bit only */
out:
    parts_free(&p);
    return rc;
}

int hd_apimsg_parse(hd_slice body, const hd_apimsg_opts *o, hd_apimsg *m, hd_err *err)
{
    memset(m, 0, sizeof *m);
    hd_buf_init(&m->message, o->max_bytes + 64 * 1024);
    json_error_t je;
    json_t *root = json_loadb(body.p ? (const char *)body.p : "", body.len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return hd_err_set(err, HD_ESYNTAX, "the body is not JSON: %s at line %d, column %d (byte %d)",
                          je.text, je.line, je.column, je.position);
    envelope e = {0};
    int rc = 0;
    if (!json_is_object(root)) {
        rc = hd_err_set(err, HD_EINVAL, "the body must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!in_list(key, known_fields, N(known_fields))) {
            rc = hd_err_set(err, HD_EINVAL, "%.64s: unknown field", key);
            goto out;
        }
    }
    if ((rc = read_envelope(root, o, &e, m, err)) || (rc = read_tags(root, m, err)) ||
        (rc = read_pool(root, m, err)))
        goto out;
    if (json_object_get(root, "raw") || json_object_get(root, "raw_base64"))
        rc = read_raw(root, o, m, err);
    else
        rc = compose(root, o, &e, m, err);
out:
    /* the body parsed: whatever is wrong now is a field's value (base64
     * that is not, a raw header without a colon), never "not JSON" */
    if (rc == HD_ESYNTAX) {
        rc = HD_EINVAL;
        if (err)
            err->code = rc;
    }
    envelope_free(&e);
    json_decref(root);
    return rc;
}

void hd_apimsg_free(hd_apimsg *m)
{
    for (size_t i = 0; i < m->n_rcpts; i++)
        free(m->rcpts[i]);
    free(m->rcpts);
    m->rcpts = NULL;
    m->n_rcpts = 0;
    hd_buf_free(&m->message);
}
