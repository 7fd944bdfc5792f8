/*
 * domain_test.c - sending domains end to end on a temporary data
 * directory: names, adding (files, modes, rows, undo on failure), the DNS
 * records and their zone text, signing with the stored keys and verifying
 * against a zone built from the records (DKIM, SPF), rotation (staged:
 * pending keys, activation; and at once), retirement, removal; the key
 * life's pure functions (state at a time, activation plan, DNS check).
 */
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <herald/base64.h>
#include <herald/dkim.h>
#include <herald/dns.h>
#include <herald/domain.h>
#include <herald/key.h>
#include <herald/spf.h>
#include <herald/store.h>

#define NOW 1800000000 /* 2027-01-15 08:00 UTC */
#define DAY 86400

typedef struct fixture {
    char *dir;
    char data[4096];
    char keys[4096];
    hd_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_data_dir_open(f->data, &f->st, f->keys, sizeof f->keys, &err) != 0)
        fail_msg("data dir: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hd_store_close(f->st);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static unsigned mode_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("%s: missing", path);
    return sb.st_mode & 0777;
}

static void add(fixture *f, const char *domain, const char *sel, unsigned algs, unsigned bits)
{
    hd_domain_add_opts o = {domain, NULL, sel, algs, bits, NOW, NULL};
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_add(f->st, f->keys, &o, &err) != 0)
        fail_msg("add %s: %s", domain, err.msg);
}

struct keys {
    hd_store_key k[16];
    size_t n;
};

static int collect_key(const hd_store_key *k, void *arg)
{
    struct keys *c = arg;
    c->k[c->n] = *k;
    c->k[c->n].public_b64 = NULL;
    c->n++;
    return 0;
}

static struct keys keys_of(fixture *f, const char *domain)
{
    struct keys c;
    memset(&c, 0, sizeof c);
    assert_int_equal(hd_store_key_each(f->st, domain, collect_key, &c, NULL), 0);
    return c;
}

/* Names -------------------------------------------------------------------- */

static void test_names(void **state)
{
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"example.com", "example.com"},
        {"Example.COM.", "example.com"},
        {"mail-1.example.co.uk", "mail-1.example.co.uk"},
        {"3com.example", "3com.example"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"example", NULL},
        {"", NULL},
        {".", NULL},
        {"example..com", NULL},
        {".example.com", NULL},
        {"example.com..", NULL},
        {"-example.com", NULL},
        {"example-.com", NULL},
        {"exa mple.com", NULL},
        {"exa_mple.com", NULL},
        {"b\xc3\xbc" "cher.example", NULL},
        {"192.0.2.1", NULL},
        {"example.com\n", NULL},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", NULL}, /* 64 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com"}, /* 63 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[HD_STORE_NAME_MAX];
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_domain_name_normalize(cases[i].in, out, sizeof out, &err);
        if (cases[i].want == NULL) {
            if (rc != HD_EINVAL)
                fail_msg("\"%s\" accepted (%d)", cases[i].in, rc);
            if (err.msg[0] == '\0')
                fail_msg("\"%s\": refused without a reason", cases[i].in);
        } else if (rc != 0 || strcmp(out, cases[i].want) != 0) {
            fail_msg("\"%s\": rc %d \"%s\", want \"%s\" (%s)", cases[i].in, rc, out,
                     cases[i].want, err.msg);
        }
    }
    /* 253 bytes pass, 254 do not */
    char name[300];
    memset(name, 'a', sizeof name);
    for (size_t i = 63; i < 253; i += 64)
        name[i] = '.';
    name[253] = '\0';
    char out[HD_STORE_NAME_MAX];
    assert_int_equal(hd_domain_name_normalize(name, out, sizeof out, NULL), 0);
    name[253] = 'a';
    name[254] = '\0';
    assert_int_equal(hd_domain_name_normalize(name, out, sizeof out, NULL), HD_EINVAL);
}

/* Data directory and adding -------------------------------------------------- */

static void test_data_dir(void **state)
{
    fixture *f = *state;
    assert_int_equal(mode_of(f->data), 0700);
    assert_int_equal(mode_of(f->keys), 0700);
    assert_true(f->keys[0] == '/');
    char db[4200];
    snprintf(db, sizeof db, "%s/herald.db", f->data);
    assert_int_equal(mode_of(db), 0600);
    /* opening again finds the same database */
    add(f, "example.com", NULL, 0, 0);
    hd_store *st2;
    char keys2[4096];
    assert_int_equal(hd_domain_data_dir_open(f->data, &st2, keys2, sizeof keys2, NULL), 0);
    assert_string_equal(keys2, f->keys);
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(st2, "example.com", &d, NULL), 0);
    hd_store_close(st2);
}

static void test_add_dual(void **state)
{
    fixture *f = *state;
    add(f, "Example.COM", NULL, 0, 0);
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &d, NULL), 0);
    assert_string_equal(d.bounce_domain, "bounce.example.com");
    assert_int_equal(d.created, NOW);
    struct keys c = keys_of(f, "example.com");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.k[0].selector, "hd20270115-rsa");
    assert_string_equal(c.k[0].alg, "rsa");
    assert_string_equal(c.k[1].selector, "hd20270115-ed");
    assert_string_equal(c.k[1].alg, "ed25519");
    char dir[4200], want[4300];
    snprintf(dir, sizeof dir, "%s/example.com", f->keys);
    assert_int_equal(mode_of(dir), 0700);
    for (size_t i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "%s/%s.pem", dir, c.k[i].selector);
        assert_string_equal(c.k[i].path, want);
        assert_int_equal(mode_of(c.k[i].path), 0600);
        assert_int_equal(c.k[i].state, HD_STORE_KEY_ACTIVE);
        assert_int_equal(c.k[i].created, NOW);
        hd_key *key;
        assert_int_equal(hd_key_load_private(c.k[i].path, &key, NULL), 0);
        assert_int_equal(hd_key_get_type(key), i == 0 ? HD_KEY_RSA : HD_KEY_ED25519);
        if (i == 0)
            assert_int_equal(hd_key_bits(key), 2048);
        hd_key_free(key);
    }

    /* twice is refused, and nothing changes */
    hd_domain_add_opts o = {"example.com", NULL, "other", 0, 0, NOW, NULL};
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_domain_add(f->st, f->keys, &o, &err), HD_EINVAL);
    assert_string_equal(err.msg, "domain example.com already exists");
    snprintf(want, sizeof want, "%s/other-rsa.pem", dir);
    assert_false(exists(want));
    assert_int_equal(keys_of(f, "example.com").n, 2);
}

/* Issue 14 item 13: a bounce domain at or under another sending domain
 * (not below the new one) is that domain's name and zone: refused,
 * naming both, and nothing is made. */
static void test_add_bounce_taken(void **state)
{
    fixture *f = *state;
    add(f, "a.example", NULL, HD_DOMAIN_ALG_ED25519, 0);
    add(f, "shop.b.example", NULL, HD_DOMAIN_ALG_ED25519, 0);
    static const struct {
        const char *name, *domain, *bounce, *want; /* want NULL: added */
    } cases[] = {
        {"under another domain", "c.example", "bounce.a.example",
         "bounce domain bounce.a.example for c.example: bounce.a.example is under the sending "
         "domain a.example, which is not c.example's to use; choose a name under c.example "
         "(the default: bounce.c.example) or under no other sending domain"},
        {"another domain itself", "c.example", "a.example",
         "bounce domain a.example for c.example: a.example is the sending domain a.example, "
         "which is not c.example's to use; choose a name under c.example (the default: "
         "bounce.c.example) or under no other sending domain"},
        {"written otherwise", "c.example", "X.A.Example.", "bounce domain x.a.example for c.example"},
        {"a subdomain under its parent's", "news.a.example", "bounce.a.example",
         "bounce domain bounce.a.example for news.a.example: bounce.a.example is under the "
         "sending domain a.example"},
        {"a sibling's", "mail.b.example", "bounce.shop.b.example",
         "bounce domain bounce.shop.b.example for mail.b.example: bounce.shop.b.example is under "
         "the sending domain shop.b.example"},
        {"a label boundary", "d.example", "bounce.xa.example", NULL},
        {"under a domain below the new one", "b.example", "bounce.shop.b.example", NULL},
        {"outside every domain", "e.example", "bounces.mail-provider.example", NULL},
        {"the default", "f.example", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hd_domain_add_opts o = {cases[i].domain, cases[i].bounce, NULL, HD_DOMAIN_ALG_ED25519, 0,
                                NOW, NULL};
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_domain_add(f->st, f->keys, &o, &err);
        hd_store_domain d;
        if (!cases[i].want) {
            if (rc != 0)
                fail_msg("%s: %s", cases[i].name, err.msg);
            assert_int_equal(hd_store_domain_get(f->st, cases[i].domain, &d, NULL), 0);
            continue;
        }
        if (rc != HD_ESTATE || strncmp(err.msg, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("%s: rc %d, \"%s\"", cases[i].name, rc, err.msg);
        assert_int_equal(hd_store_domain_get(f->st, cases[i].domain, &d, NULL), HD_ENOTFOUND);
        assert_int_equal(keys_of(f, cases[i].domain).n, 0);
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", f->keys, cases[i].domain);
        assert_false(exists(dir));
    }
}

static void test_add_options(void **state)
{
    fixture *f = *state;
    hd_domain_add_opts o = {"rsa.example", "mail-bounces.rsa.example", "s2027", HD_DOMAIN_ALG_RSA,
                            0, NOW, "Mail.Example.NET"};
    assert_int_equal(hd_domain_add(f->st, f->keys, &o, NULL), 0);
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(f->st, "rsa.example", &d, NULL), 0);
    /* the hostname is stored in its normal form */
    assert_string_equal(d.hostname, "mail.example.net");
    assert_string_equal(d.bounce_domain, "mail-bounces.rsa.example");
    struct keys c = keys_of(f, "rsa.example");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.k[0].selector, "s2027-rsa");
    hd_key *key;
    assert_int_equal(hd_key_load_private(c.k[0].path, &key, NULL), 0);
    assert_int_equal(hd_key_bits(key), 2048);
    hd_key_free(key);

    add(f, "ed.example", NULL, HD_DOMAIN_ALG_ED25519, 0);
    c = keys_of(f, "ed.example");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.k[0].alg, "ed25519");
}

static void test_add_refusals(void **state)
{
    fixture *f = *state;
    static const struct {
        hd_domain_add_opts o;
        const char *says;
    } cases[] = {
        {{"bad_name.example", NULL, NULL, 0, 0, NOW, NULL}, "bad_name"},
        {{"example.com", "example.com", NULL, 0, 0, NOW, NULL}, "bounce domain"},
        {{"example.com", "bounce..example.com", NULL, 0, 0, NOW, NULL}, "bounce domain"},
        {{"example.com", NULL, "bad selector", 0, 0, NOW, NULL}, "selector"},
        {{"example.com", NULL, "a.-b", 0, 0, NOW, NULL}, "selector"},
        {{"example.com", NULL, NULL, 4, 0, NOW, NULL}, "algorithm"},
        {{"example.com", NULL, NULL, 0, 1024, NOW, NULL}, "1024"},
        {{"example.com", NULL, NULL, 0, 8192, NOW, NULL}, "8192"},
        {{"example.com", NULL, NULL, 0, 0, NOW, "nodots"}, "hostname"},
        {{"example.com", NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0,
          NOW, NULL},
         "longer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_domain_add(f->st, f->keys, &cases[i].o, &err);
        if (rc != HD_EINVAL)
            fail_msg("case %zu: rc %d (%s)", i, rc, err.msg);
        if (strstr(err.msg, cases[i].says) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, cases[i].says);
    }
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &d, NULL), HD_ENOTFOUND);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/example.com", f->keys);
    assert_false(exists(dir));
}

/* A key file in the way: the RSA key already written is removed again. */
static void test_add_undo_files(void **state)
{
    fixture *f = *state;
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/example.com", f->keys);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/hd20270115-ed.pem", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    hd_domain_add_opts o = {"example.com", NULL, NULL, 0, 0, NOW, NULL};
    hd_err err;
    hd_err_clear(&err);
    assert_int_not_equal(hd_domain_add(f->st, f->keys, &o, &err), 0);
    assert_non_null(strstr(err.msg, "hd20270115-ed.pem"));
    snprintf(path, sizeof path, "%s/hd20270115-rsa.pem", dir);
    assert_false(exists(path));
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &d, NULL), HD_ENOTFOUND);
}

/* The database fails half-way (the key table is gone): no domain row
 * stays, and the key files are removed. */
static void test_add_undo_rows(void **state)
{
    fixture *f = *state;
    char db[4200];
    snprintf(db, sizeof db, "%s/herald.db", f->data);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "DROP TABLE dkim_keys", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    hd_domain_add_opts o = {"example.com", NULL, NULL, 0, 0, NOW, NULL};
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_domain_add(f->st, f->keys, &o, &err), HD_EIO);
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &d, NULL), HD_ENOTFOUND);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/example.com", f->keys);
    assert_false(exists(dir));
}

/* Records --------------------------------------------------------------------- */

static const char *const addrs[] = {"192.0.2.10", "2001:db8::10", "198.51.100.0/24"};

static hd_domain_dns_opts dns_opts(size_t n_addr)
{
    return (hd_domain_dns_opts){"mail.example.net", addrs, n_addr};
}

static void get_records(fixture *f, const char *domain, size_t n_addr, hd_domain_record **r,
                        size_t *n)
{
    hd_domain_dns_opts o = dns_opts(n_addr);
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_records(f->st, domain, &o, r, n, &err) != 0)
        fail_msg("records: %s", err.msg);
}

static hd_dns *zone_of(const hd_domain_record *r, size_t n, hd_buf *text)
{
    hd_buf_init(text, 1 << 20);
    assert_int_equal(hd_domain_records_zone(r, n, text), 0);
    hd_dns *dns;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_buf_slice(text), "<records>", &err) != 0)
        fail_msg("zone does not parse: %s\n%s", err.msg, hd_buf_cstr(text));
    return dns;
}

static void test_records(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, 0, 0);
    struct keys c = keys_of(f, "example.com");
    hd_domain_record *r;
    size_t n;
    get_records(f, "EXAMPLE.com", 3, &r, &n);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].kind, HD_DOMAIN_REC_DKIM);
    assert_string_equal(r[0].name, "hd20270115-rsa._domainkey.example.com");
    assert_string_equal(r[0].type, "TXT");
    assert_true(strncmp(r[0].value, "v=DKIM1; k=rsa; p=MII", 21) == 0);
    assert_true(strlen(r[0].value) > 255); /* a 2048-bit key needs two strings */
    assert_string_equal(r[1].name, "hd20270115-ed._domainkey.example.com");
    assert_true(strncmp(r[1].value, "v=DKIM1; k=ed25519; p=", 22) == 0);
    assert_int_equal(strlen(r[1].value), 22 + 44); /* 32 bytes of base64 */
    /* the p= values are those of the private key files */
    for (size_t i = 0; i < 2; i++) {
        hd_key *key;
        assert_int_equal(hd_key_load_private(c.k[i].path, &key, NULL), 0);
        hd_buf pub;
        hd_buf_init(&pub, 4096);
        assert_int_equal(hd_key_public_bytes(key, &pub, NULL), 0);
        hd_buf b64;
        hd_buf_init(&b64, 8192);
        assert_int_equal(hd_b64_encode(hd_buf_slice(&pub), &b64), 0);
        assert_string_equal(strstr(r[i].value, "p=") + 2, hd_buf_cstr(&b64));
        hd_buf_free(&pub);
        hd_buf_free(&b64);
        hd_key_free(key);
    }
    assert_int_equal(r[2].kind, HD_DOMAIN_REC_SPF);
    assert_string_equal(r[2].name, "bounce.example.com");
    assert_string_equal(r[2].value,
                        "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:198.51.100.0/24 -all");
    assert_int_equal(r[3].kind, HD_DOMAIN_REC_MX);
    assert_string_equal(r[3].name, "bounce.example.com");
    assert_string_equal(r[3].type, "MX");
    assert_string_equal(r[3].value, "10 mail.example.net.");
    assert_int_equal(r[4].kind, HD_DOMAIN_REC_DMARC);
    assert_string_equal(r[4].name, "_dmarc.example.com");
    assert_string_equal(r[4].value, "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com");
    for (size_t i = 0; i < n; i++)
        assert_true(strlen(r[i].purpose) > 10);
    hd_domain_records_free(r, n);

    /* without addresses, SPF names the host */
    get_records(f, "example.com", 0, &r, &n);
    assert_string_equal(r[2].value, "v=spf1 a:mail.example.net -all");
    hd_domain_records_free(r, n);
}

static void test_records_refusals(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, HD_DOMAIN_ALG_ED25519, 0);
    static const struct {
        const char *host, *addr;
        int want;
        const char *says;
    } cases[] = {
        {NULL, NULL, HD_EINVAL, "hostname"},
        {"mail", NULL, HD_EINVAL, "hostname"},
        {"mail..example.net", NULL, HD_EINVAL, "hostname"},
        {"mail.example.net", "192.0.2", HD_EINVAL, "192.0.2"},
        {"mail.example.net", "192.0.2.300", HD_EINVAL, "192.0.2.300"},
        {"mail.example.net", "192.0.2.0/33", HD_EINVAL, "prefix"},
        {"mail.example.net", "192.0.2.0/024", HD_EINVAL, "prefix"},
        {"mail.example.net", "192.0.2.0/", HD_EINVAL, "prefix"},
        {"mail.example.net", "2001:db8::/129", HD_EINVAL, "prefix"},
        {"mail.example.net", "fe80::1%eth0", HD_EINVAL, "fe80"},
        {"mail.example.net", "mail.example.net", HD_EINVAL, "mail.example.net"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *a[1] = {cases[i].addr};
        hd_domain_dns_opts o = {cases[i].host, a, cases[i].addr ? 1 : 0};
        hd_domain_record *r = (hd_domain_record *)1;
        size_t n = 99;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_domain_records(f->st, "example.com", &o, &r, &n, &err);
        if (rc != cases[i].want || strstr(err.msg, cases[i].says) == NULL)
            fail_msg("case %zu: rc %d \"%s\"", i, rc, err.msg);
        assert_null(r);
        assert_int_equal(n, 0);
    }
    const char *many[HD_DOMAIN_MAX_ADDRESSES + 1];
    for (size_t i = 0; i < HD_DOMAIN_MAX_ADDRESSES + 1; i++)
        many[i] = "192.0.2.1";
    hd_domain_dns_opts o = {"mail.example.net", many, HD_DOMAIN_MAX_ADDRESSES + 1};
    hd_domain_record *r;
    size_t n;
    assert_int_equal(hd_domain_records(f->st, "example.com", &o, &r, &n, NULL), HD_ELIMIT);
    o.n_addresses = HD_DOMAIN_MAX_ADDRESSES;
    assert_int_equal(hd_domain_records(f->st, "example.com", &o, &r, &n, NULL), 0);
    hd_domain_records_free(r, n);
    assert_int_equal(hd_domain_records(f->st, "example.org", &o, &r, &n, NULL), HD_ENOTFOUND);
}

/* The zone text: every record comes back from the fixture resolver with
 * the value it was given, TXT split into strings of at most 255 bytes. */
static void test_zone_text(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, 0, 0);
    hd_domain_record *r;
    size_t n;
    get_records(f, "example.com", 2, &r, &n);
    hd_buf text;
    hd_dns *dns = zone_of(r, n, &text);
    const char *t = hd_buf_cstr(&text);
    assert_non_null(strstr(t, "; DKIM key hd20270115-rsa (RSA, active)"));
    assert_non_null(strstr(t, "\n_dmarc.example.com. 3600 IN TXT \"v=DMARC1; p=none; "
                              "rua=mailto:dmarc@bounce.example.com\"\n"));
    assert_non_null(strstr(t, "\nbounce.example.com. 3600 IN MX 10 mail.example.net.\n"));
    /* no quoted string longer than 255 bytes */
    for (const char *p = strchr(t, '"'); p != NULL; p = strchr(p, '"')) {
        const char *end = strchr(p + 1, '"');
        assert_non_null(end);
        assert_true(end - p - 1 <= 255);
        p = end + 1;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t type = strcmp(r[i].type, "MX") == 0 ? HD_DNS_T_MX : HD_DNS_T_TXT;
        hd_dns_answer *ans;
        assert_int_equal(hd_dns_query(dns, r[i].name, type, &ans, NULL), 0);
        if (ans->status != HD_DNS_OK)
            fail_msg("%s: %s", r[i].name, hd_dns_status_name(ans->status));
        if (type == HD_DNS_T_TXT) {
            assert_int_equal(ans->nrr, 1);
            assert_string_equal((const char *)ans->rr[0].txt, r[i].value);
            assert_int_equal(ans->rr[0].txt_strings, (strlen(r[i].value) + 254) / 255);
        } else {
            assert_int_equal(ans->rr[0].preference, 10);
            assert_string_equal(ans->rr[0].name, "mail.example.net");
        }
        hd_dns_answer_free(ans);
    }
    hd_dns_free(dns);
    hd_buf_free(&text);
    hd_domain_records_free(r, n);

    /* quotes, backslashes, control bytes and a long text survive the trip */
    char longv[700];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    longv[300] = '"';
    longv[301] = '\\';
    longv[555] = '\t';
    hd_domain_record odd[2] = {
        {HD_DOMAIN_REC_SPF, "odd.example", "TXT", longv, "two\nlines"},
        {HD_DOMAIN_REC_SPF, "empty.example", "TXT", "", "empty"},
    };
    dns = zone_of(odd, 2, &text);
    hd_dns_answer *ans;
    assert_int_equal(hd_dns_query(dns, "odd.example", HD_DNS_T_TXT, &ans, NULL), 0);
    assert_int_equal(ans->status, HD_DNS_OK);
    assert_string_equal((const char *)ans->rr[0].txt, longv);
    assert_int_equal(ans->rr[0].txt_strings, 3);
    hd_dns_answer_free(ans);
    assert_int_equal(hd_dns_query(dns, "empty.example", HD_DNS_T_TXT, &ans, NULL), 0);
    assert_int_equal(ans->status, HD_DNS_OK);
    assert_int_equal(ans->rr[0].txt_len, 0);
    hd_dns_answer_free(ans);
    hd_dns_free(dns);
    hd_buf_free(&text);
}

/* Signing and verifying ---------------------------------------------------------- */

static const char message[] = "From: Billing <billing@example.com>\r\n"
                              "To: customer@example.org\r\n"
                              "Subject: Your receipt\r\n"
                              "Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n"
                              "Message-ID: <r-1@example.com>\r\n"
                              "\r\n"
                              "Thank you for your order.\r\n";

/* Sign with every active key of the domain, as the server will. */
static void sign_active(fixture *f, const char *domain, hd_buf *signed_msg)
{
    hd_domain_signing_key sk[4];
    size_t n;
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_signing_keys(f->st, domain, sk, 4, &n, &err) != 0)
        fail_msg("signing keys: %s", err.msg);
    hd_buf_init(signed_msg, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        hd_key *key;
        assert_int_equal(hd_key_load_private(sk[i].path, &key, NULL), 0);
        assert_int_equal(hd_key_get_type(key), sk[i].type);
        hd_dkim_sign_opts o;
        hd_dkim_sign_opts_init(&o);
        o.domain = domain;
        o.selector = sk[i].selector;
        o.timestamp = NOW;
        hd_dkim_signer *s;
        assert_int_equal(hd_dkim_signer_new(&o, key, &s, NULL), 0);
        if (hd_dkim_sign(s, hd_slice_cstr(message), signed_msg, &err) != 0)
            fail_msg("sign: %s", err.msg);
        hd_dkim_signer_free(s);
        hd_key_free(key);
    }
    assert_int_equal(hd_buf_append_cstr(signed_msg, message), 0);
}

/* How many signatures of msg pass against dns; selectors of those that
 * pass are checked against want (NULL-terminated). */
static size_t verify_pass(hd_dns *dns, const hd_buf *msg, const char *const *want)
{
    hd_dkim_verify_opts o;
    hd_dkim_verify_opts_init(&o, NOW + 60);
    hd_dkim_verifier *v;
    assert_int_equal(hd_dkim_verifier_new(&o, &v, NULL), 0);
    hd_err err;
    hd_err_clear(&err);
    if (hd_dkim_verify_run(v, hd_buf_slice(msg), dns, &err) != 0)
        fail_msg("verify: %s", err.msg);
    size_t pass = 0;
    for (size_t i = 0; i < hd_dkim_verify_count(v); i++) {
        const hd_dkim_result *res = hd_dkim_verify_result(v, i);
        if (res->result != HD_DKIM_PASS)
            continue;
        pass++;
        bool known = false;
        for (const char *const *w = want; *w; w++)
            known |= strcmp(*w, res->selector) == 0;
        if (!known)
            fail_msg("unexpected selector %s passed", res->selector);
    }
    hd_dkim_verifier_free(v);
    return pass;
}

static hd_spf_result spf_of(hd_dns *dns, const char *ip, const char *sender)
{
    hd_spf_request req = {ip, sender, "mail.example.net", false, NULL, NOW};
    hd_spf *s;
    assert_int_equal(hd_spf_new(&req, NULL, &s, NULL), 0);
    assert_int_equal(hd_spf_run(s, dns, NULL), 0);
    hd_spf_result r = hd_spf_get_verdict(s)->result;
    hd_spf_free(s);
    return r;
}

static void test_sign_verify_against_records(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, 0, 0);
    hd_domain_record *r;
    size_t n;
    get_records(f, "example.com", 3, &r, &n);
    hd_buf text, msg;
    hd_dns *dns = zone_of(r, n, &text);
    sign_active(f, "example.com", &msg);
    const char *sels[] = {"hd20270115-rsa", "hd20270115-ed", NULL};
    assert_int_equal(verify_pass(dns, &msg, sels), 2);

    /* SPF of the bounce domain: the listed addresses pass, others fail */
    assert_int_equal(spf_of(dns, "192.0.2.10", "b-1@bounce.example.com"), HD_SPF_PASS);
    assert_int_equal(spf_of(dns, "2001:db8::10", "b-1@bounce.example.com"), HD_SPF_PASS);
    assert_int_equal(spf_of(dns, "198.51.100.77", "b-1@bounce.example.com"), HD_SPF_PASS);
    assert_int_equal(spf_of(dns, "192.0.2.11", "b-1@bounce.example.com"), HD_SPF_FAIL);
    hd_dns_free(dns);
    hd_buf_free(&text);
    hd_domain_records_free(r, n);

    /* a zone without the Ed25519 record: only RSA passes (the check can fail) */
    get_records(f, "example.com", 3, &r, &n);
    free(r[1].name);
    r[1].name = strdup("gone._domainkey.example.com");
    dns = zone_of(r, n, &text);
    assert_int_equal(verify_pass(dns, &msg, sels), 1);
    hd_dns_free(dns);
    hd_buf_free(&text);
    hd_domain_records_free(r, n);
    hd_buf_free(&msg);
}

/* Rotation and retirement ---------------------------------------------------------- */

static void test_rotate(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, 0, 0);
    hd_buf old_msg;
    sign_active(f, "example.com", &old_msg);
    hd_err err;
    hd_err_clear(&err);
    /* same day: the date-based prefix gets a letter */
    if (hd_domain_rotate_key(f->st, f->keys, "example.com", NULL, NOW + 3600, 7 * DAY, true, &err) != 0)
        fail_msg("rotate: %s", err.msg);
    struct keys c = keys_of(f, "example.com");
    assert_int_equal(c.n, 4);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRING);
    assert_int_equal(c.k[0].retire_at, NOW + 3600 + 7 * DAY);
    assert_int_equal(c.k[1].state, HD_STORE_KEY_RETIRING);
    assert_string_equal(c.k[2].selector, "hd20270115b-rsa");
    assert_string_equal(c.k[3].selector, "hd20270115b-ed");
    assert_int_equal(c.k[2].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(c.k[3].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(mode_of(c.k[2].path), 0600);

    /* only the new keys sign */
    hd_domain_signing_key sk[4];
    size_t nk;
    assert_int_equal(hd_domain_signing_keys(f->st, "example.com", sk, 4, &nk, NULL), 0);
    assert_int_equal(nk, 2);
    assert_string_equal(sk[0].selector, "hd20270115b-rsa");
    assert_int_equal(sk[0].type, HD_KEY_RSA);
    assert_string_equal(sk[1].selector, "hd20270115b-ed");
    assert_int_equal(sk[1].type, HD_KEY_ED25519);
    assert_int_equal(hd_domain_signing_keys(f->st, "example.com", sk, 1, &nk, NULL), HD_ELIMIT);

    /* both generations are published: old and new mail verify */
    hd_domain_record *r;
    size_t n;
    get_records(f, "example.com", 1, &r, &n);
    assert_int_equal(n, 7);
    assert_non_null(strstr(r[0].purpose, "retiring"));
    hd_buf text, new_msg;
    hd_dns *dns = zone_of(r, n, &text);
    const char *old_sels[] = {"hd20270115-rsa", "hd20270115-ed", NULL};
    const char *new_sels[] = {"hd20270115b-rsa", "hd20270115b-ed", NULL};
    assert_int_equal(verify_pass(dns, &old_msg, old_sels), 2);
    sign_active(f, "example.com", &new_msg);
    assert_int_equal(verify_pass(dns, &new_msg, new_sels), 2);
    hd_dns_free(dns);
    hd_buf_free(&text);
    hd_domain_records_free(r, n);

    /* a prefix already used is refused, and nothing is made */
    assert_int_equal(hd_domain_rotate_key(f->st, f->keys, "example.com", "hd20270115b", NOW, DAY, true,
                                          &err),
                     HD_EINVAL);
    assert_non_null(strstr(err.msg, "hd20270115b"));
    assert_int_equal(keys_of(f, "example.com").n, 4);
    assert_int_equal(hd_domain_rotate_key(f->st, f->keys, "nothere.example", NULL, NOW, DAY, true, &err),
                     HD_ENOTFOUND);

    /* retirement: not before retire_at, at it */
    assert_int_equal(hd_domain_retire_due(f->st, NOW + 3600 + 7 * DAY - 1, NULL), 0);
    assert_int_equal(hd_domain_retire_due(f->st, NOW + 3600 + 7 * DAY, NULL), 2);
    assert_int_equal(hd_domain_retire_due(f->st, NOW + 3600 + 7 * DAY, NULL), 0);
    c = keys_of(f, "example.com");
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRED);
    assert_int_equal(c.k[1].state, HD_STORE_KEY_RETIRED);
    assert_int_equal(c.k[2].state, HD_STORE_KEY_ACTIVE);
    /* retired keys leave the records; their files stay */
    assert_true(exists(c.k[0].path));
    get_records(f, "example.com", 1, &r, &n);
    assert_int_equal(n, 5);
    dns = zone_of(r, n, &text);
    assert_int_equal(verify_pass(dns, &old_msg, old_sels), 0);
    assert_int_equal(verify_pass(dns, &new_msg, new_sels), 2);
    hd_dns_free(dns);
    hd_buf_free(&text);
    hd_domain_records_free(r, n);
    hd_buf_free(&old_msg);
    hd_buf_free(&new_msg);
}

static void test_rotate_keeps_algorithms(void **state)
{
    fixture *f = *state;
    add(f, "rsa.example", "s1", HD_DOMAIN_ALG_RSA, 3072);
    /* a new day, a given prefix, no grace: retired at once */
    assert_int_equal(hd_domain_rotate_key(f->st, f->keys, "rsa.example", "s2", NOW + DAY, 0, true, NULL),
                     0);
    struct keys c = keys_of(f, "rsa.example");
    assert_int_equal(c.n, 2);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRED);
    assert_int_equal(c.k[0].retire_at, 0);
    assert_string_equal(c.k[1].selector, "s2-rsa");
    hd_key *key;
    assert_int_equal(hd_key_load_private(c.k[1].path, &key, NULL), 0);
    assert_int_equal(hd_key_bits(key), 3072);
    hd_key_free(key);
    hd_domain_record *r;
    size_t n;
    get_records(f, "rsa.example", 1, &r, &n);
    assert_int_equal(n, 4); /* one DKIM key published */
    hd_domain_records_free(r, n);
    /* Ed25519 alone stays alone; the date-based default for another day
     * has no letter */
    add(f, "ed.example", NULL, HD_DOMAIN_ALG_ED25519, 0);
    assert_int_equal(hd_domain_rotate_key(f->st, f->keys, "ed.example", NULL, NOW + DAY, DAY, true, NULL),
                     0);
    c = keys_of(f, "ed.example");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.k[1].selector, "hd20270116-ed");
    assert_string_equal(c.k[1].alg, "ed25519");
}

/* Removal ---------------------------------------------------------------------- */

static void test_remove(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, 0, 0);
    add(f, "example.net", NULL, HD_DOMAIN_ALG_ED25519, 0);
    struct keys c = keys_of(f, "example.com");
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_remove(f->st, f->keys, "example.com", &err) != 0)
        fail_msg("remove: %s", err.msg);
    hd_store_domain d;
    assert_int_equal(hd_store_domain_get(f->st, "example.com", &d, NULL), HD_ENOTFOUND);
    assert_int_equal(keys_of(f, "example.com").n, 0);
    char path[4300];
    for (size_t i = 0; i < c.n; i++) {
        assert_false(exists(c.k[i].path));
        snprintf(path, sizeof path, "%s/removed/example.com/%s.pem", f->keys, c.k[i].selector);
        assert_int_equal(mode_of(path), 0600);
    }
    snprintf(path, sizeof path, "%s/example.com", f->keys);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/removed", f->keys);
    assert_int_equal(mode_of(path), 0700);
    /* the other domain is untouched */
    assert_int_equal(hd_store_domain_get(f->st, "example.net", &d, NULL), 0);
    assert_int_equal(keys_of(f, "example.net").n, 1);

    /* added and removed again: the first removal's files are kept */
    add(f, "example.com", NULL, 0, 0);
    assert_int_equal(hd_domain_remove(f->st, f->keys, "example.com", NULL), 0);
    snprintf(path, sizeof path, "%s/removed/example.com/hd20270115-rsa.pem.1", f->keys);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/removed/example.com/hd20270115-rsa.pem", f->keys);
    assert_true(exists(path));

    assert_int_equal(hd_domain_remove(f->st, f->keys, "example.com", &err), HD_ENOTFOUND);
    assert_int_equal(hd_domain_remove(f->st, f->keys, "bad_name", &err), HD_EINVAL);

    /* a key file already gone does not stop the removal */
    c = keys_of(f, "example.net");
    assert_int_equal(unlink(c.k[0].path), 0);
    assert_int_equal(hd_domain_remove(f->st, f->keys, "example.net", &err), 0);
    assert_int_equal(hd_domain_signing_keys(f->st, "example.net", NULL, 0, &c.n, NULL),
                     HD_ENOTFOUND);
}

/* Key life: pure functions ------------------------------------------------------- */

static hd_store_key row(const char *sel, const char *alg, hd_store_key_state st,
                        int64_t retire_at, uint32_t grace)
{
    hd_store_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.domain, sizeof k.domain, "example.com");
    snprintf(k.selector, sizeof k.selector, "%s", sel);
    snprintf(k.alg, sizeof k.alg, "%s", alg);
    k.public_b64 = (char *)"MIIBIjANBgkqhkiG9w0BAQEFAAOC";
    k.state = st;
    k.retire_at = retire_at;
    k.grace = grace;
    return k;
}

static void test_state_at(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        hd_store_key_state st;
        int64_t retire_at, now;
        hd_store_key_state want;
    } cases[] = {
        {"retiring before its time", HD_STORE_KEY_RETIRING, NOW + 10, NOW + 9, HD_STORE_KEY_RETIRING},
        {"retiring at its time", HD_STORE_KEY_RETIRING, NOW + 10, NOW + 10, HD_STORE_KEY_RETIRED},
        {"retiring after it", HD_STORE_KEY_RETIRING, NOW + 10, NOW + 400 * DAY, HD_STORE_KEY_RETIRED},
        {"pending stays pending whatever the time", HD_STORE_KEY_PENDING, 0, NOW + 400 * DAY,
         HD_STORE_KEY_PENDING},
        {"active stays active", HD_STORE_KEY_ACTIVE, 0, NOW + 400 * DAY, HD_STORE_KEY_ACTIVE},
        {"retired stays retired", HD_STORE_KEY_RETIRED, 0, NOW, HD_STORE_KEY_RETIRED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_store_key k = row("s", "rsa", cases[i].st, cases[i].retire_at, 0);
        if (hd_domain_key_state_at(&k, cases[i].now) != cases[i].want)
            fail_msg("%s: got %s", cases[i].name,
                     hd_domain_key_state_name(hd_domain_key_state_at(&k, cases[i].now)));
    }
    assert_string_equal(hd_domain_key_state_name(HD_STORE_KEY_PENDING), "pending");
    assert_string_equal(hd_domain_key_state_name(HD_STORE_KEY_RETIRING), "retiring");
}

static void test_activation_plan(void **state)
{
    (void)state;
    hd_store_key k[6] = {
        row("old-rsa", "rsa", HD_STORE_KEY_ACTIVE, 0, 0),
        row("old-ed", "ed25519", HD_STORE_KEY_ACTIVE, 0, 0),
        row("older", "rsa", HD_STORE_KEY_RETIRING, NOW - 1, 0),   /* due */
        row("later", "rsa", HD_STORE_KEY_RETIRING, NOW + DAY, 0), /* not yet */
        row("new-rsa", "rsa", HD_STORE_KEY_PENDING, 0, 2 * DAY),
        row("new-ed", "ed25519", HD_STORE_KEY_PENDING, 0, 3 * DAY),
    };
    hd_domain_transition t[6];
    size_t n = hd_domain_activation_plan(k, 6, NOW, t);
    assert_int_equal(n, 5);
    /* the largest grace of the pending keys applies to the old ones */
    assert_int_equal(t[0].index, 0);
    assert_int_equal(t[0].to, HD_STORE_KEY_RETIRING);
    assert_int_equal(t[0].retire_at, NOW + 3 * DAY);
    assert_int_equal(t[1].index, 1);
    assert_int_equal(t[1].to, HD_STORE_KEY_RETIRING);
    assert_int_equal(t[2].index, 2);
    assert_int_equal(t[2].to, HD_STORE_KEY_RETIRED);
    assert_int_equal(t[3].index, 4);
    assert_int_equal(t[3].to, HD_STORE_KEY_ACTIVE);
    assert_int_equal(t[4].index, 5);
    assert_int_equal(t[4].to, HD_STORE_KEY_ACTIVE);
    /* no grace: the old keys are retired at once */
    k[4].grace = k[5].grace = 0;
    n = hd_domain_activation_plan(k, 6, NOW, t);
    assert_int_equal(t[0].to, HD_STORE_KEY_RETIRED);
    assert_int_equal(t[0].retire_at, 0);
    /* nothing pending: nothing to do */
    assert_int_equal(hd_domain_activation_plan(k, 4, NOW, t), 0);
    assert_int_equal(hd_domain_activation_plan(k, 0, NOW, t), 0);
}

static void test_activation_due(void **state)
{
    (void)state;
    hd_store_key k[3] = {
        row("old", "rsa", HD_STORE_KEY_ACTIVE, 0, 0),
        row("new-rsa", "rsa", HD_STORE_KEY_PENDING, 0, DAY),
        row("new-ed", "ed25519", HD_STORE_KEY_PENDING, 0, DAY),
    };
    hd_domain_dns_check c[3];
    memset(c, 0, sizeof c);
    c[0].status = HD_DOMAIN_DNS_MISSING; /* an active key's record does not matter here */
    c[1].status = HD_DOMAIN_DNS_MATCH;
    c[2].status = HD_DOMAIN_DNS_MISSING;
    assert_false(hd_domain_activation_due(k, c, 3)); /* a rotation's keys go together */
    c[2].status = HD_DOMAIN_DNS_UNKNOWN;
    assert_false(hd_domain_activation_due(k, c, 3));
    c[2].status = HD_DOMAIN_DNS_MISMATCH;
    assert_false(hd_domain_activation_due(k, c, 3));
    c[2].status = HD_DOMAIN_DNS_MATCH;
    assert_true(hd_domain_activation_due(k, c, 3));
    assert_false(hd_domain_activation_due(k, c, 1)); /* no pending key */
}

/* An answer of TXT records (strings joined, as hd_dns gives them). */
static hd_dns_answer *txt_answer(hd_dns_status st, const char *const *txts, size_t n)
{
    hd_dns_answer *a = calloc(1, sizeof *a);
    a->qname = strdup("sel._domainkey.example.com");
    a->qtype = HD_DNS_T_TXT;
    a->status = st;
    a->rr = calloc(n ? n : 1, sizeof *a->rr);
    a->nrr = n;
    for (size_t i = 0; i < n; i++) {
        a->rr[i].type = HD_DNS_T_TXT;
        a->rr[i].txt = (uint8_t *)strdup(txts[i]);
        a->rr[i].txt_len = strlen(txts[i]);
        a->rr[i].txt_strings = 1;
    }
    if (st == HD_DNS_SERVFAIL)
        snprintf(a->why, sizeof a->why, "upstream refused");
    return a;
}

static void test_key_check(void **state)
{
    (void)state;
    /* p= of the key: "MIIBIjANBgkqhkiG9w0BAQEFAAOC" */
    static const struct {
        const char *name, *alg;
        hd_dns_status st;
        const char *txt[2];
        size_t n;
        hd_domain_dns_status want;
        const char *says; /* in why; NULL: why is empty */
    } cases[] = {
        {"the record as printed", "rsa", HD_DNS_OK,
         {"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1, HD_DOMAIN_DNS_MATCH, NULL},
        {"no v=, no k= (rsa is the default)", "rsa", HD_DNS_OK,
         {"p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1, HD_DOMAIN_DNS_MATCH, NULL},
        {"p= folded with spaces (RFC 6376 §3.6.1)", "rsa", HD_DNS_OK,
         {"v=DKIM1; p=MIIBIjANBgkq hkiG9w0BAQEF AAOC; h=sha1:sha256; s=email:*"}, 1,
         HD_DOMAIN_DNS_MATCH, NULL},
        {"two identical records", "rsa", HD_DNS_OK,
         {"v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC", "p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 2,
         HD_DOMAIN_DNS_MATCH, NULL},
        {"another key", "rsa", HD_DNS_OK, {"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOD"}, 1,
         HD_DOMAIN_DNS_MISMATCH, "another key: its p= differs from this key's at character 28"},
        {"revoked", "rsa", HD_DNS_OK, {"v=DKIM1; k=rsa; p="}, 1, HD_DOMAIN_DNS_MISMATCH,
         "revoked"},
        {"no p=", "rsa", HD_DNS_OK, {"v=DKIM1; k=rsa"}, 1, HD_DOMAIN_DNS_MISMATCH, "no p="},
        {"p= not base64", "rsa", HD_DNS_OK, {"v=DKIM1; p=MIIB!jAN"}, 1, HD_DOMAIN_DNS_MISMATCH,
         "not base64"},
        {"wrong algorithm", "ed25519", HD_DNS_OK,
         {"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1, HD_DOMAIN_DNS_MISMATCH,
         "k=rsa, this key is ed25519"},
        {"k= missing for Ed25519", "ed25519", HD_DNS_OK,
         {"v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1, HD_DOMAIN_DNS_MISMATCH, "k=rsa"},
        {"v= not first", "rsa", HD_DNS_OK, {"k=rsa; v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1,
         HD_DOMAIN_DNS_MISMATCH, "not the first tag"},
        {"v=DKIM2", "rsa", HD_DNS_OK, {"v=DKIM2; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1,
         HD_DOMAIN_DNS_MISMATCH, "v=DKIM2"},
        {"h= without sha256", "rsa", HD_DNS_OK, {"h=sha1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1,
         HD_DOMAIN_DNS_MISMATCH, "h=sha1"},
        {"s= not email", "rsa", HD_DNS_OK, {"s=tlsrpt; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"}, 1,
         HD_DOMAIN_DNS_MISMATCH, "s=tlsrpt"},
        {"not a tag list", "rsa", HD_DNS_OK, {"hello world"}, 1, HD_DOMAIN_DNS_MISMATCH,
         "not a DKIM key record"},
        {"one of two records differs", "rsa", HD_DNS_OK,
         {"p=MIIBIjANBgkqhkiG9w0BAQEFAAOC", "v=spf1 -all"}, 2, HD_DOMAIN_DNS_MISMATCH,
         "record 2 of 2"},
        {"NXDOMAIN", "rsa", HD_DNS_NXDOMAIN, {NULL}, 0, HD_DOMAIN_DNS_MISSING, "NXDOMAIN"},
        {"NODATA", "rsa", HD_DNS_NODATA, {NULL}, 0, HD_DOMAIN_DNS_MISSING, "no TXT record"},
        {"SERVFAIL", "rsa", HD_DNS_SERVFAIL, {NULL}, 0, HD_DOMAIN_DNS_UNKNOWN, "upstream refused"},
        {"time-out", "rsa", HD_DNS_TIMEOUT, {NULL}, 0, HD_DOMAIN_DNS_UNKNOWN, "TIMEOUT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_store_key k = row("sel", cases[i].alg, HD_STORE_KEY_PENDING, 0, DAY);
        hd_dns_answer *a = txt_answer(cases[i].st, cases[i].txt, cases[i].n);
        hd_domain_dns_check c;
        hd_domain_key_check(&k, a, &c);
        hd_dns_answer_free(a);
        if (c.status != cases[i].want)
            fail_msg("%s: got %s (%s)", cases[i].name, hd_domain_dns_status_name(c.status), c.why);
        if (cases[i].says ? strstr(c.why, cases[i].says) == NULL : c.why[0] != '\0')
            fail_msg("%s: why is \"%s\", want \"%s\"", cases[i].name, c.why,
                     cases[i].says ? cases[i].says : "");
        /* every finding names the record it is about */
        if (cases[i].says && strstr(c.why, "sel._domainkey.example.com") == NULL)
            fail_msg("%s: why does not name the record: %s", cases[i].name, c.why);
    }
    hd_store_key k = row("sel", "rsa", HD_STORE_KEY_PENDING, 0, DAY);
    hd_domain_dns_check c;
    hd_domain_key_check(&k, NULL, &c);
    assert_int_equal(c.status, HD_DOMAIN_DNS_NOT_CHECKED);
    char name[80];
    assert_int_equal(hd_domain_key_record_name(&k, name, sizeof name, NULL), 0);
    assert_string_equal(name, "sel._domainkey.example.com");
    assert_int_equal(hd_domain_key_record_name(&k, name, 10, NULL), HD_ELIMIT);
}

/* Staged rotation on the store ----------------------------------------------------- */

static void test_rotate_staged(void **state)
{
    fixture *f = *state;
    add(f, "example.com", NULL, 0, 0);
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_rotate_key(f->st, f->keys, "example.com", "new1", NOW + 3600, 2 * DAY, false,
                             &err) != 0)
        fail_msg("rotate: %s", err.msg);
    struct keys c = keys_of(f, "example.com");
    assert_int_equal(c.n, 4);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(c.k[1].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(c.k[2].state, HD_STORE_KEY_PENDING);
    assert_int_equal(c.k[2].grace, 2 * DAY);
    assert_int_equal(c.k[3].state, HD_STORE_KEY_PENDING);
    /* pending keys do not sign, but are among the records to publish */
    hd_domain_signing_key sk[4];
    size_t nk;
    assert_int_equal(hd_domain_signing_keys(f->st, "example.com", sk, 4, &nk, NULL), 0);
    assert_int_equal(nk, 2);
    assert_string_equal(sk[0].selector, "hd20270115-rsa");
    hd_domain_record *r;
    size_t n;
    get_records(f, "example.com", 1, &r, &n);
    assert_int_equal(n, 7);
    assert_non_null(strstr(r[2].purpose, "pending"));
    hd_domain_records_free(r, n);

    /* a second rotation supersedes the pending keys */
    if (hd_domain_rotate_key(f->st, f->keys, "example.com", "new2", NOW + 7200, DAY, false,
                             &err) != 0)
        fail_msg("rotate again: %s", err.msg);
    c = keys_of(f, "example.com");
    assert_int_equal(c.n, 6);
    assert_int_equal(c.k[2].state, HD_STORE_KEY_RETIRED);
    assert_int_equal(c.k[3].state, HD_STORE_KEY_RETIRED);
    assert_int_equal(c.k[4].state, HD_STORE_KEY_PENDING);
    assert_int_equal(c.k[0].state, HD_STORE_KEY_ACTIVE);

    /* the keys checked were the superseded ones: no activation */
    int64_t checked[2] = {c.k[2].id, c.k[3].id}, now_pending[2] = {c.k[4].id, c.k[5].id};
    assert_int_equal(hd_domain_activate(f->st, "example.com", checked, 2, NOW + DAY, &err),
                     HD_ESTATE);
    assert_non_null(strstr(err.msg, "changed since they were checked"));
    assert_int_equal(hd_domain_activate(f->st, "example.com", now_pending, 1, NOW + DAY, &err),
                     HD_ESTATE);
    assert_int_equal(keys_of(f, "example.com").k[4].state, HD_STORE_KEY_PENDING);
    /* activation: the pending keys sign, the old ones retire after the
     * grace stored with the pending keys */
    assert_int_equal(hd_domain_activate(f->st, "example.com", now_pending, 2, NOW + DAY, &err), 0);
    c = keys_of(f, "example.com");
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRING);
    assert_int_equal(c.k[0].retire_at, NOW + DAY + DAY);
    assert_int_equal(c.k[4].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(c.k[4].activated, NOW + DAY);
    assert_int_equal(c.k[5].state, HD_STORE_KEY_ACTIVE);
    assert_int_equal(hd_domain_signing_keys(f->st, "example.com", sk, 4, &nk, NULL), 0);
    assert_int_equal(nk, 2);
    assert_string_equal(sk[0].selector, "new2-rsa");
    /* nothing pending any more */
    assert_int_equal(hd_domain_activate(f->st, "example.com", NULL, 0, NOW + DAY, &err),
                     HD_ESTATE);
    assert_int_equal(hd_domain_activate(f->st, "nothere.example", NULL, 0, NOW, &err),
                     HD_ENOTFOUND);
    /* records as of a time: the retiring keys leave once their time has
     * come, without any row written */
    hd_domain_dns_opts o = {"mail.example.net", NULL, 0};
    assert_int_equal(hd_domain_records_at(f->st, "example.com", &o, NOW + 3 * DAY, &r, &n, &err),
                     0);
    assert_int_equal(n, 5);
    hd_domain_records_free(r, n);
    c = keys_of(f, "example.com");
    assert_int_equal(c.k[0].state, HD_STORE_KEY_RETIRING);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        T(test_data_dir),
        T(test_add_dual),
        T(test_add_options),
        T(test_add_bounce_taken),
        T(test_add_refusals),
        T(test_add_undo_files),
        T(test_add_undo_rows),
        T(test_records),
        T(test_records_refusals),
        T(test_zone_text),
        T(test_sign_verify_against_records),
        T(test_rotate),
        T(test_rotate_keeps_algorithms),
        cmocka_unit_test(test_state_at),
        cmocka_unit_test(test_activation_plan),
        cmocka_unit_test(test_activation_due),
        cmocka_unit_test(test_key_check),
        T(test_rotate_staged),
        T(test_remove),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
