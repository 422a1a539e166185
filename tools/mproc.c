/* mproc.c - the command-line tool: demo, bench, ls, clean, version, help.
 *
 * It calls mproc_main() first, as every program that may use the spawn start
 * method or a pool must: in a process started by spawn that call runs the
 * requested entry point and never returns.
 *
 * Every command reads its arguments with tool_getopt() (tools/cli.c), so
 * --help, usage errors and their exit statuses are alike everywhere.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <string.h>

static void top_usage(FILE *f);
static void version_usage(FILE *f);
static void help_usage(FILE *f);
static int run_version(int argc, char **argv);
static int run_help(int argc, char **argv);

static const struct tool_cmd cmd_top = {NULL, NULL, top_usage, NULL};
static const struct tool_cmd cmd_version = {"version", "print the version of mproc", version_usage,
                                            run_version};
static const struct tool_cmd cmd_help = {"help", "print the help of a command", help_usage,
                                         run_help};

static const struct tool_cmd *const commands[] = {
    &tool_cmd_demo, &tool_cmd_bench, &tool_cmd_ls, &tool_cmd_clean, &cmd_version, &cmd_help,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct tool_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void top_usage(FILE *f)
{
    fputs("usage: mproc <command> [options]\n"
          "       mproc --version\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n"
          "`mproc <command> --help` or `mproc help <command>` tells more.\n"
          "exit status: 0 ok, 1 error, 2 usage\n",
          f);
}

static void version_usage(FILE *f)
{
    fputs("usage: mproc version\n"
          "       mproc --version\n"
          "\n"
          "Print the version of the mproc library the tool runs with.\n",
          f);
}

static void help_usage(FILE *f)
{
    fputs("usage: mproc help [COMMAND]\n"
          "\n"
          "Print the help of COMMAND (the same as `mproc COMMAND --help`), or\n"
          "without one the list of commands.\n",
          f);
}

static int print_version(void)
{
    printf("mproc %s\n", mproc_version_string());
    return fflush(stdout) == 0 ? 0 : 1;
}

static int run_version(int argc, char **argv)
{
    int c = tool_getopt(&cmd_version, argc, argv, "", NULL);
    if (c != TOOL_OPT_END)
        return tool_status(c);
    int rc = tool_operands(&cmd_version, argc, argv, 0);
    return rc ? rc : print_version();
}

static int run_help(int argc, char **argv)
{
    int c = tool_getopt(&cmd_help, argc, argv, "", NULL);
    if (c != TOOL_OPT_END)
        return tool_status(c);
    int rc = tool_operands(&cmd_help, argc, argv, 1);
    if (rc)
        return rc;
    if (optind == argc) {
        top_usage(stdout);
        return 0;
    }
    const struct tool_cmd *cmd = find_command(argv[optind]);
    if (!cmd)
        return tool_usage_error(NULL, "unknown command '%s'", argv[optind]);
    cmd->usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = mproc_main(argc, argv);
    if (rc < 0) {
        fprintf(stderr, "mproc: %s\n", mproc_strerror(rc));
        return 1;
    }
    static const struct option opts[] = {{"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = tool_getopt(&cmd_top, argc, argv, "", opts)) > 0)
        if (c == 'V')
            return print_version();
    if (c != TOOL_OPT_END)
        return tool_status(c);
    if (optind >= argc) {
        top_usage(stderr);
        return 2;
    }
    const struct tool_cmd *cmd = find_command(argv[optind]);
    if (!cmd)
        return tool_usage_error(NULL, "unknown command '%s'", argv[optind]);
    return cmd->run(argc - optind, argv + optind);
}
