/* linux/sysmem.c - size checks before reserving shared memory (see
 * sysmem.h). The limits are read at each call: they are cheap (one
 * sysinfo, one statvfs) next to the fallocate they guard. The check is an
 * upper bound, not a promise: memory can still run out between the check
 * and the reservation, and then the reservation itself fails cleanly.
 */
#include "../internal.h"
#include "sysmem.h"

#include <sys/statvfs.h>
#include <sys/sysinfo.h>

int mproc__sysmem_check(size_t bytes, bool named)
{
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        unsigned long long unit = si.mem_unit ? si.mem_unit : 1;
        unsigned long long total =
            ((unsigned long long)si.totalram + (unsigned long long)si.totalswap) * unit;
        if ((unsigned long long)bytes > total)
            return MPROC_ENOMEM;
    }
    if (named) {
        struct statvfs vfs;
        if (statvfs(MPROC__SHM_DIR, &vfs) == 0 &&
            (unsigned long long)bytes > (unsigned long long)vfs.f_bavail * vfs.f_frsize)
            return MPROC_ENOSPC;
    }
    return 0;
}
