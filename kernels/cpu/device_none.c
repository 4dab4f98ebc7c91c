/* CUDA device queries in a build without CUDA: there are none.
 * See kernels/device.h; the CUDA build uses kernels/cuda/device.cu instead. */
#include "kernels/device.h"

#ifndef TM_HAVE_CUDA

int tm_cuda_device_count(void) { return 0; }

tm_status tm_cuda_device_info(int i, char *name, size_t cap, int *major, int *minor,
                              size_t *mem_bytes) {
    (void)name, (void)cap, (void)major, (void)minor, (void)mem_bytes;
    return tm_fail(TM_ERANGE, "cuda: device %d does not exist (built without CUDA)", i);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tm_device_none_unused;
#endif
