/* demo.c - `mproc demo`: the seed's programs, one after another. */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <time.h>

double demo_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The seed's loop: `while count < n: count += 1`. The empty asm with the
 * counter as an in/out operand makes the compiler keep every iteration, as
 * an interpreter would, without adding a memory access. */
long long demo_count_to(long long n)
{
    long long count = 0;
    while (count < n) {
        count += 1;
        __asm__ __volatile__("" : "+r"(count));
    }
    return count;
}

int tool_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int (*const programs[])(void) = {demo_count, demo_queue, demo_pipe, demo_shm, demo_pool};
    int failed = 0;
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        if (programs[i]() != 0)
            failed++;
        printf("\n");
        fflush(stdout);
    }
    return failed ? 1 : 0;
}
