/* Reply classification: texts per second on one core, for a mix of the
 * replies patients actually send (mostly one-word keywords, some sentences,
 * a few with accents or emoji), for one-word keywords alone, and for
 * 160-character texts.  Target: over 1 M short texts/s. */
#include <string.h>

#include "bench.h"
#include "intent.h"

#define ROUNDS 200000

static const char *const mix[] = {
    "C",
    "Yes",
    "STOP",
    "y",
    "Confirmed!",
    "Stop.",
    "yes please",
    "Sí",
    "C 👍",
    "Thanks!",
    "STOP",
    "ok thank you",
    "Can I reschedule?",
    "I can't make it, can we do a different day?",
    "Yes I will be there",
    "stop texting me",
    "Who is this?",
    "HELP",
    "my tooth is broken and bleeding",
    "Don't stop",
    "Cancel",
    "cancel my appointment",
    "See you then!",
    "Running 10 min late, sorry",
    "What time is my appointment tomorrow?",
    "si confirmo",
    "START",
    "Stpo",
    "Is Dr. Lee in on Friday? My crown feels loose",
    "Yes, confirmed. Thank you!",
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

static const char *const keywords_only[] = {"C", "Y", "STOP", "Yes", "stop", "HELP", "START", "c"};
#define NKW (sizeof(keywords_only) / sizeof(keywords_only[0]))

static const char long_text[] =
    "Hi, this is Ana's mom. She has a school trip that week so we will need to move her "
    "cleaning to another day, ideally a Tuesday afternoon after 3. Thanks so much, Maria";

static double run(const struct flex_keywords *kw, const char *const *texts, size_t n, long rounds)
{
    size_t lens[64];
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    double t0 = bench_now();
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            struct flex_intent_result res;
            flex_intent_classify(kw, texts[i], lens[i], &res);
            sum += (uint64_t)res.intent + res.frontdesk;
        }
    double dt = bench_now() - t0;
    bench_sink(sum);
    return (double)n * (double)rounds / dt;
}

int main(void)
{
    struct flex_keywords *kw;
    char err[256];
    if (flex_keywords_new(&kw, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_intent: %s\n", err);
        return 1;
    }
    const char *const longs[] = {long_text};
    double rates[BENCH_REPEATS];
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run(kw, mix, NMIX, bench_iters(ROUNDS / 4));
    bench_report("intent classify, realistic reply mix", rates, BENCH_REPEATS, 1);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run(kw, keywords_only, NKW, bench_iters(ROUNDS));
    bench_report("intent classify, one-word keywords", rates, BENCH_REPEATS, 1);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run(kw, longs, 1, bench_iters(ROUNDS));
    bench_report("intent classify, 160-char texts", rates, BENCH_REPEATS, 0);
    double t0 = bench_now();
    for (int i = 0; i < 100; i++) {
        struct flex_keywords *k2;
        flex_keywords_new(&k2, NULL, err, sizeof(err));
        flex_keywords_del(k2);
    }
    printf("%-44s %8.1f us\n", "keyword lists build (config load)", (bench_now() - t0) * 1e4);
    flex_keywords_del(kw);
    return 0;
}
