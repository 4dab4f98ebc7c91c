/* Option parsing and --help for the subcommands. See options.h. */
#include "cli/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/strsim.h"

static int find_option(const tm_cli_command *cmd, const char *name, size_t len) {
    for (int i = 0; i < cmd->n_options; i++)
        if (strlen(cmd->options[i].name) == len && strncmp(cmd->options[i].name, name, len) == 0)
            return i;
    return -1;
}

static tm_status unknown_option(const tm_cli_command *cmd, const char *word, size_t len) {
    const char *names[TM_CLI_MAX_ARGS];
    int n = 0;
    for (int i = 0; i < cmd->n_options && n < TM_CLI_MAX_ARGS - 1; i++) names[n++] = cmd->options[i].name;
    names[n++] = "help";
    char query[128], hint[512];
    snprintf(query, sizeof query, "%.*s", (int)(len < 127 ? len : 127), word);
    tm_suggest_text(hint, sizeof hint, query, "--", names, n, 3, 1);
    if (!hint[0]) snprintf(hint, sizeof hint, "; see 'transmamba %s --help'", cmd->name);
    return tm_fail(TM_EINVAL, "%s: unknown option '--%s'%s", cmd->name, query, hint);
}

tm_status tm_cli_parse(tm_cli_args *a, const tm_cli_command *cmd, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    int only_operands = 0;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (only_operands || w[0] != '-' || w[1] == '\0') {
            if (a->n_positional >= cmd->max_positional) {
                if (cmd->max_positional == 0)
                    return tm_fail(TM_EINVAL, "%s: unexpected argument '%s' (it takes only options)",
                                   cmd->name, w);
                return tm_fail(TM_EINVAL, "%s: too many arguments at '%s' (at most %d %s)", cmd->name,
                               w, cmd->max_positional, cmd->positional ? cmd->positional : "operands");
            }
            a->positional[a->n_positional++] = w;
            continue;
        }
        if (strcmp(w, "--") == 0) {
            only_operands = 1;
            continue;
        }
        if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
            a->help = 1;
            continue;
        }
        if (w[1] != '-')
            return tm_fail(TM_EINVAL, "%s: unknown option '%s' (options are spelled --name)", cmd->name, w);
        const char *name = w + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int opt = find_option(cmd, name, len);
        if (opt < 0) return unknown_option(cmd, name, len);
        const tm_cli_option *o = &cmd->options[opt];
        const char *value = NULL;
        if (!o->metavar) {
            if (eq) return tm_fail(TM_EINVAL, "%s: --%s takes no value (got '%s')", cmd->name, o->name, w);
        } else if (eq) {
            value = eq + 1;
        } else {
            /* "--steps --json" is a forgotten value, not a value "--json". */
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return tm_fail(TM_EINVAL, "%s: --%s needs a value (%s)", cmd->name, o->name, o->metavar);
            value = argv[++i];
        }
        if (a->n_items >= TM_CLI_MAX_ARGS)
            return tm_fail(TM_EINVAL, "%s: more than %d options", cmd->name, TM_CLI_MAX_ARGS);
        a->items[a->n_items].opt = opt;
        a->items[a->n_items].value = value;
        a->n_items++;
    }
    return TM_OK;
}

static int last_item(const tm_cli_args *a, const char *name) {
    for (int i = a->n_items - 1; i >= 0; i--)
        if (strcmp(a->cmd->options[a->items[i].opt].name, name) == 0) return i;
    return -1;
}

const char *tm_cli_get(const tm_cli_args *a, const char *name) {
    int i = last_item(a, name);
    return i < 0 ? NULL : a->items[i].value;
}

int tm_cli_has(const tm_cli_args *a, const char *name) { return last_item(a, name) >= 0; }

tm_status tm_cli_get_int(const tm_cli_args *a, const char *name, long long min, long long max,
                         long long *out) {
    const char *v = tm_cli_get(a, name);
    if (!v) return TM_OK;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno == ERANGE || (v[0] != '-' && v[0] != '+' && (v[0] < '0' || v[0] > '9')))
        return tm_fail(TM_EINVAL, "%s: --%s must be an integer (got '%s')", a->cmd->name, name, v);
    if (x < min || x > max)
        return tm_fail(TM_ERANGE, "%s: --%s must be in [%lld, %lld] (got %lld)", a->cmd->name, name,
                       min, max, x);
    *out = x;
    return TM_OK;
}

static tm_status apply_items(const tm_cli_args *a, const tm_config_schema *s, void *copy) {
    for (int i = 0; i < a->n_items; i++) {
        const tm_cli_option *o = &a->cmd->options[a->items[i].opt];
        if (strcmp(o->name, "config") == 0) TM_TRY(tm_config_load_file(s, copy, a->items[i].value));
    }
    for (int i = 0; i < a->n_items; i++) {
        const tm_cli_option *o = &a->cmd->options[a->items[i].opt];
        const char *v = a->items[i].value;
        if (strcmp(o->name, "set") == 0) {
            tm_status st = tm_config_set(s, copy, v);
            if (st != TM_OK) return tm_error_context(st, "--set %s", v);
        } else if (o->config_key) {
            tm_status st = tm_config_set_value(s, copy, o->config_key, v);
            if (st != TM_OK) return tm_error_context(st, "--%s %s", o->name, v);
        }
    }
    return TM_OK;
}

tm_status tm_cli_apply_config(const tm_cli_args *a, const tm_config_schema *s, void *base) {
    void *copy = malloc(s->struct_size);
    if (!copy) return tm_fail(TM_ENOMEM, "%s: out of memory", a->cmd->name);
    memcpy(copy, base, s->struct_size);
    tm_status st = apply_items(a, s, copy);
    if (st == TM_OK) memcpy(base, copy, s->struct_size);
    free(copy);
    if (st != TM_OK) return tm_error_context(st, "%s", a->cmd->name);
    return TM_OK;
}

void tm_cli_print_help(FILE *out, const tm_cli_command *cmd) {
    fprintf(out, "usage: transmamba %s%s%s\n\n%s\n", cmd->name, cmd->synopsis ? " " : "",
            cmd->synopsis ? cmd->synopsis : "", cmd->summary);
    if (cmd->description) fprintf(out, "\n%s\n", cmd->description);
    if (cmd->subcommands) {
        fprintf(out, "\nsubcommands:\n");
        for (int i = 0; cmd->subcommands[i]; i++) {
            const char *sub = strrchr(cmd->subcommands[i]->name, ' ');
            fprintf(out, "  %-10s %s\n", sub ? sub + 1 : cmd->subcommands[i]->name,
                    cmd->subcommands[i]->summary);
        }
        fprintf(out, "\n'transmamba %s SUBCOMMAND --help' shows a subcommand's options.\n", cmd->name);
    }
    int width = 10;
    char left[160];
    for (int i = 0; i < cmd->n_options; i++) {
        const tm_cli_option *o = &cmd->options[i];
        int n = snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
        if (n > width) width = n;
    }
    fprintf(out, "\noptions:\n");
    for (int i = 0; i < cmd->n_options; i++) {
        const tm_cli_option *o = &cmd->options[i];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "  %-*s  %s", width, left, o->help);
        if (o->config_key) fprintf(out, " (= --set %s=...)", o->config_key);
        fprintf(out, "\n");
    }
    fprintf(out, "  %-*s  %s\n", width, "--help, -h", "show this help");
    if (cmd->config) {
        fprintf(out, "\nconfig keys (--set KEY=VALUE, or in the --config JSON file;\n"
                     "dotted keys are nested objects there: {\"optim\": {\"lr\": 1e-3}}):\n");
        tm_config_print_help(out, cmd->config);
    }
}
