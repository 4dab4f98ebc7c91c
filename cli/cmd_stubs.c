/* Subcommands that are specified but not built yet (train, eval, bench
 * remote, worker, plot), and the rows of the built benches (tasks, envs,
 * kernels), which parse their own words. Definition: shared spec cli.md
 * (their options, as the spec lists them, so --help and option checking
 * already work).
 *
 * Each parses its options and validates --config/--set against the run
 * config (bad input is still exit 2 with a useful message), then says
 * plainly that it is not built and exits 2. When a command is built, its
 * row moves to its own cli/cmd_<name>.c and its line leaves `issues`. */
#include <stdio.h>
#include <string.h>

#include "bench/bench_envs.h"
#include "bench/bench_kernels.h"
#include "bench/bench_tasks.h"
#include "cli/commands.h"
#include "core/run_config.h"

/* Which issue builds each command. */
static const struct { const char *command, *issue; } issues[] = {
    {"train", "a later issue"},      {"eval", "a later issue"},
    {"bench remote", "a later issue"},
    {"worker", "a later issue"},     {"plot", "a later issue"},
};

static int not_built(const tm_cli_command *cmd, const tm_cli_args *args) {
    if (cmd->config) {
        static tm_run_config cfg;
        if (tm_run_config_default(&cfg) != TM_OK) return tm_cli_report_error(TM_EXIT_FAILED);
        if (tm_cli_apply_config(args, cmd->config, &cfg) != TM_OK)
            return tm_cli_report_error(TM_EXIT_USAGE);
    }
    const char *issue = "a later issue";
    for (size_t i = 0; i < sizeof issues / sizeof issues[0]; i++)
        if (!strcmp(issues[i].command, cmd->name)) issue = issues[i].issue;
    fprintf(stderr, "transmamba %s: not built yet (%s)\n", cmd->name, issue);
    return TM_EXIT_USAGE;
}

/* The benches parse their own argv (they also run as library entry points):
 * hand them the already-checked options back as words, argv[0] the name. */
static int forward_words(const tm_cli_command *cmd, const tm_cli_args *args,
                         int (*bench_main)(int, char **)) {
    static char flags[TM_CLI_MAX_ARGS][64];
    char *argv[2 * TM_CLI_MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)cmd->name;
    for (int i = 0; i < args->n_items; i++) {
        snprintf(flags[i], sizeof flags[i], "--%s", cmd->options[args->items[i].opt].name);
        argv[argc++] = flags[i];
        if (args->items[i].value) argv[argc++] = (char *)args->items[i].value;
    }
    argv[argc] = NULL;
    return bench_main(argc, argv);
}

static int run_bench_envs(const tm_cli_command *cmd, const tm_cli_args *args) {
    return forward_words(cmd, args, tm_bench_envs_main);
}

static int run_bench_tasks(const tm_cli_command *cmd, const tm_cli_args *args) {
    return forward_words(cmd, args, tm_bench_tasks_main);
}

static int run_bench_kernels(const tm_cli_command *cmd, const tm_cli_args *args) {
    return forward_words(cmd, args, tm_bench_kernels_main);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define OPT_THREADS {"threads", "T", "CPU threads; 0 = number of cores", "threads"}
#define OPT_SEED {"seed", "S", "seed of every random stream", "seed"}
#define OPT_DEVICE {"device", "cpu|cuda", "where the learner's ops run", "device"}

static const tm_cli_option train_opts[] = {
    {"env", "NAME", "task to train on (a MuJoCo task such as Hopper-v5, or a synthetic task)", NULL},
    {"algo", "ppo|otm", "learner: recurrent PPO or the OTMemoryAgent", NULL},
    {"controller", "NAME", "policy core: transformer, mamba, mamba_dualmem, hybrid", NULL},
    {"steps", "N", "environment steps to train for", NULL},
    {"envs", "N", "parallel environments", NULL},
    OPT_THREADS, OPT_SEED, OPT_DEVICE,
    {"workers", "tcp://HOST:PORT,...", "step the envs on remote workers", NULL},
    {"run-dir", "DIR", "where the run folder goes", NULL},
    {"resume", NULL, "continue from the run folder's last checkpoint", NULL},
    {"quiet", NULL, "no progress display", NULL},
    TM_CLI_OPT_CONFIG, TM_CLI_OPT_SET, TM_CLI_OPT_JSON,
};
const tm_cli_command tm_cmd_train = {
    "train", "--env NAME [--algo ppo|otm] [--controller NAME] [--steps N] [options]",
    "train an agent; writes a run folder and ends with an evaluation",
    "Trains; shows progress; writes the run folder (config, metrics.jsonl,\n"
    "TensorBoard events, checkpoints, curve.svg); ends with an evaluation.",
    train_opts, N(train_opts), 0, NULL, &tm_run_config_schema, not_built, NULL,
};

static const tm_cli_option eval_opts[] = {
    {"checkpoint", "FILE", "checkpoint to evaluate", NULL},
    {"env", "NAME", "task (default: the checkpoint's)", NULL},
    {"episodes", "K", "episodes to run", NULL},
    OPT_THREADS, OPT_SEED, OPT_DEVICE,
    TM_CLI_OPT_CONFIG, TM_CLI_OPT_SET, TM_CLI_OPT_JSON,
};
const tm_cli_command tm_cmd_eval = {
    "eval", "--checkpoint FILE [--env NAME] [--episodes K] [--json]",
    "evaluate a checkpoint: return mean and std, success rate", NULL,
    eval_opts, N(eval_opts), 0, NULL, &tm_run_config_schema, not_built, NULL,
};

static const tm_cli_option bench_tasks_opts[] = {
    {"task", "NAME|all", "synthetic memory task (mqar runs at two widths)", NULL},
    {"controller", "NAME|all", "policy core; all = transformer, mamba, mamba_dualmem", NULL},
    {"steps", "N", "training steps per row (default: the task's recipe)", NULL},
    {"batch", "B", "sequences per step and per held-out batch", NULL},
    {"d-model", "D", "controller width (mqar rows: D/2 and D)", NULL},
    {"layers", "L", "controller layers", NULL},
    {"lr", "X", "peak learning rate (warmup + cosine)", NULL},
    {"eval-batches", "K", "held-out batches (default 16)", NULL},
    {"seed", "S", "seed of weights and data", NULL},
    {"threads", "T", "CPU threads of each row's ops (default 1)", NULL},
    {"jobs", "J", "rows trained at once, one process each (default 2)", NULL},
    {"set", "PREFIX.KEY=VALUE", "task.KEY, NAME.KEY (one task) or controller.KEY; repeatable", NULL},
    {"results", "FILE", "JSONL file the rows are appended to (default bench-tasks.jsonl)", NULL},
    {"quiet", NULL, "no progress lines", NULL},
    TM_CLI_OPT_JSON,
};
static const tm_cli_command bench_tasks = {
    "bench tasks", "[--task NAME|all] [--controller NAME|all] [--steps N] [--json]",
    "accuracy and tokens/s of each controller on the synthetic memory tasks",
    "Trains each controller on each supervised synthetic memory task from\n"
    "scratch and scores it on held-out data; prints a table of accuracy (with\n"
    "chance), training tokens/s and parameters per controller and task.\n"
    "Exit status 1 when a row failed (it is shown with its error).",
    bench_tasks_opts, N(bench_tasks_opts), 0, NULL, NULL, run_bench_tasks, NULL,
};

static const tm_cli_option bench_envs_opts[] = {
    {"env", "NAME|all", "MuJoCo task", NULL},
    {"envs", "N", "environments in the pool", NULL},
    OPT_THREADS,
    {"steps", "N", "pool steps per measurement", NULL},
    {"repeat", "R", "measurements per figure (the best is kept)", NULL},
    {"set", "env.KEY=VALUE", "env option; repeatable", NULL},
    TM_CLI_OPT_JSON,
};
static const tm_cli_command bench_envs = {
    "bench envs", "[--env NAME|all] [--envs N] [--threads T] [--json]",
    "steps/s of the env pool against a bare mj_step loop",
    "Steps/s of the env pool against a bare mj_step loop on the same model\n"
    "and threads, and their ratio.",
    bench_envs_opts, N(bench_envs_opts), 0, NULL, NULL, run_bench_envs, NULL,
};

static const tm_cli_option bench_remote_opts[] = {
    {"env", "NAME", "MuJoCo task", NULL},
    {"envs", "N", "environments per worker", NULL},
    {"workers", "W", "local worker processes", NULL},
    TM_CLI_OPT_JSON,
};
static const tm_cli_command bench_remote = {
    "bench remote", "[--env NAME] [--envs N] [--workers W] [--json]",
    "steps/s through local ZeroMQ workers against the in-process pool",
    "Steps/s through local worker processes over ZeroMQ against the\n"
    "in-process pool, and their ratio.",
    bench_remote_opts, N(bench_remote_opts), 0, NULL, NULL, not_built, NULL,
};

static const tm_cli_option bench_kernels_opts[] = {
    {"device", "cpu|cuda", "where the ops run", NULL},
    OPT_THREADS,
    {"quick", NULL, "small sizes and few repetitions (for tests)", NULL},
    TM_CLI_OPT_JSON,
};
static const tm_cli_command bench_kernels = {
    "bench kernels", "[--device cpu|cuda] [--json]",
    "op timings (matmul, scan, attention, memory read) and GB/s or TFLOP/s",
    "Op-level timings (matmul, scan, attention, memory read) and achieved\n"
    "GB/s or TFLOP/s.",
    bench_kernels_opts, N(bench_kernels_opts), 0, NULL, NULL, run_bench_kernels, NULL,
};

static const tm_cli_command *const bench_subs[] = {&bench_tasks, &bench_envs, &bench_remote,
                                                   &bench_kernels, NULL};
const tm_cli_command tm_cmd_bench = {
    "bench", "tasks|envs|remote|kernels [options]",
    "benchmarks: figures with their baselines and ratios", NULL,
    NULL, 0, 0, NULL, NULL, NULL, bench_subs,
};

static const tm_cli_option worker_opts[] = {
    {"connect", "tcp://HOST:PORT", "learner to serve", NULL},
    {"env", "NAME", "task to step", NULL},
    {"envs", "N", "environments on this worker", NULL},
    OPT_THREADS,
    {"curve-server-key", "K", "the learner's CURVE public key (Z85)", NULL},
    {"curve-secret-file", "F", "file holding this worker's CURVE secret key", NULL},
};
const tm_cli_command tm_cmd_worker = {
    "worker", "--connect tcp://HOST:PORT --env NAME [--envs N] [--threads T] "
              "[--curve-server-key K --curve-secret-file F]",
    "serve environments to a remote learner over ZeroMQ", NULL,
    worker_opts, N(worker_opts), 0, NULL, NULL, not_built, NULL,
};

static const tm_cli_option plot_opts[] = {
    {"out", "FILE", "SVG file to write (default: curve.svg)", NULL},
};
const tm_cli_command tm_cmd_plot = {
    "plot", "RUN_DIR [RUN_DIR...] [--out FILE]",
    "learning curves of one or more runs", NULL,
    plot_opts, N(plot_opts), TM_CLI_MAX_ARGS, "RUN_DIR", NULL, not_built, NULL,
};
