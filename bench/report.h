/* The results of a run: a table on stdout and bench/results.json. */
#ifndef UNIBUS_BENCH_REPORT_H
#define UNIBUS_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define REPORT_CASES 6

typedef struct {
    int case_no;            /* 1..REPORT_CASES, as in dev/bench.md */
    const char *measure;
    double figure;
    const char *unit;
    double ceiling;         /* NAN when the row has none */
    const char *ceiling_name;
    char target[48];        /* "" when the row has none */
    int met;                /* 1, 0, or -1 without a target */
    char detail[200];
} bench_row;

/* A row without a target; ratio = figure / ceiling when there is one. */
bench_row row_make(int case_no, const char *measure, double figure, const char *unit, double ceiling,
                   const char *ceiling_name);
/* Targets: ratio at least min, or at most max; figure below limit; figure
 * at most over above the ceiling. */
void row_target_ratio(bench_row *r, double min);
void row_target_ratio_at_most(bench_row *r, double max);
void row_target_below(bench_row *r, double limit);
void row_target_over_ceiling(bench_row *r, double over);
/* prefix N suffix, for a row's measure: lives as long as the report. */
const char *report_name(const char *prefix, size_t n, const char *suffix);
/* Records the row (copied) and prints it at once, so a long run shows progress. */
void report_add(const bench_row *r);
void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void report_print_table(FILE *out);
/* 0, or -1 after a line on stderr. */
int report_write_json(const char *path, bool quick, double elapsed_s);

#endif
