/* JSON logging: line format, level filtering, phone masking, escaping. */
#include "test_common.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static char buf[8192];

/* Logs through a pipe and returns what was written. */
static const char *capture(struct flex_logger *l, int fds[2])
{
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    (void)l;
    return buf;
}

static int evaluated;
static int side_effect(void)
{
    evaluated++;
    return 1;
}

static void test_log_line_is_json_with_fields(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct flex_logger l = {.level = FLEX_LOG_INFO, .fd = fds[1]};
    struct flex_log_ctx ctx = {.logger = &l, .component = "smpp", .id = "primary#0"};
    flex_log(FLEX_LOG_ERROR, &ctx, -ECONNREFUSED, "connect() failed to %s", "127.0.0.1:2775");
    const char *out = capture(&l, fds);
    assert_non_null(strstr(out, "{\"ts\":\""));
    assert_non_null(strstr(out, "\"level\":\"error\""));
    assert_non_null(strstr(out, "\"component\":\"smpp\""));
    assert_non_null(strstr(out, "\"id\":\"primary#0\""));
    assert_non_null(strstr(out, "\"msg\":\"connect() failed to 127.0.0.1:2775\""));
    assert_non_null(strstr(out, "\"err\":\"Connection refused\""));
    assert_int_equal(out[strlen(out) - 1], '\n');
    assert_int_equal(out[strlen(out) - 2], '}');
    close(fds[0]);
    close(fds[1]);
}

static void test_log_level_filters_before_evaluating(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct flex_logger l = {.level = FLEX_LOG_WARN, .fd = fds[1]};
    struct flex_log_ctx ctx = {.logger = &l, .component = "t", .id = NULL};
    evaluated = 0;
    flex_log(FLEX_LOG_INFO, &ctx, 0, "x %d", side_effect());
    assert_int_equal(evaluated, 0);
    flex_log(FLEX_LOG_WARN, &ctx, 0, "y %d", side_effect());
    assert_int_equal(evaluated, 1);
    const char *out = capture(&l, fds);
    assert_non_null(strstr(out, "\"msg\":\"y 1\""));
    assert_null(strstr(out, "x 1"));
    close(fds[0]);
    close(fds[1]);
}

static void test_log_masks_phone_numbers(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct flex_logger l = {.level = FLEX_LOG_INFO, .fd = fds[1]};
    struct flex_log_ctx ctx = {.logger = &l, .component = "optout", .id = "+12025550143"};
    flex_log(FLEX_LOG_INFO, &ctx, 0, "opted out +15555550143 (job 42, 123456 ok)");
    const char *out = capture(&l, fds);
    assert_non_null(strstr(out, "opted out +1555555****"));
    assert_null(strstr(out, "0143"));
    assert_non_null(strstr(out, "job 42, 123456 ok")); /* short runs stay */
    assert_non_null(strstr(out, "\"id\":\"+1202555****\""));
    atomic_store(&l.unmasked, true);
    flex_log(FLEX_LOG_INFO, &ctx, 0, "number +15555550143");
    out = capture(&l, fds);
    assert_non_null(strstr(out, "+15555550143"));
    close(fds[0]);
    close(fds[1]);
}

/* A stream entry id is a time, not PHI: written whole, so that an operator
 * can find the line's entry with `flexctl deadletter list`; a value of
 * another form in its place is masked as any text. */
static void test_log_entry_id_unmasked(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct flex_logger l = {.level = FLEX_LOG_INFO, .fd = fds[1]};
    struct flex_log_ctx ctx = {.logger = &l, .component = "intake", .entry = "1764633600123-7"};
    flex_log(FLEX_LOG_WARN, &ctx, 0, "job appt-20250143 dead-lettered: bad");
    const char *out = capture(&l, fds);
    assert_non_null(strstr(out, "\"entry\":\"1764633600123-7\""));
    assert_non_null(strstr(out, "appt-2025****")); /* the message stays masked */
    const char *other[] = {"+12025550143", "12025550143-", "-5", "1-2-3",
                           "12345678901234567890123-1"};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        ctx.entry = other[i];
        flex_log(FLEX_LOG_WARN, &ctx, 0, "x");
        out = capture(&l, fds);
        if (strlen(other[i]) >= 11)
            assert_null(strstr(out, other[i]));
        assert_non_null(strstr(out, "\"entry\":\""));
    }
    close(fds[0]);
    close(fds[1]);
}

static void test_log_escape(void **state)
{
    (void)state;
    char out[64];
    flex_log_escape(out, sizeof(out), "a\"b\\c\nd\x01", 8, false);
    assert_string_equal(out, "a\\\"b\\\\c\\nd\\u0001");
    /* Truncation never leaves half a UTF-8 sequence or escape. */
    size_t n = flex_log_escape(out, 6, "abcd\xc3\xab", 6, false);
    assert_int_equal(n, 4);
    assert_string_equal(out, "abcd");
    n = flex_log_escape(out, 5, "abc\"", 4, false);
    assert_string_equal(out, "abc");
    /* Bytes that are not UTF-8 (a Latin-1 name, a producer's binary id)
     * become U+FFFD escapes, so that the line stays JSON; valid sequences
     * pass whole, a sequence cut by the input's end is not one. */
    n = flex_log_escape(out, sizeof(out), "Caf\xe9 \xff\xc3\xab\xe2\x82", 10, false);
    assert_string_equal(out, "Caf\\ufffd \\ufffd\xc3\xab\\ufffd\\ufffd");
    assert_int_equal(n, strlen(out));
    n = flex_log_escape(out, 9, "ab\xed\xa0\x80", 5, false); /* a surrogate: room for 1 of 3 */
    assert_string_equal(out, "ab\\ufffd");
}

static void test_log_level_names(void **state)
{
    (void)state;
    assert_int_equal(flex_log_level_parse("debug"), FLEX_LOG_DEBUG);
    assert_int_equal(flex_log_level_parse("error"), FLEX_LOG_ERROR);
    assert_int_equal(flex_log_level_parse("loud"), -1);
    assert_string_equal(flex_log_level_name(FLEX_LOG_WARN), "warn");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_line_is_json_with_fields),
        cmocka_unit_test(test_log_level_filters_before_evaluating),
        cmocka_unit_test(test_log_masks_phone_numbers),
        cmocka_unit_test(test_log_entry_id_unmasked),
        cmocka_unit_test(test_log_escape),
        cmocka_unit_test(test_log_level_names),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
