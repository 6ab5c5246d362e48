/* What the intake reads besides jobs: opt-outs, pauses, drains, control
 * commands, parent changes (engine/run/intake_int.h). */
#include "intake_int.h"

/* The bloom filter over every number in the opt-out set, installed only
 * once the whole set was read (a filter missing numbers would let their
 * jobs skip the exact lookup).  The opt-out log's position is taken first:
 * a number opted out while the set is scanned (SSCAN need not return what
 * is added meanwhile) then comes as news.  Returns 0, or -1 when Redis
 * failed (no filter: the caller reconnects and loads again). */
int in_bloom_load(struct intake *in)
{
    static const struct flex_hash_key key = {0x6f70746f75740001ULL, 0x666c657862310002ULL};
    if (!in->optlog_id[0])
        in_last_id(in, FLEX_KEY_OPTOUT_LOG, in->optlog_id, sizeof(in->optlog_id));
    flex_store_appendf(in->st, "SCARD %s", FLEX_KEY_OPTOUT);
    struct redisReply *r;
    if (flex_store_reply(in->st, &r) != 0)
        goto failed;
    long long n = flex_reply_is_error(r) ? -1 : flex_reply_integer(r);
    flex_store_free_reply(r);
    struct flex_bloom *b;
    if (n < 0 || flex_bloom_new(&b, (uint64_t)(n < 1000000 ? 1000000 : n * 2), 0.001, &key) != 0)
        goto failed;
    char cursor[32] = "0";
    do {
        flex_store_appendf(in->st, "SSCAN %s %s COUNT 10000", FLEX_KEY_OPTOUT, cursor);
        if (flex_store_reply(in->st, &r) != 0) {
            flex_bloom_del(b);
            goto failed;
        }
        size_t clen;
        const char *c = flex_reply_str(flex_reply_at(r, 0), &clen);
        struct redisReply *members = flex_reply_at(r, 1);
        if (flex_reply_is_error(r) || !c || clen >= sizeof(cursor) || !members) {
            flex_store_free_reply(r);
            flex_bloom_del(b);
            goto failed;
        }
        snprintf(cursor, sizeof(cursor), "%.*s", (int)clen, c);
        for (size_t i = 0; i < flex_reply_count(members); i++) {
            size_t len;
            const char *m = flex_reply_str(flex_reply_at(members, i), &len);
            if (m)
                flex_bloom_add(b, m, len);
        }
        flex_store_free_reply(r);
    } while (strcmp(cursor, "0") != 0);
    in->bloom = b;
    return 0;
failed:
    flex_log(FLEX_LOG_ERROR, &lctx, 0,
             "cannot read the opt-out set %s (%s): no job is read until it is whole",
             FLEX_KEY_OPTOUT, flex_store_error(in->st));
    return -1;
}

/* Where to start reading a stream: its last entry now ("$" is not allowed
 * in a pipelined XREAD that must not block). */
void in_last_id(struct intake *in, const char *key, char *out, size_t outsz)
{
    flex_store_appendf(in->st, "XREVRANGE %s + - COUNT 1", key);
    struct redisReply *r;
    snprintf(out, outsz, "0-0");
    if (flex_store_reply(in->st, &r) != 0)
        return;
    struct redisReply *e = flex_reply_at(r, 0);
    if (e) {
        size_t len;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &len);
        snprintf(out, outsz, "%.*s", (int)len, id);
    }
    flex_store_free_reply(r);
}

/* Passes what can change while a job waits to the dispatcher, which checks
 * its jobs against it just before they go (engine/core/live.h). */
static void news(struct intake *in, enum flex_news_kind kind, const char *text, size_t len,
                 int64_t version)
{
    void *item = flex_news_new(kind, flex_now_ms(), text, len, version);
    if (flex_ring_push_all(&in->p->news, &item, 1, &in->p->stop_all) == 0)
        flex_news_del(item); /* stopping */
}

/* The members of the set |key| (the writes queued so far settled first),
 * or NULL when Redis failed or refused. */
static struct redisReply *read_set(struct intake *in, const char *key)
{
    if (in_settle_writes(in) != 0)
        return NULL;
    flex_store_appendf(in->st, "SMEMBERS %s", key);
    struct redisReply *r;
    if (flex_store_reply(in->st, &r) != 0)
        return NULL;
    if (flex_reply_is_error(r)) {
        flex_store_free_reply(r);
        return NULL;
    }
    return r;
}

/* Appends |s| (|len| bytes) and a comma to the list |out| (|*used| of
 * |outsz| bytes).  Returns false, writing nothing, when it does not fit. */
static bool list_add(char *out, size_t outsz, size_t *used, const char *s, size_t len)
{
    if (len >= outsz - *used)
        return false;
    memcpy(out + *used, s, len);
    *used += len;
    out[(*used)++] = ',';
    return true;
}

/* The paused set, read again.  An error keeps the set in force (a pause
 * is never lifted by a failed read); more ids than FLEX_PAUSED_MAX pause
 * everything rather than letting some of them send.  Returns 0, or -1
 * when Redis failed. */
int in_load_paused(struct intake *in)
{
    struct redisReply *r = read_set(in, FLEX_KEY_PAUSED);
    if (!r)
        return -1;
    char all[FLEX_PAUSED_MAX * 66];
    size_t o = 0;
    in->npaused = 0;
    if (flex_reply_count(r) > FLEX_PAUSED_MAX) {
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "more than %d paused locations: pausing every one",
                 FLEX_PAUSED_MAX);
        snprintf(in->paused[in->npaused++], 65, "*");
        list_add(all, sizeof(all), &o, "*", 1);
    }
    for (size_t i = 0; i < flex_reply_count(r) && in->npaused < FLEX_PAUSED_MAX; i++) {
        size_t len;
        const char *s = flex_reply_str(flex_reply_at(r, i), &len);
        if (!s || len == 0 || len > 64)
            continue;
        if (!list_add(all, sizeof(all), &o, s, len))
            break;
        snprintf(in->paused[in->npaused++], 65, "%.*s", (int)len, s);
    }
    flex_store_free_reply(r);
    news(in, FLEX_NEWS_PAUSED, all, o ? o - 1 : 0, 0);
    return 0;
}

/* Paused by the set in Redis (flexctl location pause, "*" for --all) or by
 * the config ([location] paused).  Automatic replies are never held. */
bool in_is_paused(const struct intake *in, const struct flex_rec *r)
{
    if (r->auto_reply)
        return false;
    const struct flex_cfg_location *l = flex_cfg_location_find(in->cfg, r->location);
    if (l && l->paused)
        return true;
    for (int i = 0; i < in->npaused; i++)
        if (strcmp(in->paused[i], r->location) == 0 || strcmp(in->paused[i], "*") == 0)
            return true;
    return false;
}

/* Field |name| of a stream entry's field list, or NULL. */
const char *in_entry_field(struct redisReply *fields, const char *name, size_t *len)
{
    for (size_t k = 0; k + 1 < flex_reply_count(fields); k += 2) {
        const char *f = flex_reply_str(flex_reply_at(fields, k), NULL);
        if (f && strcmp(f, name) == 0)
            return flex_reply_str(flex_reply_at(fields, k + 1), len);
    }
    return NULL;
}

/* Calls |fn| for every entry of the first stream of an XREAD reply and
 * remembers the last id in |last|. */
size_t in_each_entry(struct redisReply *r, char *last, size_t lastsz,
                     void (*fn)(struct intake *, struct redisReply *), struct intake *in)
{
    struct redisReply *stream = flex_reply_at(r, 0);
    struct redisReply *entries = stream ? flex_reply_at(stream, 1) : NULL;
    size_t n = entries ? flex_reply_count(entries) : 0;
    for (size_t i = 0; i < n; i++) {
        struct redisReply *e = flex_reply_at(entries, i);
        size_t len;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &len);
        snprintf(last, lastsz, "%.*s", (int)len, id);
        fn(in, flex_reply_at(e, 1));
    }
    return n;
}

void in_on_optout(struct intake *in, struct redisReply *fields)
{
    size_t oplen, nlen;
    const char *op = in_entry_field(fields, "op", &oplen);
    const char *nums = in_entry_field(fields, "numbers", &nlen);
    if (!op || !nums)
        return;
    news(in, op[0] == '+' ? FLEX_NEWS_OPTOUT : FLEX_NEWS_OPTIN, nums, nlen, 0);
    if (op[0] != '+')
        return; /* removals: the exact set answers; bits stay until rebuild */
    for (size_t i = 0; i < nlen;) {
        size_t j = i;
        while (j < nlen && nums[j] != ',')
            j++;
        if (j > i)
            flex_bloom_add(in->bloom, nums + i, j - i);
        i = j + 1;
    }
}

/* An appointment or recall rescheduled or cancelled (written by the
 * replace script, engine/core/schedq.c): its reminders already read must not go. */
void in_on_change(struct intake *in, struct redisReply *fields)
{
    size_t klen, vlen;
    const char *k = in_entry_field(fields, "k", &klen);
    const char *v = in_entry_field(fields, "v", &vlen);
    if (k && v)
        news(in, FLEX_NEWS_PARENT, k, klen, strtoll(v, NULL, 10));
}

/* Reads our own pending entries again from the start, passing over those
 * of jobs in flight (process_entries): at start, after a reconnect, or to
 * take back the held jobs that did not keep their records. */
void in_reread_pending(struct intake *in)
{
    in->reread = true;
    in->nspilled = 0; /* those still paused are counted again as they come */
    snprintf(in->pel_cursor, sizeof(in->pel_cursor), "0");
}

/* The drained set (flexctl carrier drain), read again and given to the
 * dispatcher.  Returns 0, or -1 when Redis failed. */
int in_load_drained(struct intake *in)
{
    struct redisReply *r = read_set(in, FLEX_KEY_DRAINED);
    if (!r)
        return -1;
    char all[64 * 66]; /* carriers: at most 64 with a name of 1-64 bytes */
    size_t o = 0;
    for (size_t i = 0; i < flex_reply_count(r) && i < 64; i++) {
        size_t len;
        const char *s = flex_reply_str(flex_reply_at(r, i), &len);
        if (!s || len == 0 || len > 64)
            continue;
        if (!list_add(all, sizeof(all), &o, s, len))
            break;
    }
    flex_store_free_reply(r);
    news(in, FLEX_NEWS_DRAINED, all, o ? o - 1 : 0, 0);
    return 0;
}

void in_on_control(struct intake *in, struct redisReply *fields)
{
    size_t clen, alen;
    const char *cmd = in_entry_field(fields, "cmd", &clen);
    const char *arg = in_entry_field(fields, "arg", &alen);
    if (!cmd)
        return;
#define IS(word) (clen == sizeof(word) - 1 && memcmp(cmd, word, clen) == 0)
    if (!IS("reload") && !IS("pause") && !IS("resume") && !IS("drain") &&
        !IS("undrain")) { /* exactly, not a prefix */
        flex_log(FLEX_LOG_WARN, &lctx, 0, "unknown control command '%.*s' ignored",
                 (int)(clen < 32 ? clen : 32), cmd);
        return;
    }
    if (IS("reload")) {
        /* relaxed: a request flag polled by the main thread. */
        atomic_store_explicit(&in->p->reload_requested, true, memory_order_relaxed);
    } else if (IS("drain") || IS("undrain")) {
        if (in_load_drained(in) != 0) /* the set is the truth, as for pauses */
            in->reconnect = true;
        flex_log(FLEX_LOG_INFO, &lctx, 0, "carrier %.*s %sed", (int)alen, arg ? arg : "", cmd);
    } else if (arg) {                /* pause or resume */
        if (in_load_paused(in) != 0) /* the set is the truth; the stream only says when */
            in->reconnect = true;    /* (connecting reads it again) */
        flex_log(FLEX_LOG_INFO, &lctx, 0, "location %.*s %sd", (int)alen, arg, cmd);
        if (IS("resume") && in->nspilled > 0) {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "reading %zu held jobs again from the stream",
                     in->nspilled);
            in_reread_pending(in);
        }
    }
#undef IS
}
