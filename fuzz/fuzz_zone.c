/*
 * fuzz_zone.c - the zone fixture parser and its lookups.
 *
 * The input is zone text. When it parses, the owner names of its first few
 * lines (and a child and the parent of each) are asked for every type
 * herald uses, through the synchronous query, so CNAME chains, empty
 * non-terminals and the pseudo-types are exercised as well as the parser.
 * Everything is freed; a leak or overflow shows under ASan.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <herald/dns.h>
#include <herald/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t types[] = {HD_DNS_T_A,   HD_DNS_T_AAAA, HD_DNS_T_MX, HD_DNS_T_TXT,
                                 HD_DNS_T_PTR, HD_DNS_T_CNAME, HD_DNS_T_NS, 99};

static void ask(hd_dns *dns, const char *name)
{
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        hd_dns_answer *ans = NULL;
        if (hd_dns_query(dns, name, types[t], &ans, NULL) == 0) {
            /* touch what an evaluator would read */
            for (size_t i = 0; i < ans->nrr; i++)
                if (ans->rr[i].txt != NULL && ans->rr[i].txt[ans->rr[i].txt_len] != '\0')
                    __builtin_trap();
            hd_dns_answer_free(ans);
        }
    }
}

/* The first word of each of the first few lines, as a name to ask for. */
static void ask_owners(hd_dns *dns, const uint8_t *data, size_t size)
{
    size_t i = 0;
    for (int line = 0; line < 8 && i < size; line++) {
        size_t start = i;
        while (i < size && data[i] != ' ' && data[i] != '\t' && data[i] != '\n')
            i++;
        char name[300];
        size_t len = i - start < sizeof name - 3 ? i - start : sizeof name - 3;
        memcpy(name, data + start, len);
        name[len] = '\0';
        if (len > 0 && memchr(name, '\0', len) == NULL) {
            ask(dns, name);
            const char *dot = strchr(name, '.');
            if (dot != NULL && dot[1] != '\0')
                ask(dns, dot + 1); /* the parent */
            char child[304] = "x.";
            memcpy(child + 2, name, len + 1);
            ask(dns, child);
        }
        while (i < size && data[i] != '\n')
            i++;
        i++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_dns *dns = NULL;
    hd_err err;
    if (hd_dns_new_zone_text(&dns, hd_slice_make(data, size), "<fuzz>", &err) != 0)
        return 0;
    ask_owners(dns, data, size);
    hd_dns_free(dns);
    return 0;
}
