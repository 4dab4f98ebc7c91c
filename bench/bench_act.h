/* Timings of the activation ops (tm_op_act and its backward) for
 * `transmamba bench kernels`. Definition: shared spec cli.md ("bench
 * kernels"); STYLE.md "Benchmarks".
 *
 * One row per activation and direction, over n floats (4M; 64K when quick):
 * GB/s of the bytes the op must touch (forward: in read, out written;
 * backward: dout, in and din read, din written). Baseline: the scalar libm
 * loop the kernels used before they were vectorized (expf, tanhf, log1pf,
 * erff per element; bench_act.c keeps a copy), same size, same threads,
 * timed alternately with the op; ratio = baseline ms / op ms (> 1: faster).
 * ReLU never called libm: its row is the control (ratio about 1). */
#ifndef TM_BENCH_ACT_H
#define TM_BENCH_ACT_H

#include "bench/bench_kernels.h"

/* A tm_bench_fn: appends its rows to out[*n] (at most cap in total). */
tm_status tm_bench_act(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap, int *n);

#endif
