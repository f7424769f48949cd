/* bench_check_results FILE: the results JSON is complete and well formed
 * (schema, machine, every case with rows, numbers where numbers belong,
 * and a verdict on each figure of the data-plane case and of the cluster
 * case that has a target).  It never judges a speed. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CASES 6

/* Figures that must carry a target (and so a verdict), by the start of
 * their measure; NULL ends a case's list.  Case 1: the cleartext room at
 * 128 B and both e2e rooms at both sizes; case 6: cross-node msg/s, user
 * add, revoke, the write gap, the catch-up. */
static const char *const TARGETS[CASES][8] = {
    [0] = {"cleartext room, 128 B", "e2e room sign=false, 128 B", "e2e room sign=false, 4096 B",
           "e2e room signed, 128 B", "e2e room signed, 4096 B", NULL},
    [5] = {"cross-node room", "user add through the bus log", "revoke -> closed on all", "bus write gap",
           "new node: start -> admits peers", NULL},
};

static int fail(const char *what, const char *where)
{
    fprintf(stderr, "bench results: %s (%s); rerun unibus_bench to regenerate the file\n", what, where);
    return 1;
}

static bool number_or_null(json_t *v)
{
    return json_is_number(v) || json_is_null(v);
}

static int check_row(json_t *row, const char *where)
{
    if (!json_is_string(json_object_get(row, "measure")) || !json_is_string(json_object_get(row, "unit")) ||
        !json_is_string(json_object_get(row, "detail")) || !json_is_string(json_object_get(row, "ceiling_name")))
        return fail("a row lacks measure, unit, ceiling_name or detail", where);
    if (!json_is_number(json_object_get(row, "figure")))
        return fail("a row's figure is not a number", where);
    json_t *ceiling = json_object_get(row, "ceiling"), *ratio = json_object_get(row, "ratio");
    json_t *target = json_object_get(row, "target"), *met = json_object_get(row, "met");
    if (!number_or_null(ceiling) || !number_or_null(ratio))
        return fail("a row's ceiling or ratio is neither a number nor null", where);
    if (json_is_number(ceiling) && !json_is_number(ratio))
        return fail("a row with a ceiling has no numeric ratio", where);
    if (!(json_is_string(target) || json_is_null(target)) || !(json_is_boolean(met) || json_is_null(met)))
        return fail("a row's target is not a string or null, or met not a boolean or null", where);
    if (json_is_string(target) != json_is_boolean(met))
        return fail("a row has a target without a verdict, or the reverse", where);
    return 0;
}

static int check_targets(json_t *rows, const char *const *targets)
{
    for (size_t t = 0; targets[t]; t++) {
        bool found = false;
        for (size_t i = 0; i < json_array_size(rows) && !found; i++) {
            json_t *row = json_array_get(rows, i);
            found = strncmp(json_string_value(json_object_get(row, "measure")), targets[t], strlen(targets[t])) == 0 &&
                    json_is_string(json_object_get(row, "target"));
        }
        if (!found)
            return fail("a case lacks a row with a target for", targets[t]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_check_results FILE\n");
        return 64;
    }
    json_error_t err;
    json_t *doc = json_load_file(argv[1], 0, &err);
    if (!doc)
        return fail(err.text, argv[1]);
    json_t *schema = json_object_get(doc, "schema"), *m = json_object_get(doc, "machine");
    if (!json_is_string(schema) || strcmp(json_string_value(schema), "unibus-bench/1") != 0)
        return fail("schema is not unibus-bench/1", argv[1]);
    if (!json_is_integer(json_object_get(m, "nproc")) || !json_is_string(json_object_get(m, "cpu")) ||
        !json_is_string(json_object_get(m, "kernel")))
        return fail("machine lacks nproc, cpu or kernel", argv[1]);
    json_t *cases = json_object_get(doc, "cases");
    if (json_array_size(cases) != CASES)
        return fail("there are not six cases", argv[1]);
    int rc = 0, targets = 0;
    for (size_t c = 0; c < CASES && rc == 0; c++) {
        json_t *k = json_array_get(cases, c), *rows = json_object_get(k, "rows");
        char where[64];
        snprintf(where, sizeof where, "case %zu", c + 1);
        if (json_integer_value(json_object_get(k, "case")) != (json_int_t)c + 1 || json_array_size(rows) == 0)
            return fail("a case is missing or has no rows", where);
        for (size_t i = 0; i < json_array_size(rows) && rc == 0; i++) {
            rc = check_row(json_array_get(rows, i), where);
            targets += json_is_string(json_object_get(json_array_get(rows, i), "target"));
        }
        if (rc == 0)
            rc = check_targets(rows, TARGETS[c]);
    }
    if (rc == 0 && targets == 0)
        rc = fail("no row carries a target", argv[1]);
    json_decref(doc);
    if (rc == 0)
        printf("%s: well formed, %d cases, %d targets\n", argv[1], CASES, targets);
    return rc;
}
