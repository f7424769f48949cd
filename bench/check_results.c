/* bench_check_results FILE: the results JSON is complete and well formed
 * (schema, machine, every case with rows, numbers where numbers belong,
 * and a verdict on each figure the issues set a target for).  It never
 * judges a speed. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CASES 6

/* The figures that must carry a target (and so a verdict), by case and the
 * start of their measure (dev/bench.md, "Targets"). */
static const struct {
    int case_no;
    const char *measure;
} REQUIRED_TARGETS[] = {
    {1, "cleartext room, 128 B"},
    {1, "e2e room sign=false, 128 B"},
    {1, "e2e room sign=false, 4096 B"},
    {1, "e2e room signed, 128 B"},
    {1, "e2e room signed, 4096 B"},
    {2, "signed GET /v1/me, TLS keep-alive, 8 clients"},
    {2, "signed POST /v1/rooms, TLS keep-alive, 1 clients"},
    {3, "membershipd share (request -> SIGHUP), "},
    {3, "revoke -> connection closed, "},
    {4, "nats-server RSS after reloads / fresh"},
    {4, "nats-server RSS after reloads,"},
    {6, "cross-node room"},
    {6, "user add through the bus log"},
    {6, "revoke -> closed on all"},
    {6, "bus write gap"},
    {6, "new node: start -> admits peers"},
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

static int check_required_targets(int case_no, json_t *rows)
{
    for (size_t t = 0; t < sizeof REQUIRED_TARGETS / sizeof *REQUIRED_TARGETS; t++) {
        if (REQUIRED_TARGETS[t].case_no != case_no)
            continue;
        const char *measure = REQUIRED_TARGETS[t].measure;
        bool found = false;
        for (size_t i = 0; i < json_array_size(rows) && !found; i++) {
            json_t *row = json_array_get(rows, i);
            const char *name = json_string_value(json_object_get(row, "measure"));
            found = name && strncmp(name, measure, strlen(measure)) == 0 &&
                    json_is_string(json_object_get(row, "target"));
        }
        if (!found)
            return fail("no row with a target for", measure);
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
            rc = check_required_targets((int)c + 1, rows);
    }
    if (rc == 0 && targets == 0)
        rc = fail("no row carries a target", argv[1]);
    json_decref(doc);
    if (rc == 0)
        printf("%s: well formed, %d cases, %d targets\n", argv[1], CASES, targets);
    return rc;
}
