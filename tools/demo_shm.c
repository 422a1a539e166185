/* demo_shm.c - (to be written). */
#include "tool.h"

#include <stdio.h>

int demo_shm(void)
{
    printf("== demo_shm: not built yet\n");
    return 0;
}
