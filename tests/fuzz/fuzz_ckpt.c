/* libFuzzer harness for the checkpoint loader: arbitrary bytes through the
 * safetensors parser (core/safetensors.c) and the model-level validation of
 * tm_ckpt_load_memory (core/ckpt.c). Definition of what must hold: the
 * header comments of core/safetensors.h and core/ckpt.h.
 *
 * Besides "no crash, no ASan/UBSan report", it checks the loader's promises:
 * an accepted file's tensors lie inside the input and tile its data buffer,
 * and a rejected checkpoint leaves the model exactly as it was. A violated
 * promise is a crash (abort), so libFuzzer reports it with the input.
 *
 * Run: cmake -DTM_FUZZ=ON with clang, then `ctest -L fuzz` (see the fuzz
 * block of CMakeLists.txt). LLVMFuzzerInitialize writes a valid checkpoint
 * of the harness's model into the corpus folder, so mutations start from a
 * file that gets past the format checks into the model checks. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckpt.h"
#include "core/safetensors.h"

static tm_params params;
static float *moment;
static uint16_t bf16_stats[2];
static int64_t step;
static tm_rng rng;
static tm_ckpt ck;
static unsigned char *snapshot; /* params, moment, bf16_stats, step, rng */
static size_t snapshot_len;

static void must(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_ckpt: %s (%s)\n", what, tm_last_error());
        abort();
    }
}

static size_t pack(unsigned char *out) {
    size_t n = 0, fl = params.n * sizeof(float);
#define PUT(ptr, len) (out ? memcpy(out + n, (ptr), (len)) : NULL, n += (len))
    PUT(params.data, fl);
    PUT(moment, fl);
    PUT(bf16_stats, sizeof bf16_stats);
    PUT(&step, sizeof step);
    PUT(&rng, sizeof rng);
#undef PUT
    return n;
}

static void unpack(const unsigned char *in) {
    size_t n = 0, fl = params.n * sizeof(float);
    memcpy(params.data, in + n, fl), n += fl;
    memcpy(moment, in + n, fl), n += fl;
    memcpy(bf16_stats, in + n, sizeof bf16_stats), n += sizeof bf16_stats;
    memcpy(&step, in + n, sizeof step), n += sizeof step;
    memcpy(&rng, in + n, sizeof rng);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tm_params_init(&params);
    size_t off;
    must(tm_params_declare(&params, "w", 2, (int64_t[]){2, 3}, 0, &off) == TM_OK, "declare w");
    must(tm_params_declare(&params, "b", 1, (int64_t[]){3}, 0, &off) == TM_OK, "declare b");
    must(tm_params_finalize(&params) == TM_OK, "finalize");
    moment = calloc(params.n, sizeof *moment);
    must(moment != NULL, "alloc");
    for (int i = 0; i < params.n_views; i++)
        for (size_t k = 0; k < params.views[i].numel; k++) {
            params.data[params.views[i].offset + k] = 0.25f * (float)k - 1.0f;
            moment[params.views[i].offset + k] = 0.5f;
        }
    bf16_stats[0] = 0x3F80;
    bf16_stats[1] = 0xC000;
    step = 42;
    tm_rng_seed(&rng, 7, 0);
    tm_ckpt_init(&ck, &params);
    must(tm_ckpt_bind_moment(&ck, "adamw.m", moment) == TM_OK, "bind moment");
    must(tm_ckpt_bind_tensor(&ck, "stats", TM_BF16, 1, (int64_t[]){2}, bf16_stats) == TM_OK,
         "bind tensor");
    must(tm_ckpt_bind_counter(&ck, "step", &step) == TM_OK, "bind counter");
    must(tm_ckpt_bind_rng(&ck, "env", &rng) == TM_OK, "bind rng");
    tm_ckpt_set_config(&ck, "{\"d_model\": 3}");
    snapshot_len = pack(NULL);
    snapshot = malloc(snapshot_len);
    must(snapshot != NULL, "alloc");
    pack(snapshot);

    /* Seed the corpus folder (the first argument that is not a flag). */
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        if (a[0] == '-') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-valid-ckpt.safetensors", a);
        if (tm_ckpt_save(&ck, path) != TM_OK)
            fprintf(stderr, "fuzz_ckpt: no seed written: %s\n", tm_last_error());
        break;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tm_st_file f;
    if (tm_st_parse(&f, data, size, "<fuzz>") == TM_OK) {
        /* Accepted: every tensor inside the input, the ranges tiling the
         * buffer (so their sizes sum to it), each range matching its shape. */
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | data[i];
        size_t header = (size_t)n, total = 0;
        unsigned sum = 0;
        for (int i = 0; i < f.n_entries; i++) {
            const tm_st_entry *e = &f.entries[i];
            const uint8_t *p = e->data;
            must(p >= data + 8 + header && p + (e->end - e->begin) <= data + size,
                 "accepted tensor lies outside the input");
            size_t numel = 1;
            for (int d = 0; d < e->ndim; d++) numel *= (size_t)e->shape[d];
            must(numel * (e->dtype == TM_BF16 ? 2 : 4) == e->end - e->begin,
                 "accepted tensor's range disagrees with its shape");
            for (size_t k = 0; k < e->end - e->begin; k++) sum += p[k];
            total += e->end - e->begin;
        }
        must(total == size - 8 - header, "accepted tensors do not tile the buffer");
        for (int i = 0; i < f.n_meta; i++) must(tm_st_meta(&f, f.meta_keys[i]) != NULL, "meta");
        (void)sum;
        tm_st_close(&f);
    }

    tm_status st = tm_ckpt_load_memory(&ck, data, size, "<fuzz>");
    if (st == TM_OK) {
        unpack(snapshot); /* start the next input from the same model */
    } else {
        unsigned char *now = malloc(snapshot_len);
        must(now != NULL, "alloc");
        pack(now);
        must(memcmp(now, snapshot, snapshot_len) == 0, "a rejected checkpoint changed the model");
        free(now);
        must(tm_last_error()[0] != '\0', "an error without a message");
    }
    return 0;
}
