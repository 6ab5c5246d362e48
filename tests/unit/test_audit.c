/* Audit log: line format, chain, every tamper verify must catch, daily
 * rotation, two processes and four threads appending to one file.
 *
 * `test_audit --write PATH` writes a sample log over two days (PATH.2026-11-30
 * and PATH, key "audit-test-key") and exits: tests/integ/audit.sh runs
 * flexctl audit verify on it. */
#include "test_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "err.h"
#include "mem.h"

#define KEY "audit-test-key"
#define DAY_MS 86400000LL
/* 2026-11-30T08:00:00Z */
#define T0 1796025600000LL

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/flex-audit.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct flex_audit *open_log(const char *key)
{
    struct flex_audit *a = NULL;
    char err[256];
    assert_int_equal(flex_audit_open(&a, path, key, strlen(key), err, sizeof(err)), 0);
    assert_non_null(a);
    return a;
}

/* One "send" event the way the engine will build it. */
static void add_send(struct flex_audit *a, int64_t at, int n, int proc)
{
    char f[512], job[32];
    snprintf(job, sizeof(job), "m-%d", n);
    size_t p = flex_audit_field_str(f, sizeof(f), 0, "job", job);
    p = flex_audit_field_str(f, sizeof(f), p, "loc", "loc-1");
    p = flex_audit_field_phone(f, sizeof(f), p, "to", "+12025550143");
    p = flex_audit_field_str(f, sizeof(f), p, "tmpl", "reminder_24h");
    p = flex_audit_field_int(f, sizeof(f), p, "p", proc);
    assert_true(p < sizeof(f));
    assert_int_equal(flex_audit_add(a, at, "send", f, p), 0);
}

static void write_lines(int n, int64_t at)
{
    struct flex_audit *a = open_log(KEY);
    for (int i = 1; i <= n; i++)
        add_send(a, at + i, i, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    flex_audit_close(a);
}

/* Runs verify; returns its result, and its output in |out|. */
static int verify(const char *const *paths, size_t n, const char *key, char *out, size_t outsz)
{
    FILE *f = fmemopen(out, outsz, "w");
    assert_non_null(f);
    int rc = flex_audit_verify(paths, n, key, strlen(key), f);
    fclose(f);
    return rc;
}

static int verify_path(const char *key, char *out, size_t outsz)
{
    const char *one[] = {path};
    return verify(one, 1, key, out, outsz);
}

static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char *s = flex_malloc(1 << 20);
    *len = fread(s, 1, (1 << 20) - 1, f);
    s[*len] = '\0';
    fclose(f);
    return s;
}

static void spit(const char *p, const char *s, size_t len)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, len, f), len);
    fclose(f);
}

/* Offset of line |n| (from 1) in |s|. */
static size_t line_at(const char *s, int n)
{
    const char *p = s;
    for (int i = 1; i < n; i++)
        p = strchr(p, '\n') + 1;
    return (size_t)(p - s);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; (s = strchr(s, '\n')); s++)
        n++;
    return n;
}

static void test_audit_line_format_and_intact(void **state)
{
    (void)state;
    write_lines(10, T0);
    size_t len;
    char *s = slurp(path, &len), out[512];
    assert_int_equal(count_lines(s), 11);
    assert_true(starts_with(s, "{\"seq\":1,\"t\":\"2026-11-30T08:00:00.001Z\",\"ev\":\"chain\","
                               "\"prev_file\":\"\",\"prev_h\":\"0000"));
    const char *l2 = s + line_at(s, 2);
    assert_true(starts_with(l2, "{\"seq\":2,\"t\":\"2026-11-30T08:00:00.001Z\",\"ev\":\"send\","
                                "\"job\":\"m-1\",\"loc\":\"loc-1\",\"to\":\"+1202555****\","
                                "\"tmpl\":\"reminder_24h\",\"p\":0,\"h\":\""));
    assert_null(strstr(s, "0143")); /* masked phone only */
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 11 lines in 1 file, first seq 1 at "
                                "2026-11-30T08:00:00.001Z, last seq 11 at "
                                "2026-11-30T08:00:00.010Z; the chain starts here"));
    flex_free(s);
}

/* Applies one tamper to the pristine file and checks verify's report. */
static void expect_broken(const char *orig, size_t len, const char *tampered, size_t tlen,
                          const char *key, const char *want)
{
    char out[512], exp[256];
    spit(path, tampered, tlen);
    assert_int_equal(verify_path(key, out, sizeof(out)), 1);
    snprintf(exp, sizeof(exp), "%s:%s", path, want);
    if (strncmp(out, exp, strlen(exp)) != 0)
        fail_msg("got '%s', want '%s'", out, exp);
    spit(path, orig, len);
}

static void test_audit_tampering_detected(void **state)
{
    (void)state;
    write_lines(10, T0);
    size_t len;
    char *s = slurp(path, &len), *t = flex_malloc(len * 2 + 1), out[512];
    size_t l5 = line_at(s, 5), l6 = line_at(s, 6), l7 = line_at(s, 7), l3 = line_at(s, 3);
    /* one byte of the middle line: "m-5" becomes "m-6" */
    memcpy(t, s, len);
    char *job = strstr(t + l6, "\"m-5\"");
    assert_non_null(job);
    job[3] = '6';
    expect_broken(s, len, t, len, KEY, "6: hmac mismatch");
    /* a line deleted */
    memcpy(t, s, l6);
    memcpy(t + l6, s + l7, len - l7);
    expect_broken(s, len, t, len - (l7 - l6), KEY, "6: sequence gap: expected seq 6, found 7");
    /* two lines swapped */
    memcpy(t, s, l5);
    memcpy(t + l5, s + l6, l7 - l6);
    memcpy(t + l5 + (l7 - l6), s + l5, l6 - l5);
    memcpy(t + l7, s + l7, len - l7);
    expect_broken(s, len, t, len, KEY, "5: sequence gap: expected seq 5, found 6");
    /* a copy of line 3 inserted after line 6 */
    size_t c = line_at(s, 4) - l3;
    memcpy(t, s, l7);
    memcpy(t + l7, s + l3, c);
    memcpy(t + l7 + c, s + l7, len - l7);
    expect_broken(s, len, t, len + c, KEY, "7: sequence gap: expected seq 7, found 3");
    /* the last line truncated */
    expect_broken(s, len, s, len - 10, KEY, "11: truncated line");
    /* a line that is not JSON */
    memcpy(t, s, len);
    t[l5] = 'x';
    expect_broken(s, len, t, len, KEY, "5: not JSON");
    /* the wrong key: the header fails */
    expect_broken(s, len, s, len, "another-key", "1: hmac mismatch (wrong key");
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    flex_free(s);
    flex_free(t);
}

/* The file names of a rotated log: PATH.DAY... then PATH. */
static void test_audit_rotation(void **state)
{
    (void)state;
    struct flex_audit *a = open_log(KEY);
    for (int i = 0; i < 5; i++)
        add_send(a, T0 + i, i, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    /* one flush holding two days: rotation happens in the middle of it */
    for (int i = 0; i < 10; i++)
        add_send(a, T0 + (i < 5 ? DAY_MS : 2 * DAY_MS) + i, 10 + i, 0);
    /* a late line of the day before goes to the newer file */
    add_send(a, T0 + DAY_MS + 10, 30, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    flex_audit_close(a);

    char **paths, out[512], want[256];
    size_t n;
    assert_int_equal(flex_audit_paths(path, &paths, &n), 0);
    assert_int_equal(n, 3);
    snprintf(want, sizeof(want), "%s.2026-11-30", path);
    assert_string_equal(paths[0], want);
    snprintf(want, sizeof(want), "%s.2026-12-01", path);
    assert_string_equal(paths[1], want);
    assert_string_equal(paths[2], path);
    const char *const *cp = (const char *const *)paths;
    assert_int_equal(verify(cp, n, KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 19 lines in 3 files, first seq 1 at"));

    /* the middle file missing */
    const char *gap[] = {paths[0], paths[2]};
    assert_int_equal(verify(gap, 2, KEY, out, sizeof(out)), 1);
    snprintf(want, sizeof(want), "%s:1: missing file audit.log.2026-12-01 before audit.log\n",
             path);
    assert_string_equal(out, want);
    /* files out of order */
    const char *swapped[] = {paths[1], paths[0], paths[2]};
    assert_int_equal(verify(swapped, 3, KEY, out, sizeof(out)), 1);
    assert_non_null(strstr(out, ".2026-11-30:1: a new chain starts here, after "
                                "audit.log.2026-12-01"));
    /* the newest file alone: intact, and says where its chain comes from */
    assert_int_equal(verify(cp + 2, 1, KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "continues from audit.log.2026-12-01 (not checked)"));
    /* a rotated file missing its last line: the next header says so */
    size_t len;
    char *s = slurp(paths[1], &len);
    spit(paths[1], s, line_at(s, (int)count_lines(s)));
    assert_int_equal(verify(cp, n, KEY, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "audit.log:1: chain header does not continue"));
    flex_free(s);
    flex_audit_paths_free(paths, n);
}

/* Another writer, or a restart, continues the chain of the file. */
static void test_audit_reopen_continues(void **state)
{
    (void)state;
    write_lines(5, T0);
    write_lines(5, T0 + 100);
    char out[512];
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 11 lines in 1 file"));
}

/* Lines removed behind a writer's back are reported at its next line. */
static void test_audit_cut_behind_writer(void **state)
{
    (void)state;
    struct flex_audit *a = open_log(KEY);
    for (int i = 0; i < 6; i++)
        add_send(a, T0 + i, i, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    size_t len;
    char *s = slurp(path, &len), out[512];
    assert_int_equal(truncate(path, (off_t)line_at(s, 6)), 0); /* lines 6 and 7 */
    add_send(a, T0 + 10, 10, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 1);
    assert_non_null(strstr(out, ":6: sequence gap: expected seq 6, found 8"));

    flex_audit_close(a);
    flex_free(s);
}

/* The current file deleted after a rotation: the writer's next header
 * names the lost file, so verify reports it. */
static void test_audit_current_deleted(void **state)
{
    (void)state;
    struct flex_audit *a = open_log(KEY);
    add_send(a, T0, 1, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    add_send(a, T0 + DAY_MS, 2, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    add_send(a, T0 + DAY_MS + 1, 3, 0);
    assert_int_equal(flex_audit_flush(a), 0);
    assert_int_equal(unlink(path), 0);
    add_send(a, T0 + DAY_MS + 2, 4, 0);
    flex_audit_close(a);
    char **paths, out[512], want[256];
    size_t n;
    assert_int_equal(flex_audit_paths(path, &paths, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(verify((const char *const *)paths, n, KEY, out, sizeof(out)), 1);
    snprintf(want, sizeof(want), "%s:1: missing file audit.log before audit.log\n", path);
    assert_string_equal(out, want);
    flex_audit_paths_free(paths, n);
}

/* A partial line left by a crash is ended, reported, and written after. */
static void test_audit_partial_tail(void **state)
{
    (void)state;
    write_lines(3, T0);
    FILE *f = fopen(path, "a");
    fputs("{\"seq\":5,\"t\":\"20", f);
    fclose(f);
    write_lines(2, T0 + 10);
    size_t len;
    char *s = slurp(path, &len), out[512];
    assert_int_equal(count_lines(s), 7);
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 1);
    assert_non_null(strstr(out, ":5: not JSON"));
    /* without the damaged line the chain is whole */
    size_t l5 = line_at(s, 5), l6 = line_at(s, 6);
    memmove(s + l5, s + l6, len - l6);
    spit(path, s, len - (l6 - l5));
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    flex_free(s);
}

/* A flush that fails keeps its lines, in order, for the next; once 4 MiB
 * wait, add flushes itself and, failing, refuses the event. */
static void test_audit_retry_and_bound(void **state)
{
    (void)state;
    struct flex_audit *a = open_log(KEY);
    assert_int_equal(mkdir(path, 0700), 0); /* the log's name taken: open fails */
    char f[64];
    size_t p = flex_audit_field_str(f, sizeof(f), 0, "job", "m-1");
    long ok = 0;
    int rc;
    while ((rc = flex_audit_add(a, T0 + ok, "send", f, p)) == 0)
        if (++ok == 3)
            assert_int_equal(flex_audit_flush(a), -EISDIR);
    assert_int_equal(rc, -EISDIR);
    assert_true(ok > (long)(FLEX_AUDIT_PENDING_MAX / 100) && ok < 100000);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(flex_audit_add(a, T0 + ok, "send", f, p), 0); /* flushes first */
    flex_audit_close(a);
    char out[512], want[64];
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "intact: %ld lines in 1 file", ok + 2);
    assert_non_null(strstr(out, want));
}

/* A chain header cut short (disk full as the file started) is redone. */
static void test_audit_partial_header(void **state)
{
    (void)state;
    FILE *f = fopen(path, "w");
    fputs("{\"seq\":1,\"t\":\"2026-11-30T08:00:00.001Z\",\"ev\":\"cha", f);
    fclose(f);
    write_lines(2, T0);
    char out[512];
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 3 lines in 1 file"));
}

#define PROC_LINES 2000

static void child_writes(int proc)
{
    struct flex_audit *a = NULL;
    if (flex_audit_open(&a, path, KEY, strlen(KEY), NULL, 0) != 0)
        _exit(1);
    for (int i = 0; i < PROC_LINES; i++) {
        char f[64];
        size_t p = flex_audit_field_int(f, sizeof(f), 0, "p", proc);
        p = flex_audit_field_int(f, sizeof(f), p, "i", i);
        if (flex_audit_add(a, T0 + i, "send", f, p) != 0)
            _exit(1);
        if (i % 37 == 0 && flex_audit_flush(a) != 0)
            _exit(1);
    }
    flex_audit_close(a);
    _exit(0);
}

static void test_audit_two_processes(void **state)
{
    (void)state;
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            child_writes(i + 1);
    }
    for (int i = 0; i < 2; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    char out[512];
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 4001 lines in 1 file"));
    size_t len, by[3] = {0, 0, 0};
    char *s = slurp(path, &len);
    for (const char *l = s; *l; l = strchr(l, '\n') + 1) {
        const char *p = strstr(l, ",\"p\":");
        if (p && p < strchr(l, '\n'))
            by[p[5] - '0']++;
    }
    assert_int_equal(by[1], PROC_LINES);
    assert_int_equal(by[2], PROC_LINES);
    flex_free(s);
}

#define THREAD_LINES 1000

static void *thread_adds(void *arg)
{
    struct flex_audit *a = arg;
    for (int i = 0; i < THREAD_LINES; i++) {
        char f[64];
        size_t p = flex_audit_field_int(f, sizeof(f), 0, "i", i);
        if (flex_audit_add(a, T0 + i, "status", f, p) != 0)
            return (void *)1;
        if (i % 100 == 0 && flex_audit_flush(a) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_audit_threads(void **state)
{
    (void)state;
    struct flex_audit *a = open_log(KEY);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_adds, a), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    assert_int_equal(flex_audit_flush(a), 0);
    char out[512];
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 4001 lines in 1 file"));
    flex_audit_close(a);
}

static void test_audit_fields(void **state)
{
    (void)state;
    char b[64];
    size_t p = flex_audit_field_str(b, sizeof(b), 0, "a", "x\"y\\z\n\xff");
    assert_string_equal(b, "\"a\":\"x\\\"y\\\\z\\u000a\\ufffd\"");
    p = flex_audit_field_str(b, sizeof(b), p, "n", NULL);
    p = flex_audit_field_int(b, sizeof(b), p, "i", -42);
    assert_string_equal(b, "\"a\":\"x\\\"y\\\\z\\u000a\\ufffd\",\"n\":null,\"i\":-42");
    assert_int_equal(p, strlen(b));
    /* too long: nothing written, the result says how much was needed */
    size_t q = flex_audit_field_str(b, sizeof(b), p, "long", "0123456789012345678901234567");
    assert_true(q >= sizeof(b));
    assert_int_equal(strlen(b), p);
    assert_true(flex_audit_field_int(b, sizeof(b), q, "i", 1) > q);
    /* phones: the log's mask, separators dropped first */
    p = flex_audit_field_phone(b, sizeof(b), 0, "to", "+1 (202) 555-0143");
    assert_string_equal(b, "\"to\":\"+1202555****\"");
    flex_audit_field_phone(b, sizeof(b), 0, "to", "12345");
    assert_string_equal(b, "\"to\":\"12345\""); /* short codes are not PHI */
    flex_audit_field_phone(b, sizeof(b), 0, "to", NULL);
    assert_string_equal(b, "\"to\":\"\"");
}

static void test_audit_errors_and_disabled(void **state)
{
    (void)state;
    struct flex_audit *a = (void *)1;
    assert_int_equal(flex_audit_open(&a, NULL, KEY, 3, NULL, 0), 0);
    assert_null(a);
    assert_int_equal(flex_audit_open(&a, "", KEY, 3, NULL, 0), 0);
    assert_int_equal(flex_audit_add(NULL, T0, "send", "", 0), 0);
    assert_int_equal(flex_audit_flush(NULL), 0);
    flex_audit_close(NULL);

    char err[256];
    assert_int_equal(flex_audit_open(&a, path, "", 0, err, sizeof(err)), FLEX_E_INVAL);
    assert_non_null(strstr(err, "key is empty"));
    assert_int_equal(
        flex_audit_open(&a, "/nonexistent/dir/audit.log", KEY, strlen(KEY), err, sizeof(err)),
        -ENOENT);
    assert_null(strstr(err, KEY));

    a = open_log(KEY);
    assert_int_equal(flex_audit_add(a, T0, "Send", "", 0), FLEX_E_INVAL);
    assert_int_equal(flex_audit_add(a, T0, "", "", 0), FLEX_E_INVAL);
    assert_int_equal(flex_audit_add(a, -1, "send", "", 0), FLEX_E_INVAL);
    assert_int_equal(flex_audit_add(a, T0, "send", "\"a\":1\n", 6), FLEX_E_INVAL);
    static char big[FLEX_AUDIT_LINE_MAX];
    memset(big, 'a', sizeof(big));
    assert_int_equal(flex_audit_add(a, T0, "send", big, sizeof(big) - 100), FLEX_E_TOOLONG);
    assert_int_equal(flex_audit_add(a, T0, "optout", "", 0), 0);
    flex_audit_close(a);
    char out[512];
    assert_int_equal(verify_path(KEY, out, sizeof(out)), 0);
    const char *none[] = {"/nonexistent/audit.log"};
    assert_int_equal(verify(none, 1, KEY, out, sizeof(out)), -ENOENT);
    assert_non_null(strstr(out, "/nonexistent/audit.log: No such file"));
    assert_int_equal(verify(none, 0, KEY, out, sizeof(out)), FLEX_E_INVAL);
}

/* The sample log of tests/integ/audit.sh: 20 lines on 2026-11-30, 10 on
 * 2026-12-01. */
static int write_sample(const char *p)
{
    struct flex_audit *a = NULL;
    char err[256];
    if (flex_audit_open(&a, p, KEY, strlen(KEY), err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int i = 0; i < 30; i++) {
        char f[256], job[32];
        snprintf(job, sizeof(job), "m-%d", i);
        size_t n = flex_audit_field_str(f, sizeof(f), 0, "job", job);
        n = flex_audit_field_phone(f, sizeof(f), n, "to", "+12025550143");
        if (flex_audit_add(a, T0 + (i < 20 ? i * 1000 : DAY_MS + i), "send", f, n) != 0)
            return 1;
    }
    int rc = flex_audit_flush(a);
    flex_audit_close(a);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_sample(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audit_line_format_and_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_tampering_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_reopen_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_cut_behind_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_current_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_partial_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_partial_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_retry_and_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_two_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_threads, setup, teardown),
        cmocka_unit_test(test_audit_fields),
        cmocka_unit_test_setup_teardown(test_audit_errors_and_disabled, setup, teardown),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
