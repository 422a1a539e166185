/* demo_count.c - (to be written). */
#include "tool.h"

#include <stdio.h>

int demo_count(void)
{
    printf("== demo_count: not built yet\n");
    return 0;
}
