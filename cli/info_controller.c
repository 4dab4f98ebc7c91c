/* `transmamba info --controller NAME [--set controller.KEY=VALUE ...]
 * [--batch B --seq T] [--json]`: builds the controller and prints its kind,
 * resolved config, parameter count (total and per top-level group: input,
 * layers.i, norm_f), one stream's state bytes, activation and scratch bytes
 * at (B, T), and its attention/Mamba layer counts. Definition: the
 * controllers task (a user sizes a model before training); the JSON line
 * follows shared spec cli.md (one object, last line of stdout). */
#include "cli/info_controller.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "controllers/controller.h"

#define KEY_MAX 96
#define MAX_FIELDS 128
#define MAX_GROUPS 80 /* input, up to 64 layers, final norm, and the memory's */

/* The controller's table with every key under "controller.", as the run
 * config nests it, so --set and --config read the same keys as training. */
/* "1.5 MiB": the size a person reads next to the exact count. */
static const char *human_bytes(char *buf, size_t cap, size_t n) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 4) v /= 1024.0, u++;
    snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

static tm_status prefixed_schema(const tm_config_schema **out) {
    static tm_config_field fields[MAX_FIELDS];
    static char keys[MAX_FIELDS][KEY_MAX];
    static tm_config_schema schema;
    const tm_config_schema *base = tm_controller_config_schema();
    if (base->n_fields > MAX_FIELDS)
        return tm_fail(TM_ENOMEM, "info: the controller table has %d keys, room for %d", base->n_fields, MAX_FIELDS);
    for (int i = 0; i < base->n_fields; i++) {
        fields[i] = base->fields[i];
        snprintf(keys[i], KEY_MAX, "controller.%s", base->fields[i].key);
        fields[i].key = keys[i];
    }
    schema = (tm_config_schema){"config", fields, base->n_fields, base->struct_size};
    *out = &schema;
    return TM_OK;
}

typedef struct {
    char name[TM_PARAM_NAME_MAX];
    size_t numel;
} group;

/* Top-level group of a parameter name: "layers.3.attn.q_proj.weight" ->
 * "layers.3", "norm_f.weight" -> "norm_f". */
static void group_of(const char *name, char *out, size_t cap) {
    const char *dot = strchr(name, '.');
    if (dot && strncmp(name, "layers.", 7) == 0) dot = strchr(dot + 1, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    if (n >= cap) n = cap - 1;
    memcpy(out, name, n);
    out[n] = '\0';
}

static int collect_groups(const tm_params *p, group *g, int cap) {
    int n = 0;
    for (int i = 0; i < p->n_views; i++) {
        char name[TM_PARAM_NAME_MAX];
        group_of(p->views[i].name, name, sizeof name);
        int k = 0;
        while (k < n && strcmp(g[k].name, name) != 0) k++;
        if (k == n) {
            if (n == cap) continue;
            snprintf(g[n].name, sizeof g[n].name, "%s", name);
            g[n++].numel = 0;
        }
        g[k].numel += p->views[i].numel;
    }
    return n;
}

static int print_json(const tm_controller *m, const tm_controller_report *r, const group *g, int ng,
                      int B, int T) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "controller", tm_controller_kind_name(m->cfg.kind));
    cJSON_AddNumberToObject(o, "params", (double)r->params);
    cJSON *groups = cJSON_AddObjectToObject(o, "param_groups");
    for (int i = 0; i < ng && groups; i++) cJSON_AddNumberToObject(groups, g[i].name, (double)g[i].numel);
    cJSON_AddNumberToObject(o, "state_stream_bytes", (double)r->state_stream_bytes);
    cJSON_AddNumberToObject(o, "acts_bytes", (double)r->acts_bytes);
    cJSON_AddNumberToObject(o, "scratch_bytes", (double)r->scratch_bytes);
    cJSON_AddNumberToObject(o, "attn_layers", r->attn_layers);
    cJSON_AddNumberToObject(o, "mamba_layers", r->mamba_layers);
    cJSON_AddNumberToObject(o, "batch", B);
    cJSON_AddNumberToObject(o, "seq", T);
    cJSON *cfg = NULL;
    if (tm_config_to_json(tm_controller_config_schema(), &m->cfg, &cfg) == TM_OK)
        cJSON_AddItemToObject(o, "config", cfg);
    return tm_cli_print_json(o);
}

int tm_cli_info_controller(const tm_cli_args *args) {
    tm_controller_kind kind;
    if (tm_controller_kind_parse(tm_cli_get(args, "controller"), &kind) != TM_OK)
        return tm_cli_report_error(TM_EXIT_USAGE);
    /* Vector inputs need a width; 32 stands in for an environment's. */
    tm_controller_config cfg = tm_controller_config_default(kind, 32);
    const tm_config_schema *schema;
    if (prefixed_schema(&schema) != TM_OK || tm_cli_apply_config(args, schema, &cfg) != TM_OK)
        return tm_cli_report_error(TM_EXIT_USAGE);
    if (cfg.kind != kind) {
        tm_fail(TM_EINVAL, "info: controller.kind is set by --controller (got --controller %s and kind %s)",
                tm_controller_kind_name(kind), tm_controller_kind_name(cfg.kind));
        return tm_cli_report_error(TM_EXIT_USAGE);
    }
    long long B = 16, T = 64;
    if (tm_cli_get_int(args, "batch", 1, 1 << 20, &B) != TM_OK ||
        tm_cli_get_int(args, "seq", 1, 1 << 24, &T) != TM_OK)
        return tm_cli_report_error(TM_EXIT_USAGE);
    if (tm_controller_config_validate(&cfg) != TM_OK) return tm_cli_report_error(TM_EXIT_USAGE);
    tm_controller m;
    if (tm_controller_create(&m, &cfg, 0) != TM_OK) return tm_cli_report_error(TM_EXIT_FAILED);
    tm_ctx ctx;
    tm_controller_report r;
    if (tm_ctx_init(&ctx, TM_CPU, 1) != TM_OK || tm_controller_report_sizes(&m, (int)B, (int)T, &ctx, &r) != TM_OK) {
        tm_controller_free(&m);
        tm_ctx_free(&ctx);
        return tm_cli_report_error(TM_EXIT_FAILED);
    }
    static group groups[MAX_GROUPS];
    int ng = collect_groups(&m.params, groups, MAX_GROUPS);

    printf("controller  %s\n", tm_controller_kind_name(kind));
    printf("config\n");
    const tm_config_schema *base = tm_controller_config_schema();
    for (int i = 0; i < base->n_fields; i++) {
        char buf[128];
        printf("  controller.%-32s %s\n", base->fields[i].key, tm_config_format(&base->fields[i], &m.cfg, buf, sizeof buf));
    }
    char h1[32], h2[32], h3[32];
    printf("params      %zu (%s as f32)\n", r.params, human_bytes(h1, sizeof h1, r.params * sizeof(float)));
    for (int i = 0; i < ng; i++) printf("  %-24s %zu\n", groups[i].name, groups[i].numel);
    printf("layers      %d attention, %d mamba\n", r.attn_layers, r.mamba_layers);
    printf("state       %zu bytes per stream (%s)\n", r.state_stream_bytes,
           human_bytes(h1, sizeof h1, r.state_stream_bytes));
    printf("acts        %zu bytes at batch %lld, seq %lld (%s)\n", r.acts_bytes, B, T,
           human_bytes(h2, sizeof h2, r.acts_bytes));
    printf("scratch     %zu bytes at batch %lld, seq %lld (%s)\n", r.scratch_bytes, B, T,
           human_bytes(h3, sizeof h3, r.scratch_bytes));
    fflush(stdout);
    int rc = tm_cli_has(args, "json") ? print_json(&m, &r, groups, ng, (int)B, (int)T) : TM_EXIT_OK;
    tm_controller_free(&m);
    tm_ctx_free(&ctx);
    return rc;
}
