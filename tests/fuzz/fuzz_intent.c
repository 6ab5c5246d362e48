/* Reply classification.  Oracles: the normalizer's output is bounded,
 * NUL-terminated, in its alphabet, a fixed point, and a smaller buffer
 * holds exactly the words that fit; a result is consistent (emergency is
 * urgent, urgent and other go to the desk); lists built from the input
 * (split at newlines, one per [keywords] key) either are refused or keep
 * the contract's opt-out and opt-in words working. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IN 65536

static char big[MAX_IN + 1], again[MAX_IN + 1], small[80], lists_buf[MAX_IN + 1];

static void check_alphabet(const char *s, size_t n)
{
    if (strlen(s) != n || (n && (s[0] == ' ' || s[n - 1] == ' ')))
        abort();
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] == ' ' && s[i + 1] != ' ')))
            abort();
}

static void check_normalize(const char *in, size_t size, size_t outsz)
{
    /* Output never exceeds the input: the buffer below cannot truncate. */
    size_t n = flex_intent_normalize(in, size, big, size + 1);
    check_alphabet(big, n);
    if (flex_intent_normalize(big, n, again, n + 1) != n || strcmp(big, again) != 0)
        abort();
    memset(small, 'X', sizeof(small));
    size_t k = flex_intent_normalize(in, size, small, outsz);
    if (k >= outsz || small[k] != '\0' || small[outsz] != 'X')
        abort();
    /* The longest prefix of whole words that fits. */
    if (memcmp(small, big, k) != 0 || (k > 0 && big[k] != ' ' && big[k] != '\0'))
        abort();
    if (k < n) {
        size_t next = k + (k > 0);
        while (next < n && big[next] != ' ')
            next++;
        if (next <= outsz - 1)
            abort();
    }
}

static void check_result(const struct flex_keywords *kw, const char *in, size_t size)
{
    struct flex_intent_result r, r2;
    flex_intent_classify(kw, in, size, &r);
    if (r.intent < FLEX_INTENT_OTHER || r.intent > FLEX_INTENT_EMERGENCY)
        abort();
    if ((r.intent == FLEX_INTENT_EMERGENCY && !r.urgent) || (r.urgent && !r.frontdesk))
        abort();
    if ((r.intent == FLEX_INTENT_OTHER || r.intent == FLEX_INTENT_RESCHEDULE) && !r.frontdesk)
        abort();
    flex_intent_classify(kw, in, size, &r2);
    if (memcmp(&r, &r2, sizeof(r)) != 0)
        abort();
}

static void expect(const struct flex_keywords *kw, const char *text, enum flex_intent want)
{
    struct flex_intent_result r;
    flex_intent_classify(kw, text, strlen(text), &r);
    if (r.intent != want)
        abort();
}

/* Lists from the input: built or refused, never crashing; if built, every
 * one of them alone passes flex_keywords_check, and the contract holds. */
static void check_lists(const char *in, size_t size, bool singles)
{
    const char *lists[FLEX_KW_N] = {0};
    memcpy(lists_buf, in, size);
    lists_buf[size] = '\0';
    char *s = lists_buf, err[256];
    for (int l = 0; l < FLEX_KW_N && s; l++) {
        lists[l] = s;
        s = strchr(s, '\n');
        if (s)
            *s++ = '\0';
    }
    struct flex_keywords *kw = NULL;
    if (flex_keywords_new(&kw, lists, err, sizeof(err)) != 0) {
        if (kw || err[0] == '\0')
            abort();
        return;
    }
    for (int l = 0; singles && l < FLEX_KW_N; l++)
        if (flex_keywords_check((enum flex_kw_list)l, lists[l], err, sizeof(err)) != 0)
            abort();
    const char *const optout[] = {"STOP", "stopall", "Unsubscribe", "end", "QUIT", "cancel"};
    for (size_t i = 0; i < sizeof(optout) / sizeof(optout[0]); i++)
        expect(kw, optout[i], FLEX_INTENT_STOP);
    expect(kw, "START", FLEX_INTENT_START);
    expect(kw, "unstop", FLEX_INTENT_START);
    check_result(kw, in, size);
    flex_keywords_del(kw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct flex_keywords *dflt;
    if (!dflt && flex_keywords_new(&dflt, NULL, NULL, 0) != 0)
        abort();
    if (size > MAX_IN)
        return 0;
    const char *in = (const char *)data;
    check_normalize(in, size, size ? 1 + data[0] % 72 : 1);
    check_result(dflt, in, size);
    /* A build costs some 250 classifications under ASan: lists from one
     * input in 16, all seven also checked alone from a quarter of those. */
    if (size && data[0] % 16 == 0)
        check_lists(in, size, data[size - 1] % 4 == 0);
    return 0;
}
