/* mproc/pipe.h - (to be written). Included by <mproc.h>. */
#ifndef MPROC_PIPE_H
#define MPROC_PIPE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
