/* domain_int.h - shared by the files of the domain module only. */
#ifndef HERALD_DOMAIN_INT_H
#define HERALD_DOMAIN_INT_H

#include <herald/domain.h>

/* Check an LDH name of at least min_labels labels (see
 * hd_domain_name_normalize); what names it in messages ("domain",
 * "hostname", "selector"). */
int hd_domain_check_name(const char *in, size_t min_labels, const char *what, char *out,
                         size_t out_size, hd_err *err);

/* A domain's key rows, copied out of the store (public_b64 owned). */
typedef struct hd_domain_keys {
    hd_store_key *k;
    size_t n, cap;
} hd_domain_keys;

int hd_domain_keys_load(hd_store *st, const char *domain, hd_domain_keys *out, hd_err *err);
void hd_domain_keys_free(hd_domain_keys *l);

/* The domain's normal name into name[HD_STORE_NAME_MAX], and its row;
 * HD_ENOTFOUND when absent. */
int hd_domain_lookup(hd_store *st, const char *domain, char *name, hd_store_domain *row,
                     hd_err *err);

#endif
