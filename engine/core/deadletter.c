#include "deadletter.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "flex.pb-c.h"
#include "idem.h"
#include "store.h"

#define WHY(...) (snprintf(why, whysz, __VA_ARGS__), -1)
#define PAGE 500

static const char *type_name(Flex__V1__JobType t)
{
    switch (t) {
    case FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE: return "message";
    case FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT: return "appointment";
    case FLEX__V1__JOB_TYPE__JOB_TYPE_RECALL: return "recall";
    default: return "unknown";
    }
}

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v && v[0])
        json_object_set_new(o, k, json_string(v));
}

/* The job's fields, the body left out (minimum necessary: the reason and
 * the ids are what an operator fixes it by). */
static json_t *job_json(const Flex__V1__Job *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type_name(j->type)));
    put_str(o, "id", j->id);
    put_str(o, "location", j->location);
    put_str(o, "patient", j->patient);
    put_str(o, "phone", j->phone);
    put_str(o, "template", j->template_);
    put_str(o, "starts_at", j->starts_at);
    put_str(o, "due", j->due);
    if (j->body && j->body[0])
        json_object_set_new(o, "body_length", json_integer((json_int_t)strlen(j->body)));
    return o;
}

struct letter {
    const char *entry;
    Flex__V1__DeadLetter *dl;
};

/* The DeadLetter of one stream entry (its "dl" field), or NULL. */
static Flex__V1__DeadLetter *decode(const struct redisReply *e)
{
    const struct redisReply *f = flex_reply_at(e, 1);
    for (size_t k = 0; k + 1 < flex_reply_count(f); k += 2) {
        size_t fl, vl;
        const char *name = flex_reply_str(flex_reply_at(f, k), &fl);
        const char *v = flex_reply_str(flex_reply_at(f, k + 1), &vl);
        if (name && v && fl == 2 && memcmp(name, "dl", 2) == 0)
            return flex__v1__dead_letter__unpack(NULL, vl, (const uint8_t *)v);
    }
    return NULL;
}

/* Calls |fn| for each dead letter from |start| ("-" or an entry id) to
 * |end| ("+" or an entry id), a page at a time; stops when |fn| returns
 * nonzero.  -1 when Redis failed. */
static int each(struct flex_store *st, const char *start, const char *end,
                int (*fn)(void *arg, const char *entry, const Flex__V1__DeadLetter *dl), void *arg,
                char *why, size_t whysz)
{
    char cursor[64];
    snprintf(cursor, sizeof(cursor), "%s", start);
    for (;;) {
        flex_store_appendf(st, "XRANGE %s %s %s COUNT %d", FLEX_KEY_DEADLETTER, cursor, end, PAGE);
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0 || flex_reply_is_error(r)) {
            flex_store_free_reply(r);
            return WHY("redis: %s", flex_store_error(st));
        }
        size_t n = flex_reply_count(r);
        int stop = 0;
        for (size_t i = 0; i < n && !stop; i++) {
            const struct redisReply *e = flex_reply_at(r, i);
            const char *entry = flex_reply_str(flex_reply_at(e, 0), NULL);
            Flex__V1__DeadLetter *dl = decode(e);
            if (entry)
                stop = fn(arg, entry, dl);
            if (dl)
                flex__v1__dead_letter__free_unpacked(dl, NULL);
            if (i == n - 1 && entry)
                snprintf(cursor, sizeof(cursor), "(%s", entry);
        }
        flex_store_free_reply(r);
        if (stop < 0)
            return -1;
        if (stop || n < PAGE)
            return 0;
    }
}

struct list_ctx {
    FILE *out;
    long n;
};

static int list_one(void *arg, const char *entry, const Flex__V1__DeadLetter *dl)
{
    struct list_ctx *c = arg;
    json_t *o = json_object();
    int64_t at = dl && dl->at_ms ? dl->at_ms : atoll(entry);
    char t[FLEX_RFC3339_SZ];
    flex_rfc3339_ms(at, t);
    json_object_set_new(o, "entry", json_string(entry));
    json_object_set_new(o, "at", json_string(t));
    json_object_set_new(o, "at_ms", json_integer(at));
    if (dl) {
        put_str(o, "job_id", dl->job_id);
        put_str(o, "reason", dl->reason);
        put_str(o, "source", dl->source);
        Flex__V1__Job *j = flex__v1__job__unpack(NULL, dl->raw.len, dl->raw.data);
        if (j) {
            json_object_set_new(o, "job", job_json(j));
            flex__v1__job__free_unpacked(j, NULL);
        } else {
            json_object_set_new(o, "job", json_null());
        }
    } else {
        put_str(o, "reason", "(the dead letter itself does not decode)");
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fprintf(c->out, "%s\n", text);
    free(text);
    json_decref(o);
    c->n++;
    return 0;
}

long flex_deadletter_list(struct flex_store *st, int64_t since_ms, FILE *out, char *why,
                          size_t whysz)
{
    char start[32] = "-";
    if (since_ms > 0)
        snprintf(start, sizeof(start), "%lld-0", (long long)since_ms);
    struct list_ctx c = {out, 0};
    return each(st, start, "+", list_one, &c, why, whysz) < 0 ? -1 : c.n;
}

struct replay_ctx {
    struct flex_store *st;
    const char *which;
    FILE *out;
    long n;
    char *why;
    size_t whysz;
};

static int replay_one(void *arg, const char *entry, const Flex__V1__DeadLetter *dl)
{
    struct replay_ctx *c = arg;
    if (c->which && strcmp(c->which, entry) != 0 &&
        !(dl && dl->job_id && strcmp(c->which, dl->job_id) == 0))
        return 0;
    Flex__V1__Job *j = dl ? flex__v1__job__unpack(NULL, dl->raw.len, dl->raw.data) : NULL;
    if (!j || !j->id || !j->id[0]) {
        fprintf(c->out, "%s: not replayed: its payload does not decode (%s)\n", entry,
                dl && dl->reason ? dl->reason : "no reason");
        if (j)
            flex__v1__job__free_unpacked(j, NULL);
        return c->which ? 1 : 0;
    }
    /* the idempotency record naming the refused entry would make the replay
     * a duplicate of itself: cleared only when it names that entry (another
     * entry under the same id was sent, and stays the one) */
    const char *src = dl->source ? strchr(dl->source, ' ') : NULL;
    flex_idem_forget(c->st, j->id, src ? src + 1 : "-");
    flex_store_appendf(c->st, "DEL %s%s", FLEX_KEY_JOB, j->id);
    const char *add[] = {"XADD", FLEX_KEY_JOBS, "*", "job", (const char *)dl->raw.data,
                         "id",   j->id};
    size_t addl[] = {4, strlen(FLEX_KEY_JOBS), 1, 3, dl->raw.len, 2, strlen(j->id)};
    flex_store_append(c->st, 7, add, addl);
    flex_store_appendf(c->st, "XDEL %s %s", FLEX_KEY_DEADLETTER, entry);
    int rc = flex_store_drain(c->st, 4);
    if (rc != 0) {
        snprintf(c->why, c->whysz, "redis: %s", flex_store_error(c->st));
        flex__v1__job__free_unpacked(j, NULL);
        return -1;
    }
    fprintf(c->out, "%s: job %s replayed (was: %s)\n", entry, j->id, dl->reason ? dl->reason : "");
    flex__v1__job__free_unpacked(j, NULL);
    c->n++;
    return c->which ? 1 : 0;
}

long flex_deadletter_replay(struct flex_store *st, const char *which, FILE *out, char *why,
                            size_t whysz)
{
    struct replay_ctx c = {st, which, out, 0, why, whysz};
    /* Up to the newest dead letter now: a job flexd refuses again (its
     * cause not fixed) is dead-lettered again, after it, and is not
     * replayed again by this same command (review G5: 600 dead letters
     * were replayed 10,917 times). */
    flex_store_appendf(st, "XREVRANGE %s + - COUNT 1", FLEX_KEY_DEADLETTER);
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0 || flex_reply_is_error(r)) {
        flex_store_free_reply(r);
        return WHY("redis: %s", flex_store_error(st));
    }
    char last[64] = "";
    size_t len;
    const char *id = flex_reply_str(flex_reply_at(flex_reply_at(r, 0), 0), &len);
    if (id && len < sizeof(last))
        snprintf(last, sizeof(last), "%.*s", (int)len, id);
    flex_store_free_reply(r);
    if (!last[0])
        return 0; /* none */
    if (each(st, "-", last, replay_one, &c, why, whysz) < 0)
        return -1;
    return c.n;
}
