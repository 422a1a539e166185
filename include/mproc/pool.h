/* mproc/pool.h - (to be written). Included by <mproc.h>. */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
