/* mproc.c - the command-line tool: demo, bench, ls, clean.
 *
 * It calls mproc_main() first, as every program that may use the spawn start
 * method or a pool must: in a process started by spawn that call runs the
 * requested entry point and never returns.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: mproc <command> [options]\n"
               "\n"
               "commands:\n"
               "  demo            run the seed's programs in C, side by side, timed\n"
               "  bench [--plot]  run the benchmarks (CSV on stdout; --plot writes SVG charts)\n"
               "  ls [--json]     list live named mproc objects in /dev/shm\n"
               "  clean [--dry-run]  remove named objects whose creator is dead\n"
               "  version         print the library version\n");
}

int main(int argc, char **argv)
{
    int rc = mproc_main(argc, argv);
    if (rc < 0) {
        fprintf(stderr, "mproc: %s\n", mproc_strerror(rc));
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "demo") == 0)
        return tool_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return tool_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "ls") == 0)
        return tool_ls(argc - 1, argv + 1);
    if (strcmp(cmd, "clean") == 0)
        return tool_clean(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0) {
        printf("mproc %s\n", mproc_version_string());
        return 0;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mproc: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
