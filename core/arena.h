/* tm_arena: a bump allocator over one block, with a planning mode.
 * Definition: shared DESIGN.md principle 4 (plan memory up front).
 *
 * A component sizes its buffers once: it runs its allocation sequence
 * against a planning arena (which hands out no memory and only counts
 * bytes, alignment padding included), creates a real arena of
 * tm_arena_planned_bytes(), and runs the same sequence again for real. The
 * two agree byte for byte because offsets are aligned relative to the block
 * start and the block itself is TM_ARENA_MAX_ALIGN aligned. Nothing is then
 * allocated in the step loop; scratch space for one step is taken after a
 * tm_arena_mark and given back with tm_arena_reset_to.
 *
 *     tm_arena plan, a;
 *     tm_arena_plan_init(&plan);
 *     model_buffers(&plan, cfg);                   // ptrs are NULL here
 *     TM_TRY(tm_arena_create(&a, tm_arena_planned_bytes(&plan)));
 *     model_buffers(&a, cfg);                      // same calls, real ptrs
 */
#ifndef TM_ARENA_H
#define TM_ARENA_H

#include <stddef.h>

#include "core/status.h"

#define TM_ARENA_MAX_ALIGN 4096 /* a page: the largest alignment anyone asks for */
#define TM_ARENA_DEFAULT_ALIGN 64 /* align 0 means this: one cache line */

typedef struct {
    char *base;      /* the block (NULL in planning mode or at capacity 0) */
    size_t capacity; /* bytes in the block; unused in planning mode */
    size_t used;     /* bytes handed out so far, padding included */
    size_t peak;     /* the most `used` has been (what a plan needs) */
    int planning;    /* 1: count bytes only; allocations return NULL */
} tm_arena;

/* A real arena of `bytes` (the block is zeroed). */
tm_status tm_arena_create(tm_arena *a, size_t bytes);
/* A planning arena: capacity 0, every allocation succeeds and counts. */
void tm_arena_plan_init(tm_arena *a);
/* Bytes a real arena needs for the sequence run against this one: the
 * high-water mark (so sequences that reset_to and reuse are sized right). */
size_t tm_arena_planned_bytes(const tm_arena *a);

/* *ptr = `bytes` bytes aligned to `align` (a power of two <= TM_ARENA_MAX_ALIGN;
 * 0 means TM_ARENA_DEFAULT_ALIGN). In planning mode *ptr is NULL. Fails with
 * TM_ENOMEM (naming requested, used and capacity) when it does not fit, and
 * then changes nothing. Memory is not re-zeroed on reuse. */
tm_status tm_arena_alloc(tm_arena *a, size_t bytes, size_t align, void **ptr);

/* Marks: everything allocated after tm_arena_mark is released by
 * tm_arena_reset_to with that mark (marks nest like a stack). */
size_t tm_arena_mark(const tm_arena *a);
void tm_arena_reset_to(tm_arena *a, size_t mark);
void tm_arena_reset(tm_arena *a); /* everything; keeps the block and the peak */
void tm_arena_free(tm_arena *a);  /* NULL or a planning arena: fine */

#endif
