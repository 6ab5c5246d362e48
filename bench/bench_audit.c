/* Audit log appends from one thread: flex_audit_add() with a 200-byte
 * fields fragment (job, location, masked phone, template, carrier...), and
 * flex_audit_flush() every 512 lines, as the result writer will per batch.
 * Measured: the whole path, formatting, HMAC-SHA256 per line, flock, one
 * write(2) per flush and the fdatasync at most once a second (the file is in
 * $TMPDIR, default /tmp); and the add call alone (what a thread that logs
 * an event pays). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "bench.h"

#define LINES 100000L
#define BATCH 512
#define ADDS 10000L /* add-only runs stay below the 4 MiB pending bound */

static char path[256];
static char frag[512];
static size_t flen;

static struct flex_audit *fresh(void)
{
    static const char key[] = "bench-audit-key-0123456789abcdef";
    struct flex_audit *a;
    char err[256];
    unlink(path);
    if (flex_audit_open(&a, path, key, sizeof(key) - 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return a;
}

static double run_append(long n)
{
    struct flex_audit *a = fresh();
    int64_t at = 1796025600000LL;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        flex_audit_add(a, at + i, "send", frag, flen);
        if ((i + 1) % BATCH == 0 && flex_audit_flush(a) != 0)
            exit(1);
    }
    flex_audit_flush(a);
    double dt = bench_now() - t0;
    flex_audit_close(a);
    return (double)n / dt;
}

static double run_add(long n)
{
    struct flex_audit *a = fresh();
    int64_t at = 1796025600000LL;
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        flex_audit_add(a, at + i, "send", frag, flen);
    double dt = bench_now() - t0;
    flex_audit_close(a);
    return (double)n / dt;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/flex-bench-audit.%d.log", tmp ? tmp : "/tmp", (int)getpid());
    size_t p = flex_audit_field_str(frag, sizeof(frag), 0, "job", "a-12345/24h/1796025600");
    p = flex_audit_field_str(frag, sizeof(frag), p, "loc", "loc-1");
    p = flex_audit_field_phone(frag, sizeof(frag), p, "to", "+12025550143");
    p = flex_audit_field_str(frag, sizeof(frag), p, "tmpl", "reminder_24h");
    p = flex_audit_field_str(frag, sizeof(frag), p, "carrier", "primary");
    p = flex_audit_field_str(frag, sizeof(frag), p, "msgid", "0a1b2c3d4e5f");
    p = flex_audit_field_str(frag, sizeof(frag), p, "patient", "p-0000012345");
    char pad[200] = "";
    if (p + 9 < 200) { /* ,"pad":"..." brings the fragment to 200 bytes */
        memset(pad, 'x', 200 - 9 - p);
        pad[200 - 9 - p] = '\0';
    }
    p = flex_audit_field_str(frag, sizeof(frag), p, "pad", pad);
    flen = p;
    double rates[BENCH_REPEATS];
    char name[96];
    long n = bench_iters(LINES);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run_append(n);
    snprintf(name, sizeof(name), "audit add+flush/%d, %zu-byte fields", BATCH, flen);
    bench_report(name, rates, BENCH_REPEATS, 0);
    run_add(bench_iters(ADDS)); /* warm-up: the first run pays the buffer's growth */
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run_add(bench_iters(ADDS));
    bench_report("audit add alone (pending buffer)", rates, BENCH_REPEATS, 0);
    unlink(path);
    return 0;
}
