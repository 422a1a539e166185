/* demo_pool.c - (to be written). */
#include "tool.h"

#include <stdio.h>

int demo_pool(void)
{
    printf("== demo_pool: not built yet\n");
    return 0;
}
