/*
 * passwd_test.c - scrypt password hashes: round trips, known answers from
 * an independent implementation (Python's hashlib.scrypt), tampered and
 * malformed stored strings, and the bounds on what a stored string may ask.
 */
#include "testutil.h"

#include <string.h>

#include <herald/passwd.h>

/* Cheap cost for the tests that hash many times. */
static const hd_passwd_params cheap = {10, 8, 1};

static void test_round_trip_default(void **state)
{
    char h[HD_PASSWD_HASH_MAX];
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_passwd_hash("s3cret pass", h, sizeof h, &err), 0);
    assert_true(strncmp(h, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
    bool ok = false;
    assert_int_equal(hd_passwd_verify("s3cret pass", h, &ok, &err), 0);
    assert_true(ok);
    assert_int_equal(hd_passwd_verify("s3cret pasS", h, &ok, &err), 0);
    assert_false(ok);
    /* the password is nowhere in the stored string */
    assert_null(strstr(h, "s3cret"));
}

static void test_wrong_passwords(void **state)
{
    char h[HD_PASSWD_HASH_MAX];
    assert_int_equal(hd_passwd_hash_params("hunter2", &cheap, h, sizeof h, NULL), 0);
    const char *wrong[] = {"", "hunter", "hunter22", "Hunter2", "hunter2 ", " hunter2"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        bool ok = true;
        assert_int_equal(hd_passwd_verify(wrong[i], h, &ok, NULL), 0);
        if (ok)
            fail_msg("\"%s\" verified against the hash of \"hunter2\"", wrong[i]);
    }
    bool ok = false;
    assert_int_equal(hd_passwd_verify("hunter2", h, &ok, NULL), 0);
    assert_true(ok);
}

static void test_salt_is_fresh(void **state)
{
    char a[HD_PASSWD_HASH_MAX], b[HD_PASSWD_HASH_MAX];
    assert_int_equal(hd_passwd_hash_params("same", &cheap, a, sizeof a, NULL), 0);
    assert_int_equal(hd_passwd_hash_params("same", &cheap, b, sizeof b, NULL), 0);
    assert_string_not_equal(a, b);
    hd_passwd_params p;
    uint8_t sa[HD_PASSWD_SALT_LEN], sb[HD_PASSWD_SALT_LEN], k[HD_PASSWD_KEY_LEN];
    assert_int_equal(hd_passwd_parse(a, &p, sa, k, NULL), 0);
    assert_int_equal(hd_passwd_parse(b, &p, sb, k, NULL), 0);
    assert_memory_not_equal(sa, sb, sizeof sa);
}

/* Strings made with Python's hashlib.scrypt and base64 module: the
 * parameters, salt and hash of the format mean what the header says. */
static void test_known_answers(void **state)
{
    static const struct {
        const char *password, *stored;
    } kat[] = {
        {"correct horse battery staple",
         "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU="},
        {"p\xc3\xa4ssw\xc3\xb6rd",
         "$scrypt$ln=14,r=8,p=2$/////////////////////w==$R7CI+Y1RjWfZ5EmUblsJTeKo+VoXONp+OniQyFfzDOU="},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        bool ok = false;
        hd_err err;
        hd_err_clear(&err);
        if (hd_passwd_verify(kat[i].password, kat[i].stored, &ok, &err) != 0)
            fail_msg("known answer %zu: %s", i, err.msg);
        if (!ok)
            fail_msg("known answer %zu did not verify", i);
    }
}

struct bad_case {
    const char *name, *stored;
    int want;
};

#define GOOD_SALT "AAECAwQFBgcICQoLDA0ODw=="
#define GOOD_KEY "mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU="

static const struct bad_case bad_cases[] = {
    {"empty", "", HD_ESYNTAX},
    {"other scheme", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", HD_ESYNTAX},
    {"plain text", "hunter2", HD_ESYNTAX},
    {"parameters out of order", "$scrypt$r=8,ln=10,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"leading zero", "$scrypt$ln=010,r=8,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"zero cost", "$scrypt$ln=0,r=8,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"zero r", "$scrypt$ln=10,r=0,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"sign", "$scrypt$ln=+10,r=8,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"huge number", "$scrypt$ln=4294967306,r=8,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"space", "$scrypt$ln=10, r=8,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"missing p", "$scrypt$ln=10,r=8$" GOOD_SALT "$" GOOD_KEY, HD_ESYNTAX},
    {"salt unpadded", "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$" GOOD_KEY, HD_ESYNTAX},
    {"salt short", "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoL$" GOOD_KEY, HD_ESYNTAX},
    {"salt bad char", "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0OD*==$" GOOD_KEY, HD_ESYNTAX},
    {"salt non-zero tail bits", "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODx==$" GOOD_KEY,
     HD_ESYNTAX},
    {"hash truncated", "$scrypt$ln=10,r=8,p=1$" GOOD_SALT "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWt",
     HD_ESYNTAX},
    {"no hash", "$scrypt$ln=10,r=8,p=1$" GOOD_SALT, HD_ESYNTAX},
    {"trailing dollar", "$scrypt$ln=10,r=8,p=1$" GOOD_SALT "$" GOOD_KEY "$", HD_ESYNTAX},
    {"trailing text", "$scrypt$ln=10,r=8,p=1$" GOOD_SALT "$" GOOD_KEY "x", HD_ESYNTAX},
    {"trailing newline", "$scrypt$ln=10,r=8,p=1$" GOOD_SALT "$" GOOD_KEY "\n", HD_ESYNTAX},
    {"ln too large", "$scrypt$ln=21,r=1,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ELIMIT},
    {"r too large", "$scrypt$ln=10,r=17,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ELIMIT},
    {"p too large", "$scrypt$ln=10,r=8,p=5$" GOOD_SALT "$" GOOD_KEY, HD_ELIMIT},
    /* each within its own bound, 2 GiB together */
    {"memory too large", "$scrypt$ln=20,r=16,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ELIMIT},
    {"memory just too large", "$scrypt$ln=20,r=3,p=1$" GOOD_SALT "$" GOOD_KEY, HD_ELIMIT},
};

static void test_malformed_stored(void **state)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        bool ok = true;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_passwd_verify("correct horse battery staple", c->stored, &ok, &err);
        if (rc != c->want)
            fail_msg("%s: rc %s, want %s (%s)", c->name, hd_err_name(rc), hd_err_name(c->want),
                     err.msg);
        if (ok)
            fail_msg("%s: verified", c->name);
        if (err.msg[0] == '\0')
            fail_msg("%s: no reason given", c->name);
        if (strstr(err.msg, "correct horse") != NULL)
            fail_msg("%s: the password is in the message", c->name);
    }
    /* the good string the cases were cut from does verify */
    bool ok = false;
    assert_int_equal(hd_passwd_verify("correct horse battery staple",
                                      "$scrypt$ln=10,r=8,p=1$" GOOD_SALT "$" GOOD_KEY, &ok, NULL),
                     0);
    assert_true(ok);
}

/* Flip each character of a valid string in turn: nothing verifies. */
static void test_tampered(void **state)
{
    char h[HD_PASSWD_HASH_MAX];
    assert_int_equal(hd_passwd_hash_params("tamper", &(hd_passwd_params){4, 1, 1}, h, sizeof h,
                                           NULL),
                     0);
    size_t len = strlen(h);
    size_t start = strlen("$scrypt$ln=4,r=1,p=1$");
    for (size_t i = start; i < len; i++) {
        char t[HD_PASSWD_HASH_MAX];
        memcpy(t, h, len + 1);
        if (t[i] == '$' || t[i] == '=')
            continue;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        bool ok = true;
        int rc = hd_passwd_verify("tamper", t, &ok, NULL);
        if (ok)
            fail_msg("tampered at %zu (rc %d) still verified: %s", i, rc, t);
    }
}

static void test_hash_bounds(void **state)
{
    char h[HD_PASSWD_HASH_MAX];
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_passwd_hash_params("x", &(hd_passwd_params){21, 1, 1}, h, sizeof h, &err),
                     HD_ELIMIT);
    assert_string_equal(h, "");
    assert_int_equal(hd_passwd_hash_params("x", &(hd_passwd_params){0, 1, 1}, h, sizeof h, &err),
                     HD_EINVAL);
    assert_int_equal(hd_passwd_hash_params("x", &(hd_passwd_params){10, 8, 5}, h, sizeof h, &err),
                     HD_ELIMIT);
    /* too small an output buffer */
    char small[40];
    assert_int_equal(hd_passwd_hash_params("x", &cheap, small, sizeof small, &err), HD_ELIMIT);
    /* the longest password is accepted, one byte more is not */
    char pw[HD_PASSWD_MAX_LEN + 2];
    memset(pw, 'a', sizeof pw - 1);
    pw[HD_PASSWD_MAX_LEN] = '\0';
    assert_int_equal(hd_passwd_hash_params(pw, &cheap, h, sizeof h, &err), 0);
    bool ok = false;
    assert_int_equal(hd_passwd_verify(pw, h, &ok, &err), 0);
    assert_true(ok);
    pw[HD_PASSWD_MAX_LEN] = 'a';
    pw[HD_PASSWD_MAX_LEN + 1] = '\0';
    assert_int_equal(hd_passwd_hash_params(pw, &cheap, h, sizeof h, &err), HD_ELIMIT);
    assert_int_equal(hd_passwd_verify(pw, h, &ok, &err), HD_ELIMIT);
    assert_false(ok);
    /* the largest cost within the memory bound is accepted by the parser */
    hd_passwd_params p;
    uint8_t salt[HD_PASSWD_SALT_LEN], key[HD_PASSWD_KEY_LEN];
    assert_int_equal(hd_passwd_parse("$scrypt$ln=20,r=2,p=4$" GOOD_SALT "$" GOOD_KEY, &p, salt,
                                     key, &err),
                     0);
    assert_int_equal(p.ln, 20);
    assert_int_equal(p.r, 2);
    assert_int_equal(p.p, 4);
}

static void test_generate(void **state)
{
    char a[25], b[25];
    assert_int_equal(hd_passwd_generate(a, sizeof a, 24, NULL), 0);
    assert_int_equal(hd_passwd_generate(b, sizeof b, 24, NULL), 0);
    assert_int_equal(strlen(a), 24);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 24; i++)
        if (strchr("0O1lI", a[i]) != NULL || !((a[i] >= 'a' && a[i] <= 'z') ||
                                              (a[i] >= 'A' && a[i] <= 'Z') ||
                                              (a[i] >= '2' && a[i] <= '9')))
            fail_msg("generated password has '%c'", a[i]);
    assert_int_equal(hd_passwd_generate(a, 24, 24, NULL), HD_ELIMIT);
    /* every character of the alphabet turns up in a long enough sample */
    char big[4001];
    assert_int_equal(hd_passwd_generate(big, sizeof big, 4000, NULL), 0);
    const char *alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for (const char *c = alphabet; *c; c++)
        if (strchr(big, *c) == NULL)
            fail_msg("'%c' never generated in 4000 characters", *c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_default),
        cmocka_unit_test(test_wrong_passwords),
        cmocka_unit_test(test_salt_is_fresh),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_malformed_stored),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_hash_bounds),
        cmocka_unit_test(test_generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
