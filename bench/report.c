#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROWS 128
#define MAX_NOTES 32

static const char *const CASE_NAMES[] = {"", "data plane", "control plane", "propagation", "scale",
                                         "cost of abuse", "cluster"};

static bench_row rows[MAX_ROWS];
static size_t nrows;
static char notes[MAX_NOTES][240];
static size_t nnotes;

bench_row row_make(int case_no, const char *measure, double figure, const char *unit, double ceiling,
                   const char *ceiling_name)
{
    bench_row r = {.case_no = case_no, .measure = measure, .figure = figure, .unit = unit,
                   .ceiling = ceiling, .ceiling_name = ceiling_name ? ceiling_name : "", .met = -1};
    return r;
}

const char *report_name(const char *prefix, size_t n, const char *suffix)
{
    static char names[MAX_ROWS][112];
    static size_t used;
    char *s = names[used++ % MAX_ROWS];
    snprintf(s, sizeof names[0], "%s%zu%s", prefix, n, suffix);
    return s;
}

static double ratio_of(const bench_row *r)
{
    return isnan(r->ceiling) || r->ceiling == 0 ? NAN : r->figure / r->ceiling;
}

void row_target_ratio(bench_row *r, double min)
{
    snprintf(r->target, sizeof r->target, "ratio >= %.2f", min);
    double ratio = ratio_of(r);
    r->met = !isnan(ratio) && ratio >= min;
}

void row_target_ratio_at_most(bench_row *r, double max)
{
    snprintf(r->target, sizeof r->target, "ratio <= %.2f", max);
    double ratio = ratio_of(r);
    r->met = !isnan(ratio) && ratio <= max;
}

void row_target_below(bench_row *r, double limit)
{
    snprintf(r->target, sizeof r->target, "< %g %s", limit, r->unit);
    r->met = !isnan(r->figure) && r->figure < limit;
}

void row_target_over_ceiling(bench_row *r, double over)
{
    snprintf(r->target, sizeof r->target, "<= ceiling + %g %s", over, r->unit);
    r->met = !isnan(r->figure) && !isnan(r->ceiling) && r->figure <= r->ceiling + over;
}

static void format_number(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "-");
    else if (fabs(v) >= 1000)
        snprintf(out, cap, "%.0f", v);
    else if (fabs(v) >= 10)
        snprintf(out, cap, "%.1f", v);
    else
        snprintf(out, cap, "%.2f", v);
}

static void print_row(FILE *out, const bench_row *r)
{
    char fig[32], ceil_text[32], ratio[32];
    format_number(fig, sizeof fig, r->figure);
    format_number(ceil_text, sizeof ceil_text, r->ceiling);
    format_number(ratio, sizeof ratio, ratio_of(r));
    fprintf(out, "| %d %-13s | %-44s | %10s %-7s | %10s %-22s | %6s | %-22s | %-7s |\n", r->case_no,
            CASE_NAMES[r->case_no], r->measure, fig, r->unit, ceil_text, r->ceiling_name, ratio,
            r->target[0] ? r->target : "-", r->met < 0 ? "-" : r->met ? "met" : "NOT MET");
    if (r->detail[0])
        fprintf(out, "|   %s\n", r->detail);
}

static void print_header(FILE *out)
{
    fprintf(out, "| %-15s | %-44s | %-18s | %-33s | %-6s | %-22s | %-7s |\n", "case", "measure", "figure",
            "ceiling", "ratio", "target", "met");
}

void report_add(const bench_row *r)
{
    if (nrows == 0)
        print_header(stdout);
    if (nrows < MAX_ROWS)
        rows[nrows++] = *r;
    print_row(stdout, r);
    fflush(stdout);
}

void report_note(const char *fmt, ...)
{
    if (nnotes == MAX_NOTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes[nnotes++], sizeof notes[0], fmt, ap);
    va_end(ap);
    fprintf(stdout, "note: %s\n", notes[nnotes - 1]);
    fflush(stdout);
}

void report_print_table(FILE *out)
{
    print_header(out);
    for (size_t i = 0; i < nrows; i++)
        print_row(out, &rows[i]);
    for (size_t i = 0; i < nnotes; i++)
        fprintf(out, "note: %s\n", notes[i]);
}

static json_t *number_or_null(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *machine(void)
{
    char line[512], cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    return json_pack("{s:I, s:s, s:s}", "nproc", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "cpu", cpu,
                     "kernel", u.release);
}

static json_t *row_json(const bench_row *r)
{
    return json_pack("{s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:o, s:s}", "measure", r->measure, "figure",
                     number_or_null(r->figure), "unit", r->unit, "ceiling", number_or_null(r->ceiling),
                     "ceiling_name", r->ceiling_name, "ratio", number_or_null(ratio_of(r)), "target",
                     r->target[0] ? json_string(r->target) : json_null(), "met",
                     r->met < 0 ? json_null() : json_boolean(r->met), "detail", r->detail);
}

int report_write_json(const char *path, bool quick, double elapsed_s)
{
    json_t *cases = json_array();
    for (int c = 1; c <= REPORT_CASES; c++) {
        json_t *list = json_array();
        for (size_t i = 0; i < nrows; i++)
            if (rows[i].case_no == c)
                json_array_append_new(list, row_json(&rows[i]));
        json_array_append_new(cases, json_pack("{s:i, s:s, s:o}", "case", c, "name", CASE_NAMES[c], "rows", list));
    }
    json_t *note_list = json_array();
    for (size_t i = 0; i < nnotes; i++)
        json_array_append_new(note_list, json_string(notes[i]));
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_t *doc = json_pack("{s:s, s:s, s:b, s:f, s:o, s:o, s:o}", "schema", "unibus-bench/1", "date", when,
                            "quick", quick, "elapsed_s", elapsed_s, "machine", machine(), "cases", cases,
                            "notes", note_list);
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "bench: cannot write %s; check the directory exists and is writable\n", path);
    json_decref(doc);
    return rc;
}
