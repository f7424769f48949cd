/* Parsing the control-plane URL list (dev/client-library.md, "Several nodes"). */
#include "url_list.h"
#include "config_error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Item number `item`, blanks and trailing '/' already gone: is it a URL
 * we can use?  (Only a URL without control characters is ever echoed.) */
static unibus_status check_item(const char *url, size_t item, bool with_ca, char *why, size_t why_len)
{
    bool https = has_prefix(url, "https://"), http = has_prefix(url, "http://");
    for (const char *p = url; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return config_refused(why, why_len, "control URL %zu of the list has a blank or control character inside: "
                          "separate URLs with commas only", item);
    if (strlen(url) > URL_MAX_LEN)
        return config_refused(why, why_len, "a control URL is over %d characters: give https://HOST:PORT", URL_MAX_LEN);
    if (!https && !http)
        return config_refused(why, why_len, "control URL %s: use https://HOST:PORT", url);
    if (!url[https ? 8 : 7])
        return config_refused(why, why_len, "control URL %s names no host: use https://HOST:PORT", url);
    if (http && with_ca)
        return config_refused(why, why_len,
                      "control URL %s is plain http but a CA is given: use https:// so nothing goes in the clear", url);
    return UNIBUS_OK;
}

/* The item text[start, end) without surrounding blanks and trailing '/'. */
static char *item_copy(const char *text, size_t start, size_t end)
{
    while (start < end && isblank((unsigned char)text[start]))
        start++;
    while (end > start && (isblank((unsigned char)text[end - 1]) || text[end - 1] == '/'))
        end--;
    return strndup(text + start, end - start);
}

/* Every node of a bus is reached the same way: one scheme, no URL twice. */
static unibus_status check_together(const url_list *list, char *why, size_t why_len)
{
    for (size_t i = 1; i < list->n; i++)
        if (has_prefix(list->urls[i], "https://") != has_prefix(list->urls[0], "https://"))
            return config_refused(why, why_len, "control URLs %s and %s mix http:// and https://: use https:// for every node",
                          list->urls[0], list->urls[i]);
    for (size_t i = 0; i < list->n; i++)
        for (size_t j = i + 1; j < list->n; j++)
            if (strcmp(list->urls[i], list->urls[j]) == 0)
                return config_refused(why, why_len, "control URL %s is listed twice: give each node once", list->urls[i]);
    return UNIBUS_OK;
}

unibus_status url_list_parse(const char *text, bool with_ca, url_list *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    size_t start = 0, len = strlen(text);
    for (size_t end = 0; end <= len; end++) {
        if (end < len && text[end] != ',')
            continue;
        if (out->n == URL_LIST_MAX)
            return config_refused(why, why_len, "more than %d control URLs given: list the nodes of one bus only",
                          URL_LIST_MAX);
        char *url = item_copy(text, start, end);
        if (!url)
            return UNIBUS_ERR_NOMEM;
        out->urls[out->n++] = url;
        if (!url[0])
            return config_refused(why, why_len, "control URL %zu of the list is empty: separate URLs with single commas "
                          "(https://a:8470,https://b:8470)", out->n);
        unibus_status s = check_item(url, out->n, with_ca, why, why_len);
        if (s != UNIBUS_OK)
            return s;
        start = end + 1;
    }
    return check_together(out, why, why_len);
}

void url_list_free(url_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->urls[i]);
    list->n = 0;
}
