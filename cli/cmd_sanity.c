/* `transmamba sanity`: runs the registered checks, one line each, and a
 * summary; exit 1 if any fails. Definition: shared spec cli.md (--json:
 * {"checks":[{"name","ok","detail"}],"passed","failed"}).
 *
 * The registry below is the one place checks are listed: later issues add
 * one row per check (controllers, memory modules, gradients, tasks). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/sanity.h"
#include "core/strsim.h"

static const tm_sanity_check registry[] = {
    {"rng.uniform_moments", tm_sanity_rng_uniform_moments},
    {"rng.normal_moments", tm_sanity_rng_normal_moments},
    {"config.round_trip", tm_sanity_config_round_trip},
    {"blas.sgemm_vs_naive", tm_sanity_blas_sgemm},
    {"mujoco.free_fall", tm_sanity_mujoco_step},
    {"zmq.inproc_pair", tm_sanity_zmq_inproc_pair},
    {"adamw.quadratic_decreases", tm_sanity_adamw_quadratic},
    {"ckpt.round_trip", tm_sanity_ckpt_round_trip},
#define CONTROLLER_ROWS(name)                                           \
    {#name ".step_matches_forward", tm_sanity_##name##_step_forward},   \
    {#name ".gradient_vs_finite_differences", tm_sanity_##name##_gradient}, \
    {#name ".adamw_lowers_a_memory_loss", tm_sanity_##name##_training},   \
    {#name ".stream_state_bytes_round_trip", tm_sanity_##name##_state_bytes},
    CONTROLLER_ROWS(transformer)
    CONTROLLER_ROWS(mamba)
    CONTROLLER_ROWS(mamba_dualmem)
    CONTROLLER_ROWS(hybrid)
#undef CONTROLLER_ROWS
    {"miras.recall_and_stream_isolation", tm_sanity_miras_recall},
    {"miras.read_gradient_vs_finite_differences", tm_sanity_miras_read_gradient},
    {"kvcache.topk_matches_sort", tm_sanity_kvcache_topk},
    {"sinkhorn.marginals", tm_sanity_sinkhorn_marginals},
};

const tm_sanity_check *tm_sanity_checks(int *n) {
    *n = (int)(sizeof registry / sizeof registry[0]);
    return registry;
}

#define DETAIL_CAP 512

static int selected(const char *name, const char *only) {
    return !only || strncmp(name, only, strlen(only)) == 0;
}

static int run_sanity(const tm_cli_command *cmd, const tm_cli_args *args) {
    (void)cmd;
    int n;
    const tm_sanity_check *checks = tm_sanity_checks(&n);
    const char *only = tm_cli_get(args, "only");
    int any = 0;
    for (int i = 0; i < n; i++) any |= selected(checks[i].name, only);
    if (!any) {
        const char *names[256];
        for (int i = 0; i < n && i < 256; i++) names[i] = checks[i].name;
        char hint[512];
        tm_suggest_text(hint, sizeof hint, only, "", names, n < 256 ? n : 256, 3, 1);
        if (!hint[0]) {
            /* Nothing close: list the modules ("rng.", "config.", ...). */
            size_t used = (size_t)snprintf(hint, sizeof hint, " (checks start with:");
            for (int i = 0; i < n && used < sizeof hint; i++) {
                size_t len = strcspn(checks[i].name, ".");
                int seen = 0;
                for (int j = 0; j < i; j++)
                    seen |= strncmp(checks[j].name, checks[i].name, len + 1) == 0;
                if (!seen)
                    used += (size_t)snprintf(hint + used, sizeof hint - used, " %.*s", (int)len + 1,
                                             checks[i].name);
            }
            if (used < sizeof hint) snprintf(hint + used, sizeof hint - used, ")");
        }
        tm_fail(TM_EINVAL, "sanity: no check starts with '%s'%s", only, hint);
        return tm_cli_report_error(TM_EXIT_USAGE);
    }
    int width = 0;
    for (int i = 0; i < n; i++)
        if (selected(checks[i].name, only) && (int)strlen(checks[i].name) > width)
            width = (int)strlen(checks[i].name);
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "checks");
    int passed = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        if (!selected(checks[i].name, only)) continue;
        char detail[DETAIL_CAP] = "";
        tm_clear_error();
        int ok = checks[i].run(detail, sizeof detail) ? 1 : 0;
        ok ? passed++ : failed++;
        printf("%-4s %-*s  %s\n", ok ? "ok" : "FAIL", width, checks[i].name, detail);
        fflush(stdout);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", checks[i].name);
        cJSON_AddBoolToObject(c, "ok", ok);
        cJSON_AddStringToObject(c, "detail", detail);
        cJSON_AddItemToArray(list, c);
    }
    printf("sanity: %d passed, %d failed\n", passed, failed);
    cJSON_AddNumberToObject(root, "passed", passed);
    cJSON_AddNumberToObject(root, "failed", failed);
    if (!tm_cli_has(args, "json")) {
        cJSON_Delete(root);
    } else if (tm_cli_print_json(root) != TM_EXIT_OK) {
        return TM_EXIT_FAILED;
    }
    return failed ? TM_EXIT_FAILED : TM_EXIT_OK;
}

static const tm_cli_option sanity_opts[] = {
    {"only", "PREFIX", "run only the checks whose name starts with PREFIX (e.g. rng.)", NULL},
    TM_CLI_OPT_JSON,
};
const tm_cli_command tm_cmd_sanity = {
    "sanity", "[--only PREFIX] [--json]",
    "small end-to-end checks of every module; exit 1 if any fails",
    "Builds every controller and memory module small, checks forward,\n"
    "backward against finite differences, step/forward agreement, a few\n"
    "training steps lowering a loss, and the tasks' data; prints a line per\n"
    "check. Checks so far: the rng, the config, OpenBLAS, MuJoCo, ZeroMQ,\n"
    "AdamW and checkpoints.",
    sanity_opts, (int)(sizeof sanity_opts / sizeof sanity_opts[0]), 0, NULL, NULL, run_sanity, NULL,
};
