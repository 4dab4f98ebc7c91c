/* `transmamba bench kernels`: op timings against baselines measured in the
 * same run. Definition: bench_kernels.h; shared spec cli.md.
 *
 * matmul: tm_op_matmul (dispatch, checks, then OpenBLAS) against
 * cblas_sgemm called directly at the same size and layout: the ratio shows
 * what the op layer costs (about 1 expected). limit_fraction is measured
 * against the best sgemm rate of the run (a large square problem, or a
 * baseline that beat it), the machine's practical compute ceiling (a
 * datasheet peak is unknowable here). */
#include "bench/bench_kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "kernels/ops.h"

#include "bench/bench_act.h"
#include "bench/bench_memory.h"
#include "bench/bench_seq.h"

#define MAX_RESULTS 64
#define MAX_REPEATS 10000

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double tm_bench_time_ms(const tm_bench_opts *o, void (*fn)(void *arg), void *arg) {
    double ms;
    tm_bench_compare_ms(o, fn, arg, NULL, NULL, &ms, NULL);
    return ms;
}

void tm_bench_compare_ms(const tm_bench_opts *o, void (*fn)(void *arg), void *arg,
                         void (*base)(void *arg), void *base_arg, double *ms, double *base_ms) {
    static double times[MAX_REPEATS], base_times[MAX_REPEATS];
    fn(arg); /* warm-up: page faults, BLAS thread start */
    if (base) base(base_arg);
    double start = now_seconds(), t = start;
    int n = 0;
    while (n < MAX_REPEATS && (n < 3 || t - start < o->min_seconds)) {
        double t0 = now_seconds();
        fn(arg);
        double t1 = now_seconds();
        times[n] = t1 - t0;
        if (base) {
            base(base_arg);
            base_times[n] = now_seconds() - t1;
        }
        t = now_seconds();
        n++;
    }
    qsort(times, (size_t)n, sizeof times[0], cmp_double);
    *ms = 1e3 * times[n / 2];
    if (base) {
        qsort(base_times, (size_t)n, sizeof base_times[0], cmp_double);
        *base_ms = 1e3 * base_times[n / 2];
    }
}

/* ---- ceilings ------------------------------------------------------------------ */

typedef struct {
    int batch, M, N, K, ta, tb;
    const float *a, *b;
    float *c;
} sgemm_args;

/* batch products, one cblas_sgemm call each (what a caller without the op
 * layer would write). */
static void run_sgemm(void *p) {
    const sgemm_args *s = p;
    for (int i = 0; i < s->batch; i++)
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f,
                    s->a + (size_t)i * s->M * s->K, s->ta ? s->M : s->K,
                    s->b + (size_t)i * s->K * s->N, s->tb ? s->K : s->N, 0.0f,
                    s->c + (size_t)i * s->M * s->N, s->N);
}

static float *random_floats(size_t n, uint64_t seed) {
    float *p = malloc(n * sizeof(float));
    if (!p) return NULL;
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    tm_rng_fill_uniform(&r, p, (long)n, -1.0f, 1.0f);
    return p;
}

double tm_bench_cpu_gflops_ceiling(const tm_bench_opts *o) {
    static double cached = 0.0;
    if (cached > 0.0) return cached;
    int n = o->quick ? 256 : 1536;
    float *a = random_floats((size_t)n * n, 1), *b = random_floats((size_t)n * n, 2),
          *c = calloc((size_t)n * n, sizeof(float));
    if (a && b && c) {
        sgemm_args s = {1, n, n, n, 0, 0, a, b, c};
        double ms = tm_bench_time_ms(o, run_sgemm, &s);
        cached = 2.0 * n * n * (double)n / (ms * 1e-3) / 1e9;
    }
    free(a);
    free(b);
    free(c);
    return cached;
}

typedef struct {
    float *dst;
    const float *src;
    size_t n;
} copy_args;

static void run_copy(void *p) {
    const copy_args *c = p;
    memcpy(c->dst, c->src, c->n * sizeof(float));
}

double tm_bench_cpu_gbps_ceiling(const tm_bench_opts *o) {
    static double cached = 0.0;
    if (cached > 0.0) return cached;
    size_t n = o->quick ? (size_t)1 << 20 : (size_t)1 << 25; /* 4 MB / 128 MB: past the caches */
    float *src = random_floats(n, 3), *dst = calloc(n, sizeof(float));
    if (src && dst) {
        copy_args c = {dst, src, n};
        double ms = tm_bench_time_ms(o, run_copy, &c);
        cached = 2.0 * (double)n * sizeof(float) / (ms * 1e-3) / 1e9;
    }
    free(src);
    free(dst);
    return cached;
}

/* ---- matmul ------------------------------------------------------------------------ */

typedef struct {
    tm_ctx *ctx;
    tm_tensor out, a, b;
    int ta, tb;
    tm_status st;
} op_args;

static void run_op_matmul(void *p) {
    op_args *m = p;
    tm_status st = tm_op_matmul(m->ctx, &m->out, &m->a, &m->b, m->ta, m->tb, 1.0f, 0.0f);
    if (st != TM_OK) m->st = st;
}

typedef struct {
    int batch, M, N, K, ta, tb;
} mm_case;

static tm_status bench_one_matmul(tm_ctx *ctx, const tm_bench_opts *o, const mm_case *mc,
                                  double *ceiling, tm_bench_result *res) {
    int Bt = mc->batch, M = mc->M, N = mc->N, K = mc->K;
    size_t na = (size_t)Bt * M * K, nb = (size_t)Bt * K * N, nc = (size_t)Bt * M * N;
    float *a = random_floats(na, 10), *b = random_floats(nb, 11), *c = calloc(nc, sizeof(float));
    tm_status st = TM_OK;
    if (!a || !b || !c) {
        st = tm_fail(TM_ENOMEM, "bench kernels: matmul %dx%dx%d: out of memory", M, N, K);
        goto done;
    }
    op_args m = {.ctx = ctx, .ta = mc->ta, .tb = mc->tb, .st = TM_OK};
    int64_t sa[3] = {Bt, mc->ta ? K : M, mc->ta ? M : K}, sb[3] = {Bt, mc->tb ? N : K, mc->tb ? K : N},
            sc[3] = {Bt, M, N};
    int off = Bt > 1 ? 0 : 1, nd = Bt > 1 ? 3 : 2;
    if ((st = tm_tensor_wrap(&m.a, a, TM_F32, TM_CPU, nd, sa + off)) != TM_OK) goto done;
    if ((st = tm_tensor_wrap(&m.b, b, TM_F32, TM_CPU, nd, sb + off)) != TM_OK) goto done;
    if ((st = tm_tensor_wrap(&m.out, c, TM_F32, TM_CPU, nd, sc + off)) != TM_OK) goto done;
    /* Baseline: the same products straight through cblas_sgemm, timed
     * alternately with the op so load from other processes hits both. */
    sgemm_args s = {Bt, M, N, K, mc->ta, mc->tb, a, b, c};
    double ms, base_ms;
    tm_ctx_cpu_enter(ctx);
    tm_bench_compare_ms(o, run_op_matmul, &m, run_sgemm, &s, &ms, &base_ms);
    if (m.st != TM_OK) {
        st = m.st;
        goto done;
    }
    double flops = 2.0 * Bt * (double)M * N * K;
    memset(res, 0, sizeof *res);
    snprintf(res->op, sizeof res->op, "matmul");
    snprintf(res->device, sizeof res->device, "cpu");
    int len = Bt > 1 ? snprintf(res->shape, sizeof res->shape, "batch=%d ", Bt) : 0;
    snprintf(res->shape + len, sizeof res->shape - (size_t)len, "M=%d N=%d K=%d%s%s", M, N, K,
             mc->ta ? " A^T" : "", mc->tb ? " B^T" : "");
    res->ms = ms;
    res->achieved = flops / (ms * 1e-3) / 1e9;
    res->unit = "GFLOP/s";
    /* The ceiling is the best sgemm rate seen so far in the run (a baseline
     * may beat the square-problem measurement when load changed). */
    double base_rate = flops / (base_ms * 1e-3) / 1e9;
    if (base_rate > *ceiling) *ceiling = base_rate;
    res->limit_fraction = *ceiling > 0 ? res->achieved / *ceiling : 0.0;
    snprintf(res->baseline, sizeof res->baseline, "cblas_sgemm");
    res->baseline_ms = base_ms;
    res->ratio = ms > 0 ? base_ms / ms : 0.0;
done:
    free(a);
    free(b);
    free(c);
    return st;
}

static tm_status bench_matmul(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap,
                              int *n) {
    /* Square; a linear layer's forward (x [B*T, d] @ W^T) and its weight
     * gradient (dout^T x); many small per-head products. */
    static const mm_case full[] = {
        {1, 1024, 1024, 1024, 0, 0},
        {1, 4096, 1024, 256, 0, 1},
        {1, 1024, 256, 4096, 1, 0},
        {64, 64, 64, 64, 0, 1},
    };
    static const mm_case quick[] = {
        {1, 128, 128, 128, 0, 0},
        {1, 256, 64, 32, 0, 1},
        {8, 16, 16, 16, 0, 1},
    };
    const mm_case *cases = o->quick ? quick : full;
    int count = o->quick ? (int)(sizeof quick / sizeof quick[0]) : (int)(sizeof full / sizeof full[0]);
    double ceiling = tm_bench_cpu_gflops_ceiling(o);
    for (int i = 0; i < count && *n < cap; i++) {
        TM_TRY(bench_one_matmul(ctx, o, &cases[i], &ceiling, &out[*n]));
        (*n)++;
    }
    return TM_OK;
}

/* ---- attention and scan (bench/bench_seq.c), in this table's row format ---- */

static tm_status bench_seq(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap,
                           int *n) {
    enum { MAX_SEQ = 16 };
    tm_bench_seq_result r[MAX_SEQ];
    int m = 0;
    TM_TRY(tm_bench_seq_all(ctx, o->quick, r, MAX_SEQ, &m));
    double gflops = tm_bench_cpu_gflops_ceiling(o), gbps = tm_bench_cpu_gbps_ceiling(o);
    for (int i = 0; i < m && *n < cap; i++) {
        tm_bench_result *res = &out[(*n)++];
        memset(res, 0, sizeof *res);
        snprintf(res->op, sizeof res->op, "%.31s", r[i].op);
        snprintf(res->device, sizeof res->device, "%s", tm_device_name(ctx->device));
        snprintf(res->shape, sizeof res->shape, "%.95s", r[i].shape);
        res->ms = r[i].ms;
        res->achieved = r[i].achieved;
        res->unit = r[i].unit;
        double ceiling = strcmp(r[i].unit, "GB/s") == 0 ? gbps : gflops;
        res->limit_fraction = ceiling > 0 ? r[i].achieved / ceiling : 0.0;
        snprintf(res->baseline, sizeof res->baseline, "%.47s", r[i].baseline);
        res->baseline_ms = r[i].baseline_ms;
        res->ratio = r[i].ratio;
    }
    return TM_OK;
}

/* The registration point: one row per bench. */
static const tm_bench_entry benches[] = {
    {"matmul", bench_matmul},
    {"attention and scan", bench_seq},
    {"activations", tm_bench_act},
    {"memory", tm_bench_memory},
};

/* ---- the subcommand --------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: transmamba bench kernels [--device cpu|cuda] [--threads T] [--quick] [--json]\n"
            "Op timings (GFLOP/s, GB/s) against baselines measured in the same run:\n"
            "matmul against cblas_sgemm at the same size, and the ratio.\n"
            "  --device D   cpu (default) or cuda\n"
            "  --threads T  threads for OpenMP and OpenBLAS (default: OpenMP's)\n"
            "  --quick      small sizes, short timings (smoke runs)\n"
            "  --json       end stdout with one JSON line of the results\n");
}

static void print_json(const tm_bench_result *r, int n) {
    printf("{\"results\":[");
    for (int i = 0; i < n; i++)
        printf("%s{\"op\":\"%s\",\"device\":\"%s\",\"shape\":\"%s\",\"ms\":%.6g,\"achieved\":%.6g,"
               "\"unit\":\"%s\",\"limit_fraction\":%.4g,\"baseline\":\"%s\",\"baseline_ms\":%.6g,"
               "\"ratio\":%.4g}",
               i ? "," : "", r[i].op, r[i].device, r[i].shape, r[i].ms, r[i].achieved, r[i].unit,
               r[i].limit_fraction, r[i].baseline, r[i].baseline_ms, r[i].ratio);
    printf("]}\n");
}

int tm_bench_kernels_main(int argc, char **argv) {
    const char *device = "cpu";
    long threads = 0;
    int json = 0;
    tm_bench_opts o = {0, 0.3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "transmamba bench kernels: unexpected argument '%s'\n", a);
            return 2;
        }
        const char *eq = strchr(a, '=');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - a - 2 : (long)strlen(a) - 2), a + 2);
        int flag = !strcmp(name, "help") || !strcmp(name, "json") || !strcmp(name, "quick");
        const char *value = eq ? eq + 1 : NULL;
        if (!flag && !value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "transmamba bench kernels: --%s needs a value\n", name);
                return 2;
            }
            value = argv[++i];
        }
        if (flag && value) {
            fprintf(stderr, "transmamba bench kernels: --%s takes no value\n", name);
            return 2;
        }
        if (!strcmp(name, "help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(name, "json")) {
            json = 1;
        } else if (!strcmp(name, "quick")) {
            o.quick = 1;
            o.min_seconds = 0.02;
        } else if (!strcmp(name, "device")) {
            device = value;
        } else if (!strcmp(name, "threads")) {
            char *end;
            threads = strtol(value, &end, 10);
            if (*end || threads < 1 || threads > 1024) {
                fprintf(stderr, "transmamba bench kernels: --threads must be an integer in [1, 1024] "
                                "(got '%s')\n", value);
                return 2;
            }
        } else {
            fprintf(stderr, "transmamba bench kernels: unknown option '--%s' (options: --device, "
                            "--threads, --quick, --json, --help)\n", name);
            return 2;
        }
    }
    tm_device dev;
    if (!strcmp(device, "cpu")) {
        dev = TM_CPU;
    } else if (!strcmp(device, "cuda")) {
        dev = TM_CUDA;
    } else {
        fprintf(stderr, "transmamba bench kernels: --device must be cpu or cuda (got '%s')\n", device);
        return 2;
    }
    tm_ctx ctx;
    if (tm_ctx_init(&ctx, dev, (int)threads) != TM_OK) {
        fprintf(stderr, "transmamba bench kernels: %s\n", tm_last_error());
        return 2;
    }
    static tm_bench_result res[MAX_RESULTS];
    int n = 0, failed = 0;
    printf("%-18s %-6s %-40s %10s %10s %-8s %6s %-12s %10s %6s\n", "op", "device", "shape", "ms",
           "achieved", "unit", "limit", "baseline", "base ms", "ratio");
    for (size_t b = 0; b < sizeof benches / sizeof benches[0]; b++) {
        int first = n;
        if (benches[b].fn(&ctx, &o, res, MAX_RESULTS, &n) != TM_OK) {
            fprintf(stderr, "transmamba bench kernels: %s: %s\n", benches[b].name, tm_last_error());
            failed = 1;
        }
        for (int i = first; i < n; i++)
            printf("%-18s %-6s %-40s %10.4f %10.2f %-8s %6.3f %-12s %10.4f %6.3f\n", res[i].op,
                   res[i].device, res[i].shape, res[i].ms, res[i].achieved, res[i].unit,
                   res[i].limit_fraction, res[i].baseline, res[i].baseline_ms, res[i].ratio);
        fflush(stdout);
    }
    if (json) print_json(res, n);
    tm_ctx_free(&ctx);
    return failed ? 1 : 0;
}
