/* cli.c - how every subcommand of the tool reads its arguments and reports
 * a usage error, in one place.
 *
 * The rules (tested in tests/test_tool.c):
 *   - `-h` / `--help` anywhere among the options prints the command's usage
 *     on stdout and ends the command with status 0 before it does anything;
 *   - an unknown option, a missing or unwanted option value, a bad value or
 *     an operand the command does not take ends it with status 2 and one
 *     line on stderr:
 *         mproc <cmd>: unknown option '--bogus' (try 'mproc <cmd> --help')
 *     ("mproc:" and 'mproc --help' for the tool's own options);
 *   - options come before operands (getopt_long with a leading '+'), and
 *     `--` ends the options.
 *
 * tool_getopt keeps the state of one parse (getopt's globals, the merged
 * option table): a call with another argv than the last one starts a new
 * parse, so the tool's own options and then a subcommand's can be read one
 * after the other.
 */
#include "tool.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_LONGOPTS 24

static struct {
    char **argv; /* the argv of the parse under way */
    const struct option *longopts;
    struct option merged[MAX_LONGOPTS + 2]; /* the command's options + help */
    char shortopts[64];
} g;

/* The prefix of every message about cmd: "mproc" or "mproc <cmd>". */
static void put_prefix(FILE *f, const struct tool_cmd *cmd)
{
    if (cmd && cmd->name)
        fprintf(f, "mproc %s: ", cmd->name);
    else
        fputs("mproc: ", f);
}

static void put_hint(FILE *f, const struct tool_cmd *cmd)
{
    if (cmd && cmd->name)
        fprintf(f, " (try 'mproc %s --help')\n", cmd->name);
    else
        fputs(" (try 'mproc --help')\n", f);
}

int tool_usage_error(const struct tool_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    put_prefix(stderr, cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    put_hint(stderr, cmd);
    return 2;
}

int tool_error(const struct tool_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout); /* the message comes after what the command printed */
    put_prefix(stderr, cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Starts a new parse of argv: getopt from the top, the command's long
 * options with --help appended, its short ones behind "+:" with 'h'. */
static int begin(char **argv, const char *shortopts, const struct option *longopts)
{
    size_t n = 0;
    while (longopts && longopts[n].name)
        n++;
    if (n > MAX_LONGOPTS || strlen(shortopts) + 4 > sizeof g.shortopts)
        return -1;
    if (n)
        memcpy(g.merged, longopts, n * sizeof *longopts);
    g.merged[n] = (struct option){"help", no_argument, NULL, 'h'};
    g.merged[n + 1] = (struct option){NULL, 0, NULL, 0};
    snprintf(g.shortopts, sizeof g.shortopts, "+:%sh", shortopts);
    g.argv = argv;
    g.longopts = longopts;
    optind = 0; /* glibc: a full restart, also of a half-read "-abc" */
    opterr = 0; /* the messages are ours, one line each */
    return 0;
}

/* The option as the user wrote it, without a value after '='. */
static void option_text(char *buf, size_t cap, const char *arg)
{
    size_t len = strcspn(arg, "=");
    snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), arg);
}

/* A long option given a value it does not take ("--list=x") comes back
 * from getopt_long as '?' with optopt set to the option's value. */
static bool takes_no_value(int opt, const char *arg)
{
    if (opt == 0 || strncmp(arg, "--", 2) != 0 || !strchr(arg, '='))
        return false;
    for (const struct option *o = g.merged; o->name; o++)
        if (o->val == opt && o->has_arg == no_argument && o->flag == NULL)
            return true;
    return false;
}

int tool_getopt(const struct tool_cmd *cmd, int argc, char **argv, const char *shortopts,
                const struct option *longopts)
{
    if ((argv != g.argv || longopts != g.longopts) && begin(argv, shortopts, longopts) < 0) {
        tool_error(cmd, "internal error: option table too large");
        return TOOL_OPT_FAIL;
    }
    int c = getopt_long(argc, argv, g.shortopts, g.merged, NULL);
    if (c == -1) {
        g.argv = NULL; /* the next call starts afresh */
        return TOOL_OPT_END;
    }
    if (c == 'h') {
        g.argv = NULL;
        cmd->usage(stdout);
        return TOOL_OPT_HELP;
    }
    if (c != '?' && c != ':')
        return c;
    /* argv[optind - 1] is the option's own text for a long option (unknown
     * ones come back with optopt 0) and for a missing value (always the
     * last argument); for an unknown short option in a group ("-xq") optind
     * still points at the group, so only optopt names it. */
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    bool is_long = strncmp(arg, "--", 2) == 0;
    char text[64];
    if ((c == ':' && is_long) || (c == '?' && (optopt == 0 || takes_no_value(optopt, arg))))
        option_text(text, sizeof text, arg);
    else
        snprintf(text, sizeof text, "-%c", optopt);
    if (c == ':')
        tool_usage_error(cmd, "option '%s' needs a value", text);
    else if (optopt != 0 && takes_no_value(optopt, arg))
        tool_usage_error(cmd, "option '%s' takes no value", text);
    else
        tool_usage_error(cmd, "unknown option '%s'", text);
    g.argv = NULL;
    return TOOL_OPT_FAIL;
}

int tool_operands(const struct tool_cmd *cmd, int argc, char **argv, int max)
{
    if (max >= 0 && argc - optind > max)
        return tool_usage_error(cmd, "unexpected argument '%s'", argv[optind + max]);
    return 0;
}

int tool_status(int opt)
{
    return opt == TOOL_OPT_HELP ? 0 : 2;
}

bool tool_parse_count(const char *s, long long min, long long max, long long *out)
{
    /* Digits only, with optional '_' or ',' between groups as in
     * "100_000_000": no sign, no exponent, no trailing junk. */
    long long v = 0;
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if ((*p == '_' || *p == ',') && digits && p[1] >= '0' && p[1] <= '9')
            continue;
        if (*p < '0' || *p > '9')
            return false;
        if (v > (max - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
        digits++;
    }
    if (!digits || v < min || v > max)
        return false;
    *out = v;
    return true;
}
