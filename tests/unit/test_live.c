/* The dispatcher's view of what changed while jobs waited (engine/core/live.h):
 * opt-outs and opt-ins in order, the paused set and "*", parents changed,
 * and pruning that keeps a newer entry of the same key. */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "live.h"

static void apply(struct flex_live *l, enum flex_news_kind k, int64_t at, const char *text,
                  int64_t version)
{
    struct flex_news *n = flex_news_new(k, at, text, strlen(text), version);
    flex_live_apply(l, n);
    flex_news_del(n);
}

static void test_live_optouts(void **state)
{
    (void)state;
    struct flex_live *l = flex_live_new();
    assert_false(flex_live_opted_out(l, "+12025550101"));
    apply(l, FLEX_NEWS_OPTOUT, 1000, "+12025550101,+12025550102", 0);
    assert_true(flex_live_opted_out(l, "+12025550101"));
    assert_true(flex_live_opted_out(l, "+12025550102"));
    assert_false(flex_live_opted_out(l, "+12025550103"));
    apply(l, FLEX_NEWS_OPTIN, 1100, "+12025550101", 0);
    assert_false(flex_live_opted_out(l, "+12025550101"));
    assert_true(flex_live_opted_out(l, "+12025550102"));
    /* an item too long for a phone key and empty items are skipped */
    apply(l, FLEX_NEWS_OPTOUT, 1200,
          ",,x123456789012345678901234567890123456789012345678901234567890"
          "12345678901234567890,+12025550104,",
          0);
    assert_true(flex_live_opted_out(l, "+12025550104"));
    flex_live_del(l);
}

static void test_live_prune_keeps_newer(void **state)
{
    (void)state;
    struct flex_live *l = flex_live_new();
    apply(l, FLEX_NEWS_OPTOUT, 1000, "+12025550101", 0);
    apply(l, FLEX_NEWS_OPTOUT, 2000, "+12025550102", 0);
    apply(l, FLEX_NEWS_OPTOUT, 3000, "+12025550101", 0); /* again, later */
    flex_live_prune(l, 2500);
    /* the first entry of ...101 went, its second stays; ...102 went */
    assert_true(flex_live_opted_out(l, "+12025550101"));
    assert_false(flex_live_opted_out(l, "+12025550102"));
    flex_live_prune(l, 3001);
    assert_false(flex_live_opted_out(l, "+12025550101"));
    assert_int_equal(flex_live_count(l), 0);
    /* growth past the first ring size keeps the order */
    char num[24];
    for (int i = 0; i < 5000; i++) {
        snprintf(num, sizeof(num), "+1202555%04d", i);
        apply(l, FLEX_NEWS_OPTOUT, 10000 + i, num, 0);
    }
    flex_live_prune(l, 12500);
    assert_false(flex_live_opted_out(l, "+12025552499"));
    assert_true(flex_live_opted_out(l, "+12025552500"));
    assert_int_equal(flex_live_count(l), 2500);
    flex_live_del(l);
}

static void test_live_paused(void **state)
{
    (void)state;
    struct flex_live *l = flex_live_new();
    assert_false(flex_live_paused(l, "loc-1"));
    apply(l, FLEX_NEWS_PAUSED, 1, "loc-1,loc-3", 0);
    assert_true(flex_live_paused(l, "loc-1"));
    assert_false(flex_live_paused(l, "loc-2"));
    assert_true(flex_live_paused(l, "loc-3"));
    assert_false(flex_live_paused(l, "loc"));
    apply(l, FLEX_NEWS_PAUSED, 2, "*", 0);
    assert_true(flex_live_paused(l, "loc-2"));
    apply(l, FLEX_NEWS_PAUSED, 3, "", 0);
    assert_false(flex_live_paused(l, "loc-1"));
    flex_live_del(l);
}

static void test_live_parents(void **state)
{
    (void)state;
    struct flex_live *l = flex_live_new();
    int64_t v = -1;
    const char *k = "flex:parent:appointment:a-1";
    assert_false(flex_live_parent_changed(l, k, 100, &v));
    apply(l, FLEX_NEWS_PARENT, 1000, k, 200); /* rescheduled */
    assert_true(flex_live_parent_changed(l, k, 100, &v));
    assert_int_equal(v, 200);
    assert_false(flex_live_parent_changed(l, k, 200, &v)); /* the new plan's reminders go */
    assert_false(flex_live_parent_changed(l, "flex:parent:appointment:a-2", 100, &v));
    apply(l, FLEX_NEWS_PARENT, 2000, k, 0); /* then cancelled */
    assert_true(flex_live_parent_changed(l, k, 200, &v));
    assert_int_equal(v, 0);
    flex_live_prune(l, 1500); /* the reschedule's entry goes, the cancellation stays */
    assert_true(flex_live_parent_changed(l, k, 200, &v));
    assert_int_equal(v, 0);
    flex_live_del(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_optouts),
        cmocka_unit_test(test_live_prune_keeps_newer),
        cmocka_unit_test(test_live_paused),
        cmocka_unit_test(test_live_parents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
