/* process.c - (being written) */
#include "internal.h"

MPROC_API int mproc_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
