/* `transmamba info`: build facts. Definition: shared spec cli.md ("info:
 * version, CUDA on/off and devices, BLAS, MuJoCo version, ZeroMQ version
 * and CURVE support"; --json keys {"version","cuda","cuda_devices","blas",
 * "mujoco","zmq","curve"}). */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "cli/commands.h"
#include "cli/info_controller.h"
#include "kernels/device.h"

#ifndef TM_VERSION
#define TM_VERSION "unknown"
#endif
#ifdef TM_HAVE_CUDA
#define CUDA_BUILT 1
#else
#define CUDA_BUILT 0
#endif

#define MAX_LISTED_DEVICES 16

typedef struct {
    char name[256];
    int major, minor;
    size_t mem_bytes;
} device_fact;

typedef struct {
    int n_devices;
    device_fact devices[MAX_LISTED_DEVICES];
    char blas[512];
    char mujoco[64];
    char zmq[32];
    int curve;
} build_facts;

static void gather(build_facts *f) {
    f->n_devices = tm_cuda_device_count();
    for (int i = 0; i < f->n_devices && i < MAX_LISTED_DEVICES; i++) {
        device_fact *d = &f->devices[i];
        if (tm_cuda_device_info(i, d->name, sizeof d->name, &d->major, &d->minor, &d->mem_bytes) != TM_OK)
            snprintf(d->name, sizeof d->name, "(query failed: %s)", tm_last_error());
    }
    snprintf(f->blas, sizeof f->blas, "%s (threads %d)", openblas_get_config(), openblas_get_num_threads());
    /* The header's version next to the library's: they should agree. */
    snprintf(f->mujoco, sizeof f->mujoco, "%s", mj_versionString());
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    snprintf(f->zmq, sizeof f->zmq, "%d.%d.%d", major, minor, patch);
    f->curve = zmq_has("curve");
}

static int print_json(const build_facts *f) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", TM_VERSION);
    cJSON_AddBoolToObject(o, "cuda", CUDA_BUILT);
    cJSON_AddNumberToObject(o, "cuda_devices", f->n_devices);
    cJSON *list = cJSON_AddArrayToObject(o, "cuda_device_list");
    for (int i = 0; i < f->n_devices && i < MAX_LISTED_DEVICES && list; i++) {
        cJSON *d = cJSON_CreateObject();
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", f->devices[i].major, f->devices[i].minor);
        cJSON_AddStringToObject(d, "name", f->devices[i].name);
        cJSON_AddStringToObject(d, "compute_capability", cc);
        cJSON_AddNumberToObject(d, "memory_bytes", (double)f->devices[i].mem_bytes);
        cJSON_AddItemToArray(list, d);
    }
    cJSON_AddStringToObject(o, "blas", f->blas);
    cJSON_AddStringToObject(o, "mujoco", f->mujoco);
    cJSON_AddStringToObject(o, "zmq", f->zmq);
    cJSON_AddBoolToObject(o, "curve", f->curve);
    return tm_cli_print_json(o);
}

static int run_info(const tm_cli_command *cmd, const tm_cli_args *args) {
    (void)cmd;
    if (tm_cli_has(args, "controller")) return tm_cli_info_controller(args);
    if (tm_cli_has(args, "set") || tm_cli_has(args, "config") || tm_cli_has(args, "batch") || tm_cli_has(args, "seq")) {
        tm_fail(TM_EINVAL, "info: --set, --config, --batch and --seq describe a controller: give --controller NAME");
        return tm_cli_report_error(TM_EXIT_USAGE);
    }
    static build_facts f;
    gather(&f);
    printf("transmamba %s\n", TM_VERSION);
    printf("cuda    %s, %d device%s\n", CUDA_BUILT ? "on" : "off", f.n_devices, f.n_devices == 1 ? "" : "s");
    for (int i = 0; i < f.n_devices && i < MAX_LISTED_DEVICES; i++)
        printf("        %d: %s, compute capability %d.%d, %.1f GiB\n", i, f.devices[i].name,
               f.devices[i].major, f.devices[i].minor, (double)f.devices[i].mem_bytes / (1 << 30));
    printf("blas    %s\n", f.blas);
    printf("mujoco  %s (header %d)\n", f.mujoco, mjVERSION_HEADER);
    printf("zmq     %s, CURVE %s\n", f.zmq, f.curve ? "yes" : "no");
    fflush(stdout);
    return tm_cli_has(args, "json") ? print_json(&f) : TM_EXIT_OK;
}

static const tm_cli_option info_opts[] = {
    TM_CLI_OPT_JSON,
    {"controller", "NAME", "describe a controller instead (transformer, mamba, mamba_dualmem, hybrid): "
                           "config, parameters, state and buffer sizes", NULL},
    TM_CLI_OPT_CONFIG,
    TM_CLI_OPT_SET,
    {"batch", "B", "with --controller: batch for the activation and scratch sizes (16)", NULL},
    {"seq", "T", "with --controller: sequence length for those sizes (64)", NULL},
};
const tm_cli_command tm_cmd_info = {
    "info", "[--controller NAME [--set controller.KEY=VALUE ...] [--batch B --seq T]] [--json]",
    "build facts: version, CUDA and devices, BLAS, MuJoCo, ZeroMQ and CURVE; or a controller's sizes",
    "With --controller, builds that controller from its defaults and the\n--config/--set keys "
    "(controller.d_model, controller.n_layers, ...; see\n`transmamba config --help` style names under "
    "\"controller.\") and prints its\nresolved config, parameter count per group, state, activation and\nscratch sizes.",
    info_opts, (int)(sizeof info_opts / sizeof info_opts[0]), 0, NULL, NULL, run_info, NULL,
};
