/* The control-plane URLs of one bus: "https://a:8470,https://b:8470". */
#ifndef UNIBUS_URL_LIST_H
#define UNIBUS_URL_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include "unibus.h"

/* More nodes than a bus is expected to have (a quorum of 3 or 5). */
#define URL_LIST_MAX 16
/* A URL is also a key of the known-servers file ("URL NKEY" lines). */
#define URL_MAX_LEN 1024

typedef struct {
    char *urls[URL_LIST_MAX]; /* malloc'd, trailing '/' removed */
    size_t n;
} url_list;

/* Splits text at commas; blanks around an item are dropped.  Refused, with
 * one line in why: an empty item, a blank inside a URL, a scheme other
 * than https:// or http://, no host, a mix of the two schemes, http://
 * with a CA (with_ca), a URL given twice, more than URL_LIST_MAX, a URL
 * over URL_MAX_LEN.  UNIBUS_ERR_CONFIG then, UNIBUS_ERR_NOMEM, or
 * UNIBUS_OK with out filled (free it with url_list_free either way). */
unibus_status url_list_parse(const char *text, bool with_ca, url_list *out, char *why, size_t why_len);
void url_list_free(url_list *list);

#endif
