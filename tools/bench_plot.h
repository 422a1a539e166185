/* bench_plot.h - the rows `mproc bench` collects, and the SVG charts it
 * draws from them (tools/bench_plot.c). */
#ifndef MPROC_TOOL_BENCH_PLOT_H
#define MPROC_TOOL_BENCH_PLOT_H

#include <stddef.h>

/* One CSV row of a benchmark: area,case,impl,median,min,max,unit. */
struct bench_row {
    char area[32];
    char casename[64];
    char impl[64];
    char unit[16];
    double median, min, max;
};

/* bench_row_parse - parse one CSV line (no trailing newline needed).
 * Returns 1 and fills *r for a data row, 0 for anything else (the header, a
 * `#` comment, a malformed line). */
int bench_row_parse(const char *line, struct bench_row *r);

/* bench_plot_write - write the charts for rows[0..n) into the directory dir
 * (which must exist): throughput against message size and latency for the
 * IPC areas (queue, pipe), one bar chart per remaining area and unit (pool
 * overhead, process start, sync). mproc's cases are drawn beside their
 * peers, in red. Prints each file written on stderr. Returns the number of
 * files written, or -1 if one could not be written (errno is set). */
int bench_plot_write(const char *dir, const struct bench_row *rows, size_t n);

#endif
