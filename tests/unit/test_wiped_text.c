/* embedded/wiped_text: what is written comes back whole, whatever the
 * size hint, growing as often as needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "embedded/wiped_text.h"

static void check_round_trip(size_t hint, size_t lines)
{
    wiped_text *w;
    FILE *f = wiped_text_open(&w, hint);
    assert_non_null(f);
    for (size_t i = 0; i < lines; i++)
        fprintf(f, "line %zu: password \"%064zu\"\n", i, i);
    char *text = wiped_text_close(f, w);
    assert_non_null(text);
    size_t expect = 0;
    for (size_t i = 0; i < lines; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "line %zu: password \"%064zu\"\n", i, i);
        assert_memory_equal(text + expect, line, (size_t)n);
        expect += (size_t)n;
    }
    assert_int_equal(strlen(text), expect);
    free(text);
}

static void a_text_smaller_than_its_hint(void **state)
{
    (void)state;
    check_round_trip(1 << 20, 10);
}

static void a_text_that_outgrows_its_hint_many_times(void **state)
{
    (void)state;
    check_round_trip(0, 100000); /* 8 MB from a 4 KiB first block, past stdio's buffer */
}

static void an_empty_text(void **state)
{
    (void)state;
    wiped_text *w;
    FILE *f = wiped_text_open(&w, 0);
    assert_non_null(f);
    char *text = wiped_text_close(f, w);
    assert_string_equal(text, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_text_smaller_than_its_hint),
        cmocka_unit_test(a_text_that_outgrows_its_hint_many_times),
        cmocka_unit_test(an_empty_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
