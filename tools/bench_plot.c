/* bench_plot.c - SVG charts of benchmark rows, for `mproc bench --plot`.
 *
 * Hand-written minimal SVG 1.1 (no dependency, viewable in any browser and
 * on GitHub). What is drawn from the rows (struct bench_row, the CSV of
 * bench/harness.h):
 *
 *   throughput_<area>.svg  areas queue and pipe: every case named
 *                          1to1_<size> (64B, 4KiB, 1MiB, ...) becomes a point
 *                          of its impl's line, GB/s against message size,
 *                          both axes logarithmic, whiskers = min..max of the
 *                          repetitions. Mmsg/s rows are converted to GB/s
 *                          with the size from the case name.
 *   latency_<area>.svg     areas queue and pipe: every us/op row (the
 *                          ping-pongs), grouped by case, log-scale bars.
 *   <area>_<unit>.svg      every other area (pool overhead, process start,
 *                          sync, ...): one bar chart per unit, grouped by
 *                          case, log-scale bars.
 *
 * mproc's own cases (impl starting with "mproc") are red, the ceiling ring
 * grey, Python purple, the other peers from a fixed palette, so mproc stands
 * out beside its peers in every chart. Bars carry their median as text and
 * a whisker for min..max; the subtitle says whether lower or higher is
 * better.
 *
 * Everything that comes from the CSV is escaped before it goes into the
 * XML; numbers that are not finite or not positive are left out (a log
 * scale cannot show them).
 */
#include "bench_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 40
#define MAX_POINTS 16
#define FONT "font-family=\"sans-serif\""

int bench_row_parse(const char *line, struct bench_row *r)
{
    char buf[512];
    char *field[8];
    int nf = 0;
    if (line[0] == '#' || strncmp(line, "area,", 5) == 0)
        return 0;
    snprintf(buf, sizeof buf, "%s", line);
    buf[strcspn(buf, "\r\n")] = 0;
    for (char *p = buf; nf < 8;) {
        field[nf++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    if (nf != 7)
        return 0;
    struct bench_row t;
    char *end;
    double v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = strtod(field[3 + i], &end);
        if (end == field[3 + i] || *end)
            return 0;
    }
    if (strlen(field[0]) >= sizeof t.area || strlen(field[1]) >= sizeof t.casename ||
        strlen(field[2]) >= sizeof t.impl || strlen(field[6]) >= sizeof t.unit)
        return 0;
    strcpy(t.area, field[0]);
    strcpy(t.casename, field[1]);
    strcpy(t.impl, field[2]);
    strcpy(t.unit, field[6]);
    t.median = v[0];
    t.min = v[1];
    t.max = v[2];
    *r = t;
    return 1;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        }
    }
}

static int usable(double v)
{
    return isfinite(v) && v > 0;
}

static int higher_is_better(const char *unit)
{
    return strcmp(unit, "GB/s") == 0 || strcmp(unit, "Mmsg/s") == 0 || strstr(unit, "/s") != NULL;
}

static const char *color_of(const char *impl, int index)
{
    static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#8c564b", "#e377c2",
                                    "#17becf", "#bcbd22", "#393b79", "#637939", "#8c6d31"};
    if (strncmp(impl, "mproc", 5) == 0)
        return strstr(impl, "zerocopy") ? "#ff6f61" : "#d62728";
    if (strncmp(impl, "ring", 4) == 0)
        return strstr(impl, "64B") ? "#b5b5b5" : "#7f7f7f";
    if (strncmp(impl, "py-", 3) == 0)
        return "#9467bd";
    return palette[index % (int)(sizeof palette / sizeof palette[0])];
}

static void svg_open(FILE *f, int w, int h, const char *title, const char *subtitle)
{
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
            "<text x=\"20\" y=\"26\" " FONT " font-size=\"17\" font-weight=\"bold\">",
            w, h, w, h, w, h);
    xml_text(f, title);
    fprintf(f, "</text>\n<text x=\"20\" y=\"45\" " FONT " font-size=\"12\" fill=\"#555\">");
    xml_text(f, subtitle);
    fprintf(f, "</text>\n");
}

/* Decades covering [lo, hi] of the usable values. */
static void log_range(double lo, double hi, double *dlo, double *dhi)
{
    *dlo = pow(10, floor(log10(lo)));
    *dhi = pow(10, ceil(log10(hi)));
    if (*dhi <= *dlo)
        *dhi = *dlo * 10;
}

static void fmt_value(char *buf, size_t n, double v)
{
    if (v >= 100)
        snprintf(buf, n, "%.0f", v);
    else if (v >= 10)
        snprintf(buf, n, "%.1f", v);
    else
        snprintf(buf, n, "%.3g", v);
}

static void fmt_size(char *buf, size_t n, double bytes)
{
    if (bytes >= 1 << 20)
        snprintf(buf, n, "%g MiB", bytes / (1 << 20));
    else if (bytes >= 1 << 10)
        snprintf(buf, n, "%g KiB", bytes / (1 << 10));
    else
        snprintf(buf, n, "%g B", bytes);
}

/* "1to1_4KiB" -> 4096; 0 when the case is not a 1 -> 1 size row. */
static double case_size(const char *c)
{
    if (strncmp(c, "1to1_", 5) != 0)
        return 0;
    char *end;
    double v = strtod(c + 5, &end);
    if (end == c + 5 || !usable(v))
        return 0;
    if (strcmp(end, "B") == 0)
        return v;
    if (strcmp(end, "KiB") == 0)
        return v * 1024;
    if (strcmp(end, "MiB") == 0)
        return v * 1024 * 1024;
    return 0;
}

static FILE *open_chart(const char *dir, const char *name, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    return fopen(path, "we");
}

static int close_chart(FILE *f, const char *path)
{
    fputs("</svg>\n", f);
    if (ferror(f) | (fclose(f) != 0))
        return -1;
    fprintf(stderr, "mproc bench: wrote %s\n", path);
    return 0;
}

struct series {
    const char *impl;
    int npts;
    double x[MAX_POINTS], y[MAX_POINTS], lo[MAX_POINTS], hi[MAX_POINTS];
};

static int series_find(struct series *s, int *ns, const char *impl)
{
    for (int i = 0; i < *ns; i++)
        if (strcmp(s[i].impl, impl) == 0)
            return i;
    if (*ns == MAX_SERIES)
        return -1;
    memset(&s[*ns], 0, sizeof s[*ns]);
    s[*ns].impl = impl;
    return (*ns)++;
}

/* Returns 1 if written, 0 if there was nothing to draw, -1 on error. */
static int throughput_chart(const char *dir, const char *area, const struct bench_row *rows,
                            size_t n)
{
    static struct series s[MAX_SERIES];
    int ns = 0;
    double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        double size = case_size(r->casename);
        double k;
        if (strcmp(r->area, area) != 0 || size == 0)
            continue;
        if (strcmp(r->unit, "GB/s") == 0)
            k = 1;
        else if (strcmp(r->unit, "Mmsg/s") == 0)
            k = size / 1e3;
        else
            continue;
        if (!usable(r->median))
            continue;
        int si = series_find(s, &ns, r->impl);
        if (si < 0 || s[si].npts == MAX_POINTS)
            continue;
        struct series *p = &s[si];
        int j = p->npts++;
        p->x[j] = size;
        p->y[j] = r->median * k;
        p->lo[j] = usable(r->min) ? r->min * k : p->y[j];
        p->hi[j] = usable(r->max) ? r->max * k : p->y[j];
        xmin = fmin(xmin, size);
        xmax = fmax(xmax, size);
        ymin = fmin(ymin, fmin(p->y[j], p->lo[j]));
        ymax = fmax(ymax, fmax(p->y[j], p->hi[j]));
    }
    if (ns == 0)
        return 0;
    const int W = 980, H = 560, L = 80, R = 250, T = 70, B = 60;
    const int pw = W - L - R, ph = H - T - B;
    double ylo, yhi;
    log_range(ymin, ymax, &ylo, &yhi);
    double lxmin = log2(xmin), lxmax = log2(xmax);
    if (lxmax - lxmin < 1) {
        lxmin -= 1;
        lxmax += 1;
    }
    lxmin -= 0.3;
    lxmax += 0.3;
#define PX(v) (L + (log2(v) - lxmin) / (lxmax - lxmin) * pw)
#define PY(v) (T + ph - (log10(v) - log10(ylo)) / (log10(yhi) - log10(ylo)) * ph)
    char path[4096], name[128], title[160], lbl[64];
    snprintf(name, sizeof name, "throughput_%s.svg", area);
    FILE *f = open_chart(dir, name, path, sizeof path);
    if (!f)
        return -1;
    snprintf(title, sizeof title, "%s: throughput against message size, 1 producer -> 1 consumer",
             area);
    svg_open(f, W, H, title, "GB/s, higher is better; log-log; whiskers: min..max of the rounds");
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            L, T, pw, ph);
    for (double d = ylo; d <= yhi * 1.0001; d *= 10) {
        double y = PY(d);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y,
                L + pw, y);
        fmt_value(lbl, sizeof lbl, d);
        fprintf(f,
                "<text x=\"%d\" y=\"%.1f\" " FONT
                " font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                L - 6, y + 4, lbl);
    }
    /* x ticks at the sizes that occur */
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < s[i].npts; j++) {
            double x = PX(s[i].x[j]);
            fmt_size(lbl, sizeof lbl, s[i].x[j]);
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>\n"
                    "<text x=\"%.1f\" y=\"%d\" " FONT " font-size=\"11\" "
                    "text-anchor=\"middle\">%s</text>\n",
                    x, T, x, T + ph, x, T + ph + 16, lbl);
        }
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"12\" text-anchor=\"middle\">"
            "message size</text>\n",
            L + pw / 2, H - 18);
    for (int i = 0; i < ns; i++) {
        struct series *p = &s[i];
        const char *col = color_of(p->impl, i);
        int mp = strncmp(p->impl, "mproc", 5) == 0;
        /* sort the points by size (few points: insertion sort) */
        for (int a = 1; a < p->npts; a++)
            for (int b = a; b > 0 && p->x[b] < p->x[b - 1]; b--) {
                double t;
#define SWAP(arr) (t = arr[b], arr[b] = arr[b - 1], arr[b - 1] = t)
                SWAP(p->x);
                SWAP(p->y);
                SWAP(p->lo);
                SWAP(p->hi);
#undef SWAP
            }
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"", col,
                mp ? "3" : "1.5");
        for (int j = 0; j < p->npts; j++)
            fprintf(f, "%.1f,%.1f ", PX(p->x[j]), PY(p->y[j]));
        fprintf(f, "\"/>\n");
        for (int j = 0; j < p->npts; j++) {
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                    PX(p->x[j]), PY(p->lo[j]), PX(p->x[j]), PY(p->hi[j]), col);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>\n", PX(p->x[j]),
                    PY(p->y[j]), mp ? "4.5" : "3", col);
        }
        int ly = T + 10 + i * 18;
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"%s\"/>\n<text x=\"%d\" y=\"%d\" " FONT " font-size=\"12\"%s>",
                W - R + 15, ly, W - R + 40, ly, col, mp ? "3" : "1.5", W - R + 46, ly + 4,
                mp ? " font-weight=\"bold\"" : "");
        xml_text(f, p->impl);
        fprintf(f, "</text>\n");
    }
#undef PX
#undef PY
    return close_chart(f, path) == 0 ? 1 : -1;
}

/* A horizontal bar chart of the rows `pick` selects, grouped by case in
 * order of appearance. Returns 1 if written, 0 if empty, -1 on error. */
static int bar_chart(const char *dir, const char *name, const char *title, const char *unit,
                     const struct bench_row *rows, size_t n,
                     int (*pick)(const struct bench_row *, const void *), const void *ctx)
{
    size_t count = 0, groups = 0;
    double vmin = INFINITY, vmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pick(&rows[i], ctx) || !usable(rows[i].median))
            continue;
        count++;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = pick(&rows[j], ctx) && usable(rows[j].median) &&
                   strcmp(rows[j].casename, rows[i].casename) == 0;
        groups += !seen;
        vmin = fmin(vmin, usable(rows[i].min) ? fmin(rows[i].min, rows[i].median) : rows[i].median);
        vmax = fmax(vmax, usable(rows[i].max) ? fmax(rows[i].max, rows[i].median) : rows[i].median);
    }
    if (count == 0)
        return 0;
    const int W = 980, L = 290, R = 90, T = 70, BAR = 16, GAP = 4, GH = 24, B = 40;
    const int pw = W - L - R;
    int H = T + (int)groups * (GH + 8) + (int)count * (BAR + GAP) + B;
    double lo, hi;
    log_range(vmin, vmax, &lo, &hi);
#define BX(v) (L + (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) * pw)
    char path[4096], sub[160], lbl[64];
    FILE *f = open_chart(dir, name, path, sizeof path);
    if (!f)
        return -1;
    snprintf(sub, sizeof sub, "%s, %s is better; log scale; whiskers: min..max of the rounds", unit,
             higher_is_better(unit) ? "higher" : "lower");
    svg_open(f, W, H, title, sub);
    for (double d = lo; d <= hi * 1.0001; d *= 10) {
        double x = BX(d);
        fmt_value(lbl, sizeof lbl, d);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" " FONT " font-size=\"11\" "
                "text-anchor=\"middle\">%s</text>\n",
                x, T - 4, x, H - B, x, H - B + 14, lbl);
    }
    int y = T;
    for (size_t g = 0; g < n; g++) {
        if (!pick(&rows[g], ctx) || !usable(rows[g].median))
            continue;
        int first = 1;
        for (size_t j = 0; j < g && first; j++)
            first = !(pick(&rows[j], ctx) && usable(rows[j].median) &&
                      strcmp(rows[j].casename, rows[g].casename) == 0);
        if (!first)
            continue;
        y += 8;
        fprintf(f, "<text x=\"10\" y=\"%d\" " FONT " font-size=\"13\" font-weight=\"bold\">",
                y + 14);
        xml_text(f, rows[g].casename);
        fprintf(f, "</text>\n");
        y += GH;
        int idx = 0;
        for (size_t i = g; i < n; i++) {
            const struct bench_row *r = &rows[i];
            if (!pick(r, ctx) || !usable(r->median) || strcmp(r->casename, rows[g].casename) != 0)
                continue;
            int mp = strncmp(r->impl, "mproc", 5) == 0;
            const char *col = color_of(r->impl, idx++);
            double x1 = BX(r->median);
            fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"12\" text-anchor=\"end\"%s>",
                    L - 8, y + BAR - 4, mp ? " font-weight=\"bold\"" : "");
            xml_text(f, r->impl);
            fprintf(f,
                    "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                    "fill=\"%s\"/>\n",
                    L, y, x1 - L > 1 ? x1 - L : 1, BAR, col);
            if (usable(r->min) && usable(r->max))
                fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n",
                        BX(fmin(r->min, r->max)), y + BAR / 2, BX(fmax(r->min, r->max)),
                        y + BAR / 2);
            fmt_value(lbl, sizeof lbl, r->median);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" " FONT " font-size=\"11\">%s</text>\n",
                    fmax(x1, BX(usable(r->max) ? fmax(r->max, r->min) : r->median)) + 4,
                    y + BAR - 4, lbl);
            y += BAR + GAP;
        }
    }
#undef BX
    return close_chart(f, path) == 0 ? 1 : -1;
}

struct pick_ctx {
    const char *area, *unit;
};

static int pick_area_unit(const struct bench_row *r, const void *c)
{
    const struct pick_ctx *p = c;
    return strcmp(r->area, p->area) == 0 && strcmp(r->unit, p->unit) == 0;
}

/* A few words after the area's name in a bar chart's title. */
static const char *area_title(const char *area)
{
    if (strcmp(area, "pool") == 0)
        return ": overhead per task, mproc's Pool beside its peers";
    if (strcmp(area, "process") == 0)
        return ": starting and joining processes";
    if (strcmp(area, "sync") == 0)
        return ": locks, semaphores and hand-offs across processes";
    return "";
}

static int is_ipc(const char *area)
{
    return strcmp(area, "queue") == 0 || strcmp(area, "pipe") == 0;
}

int bench_plot_write(const char *dir, const struct bench_row *rows, size_t n)
{
    int written = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        int first = 1;
        for (size_t j = 0; j < i && first; j++)
            first = !(strcmp(rows[j].area, r->area) == 0 && strcmp(rows[j].unit, r->unit) == 0);
        if (!first)
            continue;
        char name[160], title[160];
        struct pick_ctx ctx = {r->area, r->unit};
        int rc = 0;
        if (is_ipc(r->area) && (strcmp(r->unit, "GB/s") == 0 || strcmp(r->unit, "Mmsg/s") == 0)) {
            /* one throughput chart per area, drawn at its first rate row */
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(rows[j].area, r->area) == 0 &&
                       (strcmp(rows[j].unit, "GB/s") == 0 || strcmp(rows[j].unit, "Mmsg/s") == 0);
            if (!seen)
                rc = throughput_chart(dir, r->area, rows, n);
            if (rc >= 0 && strcmp(r->unit, "Mmsg/s") == 0) {
                /* message rates (64 B rows, 2 x 2) also as bars */
                snprintf(name, sizeof name, "rate_%s.svg", r->area);
                snprintf(title, sizeof title, "%s: message rate", r->area);
                int k = bar_chart(dir, name, title, r->unit, rows, n, pick_area_unit, &ctx);
                rc = k < 0 ? -1 : rc + k;
            }
        } else if (is_ipc(r->area) && strcmp(r->unit, "us/op") == 0) {
            snprintf(name, sizeof name, "latency_%s.svg", r->area);
            snprintf(title, sizeof title, "%s: round-trip latency", r->area);
            rc = bar_chart(dir, name, title, r->unit, rows, n, pick_area_unit, &ctx);
        } else {
            snprintf(name, sizeof name, "%s_%s.svg", r->area, r->unit);
            snprintf(title, sizeof title, "%s%s", r->area, area_title(r->area));
            rc = bar_chart(dir, name, title, r->unit, rows, n, pick_area_unit, &ctx);
        }
        if (rc < 0)
            return -1;
        written += rc;
    }
    return written;
}
