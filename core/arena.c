/* tm_arena: bump allocation over one block, and planning. See arena.h.
 * Definition: shared DESIGN.md principle 4. */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

tm_status tm_arena_create(tm_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    if (bytes == 0) return TM_OK; /* a valid arena that fits only empty requests */
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    if (bytes > SIZE_MAX - TM_ARENA_MAX_ALIGN)
        return tm_fail(TM_ENOMEM, "arena: capacity of %zu bytes is too large", bytes);
    size_t rounded = (bytes + TM_ARENA_MAX_ALIGN - 1) / TM_ARENA_MAX_ALIGN * TM_ARENA_MAX_ALIGN;
    char *base = aligned_alloc(TM_ARENA_MAX_ALIGN, rounded);
    if (!base) return tm_fail(TM_ENOMEM, "arena: cannot allocate a block of %zu bytes", bytes);
    memset(base, 0, rounded);
    a->base = base;
    a->capacity = bytes;
    return TM_OK;
}

void tm_arena_plan_init(tm_arena *a) {
    memset(a, 0, sizeof *a);
    a->planning = 1;
}

size_t tm_arena_planned_bytes(const tm_arena *a) { return a->peak; }

tm_status tm_arena_alloc(tm_arena *a, size_t bytes, size_t align, void **ptr) {
    if (align == 0) align = TM_ARENA_DEFAULT_ALIGN;
    if ((align & (align - 1)) != 0 || align > TM_ARENA_MAX_ALIGN)
        return tm_fail(TM_EINVAL, "arena: align must be a power of two <= %d (got %zu)",
                       TM_ARENA_MAX_ALIGN, align);
    /* Align the offset, not the address: the block start is MAX_ALIGN
     * aligned, so both agree, and a plan computes the same padding. */
    size_t start = (a->used + align - 1) & ~(align - 1);
    size_t limit = a->planning ? SIZE_MAX : a->capacity;
    if (start < a->used || start > limit || bytes > limit - start)
        return tm_fail(TM_ENOMEM,
                       "arena: %zu bytes (align %zu) do not fit: %zu of %zu bytes used", bytes,
                       align, a->used, a->capacity);
    a->used = start + bytes;
    if (a->used > a->peak) a->peak = a->used;
    *ptr = a->base ? a->base + start : NULL;
    return TM_OK;
}

size_t tm_arena_mark(const tm_arena *a) { return a->used; }

void tm_arena_reset_to(tm_arena *a, size_t mark) {
    /* A mark above `used` was taken after a reset past it: a caller bug. */
    TM_ASSERT(mark <= a->used);
    a->used = mark;
}

void tm_arena_reset(tm_arena *a) { a->used = 0; }

void tm_arena_free(tm_arena *a) {
    if (!a) return;
    free(a->base);
    memset(a, 0, sizeof *a);
}
