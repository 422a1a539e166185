/* mproc/sync.h - (to be written). Included by <mproc.h>. */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
