#include "mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void default_oom(size_t size)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory allocating %zu bytes\"}\n", size);
    abort();
}

static flex_mem_oom_cb oom_handler = default_oom;

void flex_mem_set_oom_handler(flex_mem_oom_cb cb)
{
    oom_handler = cb ? cb : default_oom;
}

void *flex_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom_handler(size);
    return p;
}

void *flex_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom_handler(n * size);
    return p;
}

void *flex_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom_handler(size);
    return p;
}

void *flex_aligned_alloc(size_t align, size_t size)
{
    size = (size + align - 1) & ~(align - 1);
    void *p = aligned_alloc(align, size ? size : align);
    if (!p)
        oom_handler(size);
    return p;
}

void flex_free(void *ptr)
{
    free(ptr);
}

char *flex_strndup(const char *s, size_t n)
{
    char *p = flex_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *flex_strdup(const char *s)
{
    return flex_strndup(s, strlen(s));
}

struct flex_arena_chunk {
    struct flex_arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct flex_arena_cleanup {
    struct flex_arena_cleanup *next;
    flex_arena_cleanup_cb cb;
    void *data;
};

void flex_mem_zero(void *p, size_t n)
{
    memset(p, 0, n);
}

void *flex_arena_alloc(struct flex_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct flex_arena_chunk *c = a->_chunks;
    if (!c || c->size - c->used < size) {
        size_t csize = a->_chunk_size ? a->_chunk_size : 4096;
        if (csize < size)
            csize = size;
        c = flex_malloc(sizeof(*c) + csize);
        c->size = csize;
        c->used = 0;
        /* A chunk made for one big object goes behind the current one so the
         * current chunk's free space is not lost. */
        if (a->_chunks && csize == size) {
            c->next = a->_chunks->next;
            a->_chunks->next = c;
        } else {
            c->next = a->_chunks;
            a->_chunks = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void *flex_arena_calloc(struct flex_arena *a, size_t size)
{
    void *p = flex_arena_alloc(a, size);
    memset(p, 0, size);
    return p;
}

char *flex_arena_strndup(struct flex_arena *a, const char *s, size_t n)
{
    char *p = flex_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *flex_arena_strdup(struct flex_arena *a, const char *s)
{
    return flex_arena_strndup(a, s, strlen(s));
}

void flex_arena_cleanup_add(struct flex_arena *a, flex_arena_cleanup_cb cb, void *data)
{
    struct flex_arena_cleanup *c = flex_arena_alloc(a, sizeof(*c));
    c->cb = cb;
    c->data = data;
    c->next = a->_cleanups;
    a->_cleanups = c;
}

/* Runs the cleanups.  They live inside the chunks: all of them run before
 * any chunk is freed. */
static void run_cleanups(struct flex_arena *a)
{
    for (struct flex_arena_cleanup *c = a->_cleanups; c; c = c->next)
        c->cb(c->data);
    a->_cleanups = NULL;
}

/* Frees the chunk list from |c| on. */
static void free_chunks(struct flex_arena_chunk *c)
{
    while (c) {
        struct flex_arena_chunk *next = c->next;
        flex_free(c);
        c = next;
    }
}

void flex_arena_free(struct flex_arena *a)
{
    run_cleanups(a);
    free_chunks(a->_chunks);
    a->_chunks = NULL;
}

void flex_arena_reset(struct flex_arena *a)
{
    run_cleanups(a);
    struct flex_arena_chunk *keep = a->_chunks;
    if (!keep)
        return;
    free_chunks(keep->next);
    keep->next = NULL;
    keep->used = 0;
}
