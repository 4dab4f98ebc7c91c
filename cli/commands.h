/* The subcommands of `transmamba`, one tm_cli_command each, defined in
 * cli/cmd_<name>.c; cli.c lists them in its dispatch table. */
#ifndef TM_CLI_COMMANDS_H
#define TM_CLI_COMMANDS_H

#include "cli/options.h"

extern const tm_cli_command tm_cmd_train, tm_cmd_eval, tm_cmd_bench, tm_cmd_worker;
extern const tm_cli_command tm_cmd_sanity, tm_cmd_plot, tm_cmd_info, tm_cmd_config;

/* Prints "transmamba: <tm_last_error() chain>" to stderr; returns exit_code. */
int tm_cli_report_error(int exit_code);

struct cJSON;
/* The --json contract's last line: prints o unformatted on one line of
 * stdout and deletes it. Returns TM_EXIT_OK, or TM_EXIT_FAILED (reported)
 * when it cannot be printed. */
int tm_cli_print_json(struct cJSON *o);

#endif
