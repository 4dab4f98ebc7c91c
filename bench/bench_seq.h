/* Timings of the sequence ops (attention, selective scan) for
 * `transmamba bench kernels`. Definition: shared spec cli.md ("bench
 * kernels": op-level timings, achieved GB/s or FLOP/s, a baseline measured
 * in the same run and the ratio); issue 3 (OpenBLAS's sgemm at the same
 * size is the attention baseline).
 *
 * Each function allocates its buffers (a bench is setup, not a step loop),
 * runs one warm-up call and then `repeat` timed calls, and reports the best
 * time per call (the least disturbed by other processes on the machine).
 *   attention: GFLOP/s counting only the (query, key) pairs the causal window
 *     lets through (4 dh flops per pair forward, 10 backward: QK^T and PV, and
 *     for backward the recomputed scores plus dQ, dK, dV and dP); baseline:
 *     cblas_sgemm doing the dense per-head products QK^T [T,T] and PV [T,dh]
 *     of the same sizes, in GFLOP/s; ratio = ours / sgemm.
 *   scan: GB/s of the bytes the op must touch once (x, dt, B, C, A, D, h0
 *     read; y, hT written); baseline: a parallel triad y = x + s*dt over
 *     [B,T,D] on the same threads (what streaming memory allows); ratio =
 *     ours / triad.
 *   attention and scan paths (CPU only): the same op through the path the
 *     CPU picks (AVX2 where it runs) against the baseline x86-64 path
 *     (kernels/cpu/cpu_path.h), alternating call by call; rates as above;
 *     ratio = picked / baseline, the speed-up of the wider vectors. */
#ifndef TM_BENCH_SEQ_H
#define TM_BENCH_SEQ_H

#include "core/status.h"
#include "kernels/ctx.h"

typedef struct {
    char op[32];          /* "attention", "attention_backward", "scan", "scan_backward",
                             "attn_avx2", "attn_bwd_avx2", "scan_avx2", "scan_bwd_avx2" */
    char shape[96];       /* "B=4 T=256 Hq=8 Hkv=2 dh=64 W=128" */
    double ms;            /* best time per call */
    double achieved;      /* in unit */
    const char *unit;     /* "GFLOP/s" or "GB/s" */
    const char *baseline; /* "sgemm", "triad" or "x86-64 path" */
    double baseline_ms;
    double baseline_achieved; /* in unit */
    double ratio;         /* achieved / baseline_achieved */
} tm_bench_seq_result;

/* Causal attention [B,T,Hq,dh] with Hkv kv heads and window W (0 =
 * unlimited); backward != 0 times the backward pass instead. */
tm_status tm_bench_attention(tm_ctx *ctx, int B, int T, int Hq, int Hkv, int dh, int window,
                             int backward, int repeat, tm_bench_seq_result *out);

/* Selective scan x [B,T,D], state N; backward != 0 times the backward. */
tm_status tm_bench_scan(tm_ctx *ctx, int B, int T, int D, int N, int backward, int repeat,
                        tm_bench_seq_result *out);

/* The CPU attention (no cache) through the picked path against the baseline
 * path; backward != 0 times the backward. */
tm_status tm_bench_attention_paths(tm_ctx *ctx, int B, int T, int Hq, int Hkv, int dh, int window,
                                   int backward, int repeat, tm_bench_seq_result *out);

/* The CPU scan x [B,T,D], state N, through the picked path against the
 * baseline path; backward != 0 times the backward. */
tm_status tm_bench_scan_paths(tm_ctx *ctx, int B, int T, int D, int N, int backward, int repeat,
                              tm_bench_seq_result *out);

/* The standard rows (attention and scan, forward and backward, at shapes of
 * a small controller; smaller ones when quick != 0) into out[0..cap);
 * *n gets the number written. */
tm_status tm_bench_seq_all(tm_ctx *ctx, int quick, tm_bench_seq_result *out, int cap, int *n);

#endif
