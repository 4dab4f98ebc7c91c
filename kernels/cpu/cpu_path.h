/* The compiled code paths of the CPU kernels that are built twice: for the
 * baseline x86-64 (SSE2, 4 floats a vector) the project targets, and for
 * AVX2 (8 floats), picked per call by what the CPU runs. Definition: here;
 * used by kernels/cpu/scan.c and kernels/cpu/attention.c. Each such kernel
 * gives bit-identical results on every path (fixed sum orders, the same IEEE
 * operations per element, no FMA: it is not in the "avx2" target and ISO C
 * mode does not contract a*b + c); its _on entry points take the path so
 * tests can run each and compare them. */
#ifndef TM_CPU_PATH_H
#define TM_CPU_PATH_H

/* AUTO is the widest path the CPU runs; an unavailable path runs as BASELINE. */
typedef enum { TM_CPU_PATH_AUTO, TM_CPU_PATH_BASELINE, TM_CPU_PATH_AVX2 } tm_cpu_path;

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TM_CPU_HAVE_AVX2_PATH 1
/* The attribute of the AVX2 copy of a kernel. */
#define TM_CPU_AVX2_TARGET __attribute__((target("avx2")))
/* A kernel body written once and inlined into each path's copy (inlining a
 * baseline function into an AVX2 one is allowed; the loops then vectorize at
 * the copy's width). */
#define TM_CPU_PATH_BODY static inline __attribute__((always_inline))
#else
#define TM_CPU_HAVE_AVX2_PATH 0
#define TM_CPU_PATH_BODY static inline
#endif

/* 1 if this build and CPU run the path. */
static inline int tm_cpu_path_available(tm_cpu_path path) {
    if (path != TM_CPU_PATH_AVX2) return path == TM_CPU_PATH_AUTO || path == TM_CPU_PATH_BASELINE;
#if TM_CPU_HAVE_AVX2_PATH
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

/* Whether a call asked for `path` runs the AVX2 copy. */
static inline int tm_cpu_path_avx2(tm_cpu_path path) {
    return path != TM_CPU_PATH_BASELINE && tm_cpu_path_available(TM_CPU_PATH_AVX2);
}

#endif
