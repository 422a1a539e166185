/* demo_pipe.c - (to be written). */
#include "tool.h"

#include <stdio.h>

int demo_pipe(void)
{
    printf("== demo_pipe: not built yet\n");
    return 0;
}
