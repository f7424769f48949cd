/* The control-plane URL list of libunibus (client/url_list.c): what a
 * list of one bus's nodes may hold, and one clear line for anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "url_list.h"

static char why[512];

/* text parsed (without a CA): UNIBUS_OK and the URLs, or a refusal. */
static unibus_status parse(const char *text, url_list *out)
{
    return url_list_parse(text, false, out, why, sizeof why);
}

static void refused(const char *text, bool with_ca, const char *because)
{
    url_list list;
    assert_int_equal(url_list_parse(text, with_ca, &list, why, sizeof why), UNIBUS_ERR_CONFIG);
    if (!strstr(why, because))
        fail_msg("\"%s\": expected \"%s\" in \"%s\"", text, because, why);
    assert_null(strchr(why, '\n'));
    url_list_free(&list);
}

static void one_url_as_before(void **state)
{
    (void)state;
    url_list list;
    assert_int_equal(parse("https://bus.example.org:8470/", &list), UNIBUS_OK);
    assert_int_equal(list.n, 1);
    assert_string_equal(list.urls[0], "https://bus.example.org:8470");
    url_list_free(&list);
}

static void several_in_order_blanks_around_dropped(void **state)
{
    (void)state;
    url_list list;
    assert_int_equal(parse(" https://a:8470, https://b:8470/ ,\thttps://c:8470", &list), UNIBUS_OK);
    assert_int_equal(list.n, 3);
    assert_string_equal(list.urls[0], "https://a:8470");
    assert_string_equal(list.urls[1], "https://b:8470");
    assert_string_equal(list.urls[2], "https://c:8470");
    url_list_free(&list);
}

static void empty_items_refused(void **state)
{
    (void)state;
    refused("", false, "control URL 1 of the list is empty");
    refused("https://a:8470,,https://b:8470", false, "control URL 2 of the list is empty");
    refused("https://a:8470,", false, "control URL 2 of the list is empty");
    refused(",https://a:8470", false, "control URL 1 of the list is empty");
    refused("https://a:8470, ,https://b:8470", false, "control URL 2 of the list is empty");
}

static void blank_inside_refused(void **state)
{
    (void)state;
    refused("https://a:8470 https://b:8470", false, "URL 1 of the list has a blank or control character inside");
    refused("https://a:8470,https://b:84\n70", false, "URL 2 of the list has a blank or control character inside");
    refused("https://a:8470,,\n", false, "control URL 2 of the list is empty"); /* nothing raw echoed */
}

static void duplicates_refused(void **state)
{
    (void)state;
    refused("https://a:8470,https://b:8470,https://a:8470", false, "https://a:8470 is listed twice");
    refused("https://a:8470,https://a:8470/", false, "listed twice"); /* the same once '/' is gone */
}

static void too_many_refused(void **state)
{
    (void)state;
    char text[URL_LIST_MAX * 32 + 64] = "";
    url_list list;
    for (int i = 0; i < URL_LIST_MAX; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%shttps://n%d:8470", i ? "," : "", i);
    assert_int_equal(parse(text, &list), UNIBUS_OK);
    assert_int_equal(list.n, URL_LIST_MAX);
    url_list_free(&list);
    strcat(text, ",https://one-more:8470");
    refused(text, false, "more than 16 control URLs");
}

static void schemes_refused(void **state)
{
    (void)state;
    refused("https://a:8470,http://b:8470", false, "mix http:// and https://");
    refused("http://a:8470,https://b:8470", false, "mix http:// and https://");
    refused("https://a:8470,ftp://b:8470", false, "control URL ftp://b:8470: use https://HOST:PORT");
    refused("a:8470", false, "use https://HOST:PORT");
    refused("https://", false, "use https://HOST:PORT");
    refused("https://a:8470,http://b:8470", true, "plain http but a CA is given");
    refused("http://a:8470", true, "plain http but a CA is given");
}

static void plain_http_list_without_ca_taken(void **state)
{
    (void)state;
    url_list list;
    assert_int_equal(parse("http://127.0.0.1:1,http://127.0.0.1:2", &list), UNIBUS_OK);
    assert_int_equal(list.n, 2);
    url_list_free(&list);
}

static void overlong_url_refused(void **state)
{
    (void)state;
    char text[URL_MAX_LEN + 64];
    snprintf(text, sizeof text, "https://%0*d", URL_MAX_LEN, 0);
    refused(text, false, "over 1024 characters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_url_as_before),
        cmocka_unit_test(several_in_order_blanks_around_dropped),
        cmocka_unit_test(empty_items_refused),
        cmocka_unit_test(blank_inside_refused),
        cmocka_unit_test(duplicates_refused),
        cmocka_unit_test(too_many_refused),
        cmocka_unit_test(schemes_refused),
        cmocka_unit_test(plain_http_list_without_ca_taken),
        cmocka_unit_test(overlong_url_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
