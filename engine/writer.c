/*
 * The writer thread: everything the pipeline learns goes back to Redis here,
 * in one pipelined round trip per batch of up to BATCH records.
 *
 * Two Lua scripts do the per-message work inside Redis, so that a batch
 * costs the writer two commands to format and two replies to parse rather
 * than eight of each per message (docs/benchmarks.md):
 *
 *  - outcomes: per job XADD status, HSET its history, EXPIRE it, SET the
 *    msgid -> job map of each SMS part (a TTL of days, so a receipt is
 *    matched by whichever flexd receives it, after any restart); then the
 *    counters, and last XACK of the batch's jobs.  The XACK is inside the
 *    script so that an acknowledged job always has its outcome stored: a
 *    script that fails midway never reaches it.
 *  - receipts (after the outcomes, in the same pipeline: Redis runs it in
 *    order, so a receipt finds the map of a job accepted in the same
 *    batch): per receipt GET the map, XADD status, HSET the history, then
 *    the counters.  It returns each map value; a receipt not matched yet is
 *    looked up again for up to RECEIPT_WAIT_MS.
 *
 * The status events are packed here; the receipt script appends the job id,
 * location and acceptance time to the packed event (protobuf fields may
 * come in any order and a later one is merged), since only Redis knows
 * them.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "flex.pb-c.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "qsbr.h"
#include "smpp_msg.h"
#include "smpp_pdu.h"
#include "store.h"

#define BATCH 512
#define RECEIPT_WAIT_MS 10000 /* a receipt waits this long for its msgid map */
#define RETRY_MAX 4096
#define JOB_TTL_S 2592000  /* job history: 30 days */
#define MSGID_TTL_S 259200 /* msgid -> job: 3 days of late receipts */
#define OUT_ARGS 10        /* arguments per outcome of the outcome script */
#define RCPT_ARGS 7        /* ... per receipt of the receipt script */
#define HOUR_MS 3600000LL  /* the history and msgid buckets */
#define ARGS_MAX (8 + (BATCH + RETRY_MAX) * OUT_ARGS + BATCH)
#define BYTES_MAX ((BATCH + RETRY_MAX) * 3072)

/* KEYS: none (the keys are derived from the ids: single Redis only; a
 * Cluster needs hash tags here).  ARGV: job ttl, msgid ttl, n, batch id
 * (flex:batch:{id} marks it written, so a batch retried after its reply was
 * lost writes nothing twice), hour (the buckets), then n outcomes of
 * OUT_ARGS (state, job id, packed event, carrier, msgid or reason, parts,
 * location, enqueued ms, at ms, part keys comma-separated), then the
 * stream entry ids to acknowledge.
 *
 * History and msgid maps are fields of hashes bucketed by hour, written
 * with one HSET per bucket and batch: a key per message (with its TTL)
 * cost Redis more than everything else together (docs/benchmarks.md). */
static const char outcome_lua[] =
    "local jttl, mttl, n, hour = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[5]\n"
    "local first = redis.call('SET', 'flex:batch:' .. ARGV[4], 1, 'NX', 'EX', 3600)\n"
    "local cnt = {accepted = 0, failed = 0, expired = 0}\n"
    "local hist, maps = {}, {}\n"
    "local last = 5 + n * 10\n"
    "for i = 6, last, 10 do\n"
    "  if not first then break end\n"
    "  local st, id, carrier = ARGV[i], ARGV[i + 1], ARGV[i + 3]\n"
    "  local loc, at = ARGV[i + 6], ARGV[i + 8]\n"
    "  redis.call('XADD', 'flex:status', 'MAXLEN', '~', '10000000', '*', 'ev', ARGV[i + 2],\n"
    "             'id', id, 'state', st)\n"
    "  local rec\n"
    "  if st == 'accepted' then\n"
    "    rec = 'state=accepted carrier=' .. carrier .. ' msgid=' .. ARGV[i + 4] ..\n"
    "          ' parts=' .. ARGV[i + 5] .. ' location=' .. loc .. ' enqueued_at=' ..\n"
    "          ARGV[i + 7] .. ' accepted_at=' .. at\n"
    "    local m = maps[carrier]\n"
    "    if not m then m = {}; maps[carrier] = m end\n"
    "    local k = 0\n"
    "    for key in string.gmatch(ARGV[i + 9], '[^,]+') do\n"
    "      k = k + 1\n"
    "      m[#m + 1] = key\n"
    "      if k == 1 then m[#m + 1] = id .. ' ' .. at .. ' ' .. loc\n"
    "      else m[#m + 1] = id .. '#' .. k end\n"
    "    end\n"
    "  else\n"
    "    rec = 'state=' .. st .. ' carrier=' .. carrier .. ' location=' .. loc .. ' ' ..\n"
    "          st .. '_at=' .. at .. ' reason=' .. ARGV[i + 4]\n"
    "  end\n"
    "  hist[#hist + 1] = id\n"
    "  hist[#hist + 1] = rec\n"
    "  cnt[st] = cnt[st] + 1\n"
    "end\n"
    "local function hset_all(key, list, ttl)\n"
    "  for j = 1, #list, 1000 do\n"
    "    redis.call('HSET', key, unpack(list, j, math.min(j + 999, #list)))\n"
    "  end\n"
    "  redis.call('EXPIRE', key, ttl)\n"
    "end\n"
    "if #hist > 0 then hset_all('flex:hist:' .. hour, hist, jttl) end\n"
    "for carrier, m in pairs(maps) do hset_all('flex:msgid:' .. carrier .. ':' .. hour, m, mttl) "
    "end\n"
    "if cnt.accepted > 0 then redis.call('HINCRBY', 'flex:stats', 'sent', cnt.accepted) end\n"
    "if cnt.failed > 0 then redis.call('HINCRBY', 'flex:stats', 'failed', cnt.failed) end\n"
    "if cnt.expired > 0 then redis.call('HINCRBY', 'flex:stats', 'expired', cnt.expired) end\n"
    "if #ARGV > last then\n"
    "  redis.call('XACK', 'flex:jobs', 'flexd', unpack(ARGV, last + 1))\n"
    "end\n"
    "return n\n";

/* ARGV: job ttl, batch id (as above: a retried batch only looks up), hour,
 * then RCPT_ARGS per receipt (carrier, id key, state, receipt stat name,
 * at ms, packed event without job id and location, hours to look back).
 * A receipt is looked up in the current hour's map and the one before, or
 * as far back as its last argument says (the msgid TTL, for a late
 * receipt on its last try).  Returns each map value (nil: not mapped). */
static const char receipt_lua[] =
    "local out, nd, nf, hist = {}, 0, 0, {}\n"
    "local first = redis.call('SET', 'flex:batch:' .. ARGV[2], 1, 'NX', 'EX', 3600)\n"
    "local hour = tonumber(ARGV[3])\n"
    "for i = 4, #ARGV, 7 do\n"
    "  local v\n"
    "  for h = hour, hour - tonumber(ARGV[i + 6]), -1 do\n"
    "    v = redis.call('HGET', 'flex:msgid:' .. ARGV[i] .. ':' .. h, ARGV[i + 1])\n"
    "    if v then break end\n"
    "  end\n"
    "  out[#out + 1] = v\n"
    "  if first and v and not string.find(v, '#', 1, true) then\n"
    "    local id, acc, loc = string.match(v, '^(%S+) (%d+) (%S*)$')\n"
    "    if not id then id, acc, loc = v, '0', '' end\n"
    "    local st = ARGV[i + 2]\n"
    /* field 1 (job_id) and field 9 (location): tag, length (< 128), bytes;
     * field 8 (accepted_at_ms): tag '@', varint (exact: ms < 2^53) */
    "    local ev = ARGV[i + 5] .. '\\10' .. string.char(#id) .. id\n"
    "    if #loc > 0 then ev = ev .. 'J' .. string.char(#loc) .. loc end\n"
    "    local a, t = tonumber(acc), {}\n"
    "    while a >= 128 do t[#t + 1] = string.char(a % 128 + 128); a = math.floor(a / 128) end\n"
    "    t[#t + 1] = string.char(a)\n"
    "    ev = ev .. '@' .. table.concat(t)\n"
    "    redis.call('XADD', 'flex:status', 'MAXLEN', '~', '10000000', '*', 'ev', ev,\n"
    "               'id', id, 'state', st)\n"
    "    hist[#hist + 1] = id .. '|r'\n"
    "    hist[#hist + 1] = 'state=' .. st .. ' receipt=' .. ARGV[i + 3] .. ' ' .. st ..\n"
    "                      '_at=' .. ARGV[i + 4]\n"
    "    if st == 'delivered' then nd = nd + 1 else nf = nf + 1 end\n"
    "  end\n"
    "end\n"
    "if #hist > 0 then\n"
    "  local key = 'flex:hist:' .. hour\n"
    "  for j = 1, #hist, 1000 do\n"
    "    redis.call('HSET', key, unpack(hist, j, math.min(j + 999, #hist)))\n"
    "  end\n"
    "  redis.call('EXPIRE', key, ARGV[1])\n"
    "end\n"
    "if nd > 0 then redis.call('HINCRBY', 'flex:stats', 'delivered', nd) end\n"
    "if nf > 0 then redis.call('HINCRBY', 'flex:stats', 'failed', nf) end\n"
    "return out\n";

/* One command's arguments, built in place: pointers into |bytes| stay valid
 * because |bytes| never grows (sized for the largest batch). */
struct args {
    const char **argv;
    size_t *lens;
    size_t n;
    char *bytes;
    size_t used;
};

struct writer {
    struct flex_pipeline *p;
    struct flex_store *st;
    char sha_outcome[41], sha_receipt[41];
    struct args a;
    long inbound;
    unsigned long long batch; /* sequence of the batch being written */
};

static const struct flex_log_ctx lctx = {NULL, "writer", NULL};

static const char *state_name(Flex__V1__State s)
{
    switch (s) {
    case FLEX__V1__STATE__STATE_ACCEPTED: return "accepted";
    case FLEX__V1__STATE__STATE_DELIVERED: return "delivered";
    case FLEX__V1__STATE__STATE_FAILED: return "failed";
    case FLEX__V1__STATE__STATE_EXPIRED: return "expired";
    default: return "unknown";
    }
}

static void arg(struct args *a, const char *s, size_t len)
{
    a->argv[a->n] = s;
    a->lens[a->n++] = len;
}

/* Copies |len| bytes into the argument buffer and adds them. */
static void arg_copy(struct args *a, const void *s, size_t len)
{
    char *dst = a->bytes + a->used;
    memcpy(dst, s, len);
    a->used += len;
    arg(a, dst, len);
}

static void arg_str(struct args *a, const char *s)
{
    arg_copy(a, s, strlen(s));
}

static void arg_int(struct args *a, long long v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", v);
    arg_copy(a, buf, (size_t)n);
}

/* The packed status event of |r| (job id and location left out when
 * |with_ids| is false: the receipt script adds them). */
static void arg_event(struct args *a, const struct flex_rec *r, Flex__V1__State state,
                      const char *reason, bool with_ids)
{
    Flex__V1__StatusEvent ev = FLEX__V1__STATUS_EVENT__INIT;
    ev.job_id = with_ids ? (char *)r->id : (char *)"";
    ev.state = state;
    ev.reason = (char *)reason;
    ev.carrier = (char *)r->carrier;
    ev.carrier_message_id = (char *)r->part_ids[0];
    ev.at_ms = r->at_ms;
    ev.enqueued_at_ms = r->enqueued_ms;
    ev.location = with_ids ? (char *)r->location : (char *)"";
    ev.parts = r->nparts;
    ev.error_code = r->status;
    ev.temporary = r->temporary;
    ev.patient = with_ids ? (char *)r->patient : (char *)"";
    size_t n = flex__v1__status_event__pack(&ev, (uint8_t *)a->bytes + a->used);
    arg(a, a->bytes + a->used, n);
    a->used += n;
}

/* "{consumer}:{o|r}{sequence}": the same for a batch written again after a
 * lost connection (the sequence moves on only after success), unique
 * otherwise (consumer names carry host and pid). */
static void batch_id(struct writer *w, struct args *a, char kind)
{
    char id[96];
    int n = snprintf(id, sizeof(id), "%s:%c%llu", w->p->consumer, kind, w->batch);
    arg_copy(a, id, (size_t)n < sizeof(id) ? (size_t)n : sizeof(id) - 1);
}

/* The OUT_ARGS arguments of one outcome. */
static void add_outcome(struct writer *w, struct flex_rec *r)
{
    struct args *a = &w->a;
    Flex__V1__State st = r->outcome == FLEX_OUT_ACCEPTED  ? FLEX__V1__STATE__STATE_ACCEPTED
                         : r->outcome == FLEX_OUT_EXPIRED ? FLEX__V1__STATE__STATE_EXPIRED
                                                          : FLEX__V1__STATE__STATE_FAILED;
    bool ok = st == FLEX__V1__STATE__STATE_ACCEPTED;
    arg_str(a, state_name(st));
    arg_str(a, r->id);
    arg_event(a, r, st, r->reason, true);
    arg_str(a, r->carrier[0] ? r->carrier : "-");
    arg_str(a, ok ? r->part_ids[0] : r->reason);
    arg_int(a, r->nparts);
    arg_str(a, r->location);
    arg_int(a, r->enqueued_ms);
    arg_int(a, r->at_ms);
    char *keys = a->bytes + a->used; /* part keys, comma-separated */
    size_t klen = 0;
    for (unsigned k = 0; ok && k < r->nparts; k++) {
        if (k)
            keys[klen++] = ',';
        flex_smpp_id_key(r->part_ids[k], keys + klen);
        klen += strlen(keys + klen);
    }
    a->used += klen;
    arg(a, keys, klen);
    if (ok) {
        flex_labels_add(&w->p->by_carrier, r->carrier, FLEX_MV_ACCEPTED, 1);
        flex_labels_add(&w->p->by_location, r->location, FLEX_MV_ACCEPTED, 1);
        flex_histogram_observe(&w->p->accept_ms, r->at_ms - r->enqueued_ms);
    } else {
        unsigned k = st == FLEX__V1__STATE__STATE_EXPIRED ? FLEX_MV_EXPIRED : FLEX_MV_FAILED;
        flex_labels_add(&w->p->by_location, r->location, k, 1);
        if (r->carrier[0])
            flex_labels_add(&w->p->by_carrier, r->carrier, k, 1);
    }
}

/* Appends the outcome script for the results among |recs| (with their
 * XACKs); returns how many commands were appended (0 or 1). */
static int append_outcomes(struct writer *w, struct flex_rec **recs, size_t n, long *counts)
{
    struct args *a = &w->a;
    a->n = a->used = 0;
    arg_str(a, "EVALSHA");
    arg(a, w->sha_outcome, 40);
    arg_str(a, "0");
    arg_int(a, JOB_TTL_S);
    arg_int(a, MSGID_TTL_S);
    size_t nslot = a->n;
    arg_str(a, "0000000000"); /* the count, rewritten below */
    batch_id(w, a, 'o');
    arg_int(a, flex_now_ms() / HOUR_MS);
    long nout = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_RESULT) {
            add_outcome(w, recs[i]);
            counts[recs[i]->outcome]++;
            nout++;
        }
    if (nout == 0)
        return 0;
    char num[24];
    int len = snprintf(num, sizeof(num), "%ld", nout);
    memcpy((char *)a->argv[nslot], num, (size_t)len); /* fits: 10 bytes reserved */
    a->lens[nslot] = (size_t)len;
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_RESULT)
            arg(a, recs[i]->entry, strlen(recs[i]->entry));
    flex_store_append(w->st, (int)a->n, a->argv, a->lens);
    return 1;
}

/* Appends the receipt script for |recs[0..n)| (all receipts). */
static void append_receipts(struct writer *w, struct flex_rec **recs, size_t n)
{
    struct args *a = &w->a;
    a->n = a->used = 0;
    arg_str(a, "EVALSHA");
    arg(a, w->sha_receipt, 40);
    arg_str(a, "0");
    arg_int(a, JOB_TTL_S);
    batch_id(w, a, 'r');
    int64_t now = flex_now_ms();
    arg_int(a, now / HOUR_MS);
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        bool ok = r->receipt_state == FLEX_SMPP_STATE_DELIVERED;
        snprintf(r->reason, sizeof(r->reason), "%s", flex_smpp_stat_name(r->receipt_state));
        char key[65];
        flex_smpp_id_key(r->part_ids[0], key);
        arg_str(a, r->carrier);
        arg_str(a, key);
        arg_str(a, ok ? "delivered" : "failed");
        arg_str(a, r->reason);
        arg_int(a, r->at_ms);
        arg_event(a, r, ok ? FLEX__V1__STATE__STATE_DELIVERED : FLEX__V1__STATE__STATE_FAILED,
                  r->reason, false);
        /* The last try of a receipt searches every bucket the msgid TTL
         * keeps: a receipt days late is still matched. */
        bool last = now - r->at_ms >= RECEIPT_WAIT_MS - 300;
        arg_int(a, last ? MSGID_TTL_S / 3600 + 1 : 1);
    }
    flex_store_append(w->st, (int)a->n, a->argv, a->lens);
}

static void metric(_Atomic uint64_t *c, long n)
{
    /* relaxed: a metrics counter, read by the HTTP thread only. */
    if (n > 0)
        atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

/* Reads a first part's map value "job accepted_ms location" (or a bare
 * job id, as older versions wrote) into |r| and observes the latency. */
static void receipt_job(struct writer *w, struct flex_rec *r, const char *v, size_t len)
{
    const char *sp = memchr(v, ' ', len);
    size_t idlen = sp ? (size_t)(sp - v) : len;
    if (idlen >= sizeof(r->id))
        idlen = sizeof(r->id) - 1;
    memcpy(r->id, v, idlen);
    r->id[idlen] = '\0';
    r->location[0] = '\0';
    if (!sp)
        return;
    char rest[96];
    snprintf(rest, sizeof(rest), "%.*s", (int)(len - idlen - 1), sp + 1);
    long long acc = 0;
    char loc[65] = "";
    if (sscanf(rest, "%lld %64s", &acc, loc) >= 1 && acc > 0)
        flex_histogram_observe(&w->p->receipt_ms, r->at_ms - acc);
    snprintf(r->location, sizeof(r->location), "%s", loc);
}

static void write_inbound(struct writer *w, const struct flex_rec *r)
{
    Flex__V1__InboundMessage m = FLEX__V1__INBOUND_MESSAGE__INIT;
    m.from = (char *)r->from;
    m.to = (char *)r->to;
    m.text = (char *)r->text;
    m.carrier = (char *)r->carrier;
    m.intent = FLEX__V1__INTENT__INTENT_UNSPECIFIED; /* classified in a later issue */
    m.received_at_ms = r->at_ms;
    size_t n = flex__v1__inbound_message__get_packed_size(&m);
    uint8_t *buf = flex_malloc(n);
    flex__v1__inbound_message__pack(&m, buf);
    const char *argv[] = {"XADD", FLEX_KEY_INBOUND, "*", "msg", (const char *)buf};
    size_t lens[] = {4, strlen(FLEX_KEY_INBOUND), 1, 3, n};
    flex_store_append(w->st, 5, argv, lens);
    flex_free(buf);
    w->inbound++;
}

/* What the receipt script said of each receipt: matched (labels and the
 * latency), a later part (nothing to do), or not mapped yet (|retry|). */
static void receipts_done(struct writer *w, struct flex_rec **recs, size_t n,
                          struct redisReply *rep, struct flex_rec **retry, size_t *nretry)
{
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        size_t len;
        struct redisReply *e = flex_reply_at(rep, i);
        const char *v = e && !flex_reply_is_nil(e) ? flex_reply_str(e, &len) : NULL;
        if (!v) {
            if (flex_now_ms() - r->at_ms < RECEIPT_WAIT_MS && *nretry < RETRY_MAX) {
                retry[(*nretry)++] = r;
                r->kind = FLEX_REC_RECEIPT_WAIT;
            }
            continue;
        }
        if (memchr(v, '#', len))
            continue; /* a later part's receipt: the first part's decides */
        receipt_job(w, r, v, len);
        bool ok = r->receipt_state == FLEX_SMPP_STATE_DELIVERED;
        metric(ok ? &w->p->m.delivered : &w->p->m.failed, 1);
        unsigned k = ok ? FLEX_MV_DELIVERED : FLEX_MV_FAILED;
        flex_labels_add(&w->p->by_carrier, r->carrier, k, 1);
        if (r->location[0])
            flex_labels_add(&w->p->by_location, r->location, k, 1);
    }
}

/* Writes one batch in one round trip: the outcome script (with the XACKs),
 * inbound texts, then the receipt script for this batch's receipts and
 * those waiting for their msgid when their retry is due (every 100 ms, not
 * every batch: a backlog of waiting receipts must not cost a lookup each
 * per batch).  Returns 0, or -1 when Redis failed or a script did (the
 * caller reconnects, which reloads the scripts, and writes the batch
 * again). */
static int write_batch(struct writer *w, struct flex_rec **recs, size_t n, struct flex_rec **retry,
                       size_t *nretry, bool retry_due)
{
    long counts[4] = {0};
    int cmds = append_outcomes(w, recs, n, counts);
    int nout = cmds;
    w->inbound = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_INBOUND)
            write_inbound(w, recs[i]), cmds++;
    if (w->inbound)
        flex_store_appendf(w->st, "HINCRBY %s inbound %ld", FLEX_KEY_STATS, w->inbound), cmds++;
    struct flex_rec *all[BATCH + RETRY_MAX];
    size_t m = 0;
    if (retry_due) {
        for (size_t i = 0; i < *nretry; i++) {
            retry[i]->kind = FLEX_REC_RECEIPT;
            all[m++] = retry[i];
        }
        *nretry = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_RECEIPT)
            all[m++] = recs[i];
    if (m)
        append_receipts(w, all, m);
    struct redisReply *r;
    for (int i = 0; i < cmds; i++) {
        if (flex_store_reply(w->st, &r) != 0)
            return -1;
        bool bad = flex_reply_is_error(r) && i < nout; /* the outcomes must be stored */
        if (bad)
            flex_log(FLEX_LOG_WARN, &lctx, 0, "outcome script failed: %s", flex_reply_str(r, NULL));
        flex_store_free_reply(r);
        if (bad)
            return -1;
    }
    if (m) {
        if (flex_store_reply(w->st, &r) != 0)
            return -1;
        if (flex_reply_is_error(r)) {
            flex_log(FLEX_LOG_WARN, &lctx, 0, "receipt script failed: %s", flex_reply_str(r, NULL));
            flex_store_free_reply(r);
            return -1;
        }
        receipts_done(w, all, m, r, retry, nretry);
        flex_store_free_reply(r);
    }
    metric(&w->p->m.accepted, counts[FLEX_OUT_ACCEPTED]);
    metric(&w->p->m.failed, counts[FLEX_OUT_FAILED]);
    metric(&w->p->m.inbound, w->inbound);
    w->batch++;
    return 0;
}

/* A receipt or inbound record goes back to the dispatcher's pool, or is
 * freed when the pool was empty and it was allocated (dispatch.c). */
static void release_event(struct writer *w, struct flex_rec *r)
{
    if (r->heap) {
        flex_free(r);
        return;
    }
    void *item = r;
    flex_ring_push_all(&w->p->free_dispatch, &item, 1, NULL);
}

static void give_back(struct writer *w, struct flex_rec **recs, size_t n)
{
    int jobs = 0;
    for (size_t i = 0; i < n; i++) {
        void *item = recs[i];
        if (recs[i]->kind == FLEX_REC_RECEIPT_WAIT)
            continue;
        if (recs[i]->kind == FLEX_REC_RESULT) {
            jobs++;
            flex_ring_push_all(&w->p->free_recs, &item, 1, NULL);
        } else {
            release_event(w, recs[i]);
        }
    }
    /* relaxed: a gauge read by the drain loop. */
    atomic_fetch_sub_explicit(&w->p->inflight, jobs, memory_order_relaxed);
}

/* Retried receipts that were written or given up go back too. */
static void give_back_retried(struct writer *w, struct flex_rec **before, size_t nbefore)
{
    for (size_t i = 0; i < nbefore; i++) {
        if (before[i]->kind == FLEX_REC_RECEIPT_WAIT)
            continue;
        release_event(w, before[i]);
    }
}

static int load_scripts(struct writer *w, char *why, size_t whysz)
{
    if (flex_store_script_load(w->st, outcome_lua, w->sha_outcome) != 0 ||
        flex_store_script_load(w->st, receipt_lua, w->sha_receipt) != 0) {
        snprintf(why, whysz, "cannot load the writer's scripts: %s", flex_store_error(w->st));
        return -1;
    }
    return 0;
}

void *flex_writer_main(void *arg)
{
    struct writer w = {.p = arg};
    w.a.argv = flex_malloc(ARGS_MAX * sizeof(*w.a.argv));
    w.a.lens = flex_malloc(ARGS_MAX * sizeof(*w.a.lens));
    w.a.bytes = flex_malloc(BYTES_MAX);
    struct flex_qsbr_reader qr;
    flex_qsbr_register(&flex_cfg_qsbr, &qr);
    struct flex_rec *recs[BATCH];
    struct flex_rec **retry = flex_malloc(RETRY_MAX * sizeof(*retry));
    struct flex_rec **prev = flex_malloc(RETRY_MAX * sizeof(*prev));
    size_t n = 0, nretry = 0;
    int64_t last_retry = 0;
    unsigned backoff = 50;
    for (;;) {
        flex_qsbr_quiescent(&flex_cfg_qsbr, &qr);
        if (n == 0)
            n = flex_ring_pop_batch(&w.p->results, (void **)recs, BATCH);
        bool retry_due = nretry && flex_now_ms() - last_retry > 100;
        if (n == 0 && !retry_due) {
            /* relaxed: polled stop flag. */
            if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                break;
            usleep(500);
            continue;
        }
        if (!w.st) {
            char why[256];
            if (flex_store_connect(&w.st, flex_cfg_acquire()->redis.url, 2000, why, sizeof(why)) !=
                    0 ||
                load_scripts(&w, why, sizeof(why)) != 0) {
                flex_log(FLEX_LOG_ERROR, &lctx, 0, "%s", why);
                flex_store_del(w.st);
                w.st = NULL;
                usleep(backoff * 1000);
                backoff = backoff < 2000 ? backoff * 2 : 2000;
                if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                    break;
                continue;
            }
            backoff = 50;
        }
        size_t nprev = retry_due ? nretry : 0;
        memcpy(prev, retry, nprev * sizeof(*prev));
        if (retry_due)
            last_retry = flex_now_ms();
        if (write_batch(&w, recs, n, retry, &nretry, retry_due) != 0) {
            flex_log(FLEX_LOG_WARN, &lctx, 0, "redis write failed: %s; retrying the batch",
                     flex_store_error(w.st));
            if (retry_due) { /* keep the waiting receipts */
                for (size_t i = 0; i < nprev; i++)
                    prev[i]->kind = FLEX_REC_RECEIPT_WAIT;
                memcpy(retry, prev, nprev * sizeof(*prev));
                nretry = nprev;
            }
            flex_store_del(w.st);
            w.st = NULL;
            continue;
        }
        give_back_retried(&w, prev, nprev);
        give_back(&w, recs, n);
        n = 0;
    }
    for (size_t i = 0; i < nretry; i++) /* receipts still waiting at exit */
        if (retry[i]->heap)
            flex_free(retry[i]);
    flex_free(retry);
    flex_free(prev);
    flex_free(w.a.argv);
    flex_free(w.a.lens);
    flex_free(w.a.bytes);
    flex_store_del(w.st);
    flex_qsbr_unregister(&flex_cfg_qsbr, &qr);
    return NULL;
}
