/* The checks of `transmamba sanity`. Definition: shared spec cli.md
 * ("sanity: ... prints a line per check; exit 1 if any fails").
 *
 * A check is a real, small computation that could fail: it returns 1 (ok)
 * or 0 and writes a one-line detail (the figures it measured, or what went
 * wrong). The registry is the table in cli/cmd_sanity.c: a new check is a
 * function declared here and one row there. */
#ifndef TM_CLI_SANITY_H
#define TM_CLI_SANITY_H

#include <stddef.h>

typedef int (*tm_sanity_fn)(char *detail, size_t cap);

typedef struct {
    const char *name; /* "module.property", e.g. "rng.uniform_moments" */
    tm_sanity_fn run;
} tm_sanity_check;

/* The registry (cli/cmd_sanity.c). */
const tm_sanity_check *tm_sanity_checks(int *n);

/* Build-level checks (cli/sanity_checks.c). */
int tm_sanity_rng_uniform_moments(char *detail, size_t cap);
int tm_sanity_rng_normal_moments(char *detail, size_t cap);
int tm_sanity_config_round_trip(char *detail, size_t cap);
int tm_sanity_blas_sgemm(char *detail, size_t cap);
int tm_sanity_mujoco_step(char *detail, size_t cap);
int tm_sanity_zmq_inproc_pair(char *detail, size_t cap);
int tm_sanity_adamw_quadratic(char *detail, size_t cap);
int tm_sanity_ckpt_round_trip(char *detail, size_t cap);

/* Model-level checks (cli/sanity_models.c): per controller kind, and the
 * memory modules. */
#define TM_SANITY_CONTROLLER_DECLS(name)                          \
    int tm_sanity_##name##_step_forward(char *detail, size_t cap); \
    int tm_sanity_##name##_gradient(char *detail, size_t cap);     \
    int tm_sanity_##name##_training(char *detail, size_t cap);     \
    int tm_sanity_##name##_state_bytes(char *detail, size_t cap);
TM_SANITY_CONTROLLER_DECLS(transformer)
TM_SANITY_CONTROLLER_DECLS(mamba)
TM_SANITY_CONTROLLER_DECLS(mamba_dualmem)
TM_SANITY_CONTROLLER_DECLS(hybrid)
int tm_sanity_miras_recall(char *detail, size_t cap);
int tm_sanity_miras_read_gradient(char *detail, size_t cap);
int tm_sanity_kvcache_topk(char *detail, size_t cap);
int tm_sanity_sinkhorn_marginals(char *detail, size_t cap);

#endif
