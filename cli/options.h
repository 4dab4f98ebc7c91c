/* Option parsing for the `transmamba` subcommands, and their --help.
 * Definition: shared spec cli.md ("--name value" or "--name=value",
 * "--config FILE", repeated "--set key=value", "--json", every subcommand
 * has --help; an unknown option names the close matches).
 *
 * A subcommand is a table row (tm_cli_command) with its own option table;
 * the dispatcher in cli.c parses argv against it, answers --help, and hands
 * the parsed arguments to the command's run function. A command with
 * subcommands (bench) lists them instead of running. */
#ifndef TM_CLI_OPTIONS_H
#define TM_CLI_OPTIONS_H

#include <stdio.h>

#include "core/config.h"
#include "core/status.h"

#define TM_CLI_MAX_ARGS 256

/* Exit statuses (spec cli.md). */
enum { TM_EXIT_OK = 0, TM_EXIT_FAILED = 1, TM_EXIT_USAGE = 2 };

typedef struct {
    const char *name;       /* long name without the dashes: "steps" */
    const char *metavar;    /* value placeholder ("N"); NULL for a flag */
    const char *help;
    const char *config_key; /* when set, the value is a shortcut for --set KEY=value */
} tm_cli_option;

/* Options most commands share; put them in a command's table. */
#define TM_CLI_OPT_CONFIG {"config", "FILE", "read config keys from a JSON file (see the keys below)", NULL}
#define TM_CLI_OPT_SET {"set", "KEY=VALUE", "set one config key; repeatable, applied in order after --config", NULL}
#define TM_CLI_OPT_JSON {"json", NULL, "end stdout with one JSON object of the results", NULL}

struct tm_cli_args;

typedef struct tm_cli_command {
    const char *name;        /* as typed: "train", or "bench envs" for a subcommand */
    const char *synopsis;    /* what follows the name in the usage line */
    const char *summary;     /* one line, for the command list */
    const char *description; /* a paragraph for --help, or NULL */
    const tm_cli_option *options;
    int n_options;
    int max_positional;      /* operands allowed after the options */
    const char *positional;  /* their name in messages ("RUN_DIR"), or NULL */
    const tm_config_schema *config; /* keys listed in --help, or NULL */
    /* Returns the exit status. NULL when the command only groups subcommands. */
    int (*run)(const struct tm_cli_command *cmd, const struct tm_cli_args *args);
    const struct tm_cli_command *const *subcommands; /* NULL-terminated, or NULL */
} tm_cli_command;

typedef struct tm_cli_args {
    const tm_cli_command *cmd;
    int help;                          /* --help or -h was given */
    int n_items;                       /* options in command-line order */
    struct { int opt; const char *value; } items[TM_CLI_MAX_ARGS];
    int n_positional;
    const char *positional[TM_CLI_MAX_ARGS];
} tm_cli_args;

/* Parses argv[0..argc) (the words after the command name). Errors name the
 * command and the option ("train: unknown option '--stpes' (did you mean
 * --steps?)") and are bad usage. */
tm_status tm_cli_parse(tm_cli_args *a, const tm_cli_command *cmd, int argc, char **argv);

/* The value of the last --name, or NULL when absent (or a flag). */
const char *tm_cli_get(const tm_cli_args *a, const char *name);
/* 1 when --name was given (flag or value). */
int tm_cli_has(const tm_cli_args *a, const char *name);
/* The value of --name as an integer in [min, max]; *out untouched when absent. */
tm_status tm_cli_get_int(const tm_cli_args *a, const char *name, long long min, long long max,
                         long long *out);

/* Applies the command line to a config already at its defaults: every
 * --config FILE, then every --set and config-shortcut option in
 * command-line order (so the later of two settings wins). All or nothing. */
tm_status tm_cli_apply_config(const tm_cli_args *a, const tm_config_schema *s, void *base);

void tm_cli_print_help(FILE *out, const tm_cli_command *cmd);

#endif
