/* progress.c - mproc_pool_progress_bar, a ready-made progress function
 * for map calls that draws a bar on stderr when stderr is a terminal.
 *
 * State is one static timestamp: the bar is meant for the one map a tool
 * runs at a time; two maps drawing at once would only share the rate limit.
 */
#include "pool_internal.h"

#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define BAR_MIN_INTERVAL_NS 50000000ull

static _Atomic uint64_t last_draw_ns;

void mproc_pool_progress_bar(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    if (!isatty(STDERR_FILENO))
        return;
    bool last = total != 0 && done >= total;
    uint64_t now = mproc__now_ns();
    if (!last && now - atomic_load(&last_draw_ns) < BAR_MIN_INTERVAL_NS)
        return;
    atomic_store(&last_draw_ns, now);
    if (total == 0) {
        fprintf(stderr, "\r%llu done", (unsigned long long)done);
        return;
    }
    char bar[BAR_WIDTH + 1];
    uint64_t d = done > total ? total : done;
    int fill = (int)(d * BAR_WIDTH / total);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %llu/%llu%s", bar, (int)(d * 100 / total), (unsigned long long)d,
            (unsigned long long)total, last ? "\n" : "");
}
