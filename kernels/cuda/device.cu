/* CUDA device queries through the runtime API. See kernels/device.h. */
/* core/status.h has no extern "C" guard of its own; include it as C first
 * so that device.h's include of it finds the guard already set. */
extern "C" {
#include "core/status.h"
}
#include "kernels/device.h"

#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int tm_cuda_device_count(void) {
    int n = 0;
    /* Without a driver or GPU this fails (cudaErrorNoDevice,
     * cudaErrorInsufficientDriver); that is 0 devices, not an error. Clear
     * the sticky error so later CUDA calls do not report it. */
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" tm_status tm_cuda_device_info(int i, char *name, size_t cap, int *major, int *minor,
                                         size_t *mem_bytes) {
    int n = tm_cuda_device_count();
    if (i < 0 || i >= n)
        return tm_fail(TM_ERANGE, "cuda: device %d does not exist (%d devices)", i, n);
    cudaDeviceProp prop;
    cudaError_t err = cudaGetDeviceProperties(&prop, i);
    if (err != cudaSuccess)
        return tm_fail(TM_EDEVICE, "cuda: device %d: %s", i, cudaGetErrorString(err));
    if (name && cap) snprintf(name, cap, "%s", prop.name);
    if (major) *major = prop.major;
    if (minor) *minor = prop.minor;
    if (mem_bytes) *mem_bytes = prop.totalGlobalMem;
    return TM_OK;
}
