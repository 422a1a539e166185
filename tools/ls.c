/* ls.c - `mproc ls` and `mproc clean` (to be written). */
#include "tool.h"

#include <stdio.h>

int tool_ls(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mproc ls: not built yet\n");
    return 1;
}

int tool_clean(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mproc clean: not built yet\n");
    return 1;
}
