/* The safetensors file format: write, and validated read, of named tensors
 * plus string metadata. Definition: Hugging Face safetensors (README of
 * github.com/huggingface/safetensors); the checkpoint rules on top are in
 * shared spec agent.md "Checkpoints" and core/ckpt.h.
 *
 * Layout: u64 little-endian N, then N bytes of UTF-8 JSON
 *   {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...,
 *    "__metadata__": {"key": "string value", ...}}
 * padded with spaces to a multiple of 8, then the data buffer. Offsets are
 * relative to the buffer; tensors are row-major, little-endian, packed.
 *
 * What the reader enforces (every violation is TM_EFORMAT with a message
 * naming the file and the field; nothing is read outside the bytes given):
 *   - file of at least 8 bytes; 0 < N <= TM_ST_MAX_HEADER (the reference
 *     loader's 100 MB limit) and 8 + N <= file size;
 *   - the header is valid UTF-8 and one JSON object, followed only by
 *     whitespace; tensor names are unique and non-empty;
 *   - dtype is one of F32, BF16, I32 (other safetensors dtypes are rejected
 *     as unsupported: nothing in transmamba stores them);
 *   - shape is a list of at most TM_MAX_DIMS integers >= 0; the byte count
 *     numel * dtype size does not overflow;
 *   - data_offsets is [begin, end] of integers, begin <= end <= buffer size,
 *     end - begin == numel * dtype size;
 *   - the ranges, sorted by begin, tile the buffer exactly, as the reference
 *     requires: an overlap, a hole between tensors, or bytes after the last
 *     tensor (trailing garbage) are each an error. This makes a file of
 *     ours byte-for-byte checkable and a truncated or appended file always
 *     fail;
 *   - __metadata__, when present, is an object of string values.
 * JSON integers are read through doubles (cJSON), so shapes and offsets are
 * limited to 2^53; bigger values are rejected, not rounded.
 * Memory: the reader holds the whole file (tm_st_read) plus cJSON's tree of
 * the header, which is some ten times the header's length at worst; the
 * header limit bounds the latter. */
#ifndef TM_SAFETENSORS_H
#define TM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

#define TM_ST_MAX_HEADER 100000000u /* bytes; the reference loader's limit */

/* One tensor of a parsed file. `data` points into the file's bytes and may
 * be unaligned: copy it out with memcpy (tm_st_copy). */
typedef struct {
    const char *name;
    tm_dtype dtype;
    int ndim;
    int64_t shape[TM_MAX_DIMS];
    size_t begin, end;  /* byte range in the data buffer */
    const void *data;
} tm_st_entry;

typedef struct {
    char *source;        /* file name (or the caller's label) used in messages */
    tm_st_entry *entries;/* in header order */
    int n_entries;
    char **meta_keys, **meta_values;
    int n_meta;
    const uint8_t *bytes;/* the whole file */
    size_t n_bytes;
    uint8_t *owned;      /* the file's bytes when read by tm_st_read */
    char *strings;       /* storage for names, keys and values */
    int *by_name;        /* entry indices sorted by name (tm_st_find's search) */
} tm_st_file;

/* Parses and validates a safetensors image in memory. Borrows buf: it must
 * outlive f. `source` names the input in error messages (a path, or e.g.
 * "<memory>"). On failure f is left empty (tm_st_close is still safe). */
tm_status tm_st_parse(tm_st_file *f, const void *buf, size_t len, const char *source);
/* Reads the whole file, then tm_st_parse. */
tm_status tm_st_read(tm_st_file *f, const char *path);
void tm_st_close(tm_st_file *f); /* NULL and a zeroed file are fine */

const tm_st_entry *tm_st_find(const tm_st_file *f, const char *name);
/* The metadata value of key, or NULL. */
const char *tm_st_meta(const tm_st_file *f, const char *key);
/* Fails (naming file and tensor) unless e has dtype dt and the given shape. */
tm_status tm_st_expect(const tm_st_file *f, const tm_st_entry *e, tm_dtype dt, int ndim,
                       const int64_t *shape);
/* Copies e's bytes into dst (cap bytes); fails when they do not fit. */
tm_status tm_st_copy(void *dst, size_t cap, const tm_st_entry *e);
/* "F32", "BF16", "I32": the format's names, not tm_dtype_name's. */
const char *tm_st_dtype_name(tm_dtype dt);

/* ---- writing ---- */

typedef struct {
    char *name;
    tm_dtype dtype;
    int ndim;
    int64_t shape[TM_MAX_DIMS];
    size_t nbytes;
    const void *data; /* borrowed until save/serialize */
} tm_st_pending;

typedef struct {
    tm_st_pending *tensors;
    int n_tensors, cap_tensors;
    char **meta_keys, **meta_values;
    int n_meta, cap_meta;
} tm_st_writer;

void tm_st_writer_init(tm_st_writer *w);
/* Adds a tensor (data is borrowed, not copied, until save). Fails on an
 * empty, duplicate or reserved ("__metadata__") name, a bad shape, or a
 * byte count that overflows. */
tm_status tm_st_writer_add(tm_st_writer *w, const char *name, tm_dtype dt, int ndim,
                           const int64_t *shape, const void *data);
/* Adds (copies) a metadata string; a repeated key replaces the value. */
tm_status tm_st_writer_meta(tm_st_writer *w, const char *key, const char *value);
/* The whole file image in one malloc'd buffer (caller frees). */
tm_status tm_st_writer_serialize(const tm_st_writer *w, uint8_t **out, size_t *len);
/* Atomic save: temp file in path's directory, write, fsync, rename over
 * path, fsync the directory. On any failure before the rename the file at
 * path is untouched and the temp file removed. */
tm_status tm_st_writer_save(const tm_st_writer *w, const char *path);
void tm_st_writer_free(tm_st_writer *w);

/* Writes `len` bytes to path atomically as above (used by the writer; also
 * by anything else that needs an all-or-nothing file, e.g. replay files). */
tm_status tm_st_atomic_write(const char *path, const void *bytes, size_t len);

#endif
