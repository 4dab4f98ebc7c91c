/* Timings of the memory modules (DualTierMiras read forward, read backward
 * and ring write; LongMemKVCache retrieve + read) for `transmamba bench
 * kernels`, in its row format (bench/bench_kernels.h). Definition: shared
 * spec cli.md ("bench kernels"), STYLE.md "Benchmarks".
 *
 * Size (full run): B 32 streams, d 64, M 64 slots per tier, both tiers full
 * (the default config: H 1, query projection, confidence, context gate);
 * kv cache: capacity 4096 full, dk = dv = 64, top_k 8. Quick runs shrink it.
 *
 * achieved is GB/s of the slot contents the op must read at least once
 * (miras: keys and values of both tiers, B*2*2*M*s floats; kv cache: the
 * B*C*dk keys), limit_fraction against the run's memcpy rate (measured on
 * 128 MB, out of cache: the miras slots, 2 MB, stay in cache between calls,
 * so its fraction can pass 1).
 *
 * Baselines (each timed alternately with the op, same threads):
 *   miras read and write: "sgemv floor": per stream and tier, cblas_sgemv of
 *     the keys [M,s] by q (the slot scores' dot products) and of the values^T
 *     by a weight vector (the weighted sum), plus q = key W_q^T + b_q as one
 *     cblas_sgemm over the B streams: the dense products every read must do,
 *     at BLAS speed, without norms, softmax or the heads. A write's cost is
 *     its surprise (one read) plus the store, so it is held to the same floor.
 *   miras read backward: the backward's dense floor: per stream and tier,
 *     cblas_sgemv of the values by dr (dw_j = dr . V_j) and of the keys^T by
 *     the score gradients (dq), plus dW_q += dq^T key and dkey = dq W_q as two
 *     cblas_sgemm over the B streams.
 *   kv retrieve + read: per stream, cblas_sgemv of the keys [C,dk] by the
 *     query (the dot products of the cosine scores, without norms or top-k).
 * ratio = base_ms / ms: 1 means as fast as the dense floor; below 1, the
 * share of the time the floor would take. */
#ifndef TM_BENCH_MEMORY_H
#define TM_BENCH_MEMORY_H

#include "bench/bench_kernels.h"

/* Appends the memory rows to out[*n] (at most cap in total). */
tm_status tm_bench_memory(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap,
                          int *n);

#endif
