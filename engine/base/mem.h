/*
 * All heap allocation goes through here.
 *
 * In normal builds the allocator underneath is jemalloc (linked in place of
 * libc malloc); sanitizer builds use libc malloc so ASan/TSan see every call.
 * Allocation failure is not an error callers handle: it calls one OOM handler
 * that logs and aborts, so no function carries dead NULL checks.
 *
 * struct flex_arena is a bump allocator with a cleanup list, for memory
 * whose lifetime is one unit of work (a config snapshot, a PDU, a request).
 * An all-zero struct flex_arena is a valid empty arena.
 */
#ifndef FLEX_MEM_H
#define FLEX_MEM_H

#include <stddef.h>

void *flex_malloc(size_t size);
void *flex_calloc(size_t n, size_t size);
void *flex_realloc(void *ptr, size_t size);
/* |align| a power of two; |size| rounded up to a multiple of it. Free with
 * flex_free(). */
void *flex_aligned_alloc(size_t align, size_t size);
void flex_free(void *ptr);
/* Copies of |s| (borrowed); the result is owned by the caller. */
char *flex_strdup(const char *s);
char *flex_strndup(const char *s, size_t n);

/* Called on allocation failure with the size asked for.  The default logs
 * and aborts.  Tests may install a handler that longjmps; it must not
 * return. */
typedef void (*flex_mem_oom_cb)(size_t size);
void flex_mem_set_oom_handler(flex_mem_oom_cb cb);

struct flex_arena_chunk;
struct flex_arena_cleanup;

struct flex_arena {
    struct flex_arena_chunk *_chunks;
    struct flex_arena_cleanup *_cleanups;
    size_t _chunk_size; /* 0 = default (4 KiB) */
};

typedef void (*flex_arena_cleanup_cb)(void *data);

/* memset(|p|, 0, |n|) through the C library's function, never inlined:
 * for structs of a few hundred bytes on the per-message path, where GCC
 * inlines "rep stos", which this VM runs slowly (it showed in the
 * dispatcher's profile). */
void flex_mem_zero(void *p, size_t n);

/* Memory from |a|, 16-byte aligned, valid until flex_arena_free(). */
void *flex_arena_alloc(struct flex_arena *a, size_t size);
void *flex_arena_calloc(struct flex_arena *a, size_t size);
char *flex_arena_strndup(struct flex_arena *a, const char *s, size_t n);
char *flex_arena_strdup(struct flex_arena *a, const char *s);
/* Registers |cb|(|data|) to run at flex_arena_free(), newest first. */
void flex_arena_cleanup_add(struct flex_arena *a, flex_arena_cleanup_cb cb, void *data);
/* Runs the cleanups, frees every chunk, and leaves |a| empty and reusable. */
void flex_arena_free(struct flex_arena *a);
/* Runs the cleanups and makes all memory of |a| reusable, keeping one
 * chunk: for an arena reused per message (no malloc once it has grown). */
void flex_arena_reset(struct flex_arena *a);

#endif
