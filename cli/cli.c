/* The `transmamba` program: git-style subcommand dispatch.
 * Definition: shared spec cli.md. Each subcommand is a tm_cli_command
 * (cli/options.h) defined in its cli/cmd_<name>.c; adding one is a row in
 * the table below. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/status.h"
#include "core/strsim.h"

#ifndef TM_VERSION
#define TM_VERSION "unknown"
#endif

static const tm_cli_command *const commands[] = {
    &tm_cmd_train, &tm_cmd_eval, &tm_cmd_bench, &tm_cmd_worker, &tm_cmd_sanity,
    &tm_cmd_plot,  &tm_cmd_info, &tm_cmd_config, NULL,
};

int tm_cli_report_error(int exit_code) {
    fprintf(stderr, "transmamba: %s\n", tm_last_error());
    return exit_code;
}

int tm_cli_print_json(cJSON *o) {
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        tm_fail(TM_ENOMEM, "json: out of memory printing the results");
        return tm_cli_report_error(TM_EXIT_FAILED);
    }
    printf("%s\n", text);
    free(text);
    return TM_EXIT_OK;
}

static int is_help(const char *w) { return !strcmp(w, "--help") || !strcmp(w, "-h"); }

/* The last word of a command's name: "envs" for "bench envs". */
static const char *short_name(const tm_cli_command *c) {
    const char *sp = strrchr(c->name, ' ');
    return sp ? sp + 1 : c->name;
}

static const tm_cli_command *find(const tm_cli_command *const *list, const char *word) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(short_name(list[i]), word)) return list[i];
    return NULL;
}

/* "unknown command 'trian' (did you mean train?)"; without a close match,
 * the whole list. `what` is "command" or "bench subcommand". */
static int unknown(const tm_cli_command *const *list, const char *word, const char *what) {
    const char *names[32] = {0};
    int n = 0;
    for (int i = 0; list[i] && n < 32; i++) names[n++] = short_name(list[i]);
    char hint[512];
    tm_suggest_text(hint, sizeof hint, word, "", names, n, 3, 1);
    if (!hint[0]) {
        size_t used = (size_t)snprintf(hint, sizeof hint, " (one of:");
        for (int i = 0; i < n && used < sizeof hint; i++)
            used += (size_t)snprintf(hint + used, sizeof hint - used, " %s", names[i]);
        if (used < sizeof hint) snprintf(hint + used, sizeof hint - used, ")");
    }
    tm_fail(TM_EINVAL, "unknown %s '%s'%s", what, word, hint);
    return tm_cli_report_error(TM_EXIT_USAGE);
}

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: transmamba COMMAND [options]\n\n"
            "Trains reinforcement-learning agents whose policy core has memory\n"
            "(Transformer, Mamba, Mamba with DualTierMiras memory, hybrid).\n\n"
            "commands:\n");
    for (int i = 0; commands[i]; i++) fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n'transmamba COMMAND --help' (or 'transmamba help COMMAND') shows a command's\n"
                 "options. Exit status: 0 success, 1 the job failed, 2 bad usage or input.\n");
}

static int run_command(const tm_cli_command *cmd, int argc, char **argv) {
    if (cmd->subcommands) {
        if (argc == 0) {
            tm_fail(TM_EINVAL, "%s: which one? (see 'transmamba %s --help')", cmd->name, cmd->name);
            return tm_cli_report_error(TM_EXIT_USAGE);
        }
        if (is_help(argv[0])) {
            tm_cli_print_help(stdout, cmd);
            return TM_EXIT_OK;
        }
        const tm_cli_command *sub = find(cmd->subcommands, argv[0]);
        if (!sub) {
            char what[64];
            snprintf(what, sizeof what, "%s subcommand", cmd->name);
            return unknown(cmd->subcommands, argv[0], what);
        }
        return run_command(sub, argc - 1, argv + 1);
    }
    static tm_cli_args args; /* ~6 KiB; one command runs per process */
    if (tm_cli_parse(&args, cmd, argc, argv) != TM_OK) return tm_cli_report_error(TM_EXIT_USAGE);
    if (args.help) {
        tm_cli_print_help(stdout, cmd);
        return TM_EXIT_OK;
    }
    return cmd->run(cmd, &args);
}

/* `transmamba help [COMMAND [SUBCOMMAND]]` */
static int help(int argc, char **argv) {
    if (argc == 0) {
        print_usage(stdout);
        return TM_EXIT_OK;
    }
    const tm_cli_command *cmd = find(commands, argv[0]);
    if (!cmd) return unknown(commands, argv[0], "command");
    if (argc > 1 && cmd->subcommands) {
        const tm_cli_command *sub = find(cmd->subcommands, argv[1]);
        if (!sub) {
            char what[64];
            snprintf(what, sizeof what, "%s subcommand", cmd->name);
            return unknown(cmd->subcommands, argv[1], what);
        }
        cmd = sub;
    }
    tm_cli_print_help(stdout, cmd);
    return TM_EXIT_OK;
}

int tm_cli_main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return TM_EXIT_USAGE;
    }
    const char *word = argv[1];
    if (is_help(word)) {
        print_usage(stdout);
        return TM_EXIT_OK;
    }
    if (!strcmp(word, "help")) return help(argc - 2, argv + 2);
    if (!strcmp(word, "--version")) {
        printf("transmamba %s\n", TM_VERSION);
        return TM_EXIT_OK;
    }
    if (word[0] == '-') {
        static const char *const top[] = {"help", "version"};
        char hint[128];
        const char *q = word + strspn(word, "-");
        tm_suggest_text(hint, sizeof hint, q, "--", top, 2, 2, 1);
        tm_fail(TM_EINVAL, "unknown option '%s'%s; usage: transmamba COMMAND [options]", word, hint);
        return tm_cli_report_error(TM_EXIT_USAGE);
    }
    const tm_cli_command *cmd = find(commands, word);
    if (!cmd) return unknown(commands, word, "command");
    return run_command(cmd, argc - 2, argv + 2);
}
