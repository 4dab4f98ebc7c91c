/* safetensors format: bit-exact round trips, the reference writer's file,
 * and every class of malformed header rejected with a message naming the
 * input and the field. Model-level checkpoints are in test_ckpt.c. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/safetensors.h"

/* The export set: the same tensors as export_set() in
 * tests/fixtures/check_safetensors_python.py (bit patterns, not values, so
 * NaN payloads, -0.0, infinities and denormals are all covered). */
static uint32_t f32_bits[10] = {0x80000000u, 0x7FC00001u, 0xFF812345u, 0x7F800000u, 0x00000001u};
static const uint16_t bf16_bits[6] = {0x8000, 0x7FC1, 0x3F80, 0xC2F7, 0x0001, 0xFF80};
static const int32_t i32_vals[4] = {INT32_MIN, -1, 0, INT32_MAX};
static const float scalar_val = 2.5f;
static const char *config_val = "{\"d_model\": 8, \"name\": \"\xc3\xbc \\\"q\\\"\\n\"}";

static void fill_f32_bits(void) {
    for (int i = 5; i < 10; i++) {
        float x = (float)(i - 5) * 0.375f;
        memcpy(&f32_bits[i], &x, 4);
    }
}

static void export_set(tm_st_writer *w) {
    fill_f32_bits();
    tm_st_writer_init(w);
    cr_assert_eq(tm_st_writer_add(w, "f32", TM_F32, 2, (int64_t[]){2, 5}, f32_bits), TM_OK);
    cr_assert_eq(tm_st_writer_add(w, "bf16", TM_BF16, 2, (int64_t[]){3, 2}, bf16_bits), TM_OK);
    cr_assert_eq(tm_st_writer_add(w, "i32", TM_I32, 1, (int64_t[]){4}, i32_vals), TM_OK);
    cr_assert_eq(tm_st_writer_add(w, "scalar", TM_F32, 0, NULL, &scalar_val), TM_OK);
    cr_assert_eq(tm_st_writer_add(w, "empty", TM_I32, 2, (int64_t[]){0, 3}, NULL), TM_OK);
    cr_assert_eq(tm_st_writer_meta(w, "config", config_val), TM_OK);
    cr_assert_eq(tm_st_writer_meta(w, "step", "1234"), TM_OK);
}

static void expect_export_set(const tm_st_file *f) {
    fill_f32_bits();
    cr_assert_eq(f->n_entries, 5);
    struct { const char *name; tm_dtype dt; int ndim; int64_t shape[2]; const void *bytes; size_t n; } want[] = {
        {"f32", TM_F32, 2, {2, 5}, f32_bits, sizeof f32_bits},
        {"bf16", TM_BF16, 2, {3, 2}, bf16_bits, sizeof bf16_bits},
        {"i32", TM_I32, 1, {4, 0}, i32_vals, sizeof i32_vals},
        {"scalar", TM_F32, 0, {0, 0}, &scalar_val, sizeof scalar_val},
        {"empty", TM_I32, 2, {0, 3}, NULL, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const tm_st_entry *e = tm_st_find(f, want[i].name);
        cr_assert_not_null(e, "tensor %s missing", want[i].name);
        cr_assert_eq(tm_st_expect(f, e, want[i].dt, want[i].ndim, want[i].shape), TM_OK, "%s: %s",
                     want[i].name, tm_last_error());
        cr_assert_eq(e->end - e->begin, want[i].n);
        unsigned char got[64];
        cr_assert_eq(tm_st_copy(got, sizeof got, e), TM_OK);
        if (want[i].n) cr_assert_eq(memcmp(got, want[i].bytes, want[i].n), 0, "%s bytes", want[i].name);
    }
    cr_assert_str_eq(tm_st_meta(f, "config"), config_val);
    cr_assert_str_eq(tm_st_meta(f, "step"), "1234");
    cr_assert_null(tm_st_meta(f, "absent"));
}

Test(safetensors, round_trip_in_memory_is_bit_exact) {
    tm_st_writer w;
    export_set(&w);
    uint8_t *bytes;
    size_t len;
    cr_assert_eq(tm_st_writer_serialize(&w, &bytes, &len), TM_OK);
    tm_st_writer_free(&w);
    tm_st_file f;
    cr_assert_eq(tm_st_parse(&f, bytes, len, "<mem>"), TM_OK, "%s", tm_last_error());
    expect_export_set(&f);
    tm_st_close(&f);
    free(bytes);
}

Test(safetensors, header_is_space_padded_to_a_multiple_of_8) {
    tm_st_writer w;
    export_set(&w);
    uint8_t *bytes;
    size_t len;
    cr_assert_eq(tm_st_writer_serialize(&w, &bytes, &len), TM_OK);
    tm_st_writer_free(&w);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | bytes[i];
    cr_assert_eq(n % 8, 0);
    cr_assert_eq(len, 8 + n + sizeof f32_bits + sizeof bf16_bits + sizeof i32_vals + 4);
    cr_assert_eq(bytes[8], '{');
    size_t last = 8 + n - 1;
    while (bytes[last] == ' ') last--;
    cr_assert_eq(bytes[last], '}');
    free(bytes);
}

Test(safetensors, round_trip_through_a_file_is_bit_exact) {
    char dir[] = "/tmp/tm_st_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    tm_st_writer w;
    export_set(&w);
    cr_assert_eq(tm_st_writer_save(&w, path), TM_OK, "%s", tm_last_error());
    tm_st_writer_free(&w);
    tm_st_file f;
    cr_assert_eq(tm_st_read(&f, path), TM_OK, "%s", tm_last_error());
    expect_export_set(&f);
    tm_st_close(&f);
    remove(path);
    cr_assert_eq(rmdir(dir), 0, "temp dir not empty: a temp file was left behind");
}

Test(safetensors, reads_the_reference_writers_file) {
    /* Written by the Hugging Face writer (check_safetensors_python.py
     * write-fixture): tensor order, alignment and escaping are its own. */
    tm_st_file f;
    cr_assert_eq(tm_st_read(&f, TM_SOURCE_DIR "/tests/fixtures/st_reference.safetensors"), TM_OK,
                 "%s", tm_last_error());
    expect_export_set(&f);
    tm_st_close(&f);
}

Test(safetensors, export_for_python_check) {
    /* TM_ST_EXPORT=FILE writes the export set for
     * tests/fixtures/check_safetensors_python.py check FILE. */
    const char *path = getenv("TM_ST_EXPORT");
    if (!path) cr_skip_test("set TM_ST_EXPORT=FILE to write the export set");
    tm_st_writer w;
    export_set(&w);
    cr_assert_eq(tm_st_writer_save(&w, path), TM_OK, "%s", tm_last_error());
    tm_st_writer_free(&w);
}

Test(safetensors, writer_rejects_bad_tensors) {
    tm_st_writer w;
    tm_st_writer_init(&w);
    float x[2] = {0};
    cr_assert_eq(tm_st_writer_add(&w, "a", TM_F32, 1, (int64_t[]){2}, x), TM_OK);
    cr_assert_eq(tm_st_writer_add(&w, "a", TM_F32, 1, (int64_t[]){2}, x), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "'a' added twice"));
    cr_assert_eq(tm_st_writer_add(&w, "", TM_F32, 1, (int64_t[]){2}, x), TM_EINVAL);
    cr_assert_eq(tm_st_writer_add(&w, "__metadata__", TM_F32, 1, (int64_t[]){2}, x), TM_EINVAL);
    cr_assert_eq(tm_st_writer_add(&w, "b", TM_F32, 1, (int64_t[]){-1}, x), TM_EINVAL);
    cr_assert_eq(tm_st_writer_add(&w, "c", TM_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, x), TM_EINVAL);
    cr_assert_eq(tm_st_writer_add(&w, "d", TM_F32, 1, (int64_t[]){2}, NULL), TM_EINVAL);
    cr_assert_eq(tm_st_writer_add(&w, "e", TM_F32, 3,
                                  (int64_t[]){INT64_C(1) << 40, INT64_C(1) << 40, 1 << 20}, x),
                 TM_EINVAL);
    cr_assert_eq(w.n_tensors, 1);
    tm_st_writer_free(&w);
}

/* ---- malformed input: one row per class ---- */

/* A file image: the 8-byte header length, the header text, then `data`
 * bytes of buffer. */
static uint8_t *image(const char *header, uint64_t length, size_t data, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(length >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data; i++) b[8 + h + i] = (uint8_t)i;
    return b;
}

#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
#define HDR_LEN UINT64_MAX /* placeholder: use the header's own length */

typedef struct {
    const char *what;
    const char *header;
    uint64_t length;       /* HDR_LEN: strlen(header) */
    size_t data;           /* buffer bytes after the header */
    size_t cut;            /* bytes cut off the end of the image */
    const char *expect[2]; /* substrings of the error message */
} bad_case;

static const bad_case BAD[] = {
    {"empty file", "", 0, 0, 8, {"too short", "header length"}},
    {"truncated length", "", 0, 0, 3, {"5 bytes", "too short"}},
    {"zero header length", "{}", 0, 0, 0, {"header length is 0", NULL}},
    {"header length over the limit", "{}", 100000001, 0, 0, {"header length 100000001", "limit"}},
    {"header length past the file", "{}", 4096, 0, 0, {"header length 4096", "larger than the file"}},
    {"huge header length", "{}", UINT64_MAX - 3, 0, 0, {"header length", "limit"}},
    {"not JSON", "{\"a\": {\"dtype\": ", HDR_LEN, 0, 0, {"not valid JSON", NULL}},
    {"JSON but not an object", "[1, 2]  ", HDR_LEN, 0, 0, {"must be a JSON object", NULL}},
    {"garbage after the object", "{}  x   ", HDR_LEN, 0, 0, {"bytes after the JSON object", NULL}},
    {"invalid UTF-8", "{\"\xff\":1}", HDR_LEN, 0, 0, {"not valid UTF-8", NULL}},
    {"overlong UTF-8", "{\"\xc0\xaf\":1}", HDR_LEN, 0, 0, {"not valid UTF-8", NULL}},
    {"NUL in header", "{}", 3, 1, 0, {"not valid UTF-8", NULL}},
    {"entry not an object", "{\"w\": 3}", HDR_LEN, 0, 0, {"tensor 'w'", "must be an object"}},
    {"unknown dtype", "{" T("w", "F17", "[2]", 0, 8) "}", HDR_LEN, 8, 0, {"tensor 'w'", "dtype 'F17' is not supported"}},
    {"unsupported dtype", "{" T("w", "F64", "[1]", 0, 8) "}", HDR_LEN, 8, 0, {"tensor 'w'", "dtype 'F64'"}},
    {"dtype not a string", "{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", HDR_LEN, 4, 0, {"tensor 'w'", "dtype must be a string"}},
    {"missing dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", HDR_LEN, 4, 0, {"tensor 'w'", "missing field 'dtype'"}},
    {"missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", HDR_LEN, 4, 0, {"tensor 'w'", "missing field 'shape'"}},
    {"missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", HDR_LEN, 4, 0, {"tensor 'w'", "missing field 'data_offsets'"}},
    {"unknown field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", HDR_LEN, 4, 0, {"tensor 'w'", "unknown field 'x'"}},
    {"field twice", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", HDR_LEN, 4, 0, {"tensor 'w'", "'dtype' appears twice"}},
    {"negative shape", "{" T("w", "F32", "[-1]", 0, 0) "}", HDR_LEN, 0, 0, {"tensor 'w'", "shape[0]"}},
    {"fractional shape", "{" T("w", "F32", "[1.5]", 0, 4) "}", HDR_LEN, 4, 0, {"tensor 'w'", "shape[0]"}},
    {"shape not integers", "{" T("w", "F32", "[\"2\"]", 0, 8) "}", HDR_LEN, 8, 0, {"tensor 'w'", "shape[0]"}},
    {"shape not a list", "{" T("w", "F32", "2", 0, 8) "}", HDR_LEN, 8, 0, {"tensor 'w'", "shape must be a list"}},
    {"shape beyond 2^53", "{" T("w", "F32", "[18014398509481984]", 0, 8) "}", HDR_LEN, 8, 0, {"tensor 'w'", "shape[0]"}},
    {"too many dims", "{" T("w", "F32", "[1,1,1,1,1]", 0, 4) "}", HDR_LEN, 4, 0, {"tensor 'w'", "5 dims"}},
    {"element count overflow", "{" T("w", "F32", "[4294967296,4294967296,2]", 0, 0) "}", HDR_LEN, 0, 0, {"tensor 'w'", "overflows"}},
    {"byte count overflow", "{" T("w", "F32", "[4294967296,1073741824]", 0, 0) "}", HDR_LEN, 0, 0, {"tensor 'w'", "byte count overflows"}},
    {"offsets not a pair", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", HDR_LEN, 4, 0, {"tensor 'w'", "data_offsets must be [begin, end]"}},
    {"negative offset", "{" T("w", "F32", "[1]", -4, 0) "}", HDR_LEN, 4, 0, {"tensor 'w'", "data_offsets"}},
    {"begin after end", "{" T("w", "F32", "[0]", 8, 4) "}", HDR_LEN, 8, 0, {"tensor 'w'", "begin after end"}},
    {"offsets past the end", "{" T("w", "F32", "[4]", 0, 16) "}", HDR_LEN, 8, 0, {"tensor 'w'", "past the end"}},
    {"size disagrees with shape", "{" T("w", "F32", "[3]", 0, 8) "}", HDR_LEN, 8, 0, {"tensor 'w'", "need 12"}},
    {"overlapping ranges", "{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", HDR_LEN, 12, 0, {"tensor 'b'", "overlap tensor 'a'"}},
    {"overlap inside a big tensor", "{" T("a", "F32", "[4]", 0, 16) "," T("b", "F32", "[1]", 4, 8) "," T("c", "F32", "[1]", 8, 12) "}", HDR_LEN, 16, 0, {"overlap tensor 'a'", NULL}},
    {"same range twice", "{" T("a", "I32", "[2]", 0, 8) "," T("b", "F32", "[2]", 0, 8) "}", HDR_LEN, 8, 0, {"overlap tensor", "data_offsets [0, 8]"}},
    {"hole between tensors", "{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", HDR_LEN, 12, 0, {"tensor 'b'", "hole"}},
    {"trailing garbage", "{" T("a", "F32", "[1]", 0, 4) "}", HDR_LEN, 9, 0, {"trailing bytes", "9 bytes"}},
    {"bytes but no tensors", "{}      ", HDR_LEN, 4, 0, {"lists no tensors", NULL}},
    {"duplicate tensor", "{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", HDR_LEN, 8, 0, {"'a' appears twice", NULL}},
    {"empty tensor name", "{" T("", "F32", "[1]", 0, 4) "}", HDR_LEN, 4, 0, {"name is empty", NULL}},
    {"metadata not an object", "{\"__metadata__\": 3}", HDR_LEN, 0, 0, {"__metadata__ must be an object", NULL}},
    {"metadata value not a string", "{\"__metadata__\":{\"step\":3}}", HDR_LEN, 0, 0, {"key 'step' must be a string", NULL}},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", HDR_LEN, 0, 0, {"__metadata__ appears twice", NULL}},
    {"metadata key twice", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", HDR_LEN, 0, 0, {"key 'k' appears twice", NULL}},
    {"truncated data", "{" T("a", "F32", "[4]", 0, 16) "}", HDR_LEN, 16, 1, {"tensor 'a'", "truncated"}},
    {"truncated header", "{" T("a", "F32", "[4]", 0, 16) "}", HDR_LEN, 16, 26, {"larger than the file", "truncated"}},
};

Test(safetensors, every_malformed_input_class_is_rejected_with_file_and_field) {
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const bad_case *c = &BAD[i];
        size_t len;
        uint64_t n = c->length == HDR_LEN ? strlen(c->header) : c->length;
        uint8_t *b = image(c->header, n, c->data, &len);
        cr_assert_leq(c->cut, len);
        len -= c->cut;
        tm_st_file f;
        tm_clear_error();
        tm_status st = tm_st_parse(&f, b, len, "bad.safetensors");
        cr_expect_eq(st, TM_EFORMAT, "case '%s' was accepted (status %d)", c->what, st);
        const char *msg = tm_last_error();
        cr_expect(strstr(msg, "'bad.safetensors'") != NULL, "case '%s': no file name in: %s",
                  c->what, msg);
        for (int k = 0; k < 2; k++)
            if (c->expect[k])
                cr_expect(strstr(msg, c->expect[k]) != NULL, "case '%s': expected '%s' in: %s",
                          c->what, c->expect[k], msg);
        cr_expect_eq(f.n_entries, 0, "case '%s': a failed parse left entries", c->what);
        tm_st_close(&f);
        free(b);
    }
}

Test(safetensors, the_valid_twin_of_each_layout_case_is_accepted) {
    /* Guards the table above: the checks reject the flaw, not the shape of
     * the file. Zero-size tensors may share an offset with their neighbour. */
    static const char *good[] = {
        "{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 8, 16) "}",
        "{" T("b", "F32", "[2]", 8, 16) "," T("a", "F32", "[2]", 0, 8) "}",
        "{" T("a", "F32", "[2]", 0, 8) "," T("z", "F32", "[0,7]", 8, 8) "," T("b", "BF16", "[4]", 8, 16) "}",
        "{\"__metadata__\":{\"k\":\"v\"}," T("a", "I32", "[1,1,2,2]", 0, 16) "}  \n ",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t len;
        uint8_t *b = image(good[i], strlen(good[i]), 16, &len);
        tm_st_file f;
        cr_expect_eq(tm_st_parse(&f, b, len, "good"), TM_OK, "case %zu: %s", i, tm_last_error());
        tm_st_close(&f);
        free(b);
    }
}

Test(safetensors, reading_a_missing_file_names_it) {
    tm_st_file f;
    cr_assert_eq(tm_st_read(&f, "/nonexistent/dir/x.safetensors"), TM_EIO);
    cr_assert(strstr(tm_last_error(), "/nonexistent/dir/x.safetensors"));
    cr_assert_eq(tm_st_read(&f, "/tmp"), TM_EIO);
    cr_assert(strstr(tm_last_error(), "not a regular file"));
}
