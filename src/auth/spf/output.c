/*
 * output.c - the verdict as header fields: Received-SPF (RFC 7208 §9.1)
 * and the Authentication-Results fragment (RFC 8601 §2.7.2).
 */
#include "auth/spf/spf_int.h"

#include <herald/authres.h>

#include <string.h>

/* A bare token (the helo name): printable ASCII, anything that would end
 * it as '?'. */
static int append_token(hd_buf *out, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c > 0x7e || strchr(";\"\\()", c) != NULL)
            c = '?';
        rc = hd_buf_append_byte(out, c);
    }
    return rc;
}

int hd_spf_received_spf(const hd_spf *spf, hd_buf *out)
{
    const hd_spf_verdict *v = hd_spf_get_verdict(spf);
    int rc = hd_buf_printf(out, "Received-SPF: %s (", hd_spf_result_name(v->result));
    if (rc == 0)
        rc = hd_authres_append_ctext(out, v->reason);
    if (rc == 0)
        rc = hd_buf_printf(out, ") client-ip=%s;", hd_spf__client_ip(spf));
    if (rc == 0 && strcmp(v->identity, "mailfrom") == 0) {
        rc = hd_buf_append_cstr(out, " envelope-from=\"");
        if (rc == 0)
            rc = hd_authres_append_qtext(out, v->sender);
        if (rc == 0)
            rc = hd_buf_append_cstr(out, "\";");
    }
    if (rc == 0 && hd_spf__helo(spf)[0]) {
        rc = hd_buf_append_cstr(out, " helo=");
        if (rc == 0)
            rc = append_token(out, hd_spf__helo(spf));
        if (rc == 0)
            rc = hd_buf_append_byte(out, ';');
    }
    if (rc == 0 && v->mechanism[0] && strcmp(v->mechanism, "default") != 0) {
        rc = hd_buf_append_cstr(out, " mechanism=\"");
        if (rc == 0)
            rc = hd_authres_append_qtext(out, v->mechanism);
        if (rc == 0)
            rc = hd_buf_append_cstr(out, "\";");
    }
    if (rc == 0 && (v->result == HD_SPF_PERMERROR || v->result == HD_SPF_TEMPERROR)) {
        rc = hd_buf_append_cstr(out, " problem=\"");
        if (rc == 0)
            rc = hd_authres_append_qtext(out, v->reason);
        if (rc == 0)
            rc = hd_buf_append_cstr(out, "\";");
    }
    if (rc == 0)
        rc = hd_buf_printf(out, " identity=%s", v->identity);
    return rc;
}

int hd_spf_to_ar(const hd_spf *spf, hd_buf *out)
{
    const hd_spf_verdict *v = hd_spf_get_verdict(spf);
    bool helo = strcmp(v->identity, "helo") == 0;
    int rc = hd_buf_printf(out, "spf=%s", hd_spf_result_name(v->result));
    if (rc == 0)
        rc = hd_authres_append_comment(out, v->reason);
    if (rc == 0)
        rc = hd_authres_append_property(out, helo ? "smtp.helo" : "smtp.mailfrom",
                                        helo ? v->domain : v->sender);
    return rc;
}
