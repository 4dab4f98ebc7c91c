/* CUDA devices visible at run time, for `transmamba info` and device checks.
 * Definition: shared spec cli.md ("info: CUDA on/off and devices").
 *
 * Built from kernels/cuda/device.cu with CUDA, else kernels/cpu/device_none.c.
 * No driver or no GPU is not an error: it is 0 devices. */
#ifndef TM_KERNELS_DEVICE_H
#define TM_KERNELS_DEVICE_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices usable now (0 without CUDA, driver or GPU). */
int tm_cuda_device_count(void);

/* Name (truncated to cap), compute capability and memory of device i.
 * Fails with TM_ERANGE for a bad index, TM_EDEVICE if the query fails. */
tm_status tm_cuda_device_info(int i, char *name, size_t cap, int *major, int *minor,
                              size_t *mem_bytes);

#ifdef __cplusplus
}
#endif

#endif
