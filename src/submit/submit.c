/*
 * submit.c - RFC 6409 §8 message completion for submitted mail, and the
 * 8-bit parts re-encoded to 7 bits before signing (mime7.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <herald/mail.h>
#include <herald/mime7.h>
#include <herald/submit.h>

#define ADDED_MAX 2048

static int author_domain(const hd_msg *m, hd_submit_info *out, hd_err *err)
{
    size_t n = hd_msg_count(m, "From");
    if (n == 0)
        return hd_err_set(err, HD_ESYNTAX, "the message has no From field (RFC 5322 §3.6)");
    if (n > 1)
        return hd_err_set(err, HD_ESYNTAX, "the message has %zu From fields; RFC 5322 §3.6 allows one", n);
    const hd_hdr_field *f = hd_msg_field(m, hd_msg_find(m, "From", 0));
    hd_addr_list list = {0};
    bool multiple = false;
    int rc = hd_addr_parse_from(f->value, &list, &multiple, err);
    if (rc) {
        hd_err_prefix(err, "From field (line %zu): ", f->line);
        return HD_ESYNTAX;
    }
    if (multiple) {
        hd_addr_list_free(&list);
        return hd_err_set(err, HD_ESYNTAX, "the From field names several authors; herald signs for one domain");
    }
    const char *d = list.v[0].domain;
    if (!d || !*d || d[0] == '[' || strlen(d) >= sizeof out->from_domain) {
        hd_addr_list_free(&list);
        return hd_err_set(err, HD_ESYNTAX, "the From address has no usable domain");
    }
    size_t i = 0;
    for (; d[i]; i++)
        out->from_domain[i] = (char)tolower((unsigned char)d[i]);
    out->from_domain[i] = '\0';
    if (i > 0 && out->from_domain[i - 1] == '.')
        out->from_domain[i - 1] = '\0';
    hd_addr_list_free(&list);
    return 0;
}

/* RFC 5322 §3.6.3 and §3.6.6: blind copies are not shown to the other
 * recipients; RFC 5321 §4.4: Return-Path is written by the final delivery,
 * and an originating system "SHOULD NOT send a message that already
 * contains" one; Content-Length is no RFC 5322 field and is wrong once
 * fields are added or the line ends change. */
static const char *const dropped_fields[] = {"Bcc", "Resent-Bcc", "Return-Path", "Content-Length"};

static int find_drops(const hd_msg *m, hd_slice msg, hd_submit_info *out, hd_err *err)
{
    for (size_t i = 0; i < hd_msg_nfields(m); i++) {
        const hd_hdr_field *f = hd_msg_field(m, i);
        bool drop = false;
        for (size_t k = 0; k < sizeof dropped_fields / sizeof dropped_fields[0]; k++)
            drop |= hd_slice_caseeq_cstr(f->name, dropped_fields[k]);
        if (!drop)
            continue;
        if (out->ndrop == HD_SUBMIT_DROP_MAX)
            return hd_err_set(err, HD_ELIMIT,
                              "more than %d Bcc, Resent-Bcc, Return-Path and Content-Length "
                              "fields (line %zu)", HD_SUBMIT_DROP_MAX, f->line);
        out->drop[out->ndrop].off = (size_t)(f->raw.p - msg.p);
        out->drop[out->ndrop].len = f->raw_eol;
        out->ndrop++;
    }
    return 0;
}

static void copy_message_id(const hd_hdr_field *f, hd_submit_info *out)
{
    hd_slice v = hd_slice_trim_wsp(f->value);
    size_t n = v.len < sizeof out->message_id - 1 ? v.len : sizeof out->message_id - 1;
    for (size_t i = 0; i < n; i++)
        out->message_id[i] = (v.p[i] == '\r' || v.p[i] == '\n') ? ' ' : (char)v.p[i];
    out->message_id[n] = '\0';
}

int hd_submit_prepare(hd_slice msg, const hd_submit_opts *opts, hd_submit_info *out, hd_err *err)
{
    memset(out->from_domain, 0, sizeof out->from_domain);
    out->message_id[0] = '\0';
    out->ndrop = 0;
    hd_buf_init(&out->added, ADDED_MAX);
    hd_msg_limits lim = {.header_only = true};
    hd_msg *m = NULL;
    int rc = hd_msg_parse(msg, &lim, &m, err);
    if (rc)
        return rc;
    if ((rc = author_domain(m, out, err)) || (rc = find_drops(m, msg, out, err)))
        goto done;
    size_t mid = hd_msg_find(m, "Message-ID", 0);
    if (mid != (size_t)-1) {
        copy_message_id(hd_msg_field(m, mid), out);
    } else {
        snprintf(out->message_id, sizeof out->message_id, "<%s@%s>", opts->id, opts->hostname);
        rc = hd_buf_printf(&out->added, "Message-ID: %s\r\n", out->message_id);
    }
    if (!rc && hd_msg_find(m, "Date", 0) == (size_t)-1) {
        char date[40];
        hd_mail_date(opts->now, date);
        rc = hd_buf_printf(&out->added, "Date: %s\r\n", date);
    }
    if (rc)
        rc = hd_err_set(err, rc, "cannot add Message-ID/Date");
done:
    hd_msg_free(m);
    return rc;
}

/* info->added, then msg without the fields to drop. */
static int write_as_is(hd_slice msg, const hd_submit_info *info, hd_buf *out)
{
    int rc = hd_buf_append_slice(out, hd_buf_slice(&info->added));
    size_t at = 0;
    for (size_t i = 0; rc == 0 && i < info->ndrop; i++) {
        rc = hd_buf_append(out, msg.p + at, info->drop[i].off - at);
        at = info->drop[i].off + info->drop[i].len;
    }
    if (rc == 0)
        rc = hd_buf_append(out, msg.p + at, msg.len - at);
    return rc;
}

int hd_submit_write(hd_slice msg, const hd_submit_info *info, hd_buf *out, hd_mime7_report *rep)
{
    hd_mime7_report mine;
    if (rep == NULL)
        rep = &mine;
    memset(rep, 0, sizeof *rep);
    /* the added fields are ASCII: a 7-bit message costs one scan */
    if (!hd_mime7_has_8bit(msg))
        return write_as_is(msg, info, out);
    /* RFC 6376 §5.3: re-encoded before it is signed; the fields are
     * dropped first, so the MIME reader sees the message as it leaves */
    hd_buf whole;
    hd_buf_init(&whole, msg.len + info->added.len + 1);
    int rc = write_as_is(msg, info, &whole);
    if (rc == 0)
        rc = hd_mime7_convert(hd_buf_slice(&whole), out, rep, NULL);
    hd_buf_free(&whole);
    return rc;
}

void hd_submit_info_free(hd_submit_info *info)
{
    hd_buf_free(&info->added);
}
