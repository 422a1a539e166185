/* bench.c - `mproc bench` (to be written). */
#include "tool.h"

#include <stdio.h>

int tool_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mproc bench: not built yet\n");
    return 1;
}
