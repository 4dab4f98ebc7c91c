/* `transmamba config`: shows the run config that --config and --set give,
 * as JSON (what a run folder will record), or the list of keys. Lets a user
 * check a config file before a long run. Definition: shared spec cli.md
 * ("--config FILE", "--set key=value"); the keys are core/run_config.c. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "core/run_config.h"

static int run_config(const tm_cli_command *cmd, const tm_cli_args *args) {
    if (tm_cli_has(args, "keys")) {
        tm_config_print_help(stdout, &tm_run_config_schema);
        return TM_EXIT_OK;
    }
    static tm_run_config cfg;
    if (tm_run_config_default(&cfg) != TM_OK) return tm_cli_report_error(TM_EXIT_FAILED);
    if (tm_cli_apply_config(args, cmd->config, &cfg) != TM_OK) return tm_cli_report_error(TM_EXIT_USAGE);
    char *text = NULL;
    if (tm_config_to_string(&tm_run_config_schema, &cfg, !tm_cli_has(args, "json"), &text) != TM_OK)
        return tm_cli_report_error(TM_EXIT_FAILED);
    printf("%s\n", text);
    free(text);
    return TM_EXIT_OK;
}

static const tm_cli_option config_opts[] = {
    TM_CLI_OPT_CONFIG, TM_CLI_OPT_SET,
    {"keys", NULL, "list every key with its type, range, default and help", NULL},
    {"json", NULL, "print the config as one JSON line instead of indented", NULL},
};
const tm_cli_command tm_cmd_config = {
    "config", "[--config FILE] [--set KEY=VALUE]... [--keys] [--json]",
    "show the run config that --config and --set give (or list the keys)", NULL,
    config_opts, (int)(sizeof config_opts / sizeof config_opts[0]), 0, NULL,
    &tm_run_config_schema, run_config, NULL,
};
