/* mproc/shm.h - (to be written). Included by <mproc.h>. */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
