/* tool.h - the subcommands of the mproc command-line tool. */
#ifndef MPROC_TOOL_H
#define MPROC_TOOL_H

#include <stdbool.h>

int tool_demo(int argc, char **argv);
int tool_bench(int argc, char **argv);
int tool_ls(int argc, char **argv);
int tool_clean(int argc, char **argv);

/* The demo's programs, one file each (tools/demo_*.c). Each prints its own
 * lines and returns 0 on success. */
int demo_count(void); /* the seed's program 1: counting, 1 vs 2 processes vs 2 threads */
int demo_queue(void); /* the seed's program 2a: [42, None, 'hello'] through a Queue */
int demo_pipe(void);  /* the seed's program 2b: the same through a Pipe */
int demo_shm(void);   /* the seed's program 3: shared block + semaphore */
int demo_pool(void);  /* the count through the Pool */

/* Shared by the demos: the honest counting loop (the compiler must not fold
 * it away) and a formatter for elapsed time. */
long long demo_count_to(long long n);
double demo_seconds(void);

#endif
