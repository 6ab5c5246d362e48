#include "live.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "mem.h"
#include "idmap.h"
#include "str.h"

#define KEY_MAX 64 /* the id map's keys are shorter than 65 bytes */

/* One opt-out or parent change in arrival order, for pruning.  |cookie| is
 * what it put in its map: a later entry for the same key replaced it, and
 * pruning the earlier one must not remove the later. */
struct aged {
    int64_t at_ms;
    uint64_t cookie;
    bool parent;
    char key[KEY_MAX + 1];
};

/* A set of names from a news item: NUL-separated, few (a linear scan). */
struct names {
    char *v;
    size_t n;
    bool all; /* "*" among them */
};

struct flex_live {
    struct flex_idmap *optouts; /* phone -> at_ms */
    struct flex_idmap *parents; /* hash of the parent key -> version + 1 */
    struct aged *fifo;          /* a ring of |cap| entries, |head| first, |n| held */
    size_t cap, head, n;
    struct names paused;  /* location ids ("*": all) */
    struct names drained; /* carrier names */
    struct flex_hash_key hk;
};

struct flex_news *flex_news_new(enum flex_news_kind kind, int64_t at_ms, const char *text,
                                size_t len, int64_t version)
{
    struct flex_news *n = flex_malloc(sizeof(*n) + len + 1);
    n->kind = kind;
    n->at_ms = at_ms;
    n->version = version;
    n->len = len;
    memcpy(n->text, text, len);
    n->text[len] = '\0';
    return n;
}

void flex_news_del(struct flex_news *n)
{
    flex_free(n);
}

struct flex_live *flex_live_new(void)
{
    struct flex_live *l = flex_calloc(1, sizeof(*l));
    l->optouts = flex_idmap_new(UINT64_MAX, 0x6c697665);
    l->parents = flex_idmap_new(UINT64_MAX, 0x70617265);
    l->hk.k0 = 0x6c6976652d6b6579ULL;
    l->hk.k1 = 0x706172656e742d31ULL;
    return l;
}

void flex_live_del(struct flex_live *l)
{
    if (!l)
        return;
    flex_idmap_free(l->optouts);
    flex_idmap_free(l->parents);
    flex_free(l->fifo);
    flex_free(l->paused.v);
    flex_free(l->drained.v);
    flex_free(l);
}

static void fifo_push(struct flex_live *l, const char *key, bool parent, uint64_t cookie,
                      int64_t at_ms)
{
    if (l->n == l->cap) { /* grow, keeping the order */
        size_t cap = l->cap ? l->cap * 2 : 1024;
        struct aged *f = flex_malloc(cap * sizeof(*f));
        for (size_t i = 0; i < l->n; i++)
            f[i] = l->fifo[(l->head + i) % l->cap];
        flex_free(l->fifo);
        l->fifo = f;
        l->cap = cap;
        l->head = 0;
    }
    struct aged *a = &l->fifo[(l->head + l->n) % l->cap];
    a->at_ms = at_ms;
    a->cookie = cookie;
    a->parent = parent;
    flex_strlcpy(a->key, key, sizeof(a->key));
    l->n++;
}

static void parent_id(const struct flex_live *l, const char *key, size_t len, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)flex_siphash13(&l->hk, key, len));
}

/* Calls |fn| for every comma-separated item of |n|'s text that fits a key. */
static void each_item(struct flex_live *l, const struct flex_news *n,
                      void (*fn)(struct flex_live *, const char *, const struct flex_news *))
{
    char item[KEY_MAX + 1];
    for (size_t i = 0; i < n->len;) {
        size_t j = i;
        while (j < n->len && n->text[j] != ',')
            j++;
        if (j > i && j - i <= KEY_MAX) {
            memcpy(item, n->text + i, j - i);
            item[j - i] = '\0';
            fn(l, item, n);
        }
        i = j + 1;
    }
}

static void optout_add(struct flex_live *l, const char *phone, const struct flex_news *n)
{
    uint64_t cookie = (uint64_t)n->at_ms;
    flex_idmap_put(l->optouts, phone, cookie, 0);
    fifo_push(l, phone, false, cookie, n->at_ms);
}

static void optin(struct flex_live *l, const char *phone, const struct flex_news *n)
{
    uint64_t c;
    (void)n;
    flex_idmap_take(l->optouts, phone, &c);
}

static void names_set(struct names *s, const struct flex_news *n)
{
    flex_free(s->v);
    s->v = flex_malloc(n->len + 1);
    s->n = 0;
    s->all = false;
    size_t o = 0;
    for (size_t i = 0; i < n->len;) {
        size_t j = i;
        while (j < n->len && n->text[j] != ',')
            j++;
        if (j > i) {
            memcpy(s->v + o, n->text + i, j - i);
            s->v[o + (j - i)] = '\0';
            s->all |= j - i == 1 && n->text[i] == '*';
            o += j - i + 1;
            s->n++;
        }
        i = j + 1;
    }
}

static bool names_has(const struct names *s, const char *name)
{
    if (s->all)
        return true;
    const char *p = s->v;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(p, name) == 0)
            return true;
        p += strlen(p) + 1;
    }
    return false;
}

void flex_live_apply(struct flex_live *l, const struct flex_news *n)
{
    char id[17];
    switch (n->kind) {
    case FLEX_NEWS_OPTOUT: each_item(l, n, optout_add); break;
    case FLEX_NEWS_OPTIN: each_item(l, n, optin); break;
    case FLEX_NEWS_PAUSED: names_set(&l->paused, n); break;
    case FLEX_NEWS_DRAINED: names_set(&l->drained, n); break;
    case FLEX_NEWS_PARENT:
        parent_id(l, n->text, n->len, id);
        flex_idmap_put(l->parents, id, (uint64_t)n->version + 1, 0);
        fifo_push(l, id, true, (uint64_t)n->version + 1, n->at_ms);
        break;
    }
}

void flex_live_prune(struct flex_live *l, int64_t before_ms)
{
    while (l->n > 0 && l->fifo[l->head].at_ms < before_ms) {
        struct aged *a = &l->fifo[l->head];
        struct flex_idmap *m = a->parent ? l->parents : l->optouts;
        uint64_t c;
        /* A newer entry of the same key (a second opt-out, a second
         * reschedule) stays: it is pruned when its own turn comes. */
        if (flex_idmap_get(m, a->key, &c) && c == a->cookie)
            flex_idmap_take(m, a->key, &c);
        l->head = (l->head + 1) % l->cap;
        l->n--;
    }
}

bool flex_live_opted_out(const struct flex_live *l, const char *phone)
{
    return flex_idmap_count(l->optouts) > 0 && flex_idmap_has(l->optouts, phone);
}

bool flex_live_paused(const struct flex_live *l, const char *location)
{
    return names_has(&l->paused, location);
}

bool flex_live_drained(const struct flex_live *l, const char *carrier)
{
    return names_has(&l->drained, carrier);
}

bool flex_live_parent_changed(const struct flex_live *l, const char *key, int64_t version,
                              int64_t *now)
{
    if (flex_idmap_count(l->parents) == 0 || !key[0])
        return false;
    char id[17];
    parent_id(l, key, strlen(key), id);
    uint64_t c;
    if (!flex_idmap_get(l->parents, id, &c))
        return false;
    *now = (int64_t)c - 1;
    return *now != version;
}

size_t flex_live_count(const struct flex_live *l)
{
    return flex_idmap_count(l->optouts) + flex_idmap_count(l->parents);
}
