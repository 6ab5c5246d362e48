/* What Redis spends on a patient's text: the two reply scripts of
 * engine/core/reply.h, as flexd's writer calls them (batches of 256 texts,
 * up to FLEX_REPLY_CHUNK a call, every call of a batch pipelined), against a
 * redis-server of its own, with nothing else running: the part of
 * flexbench's inbound figure that is Redis's.
 *
 * 20,000 patients were texted today (one outbound record each in the
 * message log, from the five locations of deploy/flexd.conf); then each
 * answers, in turn, with the wordings of smscsim's --mo-reply flood (texts
 * that need no automatic answer: confirmations, reschedules, thanks, an
 * emergency), each worded anew.  Reported, interleaved three times (this
 * VM drifts): Redis CPU microseconds per text (INFO cpu, user + sys) for
 * the context lookups alone, and for the lookups and the applying script
 * together, applied by the script or without it (flex_reply_plain_apply),
 * and the rate one Redis core would reach at that cost.
 *
 * Usage: bench_replies [TEXTS] (default 100,000 a run). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_sim.h"
#include "bench_store.h"
#include "clock.h"
#include "config.h"
#include "err.h"
#include "reply.h"
#include "store.h"

#define PATIENTS 20000
#define BATCH 256

static struct flex_store *st;
static struct flex_reply rq;
static struct flex_cfg *cfg;
static const char *const loc_ids[] = {"loc-1", "loc-2", "loc-3", "loc-4", "loc-5"};
static const char *const loc_phones[] = {"+12025550100", "+13125550100", "+13035550100",
                                         "+16025550100", "+14155550100"};

static void die(const char *what)
{
    fprintf(stderr, "bench_replies: %s: %s\n", what, st ? flex_store_error(st) : "");
    exit(1);
}

static double redis_cpu(void)
{
    return bench_redis_cpu_or_exit(st, "bench_replies");
}

static void patient_phone(long i, char *out, size_t sz)
{
    static const char *const areas[] = {"303", "202", "312", "415", "602"};
    snprintf(out, sz, "+1%s555%04ld", areas[(i / 10000) % 5], i % 10000);
}

/* Today's reminders: one record a patient in the day's log. */
static void texted(int64_t now)
{
    flex_store_appendf(st, "FLUSHALL");
    if (flex_store_drain(st, 1) != 0)
        die("FLUSHALL");
    static char phone[BATCH][24], patient[BATCH][24], appt[BATCH][24], job[BATCH][40];
    struct flex_conv_out o[BATCH];
    for (long i0 = 0; i0 < PATIENTS; i0 += BATCH) {
        size_t n = 0;
        for (long i = i0; i < i0 + BATCH && i < PATIENTS; i++, n++) {
            patient_phone(i, phone[n], sizeof(phone[n]));
            snprintf(patient[n], sizeof(patient[n]), "p-%ld", i);
            snprintf(appt[n], sizeof(appt[n]), "a-%ld", i);
            snprintf(job[n], sizeof(job[n]), "a-%ld/reminder_24h/1", i);
            o[n] = (struct flex_conv_out){.phone = phone[n],
                                          .patient = patient[n],
                                          .location = loc_ids[i % 5],
                                          .appointment = appt[n],
                                          .job = job[n],
                                          .template_name = "reminder_24h",
                                          .text = "Reminder: your dental visit at Smile Dental "
                                                  "is tomorrow at 10:30. Reply C to confirm, "
                                                  "STOP to opt out.",
                                          .at_ms = now - 3600000};
        }
        size_t cmds = flex_reply_append_conv(st, &rq, cfg, o, n, now);
        if (flex_store_drain(st, (int)cmds) != 0)
            die("log");
    }
}

/* One run of |texts| texts; |apply|: the applying script too.  Redis CPU
 * microseconds per text. */
static long batch = BATCH;

static double run(long texts, int apply) /* 0 contexts, 1 the script, 2 plain */
{
    static const char *const words[] = {"C",
                                        "Yes",
                                        "Running 10 min late, sorry",
                                        "Can I reschedule to Friday?",
                                        "Thanks!",
                                        "my tooth hurts and the gum is swollen",
                                        "S\xc3\xad, confirmo",
                                        "ok see you then"};
    static const char *const tails[] = {
        "", " thanks", " :)", " ok?", " please", " \xf0\x9f\x91\x8d", " - Ana", " (from my phone)"};
    static char from[BATCH][24], text[BATCH][96];
    static struct flex_reply_ctx ctx[BATCH];
    const char *froms[BATCH], *locs[BATCH];
    struct flex_reply_done done[BATCH];
    int64_t now = flex_now_ms();
    texted(now);
    double cpu0 = redis_cpu();
    for (long i0 = 0; i0 < texts; i0 += batch) {
        size_t n = 0;
        for (long i = i0; i < i0 + batch && i < texts; i++, n++) {
            long who = i % PATIENTS, v = i / PATIENTS;
            patient_phone(who, from[n], sizeof(from[n]));
            snprintf(text[n], sizeof(text[n]), "%s%s", words[v % 8], tails[(v / 8) % 8]);
            froms[n] = from[n];
            locs[n] = loc_ids[who % 5];
        }
        for (size_t k0 = 0; k0 < n; k0 += FLEX_REPLY_CHUNK) {
            size_t c = n - k0 < FLEX_REPLY_CHUNK ? n - k0 : FLEX_REPLY_CHUNK;
            if (flex_reply_append_contexts(st, &rq, cfg, froms + k0, locs + k0, c, now) != 0)
                die("contexts too big");
        }
        for (size_t k0 = 0; k0 < n; k0 += FLEX_REPLY_CHUNK) {
            struct redisReply *r;
            if (flex_store_reply(st, &r) != 0 || flex_reply_is_error(r))
                die("contexts");
            size_t c = n - k0 < FLEX_REPLY_CHUNK ? n - k0 : FLEX_REPLY_CHUNK;
            for (size_t k = 0; k < c; k++)
                flex_reply_parse_context(cfg, flex_reply_at(r, k), locs[k0 + k], now, &ctx[k0 + k]);
            flex_store_free_reply(r);
        }
        if (!ctx[0].found)
            die("a patient's context not found");
        if (!apply)
            continue;
        size_t calls = 0;
        rq.plain = apply == 2;
        flex_reply_plain_reset(&rq);
        flex_reply_inbound_begin(&rq);
        for (size_t k = 0; k < n; k++) {
            long who = (i0 + (long)k) % PATIENTS;
            struct flex_inbound in = {.from = from[k],
                                      .to = loc_phones[who % 5],
                                      .text = text[k],
                                      .carrier = "primary",
                                      .at_ms = now + i0 + (long)k};
            int rc = flex_reply_append_inbound(&rq, cfg, &in, &ctx[k], &done[k]);
            if (rc == FLEX_E_NOSPACE) {
                calls += flex_reply_inbound_end(st, &rq) > 0;
                flex_reply_inbound_begin(&rq);
                rc = flex_reply_append_inbound(&rq, cfg, &in, &ctx[k], &done[k]);
            }
            if (rc != 0)
                die("a text too big");
        }
        calls += flex_reply_inbound_end(st, &rq) > 0;
        for (size_t c = 0; c < calls; c++) {
            struct redisReply *r;
            if (flex_store_reply(st, &r) != 0 || flex_reply_is_error(r))
                die("inbound");
            for (size_t k = 0; k < flex_reply_count(r); k++)
                if (flex_reply_parse_done(flex_reply_at(r, k), &done[0]) != 0 || !done[0].fresh)
                    die("a text not applied");
            flex_store_free_reply(r);
        }
        if (flex_reply_plain_apply(st, &rq) != 0)
            die("inbound without the script");
        for (size_t k = 0; k < n; k++) {
            const char *why;
            if (done[k].plain &&
                (flex_reply_plain_result(&rq, done[k].plain, &done[k], &why) != 0 ||
                 !done[k].fresh))
                die("a text not applied");
        }
    }
    return (redis_cpu() - cpu0) * 1e6 / (double)texts;
}

int main(int argc, char **argv)
{
    long texts = argc > 1 ? atol(argv[1]) : 100000;
    batch = argc > 2 ? atol(argv[2]) : BATCH;
    if (texts < BATCH || batch < 1 || batch > BATCH) {
        fprintf(stderr, "usage: bench_replies [TEXTS >= %d [BATCH 1-%d]]\n", BATCH, BATCH);
        return 2;
    }
    const char *src = getenv("FLEX_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/flexd.conf", src ? src : ".");
    if (flex_cfg_load(&cfg, path, NULL, 0, NULL, NULL) != 0) {
        fprintf(stderr, "bench_replies: cannot load %s\n", path);
        return 1;
    }
    char why[128];
    pid_t pid = bench_redis_spawn(&st, why, sizeof(why));
    if (pid < 0 || flex_reply_load(st, &rq) != 0) {
        if (pid > 0)
            kill(pid, SIGTERM);
        fprintf(stderr, "bench_replies: no redis-server (%s)\n", pid < 0 ? why : "SCRIPT LOAD");
        return 1;
    }
    printf("replies: %ld texts a run from %d patients texted today, batches of %ld\n", texts,
           PATIENTS, batch);
    double us[3][3];
    for (int i = 0; i < 3; i++) /* interleaved: this VM drifts */
        for (int m = 0; m < 3; m++)
            us[m][i] = run(texts, m);
    static const char *const names[] = {"contexts", "contexts + script", "contexts + plain"};
    for (int m = 0; m < 3; m++)
        bench_redis_line(names[m], 18, "text", "texts", us[m]);
    flex_reply_free(&rq);
    flex_store_del(st);
    flex_cfg_del(cfg);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return 0;
}
