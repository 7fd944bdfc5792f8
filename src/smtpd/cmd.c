/*
 * cmd.c - the command table (RFC 5321 §4.1.1) and the handlers of the
 * commands that are not AUTH.
 *
 * Every handler gets the argument (the line after the verb and its
 * spaces) and returns SMTPD_CONTINUE or an event. Checks run in a fixed
 * order: sequence (503), then syntax (501/555), then limits and policy,
 * so a client always learns the first thing it did wrong.
 */
#include "smtpd/smtpd_int.h"

#include <stdio.h>
#include <string.h>

typedef int (*smtpd_handler)(hd_smtpd *s, hd_slice arg);

typedef struct smtpd_cmd {
    const char *name;
    smtpd_handler fn;
} smtpd_cmd;

bool smtpd_auth_offered(const hd_smtpd *s)
{
    return !s->o.auth_disabled && (s->tls || s->o.auth_without_tls);
}

static hd_slice skip_sp(hd_slice a)
{
    while (a.len > 0 && a.p[0] == ' ') {
        a.p++;
        a.len--;
    }
    return a;
}

/* The argument with trailing spaces removed. */
static hd_slice trim_sp(hd_slice a)
{
    a = skip_sp(a);
    while (a.len > 0 && a.p[a.len - 1] == ' ')
        a.len--;
    return a;
}

/* Does a start with the ASCII word w (case-insensitive)? Advances a. */
static bool eat_word(hd_slice *a, const char *w)
{
    size_t n = strlen(w);
    if (a->len < n || !hd_slice_caseeq_cstr(hd_slice_make(a->p, n), w))
        return false;
    a->p += n;
    a->len -= n;
    return true;
}

/* HELO / EHLO --------------------------------------------------------------- */

static bool helo_arg_ok(hd_slice name)
{
    if (name.len == 0 || name.len > SMTPD_HELO_MAX)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if (name.p[i] < 0x21 || name.p[i] > 0x7e)
            return false;
    return true;
}

static void ehlo_reply(hd_smtpd *s)
{
    char size[40];
    const char *lines[8];
    size_t n = 0;
    snprintf(size, sizeof size, "SIZE %zu", s->o.max_message_size); /* RFC 1870 */
    lines[n++] = s->host;
    lines[n++] = size;
    lines[n++] = "PIPELINING";          /* RFC 2920 */
    lines[n++] = "8BITMIME";            /* RFC 6152 */
    lines[n++] = "ENHANCEDSTATUSCODES"; /* RFC 2034 */
    lines[n++] = "SMTPUTF8";            /* RFC 6531 */
    if (s->o.tls_available && !s->tls)
        lines[n++] = "STARTTLS"; /* RFC 3207 */
    if (smtpd_auth_offered(s))
        lines[n++] = "AUTH PLAIN LOGIN"; /* RFC 4954 */
    for (size_t i = 0; i < n; i++)
        if (hd_buf_printf(&s->out, "250%c%s\r\n", i + 1 < n ? '-' : ' ', lines[i]) != 0)
            s->closed = true;
}

static int helo_common(hd_smtpd *s, hd_slice arg, bool esmtp)
{
    /* the first word: some clients add more, which we let pass */
    hd_slice name = skip_sp(arg);
    size_t k = 0;
    while (k < name.len && name.p[k] != ' ')
        k++;
    name.len = k;
    if (!helo_arg_ok(name))
        return smtpd_fail(s, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
    /* RFC 5321 §4.1.4: HELO/EHLO also reset the transaction */
    smtpd_txn_reset(s);
    memcpy(s->helo, name.p, name.len);
    s->helo[name.len] = '\0';
    s->have_helo = true;
    s->esmtp = esmtp;
    if (esmtp)
        ehlo_reply(s);
    else
        smtpd_reply(s, 250, NULL, "%s", s->host);
    return SMTPD_CONTINUE;
}

static int cmd_helo(hd_smtpd *s, hd_slice arg)
{
    return helo_common(s, arg, false);
}

static int cmd_ehlo(hd_smtpd *s, hd_slice arg)
{
    return helo_common(s, arg, true);
}

/* MAIL / RCPT --------------------------------------------------------------- */

/* A path error as a reply; enh_addr is 5.1.7 (sender) or 5.1.3. */
static int path_fail(hd_smtpd *s, smtpd_path_rc rc, const smtpd_path *p, const char *enh_addr)
{
    switch (rc) {
    case SMTPD_PATH_LOCAL_LONG:
        return smtpd_fail(s, 553, enh_addr,
                          "local part longer than %d octets (RFC 5321 section 4.5.3.1.1)",
                          SMTPD_LOCAL_MAX);
    case SMTPD_PATH_DOMAIN_LONG:
        return smtpd_fail(s, 553, enh_addr,
                          "domain longer than %d octets (RFC 5321 section 4.5.3.1.2)",
                          SMTPD_DOMAIN_MAX);
    case SMTPD_PATH_TOO_LONG:
        return smtpd_fail(s, 553, enh_addr,
                          "path longer than %d octets (RFC 5321 section 4.5.3.1.3)",
                          SMTPD_PATH_MAX);
    default:
        return smtpd_fail(s, 501, enh_addr, "bad address syntax: %s", p->why);
    }
}

/* RFC 6531 §3.7.4.1: 8-bit addresses only with SMTPUTF8. */
static int utf8_check(hd_smtpd *s, const smtpd_path *p, bool smtputf8, const char *enh_addr)
{
    if (!p->eight_bit)
        return 0;
    if (!smtputf8)
        return smtpd_fail(s, 553, "5.6.7", "non-ASCII address needs the SMTPUTF8 parameter");
    if (!p->utf8_ok)
        return smtpd_fail(s, 501, enh_addr, "bad address syntax: malformed UTF-8");
    return 0;
}

/* SIZE=1*20DIGIT (RFC 1870 §3); a value past 2^64-1 counts as huge. */
static bool parse_size(hd_slice v, uint64_t *out)
{
    if (v.len == 0 || v.len > 20)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        unsigned d = (unsigned)(v.p[i] - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    *out = n;
    return true;
}

/* RFC 4954 §5 AUTH=: xtext or "<>"; checked loosely, then ignored (the
 * shell knows the authenticated user). */
static bool auth_param_ok(hd_slice v)
{
    for (size_t i = 0; i < v.len; i++)
        if (v.p[i] < 0x21 || v.p[i] > 0x7e)
            return false;
    return v.len > 0;
}

/* The MAIL parameters into m; returns 0 or a reply's return value. */
static int mail_params(hd_smtpd *s, hd_slice rest, hd_smtpd_mail_info *m)
{
    bool seen_size = false, seen_body = false, seen_utf8 = false, seen_auth = false;
    hd_slice kw, val;
    bool hv;
    int r;
    while ((r = smtpd_param_next(&rest, &kw, &val, &hv)) == 1) {
        bool *seen;
        if (hd_slice_caseeq_cstr(kw, "SIZE")) {
            seen = &seen_size;
            if (!hv || !parse_size(val, &m->size))
                return smtpd_fail(s, 501, "5.5.4", "Syntax: SIZE=<digits>");
        } else if (hd_slice_caseeq_cstr(kw, "BODY")) {
            seen = &seen_body;
            if (hv && hd_slice_caseeq_cstr(val, "8BITMIME"))
                m->body_8bit = true;
            else if (!hv || !hd_slice_caseeq_cstr(val, "7BIT"))
                return smtpd_fail(s, 501, "5.5.4", "Syntax: BODY=7BIT or BODY=8BITMIME");
        } else if (hd_slice_caseeq_cstr(kw, "SMTPUTF8")) {
            seen = &seen_utf8;
            if (hv)
                return smtpd_fail(s, 501, "5.5.4", "SMTPUTF8 takes no value");
            m->smtputf8 = true;
        } else if (hd_slice_caseeq_cstr(kw, "AUTH")) {
            seen = &seen_auth;
            if (!hv || !auth_param_ok(val))
                return smtpd_fail(s, 501, "5.5.4", "Syntax: AUTH=<xtext>");
        } else {
            /* RFC 5321 §4.1.1.11 / RFC 1869 */
            return smtpd_fail(s, 555, "5.5.4", "unsupported parameter %.*s",
                              kw.len > 64 ? 64 : (int)kw.len, (const char *)kw.p);
        }
        if (*seen)
            return smtpd_fail(s, 501, "5.5.4", "parameter given twice");
        *seen = true;
    }
    if (r < 0)
        return smtpd_fail(s, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
    return 0;
}

static int cmd_mail(hd_smtpd *s, hd_slice arg)
{
    if (!s->have_helo)
        return smtpd_fail(s, 503, "5.5.1", "send HELO/EHLO first");
    if (s->have_mail)
        return smtpd_fail(s, 503, "5.5.1", "sender already given (nested MAIL command)");
    if (s->o.auth_required && !s->authed) /* RFC 4954 §6 */
        return smtpd_fail(s, 530, "5.7.0", "Authentication required");
    if (!eat_word(&arg, "FROM:"))
        return smtpd_fail(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
    arg = skip_sp(arg);

    smtpd_path p;
    smtpd_path_rc prc = smtpd_path_parse(&arg, true, false, &p);
    if (prc != SMTPD_PATH_OK)
        return path_fail(s, prc, &p, "5.1.7");
    hd_smtpd_mail_info m = {0};
    int rc = mail_params(s, arg, &m);
    if (rc != 0)
        return rc;
    if ((rc = utf8_check(s, &p, m.smtputf8, "5.1.7")) != 0)
        return rc;
    if (m.size > s->o.max_message_size) { /* RFC 1870 §6.1 */
        smtpd_reply(s, 552, "5.3.4", "message size exceeds fixed maximum message size of %zu bytes",
                    s->o.max_message_size);
        return SMTPD_CONTINUE;
    }
    memcpy(s->cand, p.mailbox, sizeof s->cand);
    s->cand_mail = m;
    s->cand_mail.reverse_path = s->cand;
    s->pending = SMTPD_P_MAIL;
    return HD_SMTPD_EV_MAIL;
}

static int cmd_rcpt(hd_smtpd *s, hd_slice arg)
{
    if (!s->have_mail)
        return smtpd_fail(s, 503, "5.5.1", "need MAIL before RCPT");
    if (s->n_rcpts >= s->o.max_recipients) { /* RFC 5321 §4.5.3.1.10 */
        smtpd_reply(s, 452, "4.5.3", "too many recipients");
        return SMTPD_CONTINUE;
    }
    if (!eat_word(&arg, "TO:"))
        return smtpd_fail(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
    arg = skip_sp(arg);

    smtpd_path p;
    smtpd_path_rc prc = smtpd_path_parse(&arg, false, true, &p);
    if (prc != SMTPD_PATH_OK)
        return path_fail(s, prc, &p, "5.1.3");
    hd_slice kw, val;
    bool hv;
    int r = smtpd_param_next(&arg, &kw, &val, &hv);
    if (r < 0)
        return smtpd_fail(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
    if (r > 0)
        return smtpd_fail(s, 555, "5.5.4", "unsupported parameter %.*s",
                          kw.len > 64 ? 64 : (int)kw.len, (const char *)kw.p);
    int rc = utf8_check(s, &p, s->mail.smtputf8, "5.1.3");
    if (rc != 0)
        return rc;
    /* only <postmaster> parses without a domain (RFC 5321 §4.5.1); on
     * submission it names no mailbox: it would be queued for nowhere */
    if (s->o.postmaster_needs_domain && strchr(p.mailbox, '@') == NULL)
        return smtpd_fail(s, 550, "5.1.3",
                          "<postmaster> needs a domain here: RCPT TO:<postmaster@domain>");
    memcpy(s->cand, p.mailbox, sizeof s->cand);
    s->pending = SMTPD_P_RCPT;
    return HD_SMTPD_EV_RCPT;
}

/* DATA and the rest ------------------------------------------------------- */

static int cmd_data(hd_smtpd *s, hd_slice arg)
{
    if (!s->have_mail)
        return smtpd_fail(s, 503, "5.5.1", "need MAIL and RCPT before DATA");
    if (s->n_rcpts == 0) /* RFC 5321 §3.3 */
        return smtpd_fail(s, 554, "5.5.1", "no valid recipients");
    if (trim_sp(arg).len > 0)
        return smtpd_fail(s, 501, "5.5.4", "Syntax: DATA");
    smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    smtpd_data_begin(s);
    return SMTPD_CONTINUE;
}

static int cmd_rset(hd_smtpd *s, hd_slice arg)
{
    if (trim_sp(arg).len > 0)
        return smtpd_fail(s, 501, "5.5.4", "Syntax: RSET");
    smtpd_txn_reset(s);
    smtpd_reply(s, 250, "2.0.0", "OK");
    return SMTPD_CONTINUE;
}

static int cmd_noop(hd_smtpd *s, hd_slice arg)
{
    smtpd_reply(s, 250, "2.0.0", "OK");
    return SMTPD_CONTINUE;
}

static int cmd_quit(hd_smtpd *s, hd_slice arg)
{
    smtpd_reply(s, 221, "2.0.0", "%s closing connection", s->host);
    return smtpd_close(s);
}

static int cmd_vrfy(hd_smtpd *s, hd_slice arg)
{
    if (trim_sp(arg).len == 0)
        return smtpd_fail(s, 501, "5.5.4", "Syntax: VRFY address");
    /* RFC 5321 §3.5.3: 252 when the server will not verify */
    smtpd_reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
    return SMTPD_CONTINUE;
}

static int cmd_help(hd_smtpd *s, hd_slice arg)
{
    smtpd_reply(s, 214, "2.0.0",
                "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
    return SMTPD_CONTINUE;
}

static int cmd_starttls(hd_smtpd *s, hd_slice arg)
{
    if (s->tls)
        return smtpd_fail(s, 503, "5.5.1", "TLS already active");
    if (!s->o.tls_available)
        return smtpd_fail(s, 502, "5.5.1", "STARTTLS not available");
    if (trim_sp(arg).len > 0) /* RFC 3207 §4 */
        return smtpd_fail(s, 501, "5.5.4", "Syntax: STARTTLS");
    if (!s->have_helo)
        return smtpd_fail(s, 503, "5.5.1", "send EHLO first");
    if (s->have_mail)
        return smtpd_fail(s, 503, "5.5.1", "STARTTLS not permitted during a mail transaction");
    smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
    /* RFC 3207 §6 (and CVE-2011-0411): what the client pipelined after
     * STARTTLS arrived in clear text and must not be executed under TLS */
    s->in_off = s->in.len;
    s->pending = SMTPD_P_STARTTLS;
    return HD_SMTPD_EV_STARTTLS;
}

static const smtpd_cmd commands[] = {
    {"HELO", cmd_helo}, {"EHLO", cmd_ehlo}, {"MAIL", cmd_mail},
    {"RCPT", cmd_rcpt}, {"DATA", cmd_data}, {"RSET", cmd_rset},
    {"NOOP", cmd_noop}, {"QUIT", cmd_quit}, {"VRFY", cmd_vrfy},
    {"HELP", cmd_help}, {"STARTTLS", cmd_starttls}, {"AUTH", smtpd_cmd_auth},
};

/* Verbs that show another protocol is talking (cross-protocol requests
 * from web pages): answer once and close, as Postfix does. */
static const char *const foreign[] = {"GET", "POST", "CONNECT", "HEAD", "PUT"};

int smtpd_command(hd_smtpd *s, hd_slice line)
{
    size_t k = 0;
    while (k < line.len && line.p[k] != ' ')
        k++;
    hd_slice verb = hd_slice_make(line.p, k);
    hd_slice arg = skip_sp(hd_slice_make(line.p + k, line.len - k));

    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        if (hd_slice_caseeq_cstr(verb, foreign[i])) {
            smtpd_reply(s, 421, "4.7.0", "%s not an HTTP server, closing connection", s->host);
            return smtpd_close(s);
        }
    const smtpd_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (hd_slice_caseeq_cstr(verb, commands[i].name))
            cmd = &commands[i];
    if (cmd == NULL)
        return smtpd_fail(s, 500, "5.5.2", "unknown command");
    /* RFC 5321 §3.1: after a 554 greeting, only QUIT */
    if (s->refused && cmd->fn != cmd_quit)
        return smtpd_fail(s, 503, "5.5.1", "no SMTP service here");
    return cmd->fn(s, arg);
}
