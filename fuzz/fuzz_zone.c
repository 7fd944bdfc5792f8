/*
 * fuzz_zone.c - the zone fixture parser and its lookups.
 *
 * The input is zone text. When it parses, the owner names of its first few
 * lines (and a child and the parent of each) are asked for every type
 * herald uses, through the synchronous query, so CNAME chains, empty
 * non-terminals and the pseudo-types are exercised as well as the parser.
 * Each owner is asked as written and with its RFC 1035 §5.1 escapes
 * decoded (questions are dotted text without escapes), so owners written
 * with escapes are found too.
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

/* name with \X and \DDD decoded in place (a bad escape is kept as it is,
 * a NUL ends the name). */
static void unescape(char *name)
{
    size_t o = 0;
    for (size_t i = 0; name[i] != '\0'; i++) {
        char c = name[i];
        if (c == '\\' && name[i + 1] >= '0' && name[i + 1] <= '9' && name[i + 2] >= '0' &&
            name[i + 2] <= '9' && name[i + 3] >= '0' && name[i + 3] <= '9') {
            int v = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
            if (v == 0 || v > 255)
                break;
            c = (char)v;
            i += 3;
        } else if (c == '\\' && name[i + 1] != '\0') {
            c = name[++i];
        }
        name[o++] = c;
    }
    name[o] = '\0';
}

static void ask_family(hd_dns *dns, const char *name, size_t len)
{
    ask(dns, name);
    const char *dot = strchr(name, '.');
    if (dot != NULL && dot[1] != '\0')
        ask(dns, dot + 1); /* the parent */
    char child[304] = "x.";
    memcpy(child + 2, name, len + 1);
    ask(dns, child);
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
            ask_family(dns, name, len);
            if (memchr(name, '\\', len) != NULL) {
                unescape(name);
                if (name[0] != '\0')
                    ask_family(dns, name, strlen(name));
            }
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
