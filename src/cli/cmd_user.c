/*
 * cmd_user.c - `herald user add|list|remove|passwd`: the users that may
 * submit mail (SMTP AUTH), and the From domains each may send as.
 *
 * Passwords are read from standard input (--password-stdin) or generated
 * and printed once; only their scrypt hash (herald/passwd.h) is stored,
 * and the buffers that held them are wiped.
 */
#include "cli/cli.h"

#include <herald/domain.h>
#include <herald/json.h>
#include <herald/passwd.h>
#include <herald/store.h>

#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_DATA_DIR "./herald-data"
/* A generated password: 24 characters of a 57-letter alphabet, 140 bits. */
#define GENERATED_LEN 24
#define USER_NAME_MAX 64

static int exit_for(int rc)
{
    switch (rc) {
    case HD_EINVAL:
    case HD_ELIMIT: return CLI_USAGE;
    case HD_ENOTFOUND: return CLI_DATAERR;
    case HD_EIO: return CLI_CANTCREAT;
    case HD_ETEMP: return CLI_TEMPFAIL;
    case HD_EPERM: return CLI_NOPERM;
    default: return CLI_SOFTWARE;
    }
}

static int fail(const hd_err *err, int rc)
{
    cli_error("%s", hd_err_str(err));
    return exit_for(rc);
}

typedef struct user_args {
    const char *data_dir, *domains, *name, *config;
    bool password_stdin, json, data_dir_given;
    char dir_buf[4096];
} user_args;

#define COMMON_HELP                                                                            \
    "      --data-dir DIR      herald's data directory (default ./herald-data)\n"             \
    "      --config FILE       the server's configuration: its data_dir is the default\n"

/* Parse options and the NAME argument (when want_name). Returns CLI_OK, a
 * code, or -1 after --help. */
static int parse(int argc, char **argv, const char *help, bool want_name, user_args *a)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'D'}, {"domains", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"password-stdin", no_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->data_dir = DEFAULT_DATA_DIR;
    int c;
    while ((c = getopt_long(argc, argv, "hd:", longopts, NULL)) != -1) {
        switch (c) {
        case 'D': a->data_dir = optarg; a->data_dir_given = true; break;
        case 'c': a->config = optarg; break;
        case 'd': a->domains = optarg; break;
        case 'p': a->password_stdin = true; break;
        case 'j': a->json = true; break;
        case 'h': fputs(help, stdout); return -1;
        default: fputs(help, stderr); return CLI_USAGE;
        }
    }
    if (want_name && optind < argc)
        a->name = argv[optind++];
    if (optind != argc || (want_name && a->name == NULL)) {
        cli_error("%s (see --help)", want_name ? "give one user NAME" : "no arguments expected");
        return CLI_USAGE;
    }
    if (a->config != NULL && !a->data_dir_given) { /* the server's data_dir */
        char *dir = NULL;
        int rc = cli_data_dir(a->config, NULL, &dir);
        if (rc != CLI_OK)
            return rc;
        snprintf(a->dir_buf, sizeof a->dir_buf, "%s", dir);
        free(dir);
        a->data_dir = a->dir_buf;
    }
    return CLI_OK;
}

/* A user name as SMTP AUTH clients send it: 1..64 of letters, digits and
 * . _ @ + -, starting with a letter or digit (addresses as names work). */
static bool name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || strchr("._@+-", c) == NULL))
            return false;
    }
    return true;
}

static int check_name(const char *name)
{
    if (name_ok(name))
        return CLI_OK;
    cli_error("user name \"%s\": use 1 to %d letters, digits and . _ @ + - (starting with a "
              "letter or digit)",
              name, USER_NAME_MAX);
    return CLI_USAGE;
}

/* user add: the data directory and its database are made when missing. */
static int open_data(const user_args *a, hd_store **st)
{
    char keys[4096];
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_domain_data_dir_open(a->data_dir, st, keys, sizeof keys, &err);
    return rc ? fail(&err, rc) : CLI_OK;
}

/* passwd, remove, list: the database must exist (nothing is made); list
 * only reads it. */
static int open_existing(const user_args *a, hd_store **st, bool write)
{
    static const char hint[] = "no user has been added with this data directory";
    return write ? cli_open_store_rw(NULL, a->data_dir, hint, st)
                 : cli_open_store(NULL, a->data_dir, hint, st);
}

/* Is w one of the space-separated words of list? */
static bool has_word(const char *list, const char *w)
{
    size_t wl = strlen(w);
    while (*list) {
        size_t n = strcspn(list, " ");
        if (n == wl && memcmp(list, w, wl) == 0)
            return true;
        list += n + (list[n] == ' ');
    }
    return false;
}

/* The --domains list normalised into out: "*", or known sending domains,
 * space-separated, each once. Separators: spaces or commas. */
static int parse_domains(hd_store *st, const char *list, char *out, size_t size)
{
    if (list == NULL) {
        cli_error("give --domains \"example.com ...\" (the From domains the user may send as) "
                  "or --domains '*'");
        return CLI_USAGE;
    }
    if (strcmp(list, "*") == 0) {
        memcpy(out, "*", 2);
        return CLI_OK;
    }
    hd_buf b;
    hd_buf_init(&b, size - 1);
    int rc = CLI_OK;
    const char *p = list;
    while (rc == CLI_OK && *p) {
        size_t n = strcspn(p, " ,\t");
        if (n > 0) {
            char tok[300], name[HD_STORE_NAME_MAX];
            hd_err err;
            hd_err_clear(&err);
            hd_store_domain d;
            snprintf(tok, sizeof tok, "%.*s", (int)(n < 299 ? n : 299), p);
            if (hd_domain_name_normalize(tok, name, sizeof name, &err) != 0) {
                rc = fail(&err, HD_EINVAL);
            } else if (hd_store_domain_get(st, name, &d, &err) != 0) {
                cli_error("%s is not a sending domain (herald domain add %s first)", name, name);
                rc = CLI_DATAERR;
            } else if (!has_word(hd_buf_cstr(&b), name) &&
                       ((b.len && hd_buf_append_byte(&b, ' ')) ||
                        hd_buf_append_cstr(&b, name))) {
                cli_error("--domains: longer than %zu bytes", size - 1);
                rc = CLI_USAGE;
            }
        }
        p += n;
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
    }
    if (rc == CLI_OK && b.len == 0) {
        cli_error("--domains names no domain");
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK)
        memcpy(out, hd_buf_cstr(&b), b.len + 1);
    hd_buf_free(&b);
    return rc;
}

/* The password: one line of standard input, or a generated one that is
 * printed (stdout, alone on its line, so a script can catch it). */
static int get_password(bool from_stdin, char *pw, size_t size, bool *generated)
{
    hd_err err;
    hd_err_clear(&err);
    *generated = !from_stdin;
    if (!from_stdin) {
        if (hd_passwd_generate(pw, size, GENERATED_LEN, &err) != 0)
            return fail(&err, err.code);
        return CLI_OK;
    }
    size_t n = fread(pw, 1, size - 1, stdin);
    int extra = n == size - 1 ? fgetc(stdin) : EOF;
    pw[n] = '\0';
    if (n > 0 && pw[n - 1] == '\n')
        pw[--n] = '\0';
    if (n > 0 && pw[n - 1] == '\r')
        pw[--n] = '\0';
    if (extra != EOF || n > HD_PASSWD_MAX_LEN) {
        cli_error("the password is longer than %d bytes", HD_PASSWD_MAX_LEN);
        return CLI_USAGE;
    }
    if (n == 0 || strlen(pw) != n || strpbrk(pw, "\r\n") != NULL) {
        cli_error("give the password as one non-empty line on standard input");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static void announce(const char *name, const char *pw)
{
    cli_error("the generated password of user %s follows; it is shown only now, and herald "
              "stores only its hash",
              name);
    printf("%s\n", pw);
    fflush(stdout);
}

/* add ------------------------------------------------------------------------------- */

static const char add_help[] =
    "usage: herald user add NAME --domains \"DOMAIN ...\"|'*' [--password-stdin]\n"
    "                       [--data-dir DIR | --config FILE]\n"
    "\n"
    "Add a user that may submit mail (SMTP AUTH PLAIN/LOGIN) with a From in\n"
    "the given sending domains ('*': any of them). Without --password-stdin a\n"
    "random 24-character password is made and printed once on standard\n"
    "output (the note about it goes to standard error). Only the password's\n"
    "scrypt hash is stored.\n"
    "\n"
    "  -d, --domains LIST      sending domains (herald domain add), separated by\n"
    "                          spaces or commas, or '*'\n"
    "      --password-stdin    read the password as one line of standard input\n"
    COMMON_HELP
    "\n"
    "Exit: 0 added, 64 usage or a bad name, 65 the user exists or a domain is not\n"
    "a sending domain, 73 the data directory cannot be made.\n";

static int user_add(int argc, char **argv)
{
    user_args a;
    int rc = parse(argc, argv, add_help, true, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = check_name(a.name)) != CLI_OK)
        return rc;
    hd_store *st;
    if ((rc = open_data(&a, &st)) != CLI_OK)
        return rc;
    hd_store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", a.name);
    u.created = (int64_t)time(NULL);
    hd_err err;
    hd_err_clear(&err);
    char pw[HD_PASSWD_MAX_LEN + 2];
    bool generated = false;
    if (hd_store_user_get(st, a.name, &(hd_store_user){0}, NULL) == 0) {
        cli_error("user %s already exists (herald user passwd %s changes the password)", a.name,
                  a.name);
        rc = CLI_DATAERR;
    }
    if (rc == CLI_OK)
        rc = parse_domains(st, a.domains, u.domains, sizeof u.domains);
    if (rc == CLI_OK)
        rc = get_password(a.password_stdin, pw, sizeof pw, &generated);
    if (rc == CLI_OK && hd_passwd_hash(pw, u.pwhash, sizeof u.pwhash, &err) != 0)
        rc = fail(&err, err.code);
    if (rc == CLI_OK) {
        int lrc = hd_store_user_add(st, &u, &err);
        if (lrc == HD_EINVAL) { /* added meanwhile by someone else */
            cli_error("%s", hd_err_str(&err));
            rc = CLI_DATAERR;
        } else if (lrc != 0) {
            rc = fail(&err, lrc);
        }
    }
    if (rc == CLI_OK && generated)
        announce(a.name, pw);
    else if (rc == CLI_OK)
        cli_error("user %s added: it can log in at once, also on a running server", a.name);
    OPENSSL_cleanse(pw, sizeof pw);
    hd_store_close(st);
    return rc;
}

/* passwd ------------------------------------------------------------------------------- */

static const char passwd_help[] =
    "usage: herald user passwd NAME [--password-stdin] [--data-dir DIR | --config FILE]\n"
    "\n"
    "Set a user's password: read from standard input (--password-stdin), or\n"
    "a new random one printed once. The old password stops working at once.\n"
    "\n"
    "      --password-stdin    read the password as one line of standard input\n"
    COMMON_HELP
    "\n"
    "Exit: 0 changed, 64 usage, 65 no such user, 66 no database in the data\n"
    "directory, 77 the database is closed to this user.\n";

/* The store has no update for users: replace the row in one transaction,
 * keeping its domains and creation time. */
static int replace_hash(hd_store *st, const char *name, const char *pwhash, hd_err *err)
{
    hd_store_user u;
    int rc = hd_store_begin(st, err);
    if (rc)
        return rc;
    if ((rc = hd_store_user_get(st, name, &u, err)) == 0 &&
        (rc = hd_store_user_remove(st, name, err)) == 0) {
        snprintf(u.pwhash, sizeof u.pwhash, "%s", pwhash);
        if ((rc = hd_store_user_add(st, &u, err)) == 0)
            rc = hd_store_commit(st, err);
    }
    if (rc != 0)
        hd_store_rollback(st);
    return rc;
}

static int user_passwd(int argc, char **argv)
{
    user_args a;
    int rc = parse(argc, argv, passwd_help, true, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    if ((rc = open_existing(&a, &st, true)) != CLI_OK)
        return rc;
    hd_store_user u;
    hd_err err;
    hd_err_clear(&err);
    char pw[HD_PASSWD_MAX_LEN + 2], hash[HD_PASSWD_HASH_MAX];
    bool generated = false;
    int lrc = hd_store_user_get(st, a.name, &u, &err);
    if (lrc != 0)
        rc = fail(&err, lrc);
    if (rc == CLI_OK)
        rc = get_password(a.password_stdin, pw, sizeof pw, &generated);
    if (rc == CLI_OK && hd_passwd_hash(pw, hash, sizeof hash, &err) != 0)
        rc = fail(&err, err.code);
    if (rc == CLI_OK && (lrc = replace_hash(st, a.name, hash, &err)) != 0)
        rc = fail(&err, lrc);
    if (rc == CLI_OK && generated)
        announce(a.name, pw);
    else if (rc == CLI_OK)
        cli_error("password of user %s changed: the old one stops working at once, also on a "
                  "running server",
                  a.name);
    OPENSSL_cleanse(pw, sizeof pw);
    hd_store_close(st);
    return rc;
}

/* list, remove ------------------------------------------------------------------------------- */

static const char list_help[] =
    "usage: herald user list [--json] [--data-dir DIR | --config FILE]\n"
    "\n"
    "List the users with the domains each may send as (never a password or\n"
    "its hash).\n"
    "\n"
    "      --json              print [{name, domains: [...], created, created_unix}]\n"
    COMMON_HELP
    "\n"
    "Exit: 0 done, 64 usage, 66 no database in the data directory, 77 the\n"
    "database is closed to this user.\n";

static int list_one(const hd_store_user *u, void *arg)
{
    if (arg != NULL) {
        /* domains as an array, times as elsewhere (docs/cli.md "JSON") */
        json_t *domains = json_array();
        for (const char *p = u->domains; domains && *p;) {
            size_t n = strcspn(p, " ");
            if (n > 0)
                json_array_append_new(domains, json_stringn(p, n));
            p += n + (p[n] == ' ');
        }
        json_t *o = json_pack("{s:s, s:o}", "name", u->name, "domains", domains);
        if (o && hd_json_set_time(o, "created", u->created) != 0) {
            json_decref(o);
            o = NULL;
        }
        return o && json_array_append_new(arg, o) == 0 ? 0 : HD_ENOMEM;
    }
    char when[32] = "";
    time_t t = (time_t)u->created;
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%d", &tm);
    printf("%-32s %-10s %s\n", u->name, when, u->domains);
    return 0;
}

static int user_list(int argc, char **argv)
{
    user_args a;
    int rc = parse(argc, argv, list_help, false, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    if ((rc = open_existing(&a, &st, false)) != CLI_OK)
        return rc;
    json_t *arr = a.json ? json_array() : NULL;
    if (!a.json)
        printf("%-32s %-10s %s\n", "USER", "CREATED", "DOMAINS");
    hd_err err;
    hd_err_clear(&err);
    int lrc = hd_store_user_each(st, list_one, arr, &err);
    if (lrc != 0) {
        rc = fail(&err, lrc);
    } else if (arr != NULL) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
    }
    json_decref(arr);
    hd_store_close(st);
    return rc;
}

static const char remove_help[] =
    "usage: herald user remove NAME [--data-dir DIR | --config FILE]\n"
    "\n"
    "Remove a user: it can no longer submit mail.\n"
    "\n"
    COMMON_HELP
    "\n"
    "Exit: 0 removed, 64 usage, 65 no such user, 66 no database in the data\n"
    "directory, 77 the database is closed to this user.\n";

static int user_remove(int argc, char **argv)
{
    user_args a;
    int rc = parse(argc, argv, remove_help, true, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    if ((rc = open_existing(&a, &st, true)) != CLI_OK)
        return rc;
    hd_err err;
    hd_err_clear(&err);
    int lrc = hd_store_user_remove(st, a.name, &err);
    if (lrc != 0)
        rc = fail(&err, lrc);
    else
        printf("user %s removed: a running server refuses its logins at once (a session\n"
               "already logged in keeps going until it ends)\n",
               a.name);
    hd_store_close(st);
    return rc;
}

/* dispatch ---------------------------------------------------------------------------------- */

int cmd_user(int argc, char **argv)
{
    static const cli_cmd subs[] = {
        {"add", user_add, "add a submission user"},
        {"list", user_list, "list the users"},
        {"remove", user_remove, "remove a user"},
        {"passwd", user_passwd, "set a user's password"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("herald user", subs, argc, argv);
}
