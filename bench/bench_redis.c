/* What Redis itself spends per message on the commands the pipeline cannot
 * do without, on this machine, with nothing else running: the floor under
 * flexbench's Redis CPU.  A redis-server of its own (no persistence, as in
 * flexbench), 200,000 job entries of flexbench's size in a stream, then
 * batches of 256 the way flexd sends them:
 *
 *   read     XREADGROUP COUNT 256
 *   dedup    the idempotency check (engine/core/idem.c: HSETNX of a field
 *            per job in bucket hashes), or as before,
 *            SET flex:seen:{id} entry NX GET EX 30d, one key per job
 *   outcome  MULTI, one status XADD (a batch of events), HSET of the msgid
 *            map, EXPIRE, XACK, EXEC
 *   receipt  HMGET of the msgid map, MULTI, one status XADD, HINCRBY, EXEC
 *
 * and the same with flexd's job history (HSET flex:hist:{hour}, one field per
 * job, rewritten by its receipt) as a third row.  Reported: Redis CPU
 * microseconds per message (INFO cpu, user + sys) and the rate that one
 * Redis core would reach at that cost.  The client is one synchronous
 * connection, so the wall-clock rate here is not the point.
 *
 * Usage: bench_redis [RECORDS]: RECORDS idempotency records already kept
 * (default 0; a month of a DSO's traffic is 1-2 million). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_sim.h"
#include "bench_store.h"
#include "flex.pb-c.h"
#include "idem.h"
#include "mem.h"
#include "store.h"

#define JOBS 200000
#define BATCH 256

static struct flex_store *st;

static void die(const char *what)
{
    fprintf(stderr, "bench_redis: %s: %s\n", what, st ? flex_store_error(st) : "");
    exit(1);
}

static double redis_cpu(void)
{
    return bench_redis_cpu_or_exit(st, "bench_redis");
}

/* A job as flexctl enqueues flexbench's: template, three variables. */
static size_t job_bytes(long i, uint8_t *out, char *id, size_t idsz)
{
    Flex__V1__Job j = FLEX__V1__JOB__INIT;
    char phone[16], patient[16];
    snprintf(id, idsz, "fb-%07ld", i);
    snprintf(phone, sizeof(phone), "+1202555%04ld", i % 10000);
    snprintf(patient, sizeof(patient), "p-%07ld", i);
    j.type = FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE;
    j.id = id;
    j.location = "loc-1";
    j.patient = patient;
    j.phone = phone;
    j.template_ = "reminder_24h";
    Flex__V1__Job__VarsEntry v[3] = {FLEX__V1__JOB__VARS_ENTRY__INIT,
                                     FLEX__V1__JOB__VARS_ENTRY__INIT,
                                     FLEX__V1__JOB__VARS_ENTRY__INIT};
    Flex__V1__Job__VarsEntry *vp[3] = {&v[0], &v[1], &v[2]};
    v[0].key = "first_name", v[0].value = "Ana";
    v[1].key = "date", v[1].value = "Dec 1";
    v[2].key = "time", v[2].value = "9:30 AM";
    j.n_vars = 3;
    j.vars = vp;
    j.enqueued_at_ms = 1764412345678;
    return flex__v1__job__pack(&j, out);
}

/* Idempotency records already kept before the run (argv[1]: a month of a
 * DSO's traffic is 1-2 million), in the layout |seen_keys| or not. */
static long prefill;

static void load_records(bool seen_keys)
{
    if (!seen_keys && flex_idem_shape(st) != 0) /* as every flexd at start */
        die("shaping the buckets");
    for (long i = 0; i < prefill; i++) {
        char id[24];
        snprintf(id, sizeof(id), "old-%08ld", i);
        if (seen_keys)
            flex_store_appendf(st, "SET flex:seen:%s 1764412345678-%ld EX 2592000", id, i);
        else
            flex_store_appendf(st, "HSETNX %s%u %s 1764412345678-%ld", FLEX_KEY_IDEM,
                               flex_idem_bucket(id, strlen(id)), id, i);
        if (i % 1000 == 999 && flex_store_drain(st, 1000) != 0)
            die("prefill");
    }
    if (flex_store_drain(st, (int)(prefill % 1000)) != 0)
        die("prefill");
}

static void load_jobs(bool seen_keys)
{
    flex_store_appendf(st, "FLUSHALL");
    flex_store_drain(st, 1);
    load_records(seen_keys);
    for (long i = 0; i < JOBS; i++) {
        uint8_t pb[256];
        char id[24];
        size_t n = job_bytes(i, pb, id, sizeof(id));
        const char *argv[] = {"XADD", "flex:jobs", "*", "job", (const char *)pb, "id", id};
        size_t lens[] = {4, 9, 1, 3, n, 2, strlen(id)};
        flex_store_append(st, 7, argv, lens);
        if (i % 512 == 511 && flex_store_drain(st, 512) < 0)
            die("XADD");
    }
    if (flex_store_drain(st, JOBS % 512) < 0)
        die("XADD");
    flex_store_appendf(st, "XGROUP CREATE flex:jobs flexd 0");
    if (flex_store_drain(st, 1) < 0)
        die("XGROUP");
}

/* One argv being built: many fields, one command. */
struct cmd {
    const char *argv[3 + 2 * BATCH];
    size_t lens[3 + 2 * BATCH];
    int n;
    char store[2 * BATCH][160];
    int used;
};

static void cmd_start(struct cmd *c, const char *a, const char *b)
{
    c->n = c->used = 0;
    c->argv[c->n] = a, c->lens[c->n++] = strlen(a);
    if (b)
        c->argv[c->n] = b, c->lens[c->n++] = strlen(b);
}

static void cmd_add(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cmd_add(struct cmd *c, const char *fmt, ...)
{
    char *p = c->store[c->used++];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p, 160, fmt, ap);
    va_end(ap);
    c->argv[c->n] = p, c->lens[c->n++] = (size_t)n;
}

static void cmd_send(struct cmd *c)
{
    flex_store_append(st, c->n, c->argv, c->lens);
}

/* A status batch's size in flexd: ~60 bytes of protobuf per event. */
static void status_xadd(int n)
{
    static char blob[BATCH * 60];
    memset(blob, 'e', sizeof(blob));
    const char *argv[] = {"XADD", "flex:status", "MAXLEN", "~", "100000",
                          "*",    "evs",         blob,     "n", "256"};
    size_t lens[] = {4, 11, 6, 1, 6, 1, 3, (size_t)n * 60, 1, 3};
    flex_store_append(st, 10, argv, lens);
}

/* Reads every entry id and job id of one XREADGROUP reply. */
static int read_batch(char ids[][24], char entries[][24])
{
    flex_store_appendf(st, "XREADGROUP GROUP flexd c1 COUNT %d STREAMS flex:jobs >", BATCH);
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0)
        die("XREADGROUP");
    struct redisReply *s0 = flex_reply_is_nil(r) ? NULL : flex_reply_at(r, 0);
    struct redisReply *es = s0 ? flex_reply_at(s0, 1) : NULL;
    int n = es ? (int)flex_reply_count(es) : 0; /* nil: the stream is read */
    for (int i = 0; i < n; i++) {
        struct redisReply *e = flex_reply_at(es, (size_t)i), *f = flex_reply_at(e, 1);
        size_t len;
        const char *s = flex_reply_str(flex_reply_at(e, 0), &len);
        snprintf(entries[i], 24, "%.*s", (int)len, s);
        s = flex_reply_str(flex_reply_at(f, 3), &len);
        snprintf(ids[i], 24, "%.*s", (int)len, s);
    }
    flex_store_free_reply(r);
    return n;
}

enum mode { SEEN_KEY, MANDATORY, HIST, NMODES };

static const char *const mode_names[NMODES] = {
    "mandatory, a seen key per job (before)",
    "mandatory, idempotency in bucket hashes (now)",
    "+ history: hourly hash, receipt overwrites",
};

static double run(enum mode mode)
{
    static struct cmd c;
    char ids[BATCH][24], entries[BATCH][24];
    load_jobs(mode == SEEN_KEY);
    double cpu0 = redis_cpu();
    long msgs = 0;
    for (;;) {
        int n = read_batch(ids, entries);
        if (n == 0)
            break;
        if (mode == SEEN_KEY) { /* dedup */
            for (int i = 0; i < n; i++)
                flex_store_appendf(st, "SET flex:seen:%s %s NX GET EX 2592000", ids[i], entries[i]);
            if (flex_store_drain(st, n) != 0)
                die("SET");
        } else {
            for (int i = 0; i < n; i++)
                flex_idem_ask(st, false, ids[i], entries[i]);
            for (int i = 0; i < n; i++) {
                enum flex_idem_verdict v;
                if (flex_idem_answer(st, false, entries[i], &v) != 0 || v != FLEX_IDEM_NEW)
                    die("idempotency check");
            }
        }
        int cmds = 0; /* outcome */
        flex_store_appendf(st, "MULTI"), cmds++;
        status_xadd(n), cmds++;
        if (mode == HIST) {
            cmd_start(&c, "HSET", "flex:hist:490000");
            for (int i = 0; i < n; i++) {
                cmd_add(&c, "%s", ids[i]);
                cmd_add(&c,
                        "s=accepted c=primary m=%08lX p=1 l=loc-1 e=1764412345678 "
                        "a=1764412345999",
                        msgs + i);
            }
            cmd_send(&c), cmds++;
            flex_store_appendf(st, "EXPIRE flex:hist:490000 2592000"), cmds++;
        }
        cmd_start(&c, "HSET", "flex:msgid:primary:490000");
        for (int i = 0; i < n; i++) {
            cmd_add(&c, "%08lX", msgs + i);
            cmd_add(&c, "%s 1764412345999 loc-1", ids[i]);
        }
        cmd_send(&c), cmds++;
        flex_store_appendf(st, "EXPIRE flex:msgid:primary:490000 259200"), cmds++;
        cmd_start(&c, "XACK", "flex:jobs");
        c.argv[c.n] = "flexd", c.lens[c.n++] = 5;
        for (int i = 0; i < n; i++)
            c.argv[c.n] = entries[i], c.lens[c.n++] = strlen(entries[i]);
        cmd_send(&c), cmds++;
        flex_store_appendf(st, "EXEC"), cmds++;
        cmd_start(&c, "HMGET", "flex:msgid:primary:490000"); /* receipts */
        for (int i = 0; i < n; i++)
            cmd_add(&c, "%08lX", msgs + i);
        cmd_send(&c), cmds++;
        if (flex_store_drain(st, cmds) < 0)
            die("outcome");
        cmds = 0;
        flex_store_appendf(st, "MULTI"), cmds++;
        status_xadd(n), cmds++;
        if (mode == HIST) {
            cmd_start(&c, "HSET", "flex:hist:490000");
            for (int i = 0; i < n; i++) {
                cmd_add(&c, "%s", ids[i]);
                cmd_add(&c,
                        "s=delivered c=primary m=%08lX p=1 l=loc-1 e=1764412345678 "
                        "a=1764412345999 r=DELIVRD t=1764412346100",
                        msgs + i);
            }
            cmd_send(&c), cmds++;
        }
        flex_store_appendf(st, "HINCRBY flex:stats delivered %d", n), cmds++;
        flex_store_appendf(st, "EXEC"), cmds++;
        if (flex_store_drain(st, cmds) < 0)
            die("receipt");
        msgs += n;
    }
    if (msgs != JOBS)
        die("not every job was read");
    return (redis_cpu() - cpu0) * 1e6 / (double)msgs;
}

int main(int argc, char **argv)
{
    prefill = argc > 1 ? atol(argv[1]) : 0;
    char why[128];
    pid_t pid = bench_redis_spawn(&st, why, sizeof(why));
    if (pid < 0) {
        fprintf(stderr, "bench_redis: no redis-server (%s)\n", why);
        return 1;
    }
    printf("redis: %ld idempotency records kept before each run\n", prefill);
    double us[NMODES][3];
    for (int i = 0; i < 3; i++) /* interleaved: this VM drifts */
        for (int m = 0; m < NMODES; m++)
            us[m][i] = run((enum mode)m);
    for (int m = 0; m < NMODES; m++)
        bench_redis_line(mode_names[m], 44, "msg", "msg", us[m]);
    flex_store_del(st);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return 0;
}
