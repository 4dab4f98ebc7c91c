/* `transmamba bench kernels`: op-level timings with their baselines.
 * Definition: shared spec cli.md ("bench kernels" and its --json contract
 * {"results":[{"op","device","shape","ms","achieved","unit",
 * "limit_fraction","baseline","baseline_ms","ratio"}]}); STYLE.md
 * "Benchmarks" (every figure with a baseline measured in the same run).
 *
 * Registration: each bench is a row {name, fn} of the table `benches` in
 * bench_kernels.c. Dense ops (matmul) are timed there; the sequence ops
 * (attention, scan) come from bench/bench_seq.h (tm_bench_seq_all), whose
 * rows an adapter there converts to tm_bench_result. */
#ifndef TM_BENCH_KERNELS_H
#define TM_BENCH_KERNELS_H

#include "core/status.h"
#include "kernels/ctx.h"

/* One result row (one line of the table, one object of the JSON). */
typedef struct {
    char op[32];          /* "matmul" */
    char device[8];       /* "cpu" */
    char shape[96];       /* "M=1024 N=1024 K=1024" */
    double ms;            /* median time of one call */
    double achieved;      /* in unit */
    const char *unit;     /* "GFLOP/s" or "GB/s" */
    double limit_fraction; /* achieved / the ceiling measured in this run */
    char baseline[48];    /* "cblas_sgemm" */
    double baseline_ms;
    double ratio;         /* > 1: faster than the baseline (matmul: baseline_ms / ms;
                           * attention, scan: achieved / baseline's achieved) */
} tm_bench_result;

typedef struct {
    int quick;   /* small sizes and few repeats (tests, smoke runs) */
    double min_seconds; /* each timing runs at least this long */
} tm_bench_opts;

/* Appends its rows to out[*n] (at most cap in total). */
typedef tm_status (*tm_bench_fn)(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out,
                                 int cap, int *n);
typedef struct {
    const char *name;
    tm_bench_fn fn;
} tm_bench_entry;

/* Median milliseconds of fn(arg) over enough repeats to last
 * o->min_seconds (after one warm-up call). */
double tm_bench_time_ms(const tm_bench_opts *o, void (*fn)(void *arg), void *arg);
/* The same for fn and a baseline, called alternately (fn, base, fn, ...)
 * so that load from other processes affects both alike. */
void tm_bench_compare_ms(const tm_bench_opts *o, void (*fn)(void *arg), void *arg,
                         void (*base)(void *arg), void *base_arg, double *ms, double *base_ms);
/* Ceilings measured once per process on the CPU, for limit_fraction:
 * compute = the best cblas_sgemm rate at a large square size (GFLOP/s),
 * memory = a large memcpy's rate (GB/s, bytes read + written). */
double tm_bench_cpu_gflops_ceiling(const tm_bench_opts *o);
double tm_bench_cpu_gbps_ceiling(const tm_bench_opts *o);

/* The subcommand. argv[0] is the command's name (ignored); options:
 *   --device cpu|cuda  --threads T  --quick  --json  --help
 * Returns the exit status (0 ok, 1 a bench failed, 2 bad usage; cuda: 2
 * with "not built yet" until the CUDA ops exist). */
int tm_bench_kernels_main(int argc, char **argv);

#endif
