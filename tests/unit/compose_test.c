/*
 * compose_test.c - the message composer (herald/compose.h).
 *
 * Round trip: each case is composed, checked here (CRLF, ASCII, line
 * lengths, hd_msg_parse), written with what it must decode to into a temp
 * directory, and scripts/compose-check.py reads them back with Python's
 * email package (an independent parser) and compares byte for byte.
 * Refusals are a table of bad inputs with the field the error must name.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <herald/base64.h>
#include <herald/compose.h>
#include <herald/mail.h>

#define PYTHON "/usr/bin/python3"
#define CHECKER HERALD_SOURCE_DIR "/scripts/compose-check.py"

#define S(str) hd_slice_make(str, sizeof(str) - 1)

static hd_compose_msg base_msg(void)
{
    hd_compose_msg m = {0};
    m.from = (hd_compose_addr){"Alice Example", "alice@example.org"};
    m.now = 1700000000;
    m.unique = "q1";
    m.message_id_domain = "example.org";
    return m;
}

/* Every line ends in CRLF, is ASCII and at most 998 bytes; header lines at
 * most header_max (78 unless a case holds a word that cannot fold). */
static void check_lines(const char *name, hd_slice s, size_t header_max)
{
    size_t start = 0;
    bool in_header = true;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] >= 0x80 || s.p[i] == 0)
            fail_msg("%s: byte 0x%02x at %zu", name, s.p[i], i);
        if (s.p[i] == '\n' && (i == 0 || s.p[i - 1] != '\r'))
            fail_msg("%s: bare LF at %zu", name, i);
        if (s.p[i] == '\r' && (i + 1 == s.len || s.p[i + 1] != '\n'))
            fail_msg("%s: bare CR at %zu", name, i);
        if (s.p[i] != '\n')
            continue;
        size_t len = i - 1 - start;
        if (len > 998 || (in_header && len > header_max))
            fail_msg("%s: line of %zu bytes at %zu", name, len, start);
        if (len == 0)
            in_header = false;
        start = i + 1;
    }
    if (start != s.len)
        fail_msg("%s: last line without CRLF", name);
}

static void put_file(const char *dir, const char *file, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

static void put_str(const char *dir, const char *file, const char *s)
{
    put_file(dir, file, s, strlen(s));
}

static void put_addrs(const char *dir, const char *file, const hd_compose_addr *v, size_t n)
{
    if (n == 0)
        return;
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hd_buf_printf(&b, "%s\t%s\n", v[i].address,
                                       v[i].name != NULL ? v[i].name : ""), 0);
    put_file(dir, file, b.p, b.len);
    hd_buf_free(&b);
}

/* What a text part must decode to: the text with CRLF line ends. */
static void put_text(const char *dir, const char *file, hd_slice s)
{
    if (s.p == NULL)
        return;
    hd_buf b;
    hd_buf_init(&b, 2 * s.len + 16);
    assert_int_equal(hd_mail_to_crlf(s, &b), 0);
    put_file(dir, file, b.len ? (const void *)b.p : "", b.len);
    hd_buf_free(&b);
}

/* Compose m, check it here, and write it with its expectations under
 * root/name for the Python checker. */
static void emit_case_max(const char *root, const char *name, const hd_compose_msg *m,
                          const char *want_structure, size_t header_max)
{
    hd_buf out;
    hd_buf_init(&out, 64u << 20);
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_compose(m, &out, &err);
    if (rc != 0)
        fail_msg("%s: hd_compose: %s", name, err.msg);
    check_lines(name, hd_buf_slice(&out), header_max);
    hd_msg *msg = NULL;
    if (hd_msg_parse(hd_buf_slice(&out), NULL, &msg, &err) != 0)
        fail_msg("%s: hd_msg_parse: %s", name, err.msg);
    if (hd_msg_count(msg, "Bcc") != 0 || hd_msg_count(msg, "From") != 1 ||
        hd_msg_count(msg, "Date") != 1 || hd_msg_count(msg, "MIME-Version") != 1)
        fail_msg("%s: wrong header fields", name);
    hd_msg_free(msg);

    /* the same input gives the same bytes */
    hd_buf again;
    hd_buf_init(&again, 64u << 20);
    assert_int_equal(hd_compose(m, &again, NULL), 0);
    if (!hd_slice_eq(hd_buf_slice(&out), hd_buf_slice(&again)))
        fail_msg("%s: not deterministic", name);
    hd_buf_free(&again);

    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    if (mkdir(dir, 0700) != 0)
        fail_msg("mkdir %s", dir);
    put_file(dir, "msg.eml", out.p, out.len);
    hd_buf_free(&out);
    if (want_structure != NULL)
        put_str(dir, "structure", want_structure);
    hd_compose_addr from[1] = {m->from};
    put_addrs(dir, "from", from, 1);
    put_addrs(dir, "to", m->to, m->n_to);
    put_addrs(dir, "cc", m->cc, m->n_cc);
    put_addrs(dir, "reply_to", m->reply_to, m->n_reply_to);
    if (m->subject != NULL)
        put_str(dir, "subject", m->subject);
    char id[256];
    snprintf(id, sizeof id, "<%s@%s>", m->unique, m->message_id_domain);
    put_str(dir, "message_id", id);
    put_text(dir, "text", m->text);
    put_text(dir, "html", m->html);
    for (size_t i = 0; i < m->n_headers; i++) {
        char f[128];
        snprintf(f, sizeof f, "hdr.%s", m->headers[i].name);
        put_str(dir, f, m->headers[i].value);
    }
    /* document order: inline parts sit with the html, before the rest */
    size_t order[HD_COMPOSE_MAX_ATTACHMENTS], k = 0;
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < m->n_att; i++)
            if ((m->att[i].content_id != NULL && m->html.p != NULL) == (pass == 0))
                order[k++] = i;
    for (size_t i = 0; i < m->n_att; i++) {
        const hd_compose_attachment *a = &m->att[order[i]];
        char f[64], cid[300];
        snprintf(f, sizeof f, "att.%zu.data", i);
        put_file(dir, f, a->data.len ? (const void *)a->data.p : "", a->data.len);
        snprintf(f, sizeof f, "att.%zu.name", i);
        put_str(dir, f, a->filename != NULL ? a->filename : "");
        snprintf(f, sizeof f, "att.%zu.type", i);
        put_str(dir, f, a->content_type != NULL ? a->content_type : "application/octet-stream");
        snprintf(f, sizeof f, "att.%zu.disp", i);
        put_str(dir, f, a->content_id != NULL ? "inline" : "attachment");
        snprintf(f, sizeof f, "att.%zu.cid", i);
        snprintf(cid, sizeof cid, a->content_id != NULL ? "<%s>" : "%s",
                 a->content_id != NULL ? a->content_id : "");
        put_str(dir, f, cid);
    }
}

static void emit_case(const char *root, const char *name, const hd_compose_msg *m,
                      const char *want_structure)
{
    emit_case_max(root, name, m, want_structure, 78);
}

static void run_checker(const char *root)
{
    if (access(PYTHON, X_OK) != 0)
        fail_msg("%s is missing: the round trip needs Python's email package", PYTHON);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", PYTHON, CHECKER, root);
    int status = system(cmd);
    if (status != 0)
        fail_msg("%s failed (status %d): see the lines above", cmd,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Round-trip cases -------------------------------------------------------- */

static const hd_compose_addr to_ascii[] = {
    {"Bob", "bob@example.com"},
    {"Doe, John (work)", "john.doe@example.com"},
    {"Say \"hi\" \\ there", "q@example.com"},
    {NULL, "bare@example.net"},
};

static const hd_compose_addr to_intl[] = {
    {"J\xc3\xb6rg M\xc3\xbcller-L\xc3\xbc""denscheid", "jorg@example.de"},
    {"\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e", "taro@example.jp"},
    {"\xf0\x9f\x8e\x89 Party \xf0\x9f\x8e\x89", "party@example.com"},
    {"Fran\xc3\xa7ois, \"Le Chef\"", "chef@example.fr"},
    {"=?utf-8?Q?not_an_encoded_word?=", "tricky@example.com"},
};

static void case_ascii(const char *root)
{
    hd_compose_msg m = base_msg();
    m.to = to_ascii;
    m.n_to = 4;
    m.cc = &to_ascii[1];
    m.n_cc = 1;
    m.reply_to = &to_ascii[0];
    m.n_reply_to = 1;
    m.subject = "Quarterly report";
    m.text = S("Hello Bob,\n\nthe report is attached.\n");
    emit_case(root, "ascii_text_only", &m, "text/plain");

    m.text = S("no final line end and a long line: "
               "0123456789012345678901234567890123456789012345678901234567890123456789"
               "0123456789012345678901234567890123456789 with trailing space ");
    m.subject = "A long ASCII subject that goes on and on, past the seventy-eight "
                "characters a line should hold, so it must be folded at its spaces";
    emit_case(root, "ascii_long_lines", &m, "text/plain");
}

static void case_intl(const char *root)
{
    hd_compose_msg m = base_msg();
    m.from.name = "\xc3\x89lodie Fa\xc3\xaf""ence";
    m.to = to_intl;
    m.n_to = 5;
    m.subject = "R\xc3\xa9sum\xc3\xa9 caf\xc3\xa9 \xe2\x80\x94 na\xc3\xafve";
    m.text = S("Gr\xc3\xbc\xc3\x9f""e aus K\xc3\xb6ln \xe2\x98\x95\n");
    emit_case(root, "accents", &m, "text/plain");

    /* Japanese and emoji, long enough for several encoded words */
    m.subject = "\xe4\xbb\x8a\xe6\x97\xa5\xe3\x81\xaf\xe3\x80\x81\xe4\xb8\x96\xe7\x95\x8c"
                "\xef\xbc\x81\xe3\x81\x93\xe3\x82\x8c\xe3\x81\xaf\xe9\x95\xb7\xe3\x81\x84"
                "\xe4\xbb\xb6\xe5\x90\x8d\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82 \xf0\x9f\x98\x80"
                "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81"
                "\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88\xe3\x81\xa8 ASCII text "
                "mixed together, and accents: \xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc";
    m.html = S("<p>\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf \xf0\x9f\x98\x80</p>");
    m.text = HD_SLICE_NULL;
    emit_case(root, "japanese_emoji_html", &m, "text/html");

    static const hd_compose_header hdrs[] = {
        {"X-Campaign", "Sp\xc3\xa9""cial \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac"},
        {"List-Unsubscribe", "<https://example.org/unsubscribe/0123456789abcdef0123456789abcdef"
                             "0123456789abcdef>, <mailto:unsub@example.org?subject=unsubscribe>"},
        {"X-Plain", "a\tvalue with  two spaces"},
    };
    m.headers = hdrs;
    m.n_headers = 3;
    m.subject = "";
    /* the URL in List-Unsubscribe is one word of 95 characters */
    emit_case_max(root, "custom_headers_empty_subject", &m, NULL, 120);
}

static void case_structure(const char *root)
{
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    static const hd_compose_attachment att[] = {
        {"logo.png", "image/png", {png, sizeof png}, "logo@example.org"},
        {"r\xc3\xa9sum\xc3\xa9 \xe5\xb1\xa5\xe6\xad\xb4\xe6\x9b\xb8.pdf", "application/pdf",
         {(const uint8_t *)"%PDF-1.4 fake", 13}, NULL},
        {"a rather long plain ASCII file name that needs RFC 2231 continuations.txt",
         "text/plain", {(const uint8_t *)"line 1\r\nline 2\r\n", 16}, NULL},
        {"quote\"and\\backslash.bin", NULL, {(const uint8_t *)"\0\1\2", 3}, NULL},
        {NULL, "application/octet-stream", {NULL, 0}, NULL},
    };
    hd_compose_msg m = base_msg();
    m.to = to_intl;
    m.n_to = 2;
    m.subject = "Everything";
    m.text = S("Plain version\n");
    m.html = S("<p>HTML version <img src=\"cid:logo@example.org\"></p>\n");
    m.att = att;
    m.n_att = 5;
    emit_case(root, "html_text_inline_attachments", &m,
              "multipart/mixed(multipart/alternative(text/plain,"
              "multipart/related(text/html,image/png)),application/pdf,text/plain,"
              "application/octet-stream,application/octet-stream)");

    m.html = HD_SLICE_NULL;
    m.att = &att[1];
    m.n_att = 1;
    emit_case(root, "text_and_attachment", &m, "multipart/mixed(text/plain,application/pdf)");

    m.text = HD_SLICE_NULL;
    emit_case(root, "attachment_only", &m, "multipart/mixed(application/pdf)");

    m.n_att = 0;
    emit_case(root, "no_body_at_all", &m, "text/plain");
    m.text = S("");
    emit_case(root, "empty_text", &m, "text/plain");

    m.text = S("t");
    m.html = S("<b>h</b>");
    emit_case(root, "alternative", &m, "multipart/alternative(text/plain,text/html)");
}

static void case_big_attachment(const char *root)
{
    size_t n = 1u << 20;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    hd_compose_attachment att = {"big.bin", "application/octet-stream", {data, n}, NULL};
    hd_compose_msg m = base_msg();
    m.subject = "1 MB";
    m.text = S("see attached\n");
    m.att = &att;
    m.n_att = 1;
    emit_case(root, "one_megabyte_attachment", &m,
              "multipart/mixed(text/plain,application/octet-stream)");
    free(data);
}

/* Bodies that contain the boundaries herald would pick first. */
static void case_boundary_collision(const char *root)
{
    static const char evil[] = "--=_hd_q1_mix\r\n--=_hd_q1_alt\r\n--=_hd_q1_rel--\r\n";
    static const hd_compose_attachment att[] = {
        {"evil.txt", "text/plain", {(const uint8_t *)evil, sizeof evil - 1}, NULL},
        {"img.gif", "image/gif", {(const uint8_t *)evil, sizeof evil - 1}, "img@x"},
    };
    hd_compose_msg m = base_msg();
    m.subject = "--=_hd_q1_mix";
    m.text = S("before\n--=_hd_q1_alt\n--=_hd_q1_mix--\nafter\n");
    m.html = S("<pre>\n--=_hd_q1_rel\n--=_hd_q1_alt--\n</pre>\n");
    m.att = att;
    m.n_att = 2;
    m.headers = (const hd_compose_header[]){{"X-Boundary", "--=_hd_q1_mix"}};
    m.n_headers = 1;
    emit_case(root, "boundary_collision", &m,
              "multipart/mixed(multipart/alternative(text/plain,"
              "multipart/related(text/html,image/gif)),text/plain)");
}

static void test_compose_round_trip(void **state)
{
    char *root = tu_mkdtemp();
    case_ascii(root);
    case_intl(root);
    case_structure(root);
    case_big_attachment(root);
    case_boundary_collision(root);
    run_checker(root);
    tu_rmtree(root);
    free(root);
}

/* Refusals ------------------------------------------------------------------ */

struct bad_case {
    const char *name;
    void (*mutate)(hd_compose_msg *m);
    int want_rc;
    const char *want_field; /* the error must start with this */
};

static hd_compose_addr bad_to[1];
static hd_compose_header bad_hdr[1];
static hd_compose_attachment bad_att[1];

static void set_to(hd_compose_msg *m, const char *name, const char *address)
{
    bad_to[0] = (hd_compose_addr){name, address};
    m->to = bad_to;
    m->n_to = 1;
}

static void set_hdr(hd_compose_msg *m, const char *name, const char *value)
{
    bad_hdr[0] = (hd_compose_header){name, value};
    m->headers = bad_hdr;
    m->n_headers = 1;
}

static void set_att(hd_compose_msg *m, const char *file, const char *type, const char *cid)
{
    bad_att[0] = (hd_compose_attachment){file, type, {(const uint8_t *)"x", 1}, cid};
    m->att = bad_att;
    m->n_att = 1;
}

static void subject_crlf(hd_compose_msg *m) { m->subject = "Hi\r\nBcc: victim@example.com"; }
static void subject_lf(hd_compose_msg *m) { m->subject = "Hi\nX-Evil: 1"; }
static void subject_bad_utf8(hd_compose_msg *m) { m->subject = "caf\xc3"; }
static void subject_overlong(hd_compose_msg *m) { m->subject = "\xc0\xaf"; }
static void name_lf(hd_compose_msg *m) { set_to(m, "Bob\nBcc: x@y.z", "bob@example.com"); }
static void from_name_cr(hd_compose_msg *m) { m->from.name = "Alice\r"; }
static void address_cr(hd_compose_msg *m) { set_to(m, NULL, "bob@example.com\r\nBcc: x@y.z"); }
static void address_nul_free_space(hd_compose_msg *m) { set_to(m, NULL, "bob smith@example.com"); }
static void address_utf8(hd_compose_msg *m) { set_to(m, NULL, "j\xc3\xb6rg@example.de"); }
static void address_no_at(hd_compose_msg *m) { set_to(m, NULL, "bob.example.com"); }
static void address_dots(hd_compose_msg *m) { set_to(m, NULL, "bob..smith@example.com"); }
static void address_local_65(hd_compose_msg *m)
{
    set_to(m, NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com");
}
static void address_label_64(hd_compose_msg *m)
{
    set_to(m, NULL, "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com");
}
static void address_255(hd_compose_msg *m)
{
    static char a[256];
    memset(a, 'a', 255);
    memcpy(a, "x@", 2);
    for (size_t i = 60; i < 255; i += 60)
        a[i] = '.';
    a[255] = '\0';
    set_to(m, NULL, a);
}
static void address_hyphen(hd_compose_msg *m) { set_to(m, NULL, "a@-example.com"); }
static void from_missing(hd_compose_msg *m) { m->from.address = NULL; }
static void too_many_to(hd_compose_msg *m)
{
    static hd_compose_addr many[HD_COMPOSE_MAX_ADDRESSES + 1];
    for (size_t i = 0; i <= HD_COMPOSE_MAX_ADDRESSES; i++)
        many[i] = (hd_compose_addr){NULL, "a@example.com"};
    m->to = many;
    m->n_to = HD_COMPOSE_MAX_ADDRESSES + 1;
}
static void header_bcc(hd_compose_msg *m) { set_hdr(m, "Bcc", "x@example.com"); }
static void header_content(hd_compose_msg *m) { set_hdr(m, "content-type", "text/html"); }
static void header_colon(hd_compose_msg *m) { set_hdr(m, "X-A:B", "v"); }
static void header_space(hd_compose_msg *m) { set_hdr(m, "X A", "v"); }
static void header_value_crlf(hd_compose_msg *m) { set_hdr(m, "X-Tag", "v\r\nBcc: x@y.z"); }
static void header_long_word(hd_compose_msg *m)
{
    static char v[1200];
    memset(v, 'w', sizeof v - 1);
    set_hdr(m, "X-Long", v);
}
static void too_many_headers(hd_compose_msg *m)
{
    static hd_compose_header many[HD_COMPOSE_MAX_HEADERS + 1];
    for (size_t i = 0; i <= HD_COMPOSE_MAX_HEADERS; i++)
        many[i] = (hd_compose_header){"X-A", "b"};
    m->headers = many;
    m->n_headers = HD_COMPOSE_MAX_HEADERS + 1;
}
static void att_filename_lf(hd_compose_msg *m) { set_att(m, "a\nb.txt", NULL, NULL); }
static void att_type_params(hd_compose_msg *m) { set_att(m, "a", "text/plain; charset=x", NULL); }
static void att_type_message(hd_compose_msg *m) { set_att(m, "a", "message/rfc822", NULL); }
static void att_type_crlf(hd_compose_msg *m) { set_att(m, "a", "text/plain\r\nX: y", NULL); }
static void att_cid_angle(hd_compose_msg *m) { set_att(m, "a", NULL, "<x@y>"); }
static void too_many_att(hd_compose_msg *m)
{
    static hd_compose_attachment many[HD_COMPOSE_MAX_ATTACHMENTS + 1];
    m->att = many;
    m->n_att = HD_COMPOSE_MAX_ATTACHMENTS + 1;
}
static void text_nul(hd_compose_msg *m) { m->text = S("a\0b"); }
static void html_bad_utf8(hd_compose_msg *m) { m->html = S("<p>\xff</p>"); }
static void unique_missing(hd_compose_msg *m) { m->unique = NULL; }
static void unique_bad(hd_compose_msg *m) { m->unique = "a\"b"; }
static void msgid_domain_bad(hd_compose_msg *m) { m->message_id_domain = "exa mple.org"; }
static void over_size(hd_compose_msg *m)
{
    m->max_bytes = 4096;
    set_att(m, "a", NULL, NULL);
    static uint8_t big[8192];
    bad_att[0].data = hd_slice_make(big, sizeof big);
}

static const struct bad_case bad_cases[] = {
    {"CRLF in subject", subject_crlf, HD_EINVAL, "subject:"},
    {"LF in subject", subject_lf, HD_EINVAL, "subject:"},
    {"truncated UTF-8 in subject", subject_bad_utf8, HD_EINVAL, "subject:"},
    {"overlong UTF-8 in subject", subject_overlong, HD_EINVAL, "subject:"},
    {"LF in a display name", name_lf, HD_EINVAL, "to[0].name:"},
    {"CR in the From name", from_name_cr, HD_EINVAL, "from.name:"},
    {"CRLF in an address", address_cr, HD_EINVAL, "to[0].address:"},
    {"space in an address", address_nul_free_space, HD_EINVAL, "to[0].address:"},
    {"non-ASCII address", address_utf8, HD_EUNSUPPORTED, "to[0].address:"},
    {"address without @", address_no_at, HD_EINVAL, "to[0].address:"},
    {"double dot in local part", address_dots, HD_EINVAL, "to[0].address:"},
    {"local part of 65", address_local_65, HD_ELIMIT, "to[0].address:"},
    {"domain label of 64", address_label_64, HD_EINVAL, "to[0].address:"},
    {"address of 255", address_255, HD_ELIMIT, "to[0].address:"},
    {"label starting with a hyphen", address_hyphen, HD_EINVAL, "to[0].address:"},
    {"no From address", from_missing, HD_EINVAL, "from.address:"},
    {"1001 recipients", too_many_to, HD_ELIMIT, "to, cc and reply_to:"},
    {"Bcc as a custom header", header_bcc, HD_EINVAL, "headers[0].name:"},
    {"Content-Type as a custom header", header_content, HD_EINVAL, "headers[0].name:"},
    {"colon in a header name", header_colon, HD_EINVAL, "headers[0].name:"},
    {"space in a header name", header_space, HD_EINVAL, "headers[0].name:"},
    {"CRLF in a header value", header_value_crlf, HD_EINVAL, "headers[0].value:"},
    {"unfoldable header word", header_long_word, HD_EINVAL, "headers[0].value:"},
    {"101 headers", too_many_headers, HD_ELIMIT, "headers:"},
    {"LF in a file name", att_filename_lf, HD_EINVAL, "attachments[0].filename:"},
    {"parameters in a content type", att_type_params, HD_EINVAL, "attachments[0].content_type:"},
    {"message/rfc822 as base64", att_type_message, HD_EINVAL, "attachments[0].content_type:"},
    {"CRLF in a content type", att_type_crlf, HD_EINVAL, "attachments[0].content_type:"},
    {"angle brackets in a content id", att_cid_angle, HD_EINVAL, "attachments[0].content_id:"},
    {"101 attachments", too_many_att, HD_ELIMIT, "attachments:"},
    {"NUL in the text", text_nul, HD_EINVAL, "text:"},
    {"bad UTF-8 in the html", html_bad_utf8, HD_EINVAL, "html:"},
    {"no unique", unique_missing, HD_EINVAL, "unique:"},
    {"quote in unique", unique_bad, HD_EINVAL, "unique:"},
    {"bad Message-ID domain", msgid_domain_bad, HD_EINVAL, "message_id_domain:"},
    {"over the size cap", over_size, HD_ELIMIT, "the composed message"},
};

static void test_compose_refusals(void **state)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        hd_compose_msg m = base_msg();
        m.text = S("body\n");
        c->mutate(&m);
        hd_buf out;
        hd_buf_init(&out, 64u << 20);
        assert_int_equal(hd_buf_append_cstr(&out, "keep"), 0);
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_compose(&m, &out, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %s, want %s (%s)", c->name, hd_err_name(rc),
                     hd_err_name(c->want_rc), err.msg);
        if (strncmp(err.msg, c->want_field, strlen(c->want_field)) != 0)
            fail_msg("%s: error \"%s\" does not start with \"%s\"", c->name, err.msg,
                     c->want_field);
        if (!hd_slice_eq_cstr(hd_buf_slice(&out), "keep"))
            fail_msg("%s: the output buffer was changed", c->name);
        hd_buf_free(&out);
    }
}

/* A good message still composes with the same base (the table's baseline). */
static void test_compose_baseline(void **state)
{
    hd_compose_msg m = base_msg();
    m.text = S("body\n");
    hd_buf out;
    hd_buf_init(&out, 1 << 20);
    assert_int_equal(hd_compose(&m, &out, NULL), 0);
    assert_non_null(strstr(hd_buf_cstr(&out), "\r\nMessage-ID: <q1@example.org>\r\n"));
    assert_non_null(strstr(hd_buf_cstr(&out), "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(hd_buf_cstr(&out), "Content-Transfer-Encoding: 7bit\r\n\r\nbody\r\n"));
    hd_buf_free(&out);

    /* without a domain, no Message-ID (hd_submit_prepare adds one) */
    m.message_id_domain = NULL;
    hd_buf_init(&out, 1 << 20);
    assert_int_equal(hd_compose(&m, &out, NULL), 0);
    assert_null(strstr(hd_buf_cstr(&out), "Message-ID"));
    hd_buf_free(&out);
}

/* Encoded words hold at most 75 characters and whole UTF-8 characters. */
static void test_compose_encoded_word_size(void **state)
{
    hd_buf subj;
    hd_buf_init(&subj, 1 << 16);
    for (int i = 0; i < 200; i++)
        assert_int_equal(hd_buf_append_cstr(&subj, i % 3 ? "\xe6\x97\xa5" : "\xf0\x9f\x98\x80"), 0);
    hd_compose_msg m = base_msg();
    m.subject = hd_buf_cstr(&subj);
    hd_buf out;
    hd_buf_init(&out, 1 << 20);
    assert_int_equal(hd_compose(&m, &out, NULL), 0);
    const char *s = hd_buf_cstr(&out);
    size_t words = 0;
    const char *end;
    for (const char *p = strstr(s, "=?"); p != NULL; p = strstr(end + 2, "=?")) {
        end = strstr(p + 10, "?=");
        assert_non_null(end);
        if ((size_t)(end + 2 - p) > 75)
            fail_msg("encoded word of %zu characters", (size_t)(end + 2 - p));
        /* these are B words (B is shorter here): each decodes to whole characters */
        assert_memory_equal(p, "=?utf-8?B?", 10);
        hd_buf dec;
        hd_buf_init(&dec, 256);
        assert_int_equal(hd_b64_decode(hd_slice_make(p + 10, (size_t)(end - p - 10)),
                                       HD_B64_STRICT, &dec, NULL), 0);
        assert_true(dec.len > 0 && (dec.p[0] & 0xC0) != 0x80);
        uint8_t last = dec.p[dec.len - 1];
        assert_true(last < 0x80 || (last & 0xC0) == 0x80);
        size_t lead = dec.len; /* the last character's lead byte is complete */
        while (lead > 0 && (dec.p[lead - 1] & 0xC0) == 0x80)
            lead--;
        assert_true(lead > 0);
        uint8_t c = dec.p[lead - 1];
        size_t want = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        assert_int_equal(dec.len - (lead - 1), want);
        hd_buf_free(&dec);
        words++;
    }
    assert_true(words > 5);
    check_lines("encoded word size", hd_buf_slice(&out), 78);
    hd_buf_free(&out);
    hd_buf_free(&subj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_baseline),
        cmocka_unit_test(test_compose_refusals),
        cmocka_unit_test(test_compose_encoded_word_size),
        cmocka_unit_test(test_compose_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
