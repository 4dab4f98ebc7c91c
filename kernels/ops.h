/* The op interface: every tensor op of transmamba, on any device.
 * Definition: shared DESIGN.md principle 5; issue 3 ("Neural core: CPU ops
 * and layers with exact backward passes").
 *
 * Code above kernels/ includes this header and calls tm_op_* on tensors; it
 * never branches on the device. Each op checks that dtypes, shapes and
 * devices agree (the error names the op, the argument and the shapes), then
 * runs the CPU implementation (kernels/cpu/<stem>.c) or, for CUDA tensors,
 * the CUDA twin (kernels/cuda/<stem>.cu; until that exists, TM_ENOTIMPL).
 * Ops never allocate.
 *
 *   kernels/ctx.h       tm_ctx: device, threads, scratch
 *   kernels/ops_dense.h matmul, bias, activations, elementwise, softmax,
 *                       RMSNorm, LayerNorm, embedding, losses
 *   kernels/ops_seq.h   conv1d, rotary, attention, selective scan */
#ifndef TM_KERNELS_OPS_H
#define TM_KERNELS_OPS_H

#include "kernels/ctx.h"
#include "kernels/ops_dense.h"
#include "kernels/ops_seq.h"

#endif
