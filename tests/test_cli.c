/* The `transmamba` program as a user meets it (shared spec cli.md): runs the
 * binary named by $TM_BIN and checks exit statuses, messages and the --json
 * contract. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/options.h"
#include "controllers/controller.h"

typedef struct {
    int status;       /* exit status, or -1 when it did not exit normally */
    char out[65536];  /* stdout */
    char err[16384];  /* stderr */
} result;

static void slurp(FILE *f, char *buf, size_t cap) {
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

/* Runs "$TM_BIN args" (args is shell text; the tests pass fixed strings). */
static void run(result *r, const char *args) {
    const char *bin = getenv("TM_BIN");
    cr_assert(bin && *bin, "TM_BIN is not set (run through ctest)");
    char errpath[] = "/tmp/tm_test_cli_XXXXXX";
    int fd = mkstemp(errpath);
    cr_assert(fd >= 0);
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s'", bin, args, errpath);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen failed");
    slurp(p, r->out, sizeof r->out);
    int st = pclose(p);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *e = fopen(errpath, "r");
    cr_assert(e);
    slurp(e, r->err, sizeof r->err);
    fclose(e);
    unlink(errpath);
}

/* The last non-empty line of stdout, parsed as JSON (caller deletes). */
static cJSON *last_json_line(const char *out) {
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n') n--;
    size_t start = n;
    while (start > 0 && out[start - 1] != '\n') start--;
    char *line = strndup(out + start, n - start);
    cJSON *j = cJSON_Parse(line);
    free(line);
    cr_assert(j, "last stdout line is not JSON:\n%s", out);
    return j;
}

static result r;

Test(cli, info_json_last_line_has_the_contract_keys) {
    run(&r, "info --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = last_json_line(r.out);
    cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "version")));
    cr_assert(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "cuda")));
    cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "cuda_devices");
    cr_assert(cJSON_IsNumber(n) && n->valuedouble >= 0);
    cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "blas")));
    cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "mujoco")));
    cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "zmq")));
    cr_assert(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "curve")));
    /* MuJoCo's run-time version is the 2.x the build is made against. */
    cr_assert_eq(strncmp(cJSON_GetObjectItemCaseSensitive(j, "mujoco")->valuestring, "2.", 2), 0);
    /* Human-readable lines come first. */
    cr_assert(strstr(r.out, "mujoco") < strrchr(r.out, '{'));
    cJSON_Delete(j);
}

Test(cli, info_without_json_prints_no_json) {
    run(&r, "info");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "zmq"));
    cr_assert_null(strchr(r.out, '{'));
}

Test(cli, unknown_subcommand_exits_2_and_suggests) {
    run(&r, "trian --steps 3");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "transmamba: ") == r.err, "%s", r.err);
    cr_assert(strstr(r.err, "'trian'") && strstr(r.err, "did you mean train"), "%s", r.err);
    run(&r, "bench kernel");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "kernels"), "%s", r.err);
    run(&r, "qqqqqqq");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "sanity"), "lists the commands: %s", r.err);
}

Test(cli, unknown_option_exits_2_and_suggests) {
    run(&r, "train --stpes 3");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "'--stpes'") && strstr(r.err, "did you mean --steps"), "%s", r.err);
    run(&r, "info --jsn");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--json"), "%s", r.err);
    run(&r, "info --json=yes");
    cr_assert_eq(r.status, 2);
    run(&r, "train --steps");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "needs a value"), "%s", r.err);
    run(&r, "info extra");
    cr_assert_eq(r.status, 2);
}

Test(cli, unbuilt_commands_say_so_and_exit_2) {
    static const struct { const char *args, *says; } cases[] = {
        {"train --env Hopper-v5 --steps=100", "transmamba train: not built yet (a later issue)"},
        {"eval --checkpoint x", "transmamba eval: not built yet"},
        {"bench remote", "transmamba bench remote: not built yet (a later issue)"},
        {"worker --connect tcp://h:1", "transmamba worker: not built yet"},
        {"plot runA runB", "transmamba plot: not built yet"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(&r, cases[i].args);
        cr_assert_eq(r.status, 2, "%s", cases[i].args);
        cr_assert(strstr(r.err, cases[i].says), "%s: %s", cases[i].args, r.err);
    }
}

Test(cli, bad_config_keys_are_usage_errors_naming_the_key) {
    run(&r, "train --set optim.lrr=0.1");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "optim.lrr") && strstr(r.err, "optim.lr"), "%s", r.err);
    run(&r, "train --seed -3");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "seed") && strstr(r.err, "-3"), "%s", r.err);
    run(&r, "config --config /nonexistent/tm.json");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "/nonexistent/tm.json"), "%s", r.err);
}

Test(cli, set_and_shortcuts_override_the_config_file_in_order) {
    char path[] = "/tmp/tm_test_cli_cfg_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "{\"seed\": 11, \"optim\": {\"lr\": 0.002, \"schedule\": \"linear\"}}";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char args[256];
    /* --config is read first wherever it stands; then --set in order. */
    snprintf(args, sizeof args, "config --set seed=12 --set optim.lr=0.5 --config %s --set seed=13 --json", path);
    run(&r, args);
    unlink(path);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = last_json_line(r.out);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "seed")->valuedouble, 13);
    cJSON *optim = cJSON_GetObjectItemCaseSensitive(j, "optim");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(optim, "lr")->valuedouble, 0.5);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(optim, "schedule")->valuestring, "linear");
    cJSON_Delete(j);
}

Test(cli, sanity_json_reports_every_check_passing) {
    run(&r, "sanity --json");
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cJSON *j = last_json_line(r.out);
    cJSON *checks = cJSON_GetObjectItemCaseSensitive(j, "checks");
    cr_assert(cJSON_IsArray(checks));
    int n = cJSON_GetArraySize(checks);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_GetArrayItem(checks, i);
        cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "name")));
        cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ok")), "%s",
                  cJSON_GetObjectItemCaseSensitive(c, "detail")->valuestring);
        cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "detail")));
    }
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "failed")->valuedouble, 0);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "passed")->valuedouble, n);
    cJSON_Delete(j);
}

Test(cli, every_command_has_help_that_exits_0) {
    static const char *const helps[] = {
        "--help", "-h", "help", "help train", "help bench envs", "train --help", "eval --help",
        "bench --help", "bench tasks --help", "bench envs --help", "bench remote --help",
        "bench kernels -h", "worker --help", "sanity --help", "plot --help", "info --help",
        "config --help",
    };
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        run(&r, helps[i]);
        cr_assert_eq(r.status, 0, "'%s' exited %d: %s", helps[i], r.status, r.err);
        cr_assert(strstr(r.out, "usage: transmamba"), "'%s' printed no usage", helps[i]);
    }
    run(&r, "train --help");
    cr_assert(strstr(r.out, "--steps") && strstr(r.out, "optim.lr"), "options and config keys");
}

Test(cli, no_command_is_a_usage_error) {
    run(&r, "");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "usage: transmamba"), "%s", r.err);
    run(&r, "bench");
    cr_assert_eq(r.status, 2);
    run(&r, "--frobnicate");
    cr_assert_eq(r.status, 2);
}

/* The parser itself, on a command table made for the test. */
static int no_run(const tm_cli_command *c, const tm_cli_args *a) { (void)c, (void)a; return 0; }
static const tm_cli_option demo_opts[] = {
    {"steps", "N", "steps", NULL}, {"quiet", NULL, "no output", NULL}, TM_CLI_OPT_SET,
};
static const tm_cli_command demo_cmd = {"demo", "", "a test command", NULL, demo_opts, 3, 2, "FILE",
                                        NULL, no_run, NULL};

Test(cli, parser_takes_both_value_forms_and_keeps_order) {
    char *argv[] = {"--steps=5", "--set", "a=1", "in.txt", "--quiet", "--set=b=2", "--steps", "-7", "--", "--odd"};
    tm_cli_args a;
    cr_assert_eq(tm_cli_parse(&a, &demo_cmd, 10, argv), TM_OK, "%s", tm_last_error());
    cr_assert_str_eq(tm_cli_get(&a, "steps"), "-7"); /* the last one wins */
    cr_assert(tm_cli_has(&a, "quiet"));
    cr_assert_null(tm_cli_get(&a, "quiet"));
    cr_assert_eq(a.n_positional, 2);
    cr_assert_str_eq(a.positional[0], "in.txt");
    cr_assert_str_eq(a.positional[1], "--odd"); /* after "--", an operand */
    int sets = 0;
    const char *want[] = {"a=1", "b=2"};
    for (int i = 0; i < a.n_items; i++)
        if (a.items[i].opt == 2) cr_assert_str_eq(a.items[i].value, want[sets++]);
    cr_assert_eq(sets, 2);
    long long steps = 0;
    cr_assert_eq(tm_cli_get_int(&a, "steps", -10, 10, &steps), TM_OK);
    cr_assert_eq(steps, -7);
    cr_assert_eq(tm_cli_get_int(&a, "steps", 0, 10, &steps), TM_ERANGE);
    cr_assert_eq(steps, -7); /* untouched on error */
}

Test(cli, parser_rejects_malformed_options) {
    tm_cli_args a;
    char *flag_with_value[] = {"--quiet=1"};
    cr_assert_neq(tm_cli_parse(&a, &demo_cmd, 1, flag_with_value), TM_OK);
    char *short_opt[] = {"-q"};
    cr_assert_neq(tm_cli_parse(&a, &demo_cmd, 1, short_opt), TM_OK);
    char *three_files[] = {"a", "b", "c"};
    cr_assert_neq(tm_cli_parse(&a, &demo_cmd, 3, three_files), TM_OK);
    cr_assert(strstr(tm_last_error(), "'c'"), "%s", tm_last_error());
    char *typo[] = {"--quite"};
    cr_assert_neq(tm_cli_parse(&a, &demo_cmd, 1, typo), TM_OK);
    cr_assert(strstr(tm_last_error(), "did you mean --quiet"), "%s", tm_last_error());
}

/* ---- info --controller ---------------------------------------------------------- */

typedef struct {
    const char *kind;
    const char *sets; /* --set options, also applied in-process (without "controller.") */
} info_row;

/* The printed count equals tm_controller_report_sizes' for the same config,
 * and the groups add up to it. */
Test(cli, info_controller_prints_the_library_sizes) {
    static const info_row rows[] = {
        {"transformer", "n_heads=2 n_kv_heads=1 d_model=32 mlp=swiglu"},
        {"mamba", "d_model=48 n_layers=3 input=tokens vocab=11"},
        {"hybrid", "unified_rope=false n_layers=4 attn_layer_period=2 attn_layer_offset=1"},
        {"hybrid", ""},
        {"mamba_dualmem", "d_model=24 miras.n_heads=2 use_kv_cache=true kv.capacity=32"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char args[512], sets[256];
        snprintf(sets, sizeof sets, "%s", rows[i].sets);
        int n = snprintf(args, sizeof args, "info --controller %s --batch 3 --seq 5 --json", rows[i].kind);
        tm_controller_kind kind;
        cr_assert_eq(tm_controller_kind_parse(rows[i].kind, &kind), TM_OK);
        tm_controller_config cfg = tm_controller_config_default(kind, 32);
        for (char *tok = strtok(sets, " "); tok; tok = strtok(NULL, " ")) {
            n += snprintf(args + n, sizeof args - (size_t)n, " --set controller.%s", tok);
            cr_assert_eq(tm_config_set(tm_controller_config_schema(), &cfg, tok), TM_OK, "%s", tm_last_error());
        }
        tm_controller m;
        tm_status made = tm_controller_create(&m, &cfg, 0);
        run(&r, args);
        cr_assert_eq(made, TM_OK, "%s", tm_last_error());
        cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
        tm_ctx ctx;
        cr_assert_eq(tm_ctx_init(&ctx, TM_CPU, 1), TM_OK);
        tm_controller_report rep;
        cr_assert_eq(tm_controller_report_sizes(&m, 3, 5, &ctx, &rep), TM_OK);
        cJSON *j = last_json_line(r.out);
        cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "controller")->valuestring, rows[i].kind);
        cr_assert_eq((size_t)cJSON_GetObjectItemCaseSensitive(j, "params")->valuedouble, rep.params, "%s", args);
        cr_assert_eq((size_t)cJSON_GetObjectItemCaseSensitive(j, "state_stream_bytes")->valuedouble, rep.state_stream_bytes);
        cr_assert_eq((size_t)cJSON_GetObjectItemCaseSensitive(j, "acts_bytes")->valuedouble, rep.acts_bytes);
        cr_assert_eq((size_t)cJSON_GetObjectItemCaseSensitive(j, "scratch_bytes")->valuedouble, rep.scratch_bytes);
        cr_assert_eq((int)cJSON_GetObjectItemCaseSensitive(j, "attn_layers")->valuedouble, rep.attn_layers);
        size_t sum = 0;
        cJSON *g;
        cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(j, "param_groups")) sum += (size_t)g->valuedouble;
        cr_assert_eq(sum, rep.params, "%s: groups add up to %zu", args, sum);
        char line[64];
        snprintf(line, sizeof line, "params      %zu (", rep.params);
        cr_assert(strstr(r.out, line), "%s: no '%s' in\n%s", args, line, r.out);
        cJSON_Delete(j);
        tm_ctx_free(&ctx);
        tm_controller_free(&m);
    }
}

Test(cli, info_controller_bad_input_is_a_usage_error_naming_the_closest) {
    run(&r, "info --controller transfomer");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "did you mean transformer"), "%s", r.err);
    run(&r, "info --controller mamba --set controller.d_modle=64");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "controller.d_model"), "%s", r.err);
    run(&r, "info --controller mamba --set controller.d_state=0");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "d_state"), "%s", r.err);
    run(&r, "info --set controller.d_model=64");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--controller"), "%s", r.err);
}
