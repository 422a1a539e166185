/* demo_queue.c - (to be written). */
#include "tool.h"

#include <stdio.h>

int demo_queue(void)
{
    printf("== demo_queue: not built yet\n");
    return 0;
}
