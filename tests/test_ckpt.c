/* Model checkpoints: full round trip; every corrupt-checkpoint class
 * rejected with the file and the field named and the model left exactly as
 * it was; atomic save (no temp file left, the old checkpoint intact when a
 * save fails). The format layer alone is tested in test_safetensors.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ckpt.h"
#include "core/safetensors.h"

/* ---- a small model with everything a run checkpoints ---- */

enum { PLAIN, TRANSPOSED, NO_BIAS, EXTRA_LAYER };

typedef struct {
    tm_params p;
    float *m, *v;          /* AdamW moments, parallel to p.data */
    float obs_mean[4];     /* normalisation statistics */
    int32_t obs_count[1];
    int64_t step, episodes;
    tm_rng env_rng, learner_rng;
    tm_ckpt ck;
} run;

static const char *CONFIG = "{\"controller\": \"mamba\", \"d_model\": 3, \"seed\": 7}";

/* Builds the model of `variant` with values drawn from `seed`. r must not
 * move afterwards (ck points into it). */
static void run_init(run *r, int variant, uint64_t seed) {
    memset(r, 0, sizeof *r);
    tm_params_init(&r->p);
    size_t off;
    int64_t embed[2] = {5, 3}, embed_t[2] = {3, 5};
    cr_assert_eq(tm_params_declare(&r->p, "embed.weight", 2, variant == TRANSPOSED ? embed_t : embed,
                                   0, &off), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_params_declare(&r->p, "layers.0.norm.w", 1, (int64_t[]){3}, TM_PARAM_NO_DECAY,
                                   &off), TM_OK);
    if (variant == EXTRA_LAYER)
        cr_assert_eq(tm_params_declare(&r->p, "layers.1.norm.w", 1, (int64_t[]){3}, 0, &off), TM_OK);
    if (variant != NO_BIAS)
        cr_assert_eq(tm_params_declare(&r->p, "head.bias", 1, (int64_t[]){2}, 0, &off), TM_OK);
    cr_assert_eq(tm_params_finalize(&r->p), TM_OK, "%s", tm_last_error());
    r->m = calloc(r->p.n, sizeof *r->m);
    r->v = calloc(r->p.n, sizeof *r->v);
    cr_assert(r->m && r->v);
    tm_rng g;
    tm_rng_seed(&g, seed, 0);
    /* Views only: the padding between views stays zero (params.c). */
    for (int i = 0; i < r->p.n_views; i++) {
        const tm_param_view *v = &r->p.views[i];
        tm_rng_fill_normal(&g, r->p.data + v->offset, (long)v->numel, 0.0f, 1.0f);
        tm_rng_fill_normal(&g, r->m + v->offset, (long)v->numel, 0.0f, 0.1f);
        tm_rng_fill_uniform(&g, r->v + v->offset, (long)v->numel, 0.0f, 0.01f);
    }
    tm_rng_fill_normal(&g, r->obs_mean, 4, 0.0f, 1.0f);
    r->obs_count[0] = (int32_t)(seed * 1000 + 17);
    r->step = 1234 + (int64_t)seed;
    r->episodes = -(int64_t)seed; /* negative: the sign must survive */
    tm_rng_seed(&r->env_rng, seed, 1);
    tm_rng_seed(&r->learner_rng, seed, 2);

    tm_ckpt_init(&r->ck, &r->p);
    cr_assert_eq(tm_ckpt_bind_moment(&r->ck, "adamw.m", r->m), TM_OK);
    cr_assert_eq(tm_ckpt_bind_moment(&r->ck, "adamw.v", r->v), TM_OK);
    cr_assert_eq(tm_ckpt_bind_tensor(&r->ck, "obs_norm.mean", TM_F32, 1, (int64_t[]){4},
                                     r->obs_mean), TM_OK);
    cr_assert_eq(tm_ckpt_bind_tensor(&r->ck, "obs_norm.count", TM_I32, 0, NULL, r->obs_count),
                 TM_OK);
    cr_assert_eq(tm_ckpt_bind_counter(&r->ck, "step", &r->step), TM_OK);
    cr_assert_eq(tm_ckpt_bind_counter(&r->ck, "episodes", &r->episodes), TM_OK);
    cr_assert_eq(tm_ckpt_bind_rng(&r->ck, "env", &r->env_rng), TM_OK);
    cr_assert_eq(tm_ckpt_bind_rng(&r->ck, "learner", &r->learner_rng), TM_OK);
    tm_ckpt_set_config(&r->ck, CONFIG);
}

static void run_free(run *r) {
    tm_params_free(&r->p);
    free(r->m);
    free(r->v);
}

/* Everything a load may write, as one comparable blob. */
typedef struct { unsigned char *bytes; size_t n; } snapshot;

static snapshot take(const run *r) {
    size_t fl = r->p.n * sizeof(float);
    snapshot s = {malloc(3 * fl + 256), 0};
    cr_assert_not_null(s.bytes);
#define PUT(ptr, len) (memcpy(s.bytes + s.n, (ptr), (len)), s.n += (len))
    PUT(r->p.data, fl);
    PUT(r->m, fl);
    PUT(r->v, fl);
    PUT(r->obs_mean, sizeof r->obs_mean);
    PUT(r->obs_count, sizeof r->obs_count);
    PUT(&r->step, sizeof r->step);
    PUT(&r->episodes, sizeof r->episodes);
    PUT(&r->env_rng, sizeof r->env_rng);
    PUT(&r->learner_rng, sizeof r->learner_rng);
#undef PUT
    return s;
}

static int same(snapshot a, snapshot b) { return a.n == b.n && memcmp(a.bytes, b.bytes, a.n) == 0; }

/* ---- temp dirs and files ---- */

static void make_dir(char *dir) {
    strcpy(dir, "/tmp/tm_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Number of entries in dir, and whether any looks like our temp file. */
static int count_entries(const char *dir, int *temps) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    *temps = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (strstr(e->d_name, ".tmp.")) (*temps)++;
    }
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Replaces the first `from` in the header by `to` of the same length, so
 * the header length and every offset stay valid. */
static void patch_header(unsigned char *b, size_t len, const char *from, const char *to) {
    cr_assert_eq(strlen(from), strlen(to), "patch must keep the length: %s -> %s", from, to);
    size_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    cr_assert_leq(8 + n, len);
    size_t k = strlen(from);
    for (size_t i = 8; i + k <= 8 + n; i++)
        if (memcmp(b + i, from, k) == 0) {
            memcpy(b + i, to, k);
            return;
        }
    cr_assert_fail("'%s' not in the header", from);
}

static void set_header_length(unsigned char *b, uint64_t n) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
}

/* ---- round trip ---- */

Test(ckpt, round_trip_restores_params_moments_tensors_counters_and_rngs) {
    char dir[32], path[64];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    run a, b;
    run_init(&a, PLAIN, 1);
    run_init(&b, PLAIN, 2);
    snapshot sa = take(&a), sb = take(&b);
    cr_assert(!same(sa, sb), "the two runs must differ for the test to mean anything");
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_ckpt_load(&b.ck, path), TM_OK, "%s", tm_last_error());
    snapshot sb2 = take(&b);
    cr_assert(same(sa, sb2), "loaded state differs from the saved one");
    /* The restored generators continue the saved sequences. */
    cr_assert_eq(tm_rng_u64(&a.env_rng), tm_rng_u64(&b.env_rng));
    cr_assert_eq(tm_rng_u64(&a.learner_rng), tm_rng_u64(&b.learner_rng));

    char *config = NULL;
    cr_assert_eq(tm_ckpt_read_meta(path, "config", &config), TM_OK, "%s", tm_last_error());
    cr_assert_str_eq(config, CONFIG);
    free(config);
    cr_assert_eq(tm_ckpt_read_meta(path, "no.such.key", &config), TM_EFORMAT);
    cr_assert(strstr(tm_last_error(), "'no.such.key' is missing"));
    cr_assert(strstr(tm_last_error(), path));

    /* The file is a plain safetensors file a reference reader can list. */
    tm_st_file f;
    cr_assert_eq(tm_st_read(&f, path), TM_OK);
    cr_assert_eq(f.n_entries, 3 * 3 + 2); /* 3 params x (value, m, v) + 2 extras */
    cr_assert_not_null(tm_st_find(&f, "adamw.v.layers.0.norm.w"));
    cr_assert_str_eq(tm_st_meta(&f, "counter.episodes"), "-1");
    cr_assert_str_eq(tm_st_meta(&f, "format"), TM_CKPT_FORMAT);
    tm_st_close(&f);

    free(sa.bytes);
    free(sb.bytes);
    free(sb2.bytes);
    run_free(&a);
    run_free(&b);
    remove_tree(dir);
}

Test(ckpt, saves_leave_no_temp_file_and_overwrite_in_place) {
    char dir[32], path[64];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    run a;
    run_init(&a, PLAIN, 3);
    int temps;
    for (int i = 0; i < 3; i++) {
        a.step += 100;
        cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_OK, "%s", tm_last_error());
        cr_assert_eq(count_entries(dir, &temps), 1);
        cr_assert_eq(temps, 0);
    }
    char *step;
    cr_assert_eq(tm_ckpt_read_meta(path, "counter.step", &step), TM_OK);
    cr_assert_str_eq(step, "1537"); /* 1234 + 3 + 300: the last save won */
    free(step);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0644);
    run_free(&a);
    remove_tree(dir);
}

/* ---- corrupt checkpoints ---- */

/* Loads `bytes` written to dir/name into a PLAIN run and checks the error
 * names the file and contains each expected piece, and that the run is
 * untouched. */
static void expect_rejected(const char *dir, const char *name, const void *bytes, size_t len,
                            tm_status code, const char *e1, const char *e2) {
    char path[96];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    spit(path, bytes, len);
    run r;
    run_init(&r, PLAIN, 9);
    snapshot before = take(&r);
    tm_clear_error();
    tm_status st = tm_ckpt_load(&r.ck, path);
    const char *msg = tm_last_error();
    cr_expect_eq(st, code, "%s: status %d (%s)", name, st, msg);
    cr_expect(strstr(msg, path) != NULL, "%s: file not named in: %s", name, msg);
    if (e1) cr_expect(strstr(msg, e1) != NULL, "%s: expected '%s' in: %s", name, e1, msg);
    if (e2) cr_expect(strstr(msg, e2) != NULL, "%s: expected '%s' in: %s", name, e2, msg);
    snapshot after = take(&r);
    cr_expect(same(before, after), "%s: a failed load changed the model", name);
    free(before.bytes);
    free(after.bytes);
    run_free(&r);
}

Test(ckpt, every_corrupt_file_class_is_rejected_and_leaves_the_model_unchanged) {
    char dir[32], path[64];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    run a;
    run_init(&a, PLAIN, 4);
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_OK, "%s", tm_last_error());
    size_t len;
    unsigned char *good = slurp(path, &len);
    unsigned char *b = malloc(len);

    /* Where head.bias lies, to patch its offsets and data. */
    tm_st_file f;
    cr_assert_eq(tm_st_read(&f, path), TM_OK);
    const tm_st_entry *bias = tm_st_find(&f, "head.bias");
    size_t hb = bias->begin, he = bias->end;
    size_t bias_at = (size_t)((const unsigned char *)bias->data - f.bytes);
    tm_st_close(&f);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | good[i];
    size_t buffer = len - 8 - (size_t)header_len;
    char from[64], to[64];
    snprintf(from, sizeof from, "\"data_offsets\":[%zu,%zu]", hb, he);

    expect_rejected(dir, "truncated.st", good, len - 3, TM_EFORMAT, "obs_norm.count", "truncated");
    expect_rejected(dir, "truncated_header.st", good, 40, TM_EFORMAT, "header length", "larger than the file");
    expect_rejected(dir, "tiny.st", good, 6, TM_EFORMAT, "too short", NULL);

    memcpy(b, good, len);
    set_header_length(b, 0);
    expect_rejected(dir, "len_zero.st", b, len, TM_EFORMAT, "header length is 0", NULL);
    set_header_length(b, (uint64_t)1 << 40);
    expect_rejected(dir, "len_huge.st", b, len, TM_EFORMAT, "header length 1099511627776", "limit");
    set_header_length(b, len);
    expect_rejected(dir, "len_past_file.st", b, len, TM_EFORMAT, "larger than the file", NULL);

    memcpy(b, good, len);
    b[8 + 1] = '#';
    expect_rejected(dir, "bad_json.st", b, len, TM_EFORMAT, "not valid JSON", NULL);

    memcpy(b, good, len);
    patch_header(b, len, "\"head.bias\":{\"dtype\":\"F32\"", "\"head.bias\":{\"dtype\":\"I32\"");
    expect_rejected(dir, "wrong_dtype.st", b, len, TM_EFORMAT, "tensor 'head.bias'", "dtype is I32, expected F32");

    memcpy(b, good, len);
    patch_header(b, len, "\"head.bias\":{\"dtype\":\"F32\"", "\"head.bias\":{\"dtype\":\"F99\"");
    expect_rejected(dir, "unknown_dtype.st", b, len, TM_EFORMAT, "tensor 'head.bias'", "dtype 'F99'");

    /* Offsets past the end, then overlapping the neighbour: each patch keeps
     * the digit count, so the header length stays right. */
    cr_assert(he >= 100 && he < 999 && buffer < 999, "layout changed: adjust the patches");
    snprintf(to, sizeof to, "\"data_offsets\":[%zu,999]", hb);
    memcpy(b, good, len);
    patch_header(b, len, from, to);
    expect_rejected(dir, "offsets_past_end.st", b, len, TM_EFORMAT, "tensor 'head.bias'", "past the end");
    snprintf(to, sizeof to, "\"data_offsets\":[%zu,%zu]", hb - 4, he - 4);
    memcpy(b, good, len);
    patch_header(b, len, from, to);
    expect_rejected(dir, "overlap.st", b, len, TM_EFORMAT, "head.bias", "overlap");

    /* A non-finite parameter value in the data. */
    memcpy(b, good, len);
    const uint32_t nan_bits = 0x7FC00001u;
    memcpy(b + bias_at + 4, &nan_bits, 4);
    expect_rejected(dir, "nan_param.st", b, len, TM_ENUMERIC, "tensor 'head.bias'", "element 1 is not finite");

    /* Metadata: the last fields checked; the params before them are valid
     * and different from the model's, so a partial copy would show. */
    memcpy(b, good, len);
    patch_header(b, len, "\"format\":\"transmamba.ckpt\"", "\"format\":\"transmamba.ckpX\"");
    expect_rejected(dir, "wrong_format.st", b, len, TM_EFORMAT, "'format'", "transmamba.ckpX");
    memcpy(b, good, len);
    patch_header(b, len, "\"counter.step\":\"1238\"", "\"counter.step\":\"12x8\"");
    expect_rejected(dir, "bad_counter.st", b, len, TM_EFORMAT, "'counter.step'", "12x8");
    memcpy(b, good, len);
    /* rng: the first hex digit becomes 'g'. */
    memcpy(b, good, len);
    const char *key = "\"rng.learner\":\"";
    unsigned char *at = memmem(b + 8, (size_t)header_len, key, strlen(key));
    cr_assert_not_null(at);
    at[strlen(key)] = 'g';
    expect_rejected(dir, "bad_rng.st", b, len, TM_EFORMAT, "'rng.learner'", "hex");

    free(b);
    free(good);
    run_free(&a);
    remove_tree(dir);
}

Test(ckpt, a_different_model_is_rejected_naming_the_tensor) {
    char dir[32], path[64];
    make_dir(dir);
    static const struct { int variant; const char *e1, *e2; } cases[] = {
        /* Same element count, other shape: bytes alone would fit. */
        {TRANSPOSED, "tensor 'embed.weight'", "shape is [3, 5], expected [5, 3]"},
        {NO_BIAS, "tensor 'head.bias' is missing", NULL},
        {EXTRA_LAYER, "tensor 'layers.1.norm.w' is in the file but not in the model", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/variant%zu.st", dir, i);
        run other;
        run_init(&other, cases[i].variant, 5);
        cr_assert_eq(tm_ckpt_save(&other.ck, path), TM_OK, "%s", tm_last_error());
        size_t len;
        unsigned char *bytes = slurp(path, &len);
        char name[32];
        snprintf(name, sizeof name, "loaded%zu.st", i);
        expect_rejected(dir, name, bytes, len, TM_EFORMAT, cases[i].e1, cases[i].e2);
        free(bytes);
        run_free(&other);
    }
    remove_tree(dir);
}

Test(ckpt, ignore_unbound_loads_parameters_without_the_optimizer) {
    char dir[32], path[64];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/ckpt.st", dir);
    run a;
    run_init(&a, PLAIN, 6);
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_OK);
    run b;
    run_init(&b, PLAIN, 7);
    tm_ckpt eval;
    tm_ckpt_init(&eval, &b.p);
    cr_assert_eq(tm_ckpt_load(&eval, path), TM_EFORMAT);
    cr_assert(strstr(tm_last_error(), "'adamw.m.embed.weight' is in the file but not in the model"),
              "%s", tm_last_error());
    eval.ignore_unbound = 1;
    cr_assert_eq(tm_ckpt_load(&eval, path), TM_OK, "%s", tm_last_error());
    cr_assert_eq(memcmp(a.p.data, b.p.data, a.p.n * sizeof(float)), 0);
    cr_assert_neq(memcmp(a.m, b.m, a.p.n * sizeof(float)), 0, "moments were not bound");
    run_free(&a);
    run_free(&b);
    remove_tree(dir);
}

/* ---- atomic save ---- */

Test(ckpt, save_into_a_missing_directory_fails_and_creates_nothing) {
    char dir[32], path[96];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/no/such/dir/ckpt.st", dir);
    run a;
    run_init(&a, PLAIN, 8);
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_EIO);
    cr_assert(strstr(tm_last_error(), path), "%s", tm_last_error());
    int temps;
    cr_assert_eq(count_entries(dir, &temps), 0);
    run_free(&a);
    remove_tree(dir);
}

Test(ckpt, save_below_a_file_fails_and_leaves_the_file) {
    char dir[32], blocker[64], path[96];
    make_dir(dir);
    snprintf(blocker, sizeof blocker, "%s/blocker", dir);
    spit(blocker, "keep", 4);
    snprintf(path, sizeof path, "%s/ckpt.st", blocker);
    run a;
    run_init(&a, PLAIN, 8);
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_EIO);
    cr_assert(strstr(tm_last_error(), "Not a directory"), "%s", tm_last_error());
    size_t len;
    unsigned char *b = slurp(blocker, &len);
    cr_assert(len == 4 && memcmp(b, "keep", 4) == 0);
    free(b);
    int temps;
    cr_assert_eq(count_entries(dir, &temps), 1);
    run_free(&a);
    remove_tree(dir);
}

Test(ckpt, failed_saves_keep_the_old_checkpoint_and_remove_the_temp_file) {
    char dir[32], path[64], as_dir[64];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/ckpt.st", dir);
    run a;
    run_init(&a, PLAIN, 10);
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_OK);
    size_t old_len;
    unsigned char *old = slurp(path, &old_len);

    /* 1. The write fails halfway: a file size limit below the checkpoint's
     * size makes write() return EFBIG once the temp file reaches it. */
    a.p.data[0] += 1.0f;
    a.step++;
    struct rlimit saved, small = {.rlim_cur = 256, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    tm_status st = tm_ckpt_save(&a.ck, path);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    cr_assert_eq(st, TM_EIO, "save past the size limit should fail: %s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "writing"), "%s", tm_last_error());

    /* 2. NaN in a parameter: refused before any file is made. */
    a.p.data[a.p.n - 1] = 0.0f / 0.0f;
    cr_assert_eq(tm_ckpt_save(&a.ck, path), TM_ENUMERIC);
    cr_assert(strstr(tm_last_error(), "head.bias"), "%s", tm_last_error());

    size_t len;
    unsigned char *now = slurp(path, &len);
    cr_assert(len == old_len && memcmp(now, old, len) == 0, "the old checkpoint changed");
    free(now);
    int temps;
    cr_assert_eq(count_entries(dir, &temps), 1);
    cr_assert_eq(temps, 0);

    /* 3. The rename fails: the target is a directory. */
    snprintf(as_dir, sizeof as_dir, "%s/dir.st", dir);
    cr_assert_eq(mkdir(as_dir, 0755), 0);
    a.p.data[a.p.n - 1] = 1.0f;
    cr_assert_eq(tm_ckpt_save(&a.ck, as_dir), TM_EIO);
    cr_assert(strstr(tm_last_error(), "renaming"), "%s", tm_last_error());
    struct stat sb;
    cr_assert(stat(as_dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    cr_assert_eq(count_entries(dir, &temps), 2);
    cr_assert_eq(temps, 0);

    free(old);
    run_free(&a);
    remove_tree(dir);
}

Test(ckpt, bindings_reject_bad_names_and_unfinalized_params) {
    tm_params p;
    tm_params_init(&p);
    tm_ckpt ck;
    tm_ckpt_init(&ck, &p);
    float x[1];
    int64_t c;
    cr_assert_eq(tm_ckpt_save(&ck, "/tmp/never.st"), TM_ESTATE);
    cr_assert_eq(tm_ckpt_bind_moment(&ck, "", x), TM_EINVAL);
    cr_assert_eq(tm_ckpt_bind_moment(&ck, "has space", x), TM_EINVAL);
    cr_assert_eq(tm_ckpt_bind_moment(&ck, "q\"uote", x), TM_EINVAL);
    cr_assert_eq(tm_ckpt_bind_counter(&ck, "step", &c), TM_OK);
    cr_assert_eq(tm_ckpt_bind_counter(&ck, "step", &c), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "counter 'step' bound twice"));
    char longname[TM_CKPT_NAME_MAX + 1];
    memset(longname, 'a', TM_CKPT_NAME_MAX);
    longname[TM_CKPT_NAME_MAX] = '\0';
    cr_assert_eq(tm_ckpt_bind_counter(&ck, longname, &c), TM_EINVAL);
    cr_assert_eq(tm_ckpt_bind_rng(&ck, "env", NULL), TM_EINVAL);
    cr_assert_eq(tm_ckpt_bind_tensor(&ck, "t", TM_F32, 1, (int64_t[]){-2}, x), TM_EINVAL);
    cr_assert_eq(ck.n_moments + ck.n_rngs + ck.n_tensors, 0);
    cr_assert_eq(ck.n_counters, 1);
    tm_params_free(&p);
}
