/*
 * flexbench, the load driver (../shared/CONTRACT.md).
 *
 *   flexbench [--patients N] [--locations L] [--optout-ratio R] [--rate MPS | --burst]
 *             [--carrier smpp|http] [--out DIR] [--redis URL]
 *             [--config FILE] [--dlr-delay-ms N] [--timeout S] [--redis-tls] [--keep]
 *             [--mo-rate N] [--mo-window N] [--mo-from replies|any] [--batch N]
 *
 * --batch N writes N jobs per stream entry (a JobBatch, proto/flex.proto;
 * 1, the default: an entry per job), in the burst's enqueue and the open
 * loop's alike.
 *
 * --mo-rate N has smscsim send N patients' replies a second meanwhile, each
 * session holding at most --mo-window unanswered (smscsim's default 128; 0:
 * no limit, a flood the writer cannot keep up with).  --mo-from replies
 * (the default) sends them from the numbers texted so far, each to the
 * location's number that texted it, as patients answer; any sends them
 * from 100,000 numbers of which most were never texted, all to loc-1's
 * number (a flood of strangers: each reply's context is searched through
 * every day the log keeps).
 * Builds a synthetic DSO (N patients over L practices, one reminder each,
 * a fraction R of them opted out), loads it through the real paths
 * (`flexctl optout import`, `flexctl enqueue`), runs the real flexd against
 * smscsim, and proves the result from what Redis and the SMSC saw: nothing
 * lost (every job has a final status), nothing sent twice (each patient's
 * number appears once in smscsim's log), nothing sent to an opted-out
 * number.  Writes DIR/report.json (the contract's keys, then where the
 * time went: CPU per process and per flexd thread, Redis calls and time per
 * command), DIR/report.md and DIR/throughput.png.
 * Exit 0 only when lost, duplicated and sent_to_optout are all 0; 2 for bad
 * usage or a missing program; 1 when the run itself failed.
 *
 * --burst (the default) queues every job before flexd starts: throughput is
 * from the first job read to the last receipt written.  --rate MPS is an
 * open loop: a thread of flexbench enqueues job i at i/MPS seconds after
 * flexd starts (every millisecond, the jobs due by then), through the same
 * code as `flexctl enqueue` (engine/core/enqueue.h), whatever flexd does:
 * the latencies are those of a steady arrival rate, not of bursts.  Without --redis, a redis-server
 * of its own runs on a free loopback port (no persistence); with --redis the database must be empty
 * and dedicated to the run.  --redis-tls (with a redis-server of its own) gives it a TLS port too,
 * with a throw-away CA made by bench/tls-certs.sh in DIR/tls, and flexd and flexctl reach Redis
 * through rediss:// only (flexbench's own measuring connection stays in
 * clear): the cost of TLS, against a run without it.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_sim.h"
#include "bench_store.h"
#include "clock.h"
#include "config.h"
#include "enqueue.h"
#include "e164.h"
#include "flex.pb-c.h"
#include "hash.h"
#include "mem.h"
#include "store.h"

struct opts {
    long patients, locations;
    double optout_ratio, rate, mo_rate;
    const char *carrier, *out, *redis, *config;
    long dlr_delay_ms, timeout_s;
    int keep, redis_tls;
    long mo_window; /* smscsim's --mo-window: -1 its default */
    long batch;     /* jobs per stream entry (a JobBatch above 1) */
    int mo_any;     /* --mo-from any */
};

struct run {
    struct opts o;
    char bindir[PATH_MAX - 64], redis_url[100], flexd_url[100];
    int redis_port, redis_tls_port, sim_port, http_port;
    pid_t redis_pid, sim_pid, flexd_pid;
    char (*phones)[17];
    long nopt;
    struct flex_store *st;
    /* measurements */
    double t_start, t_first_read, t_end;
    long total, sent, delivered, failed, expired, suppressed, dead, inbound;
    double flexd_cpu_s, flexd_rss_mb;
    long long redis_cmds0, redis_cmds1;
    char *cmdstats0, *cmdstats1; /* INFO commandstats before and after */
    struct {
        char name[16];
        double cpu_s;
    } threads[16]; /* flexd's threads, read before it stops */
    int nthreads;
    double redis_cpu0, redis_cpu1, sim_cpu_s;
    long sim_connections;             /* httpsim: TCP connections it accepted */
    long long redis_mem0, redis_mem1; /* used_memory before the jobs, after the run */
    double enqueue_s;                 /* burst: the wall time of flexctl enqueue of every job */
    FILE *samples;
    /* --rate: the open-loop feeder (a thread) */
    struct feeder *feed;
    double offered_mps;  /* what it enqueued over its run */
    double feed_late_ms; /* the most a job went after its due time */
    double feed_cpu_s;
    int64_t wall_start_ms; /* flexd started, wall clock (status events' times) */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "flexbench: %s\n", what);
    exit(1);
}

/* ---- processes ----------------------------------------------------------- */

static pid_t spawn(char *const argv[], const char *log)
{
    fflush(NULL); /* or the child's freopen() writes our buffered output again */
    pid_t pid = fork();
    if (pid == 0) {
        if (log) {
            FILE *f = freopen(log, "a", stderr);
            (void)f;
        }
        FILE *n = freopen("/dev/null", "w", stdout);
        (void)n;
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Runs |argv| to the end; its stdout goes to |out| (NULL: discarded). */
static int run_cmd(char *const argv[], const char *out)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(out ? out : "/dev/null", "w", stdout);
        (void)f;
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void prog(const struct run *r, const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s", r->bindir, name);
}

/* ---- the synthetic DSO ------------------------------------------------- */

/* Fictional numbers: valid NANP area codes with the 555 exchange, 10,000 a
 * code, so 200,000 patients need 20 area codes. */
static void make_phones(struct run *r)
{
    r->phones = flex_calloc((size_t)r->o.patients, sizeof(*r->phones));
    long n = 0;
    for (int area = 201; area <= 989 && n < r->o.patients; area++) {
        char probe[24];
        snprintf(probe, sizeof(probe), "+1%d5550100", area);
        char norm[FLEX_E164_BUFSZ];
        struct flex_e164_error err;
        if (flex_e164_normalize(probe, strlen(probe), norm, &err) < 0)
            continue;
        for (int k = 0; k < 10000 && n < r->o.patients; k++, n++)
            snprintf(r->phones[n], sizeof(r->phones[n]), "+1%d555%04d", area, k);
    }
    if (n < r->o.patients)
        die("too many patients for the fictional 555 numbers");
}

static bool opted_out(const struct run *r, long i)
{
    if (r->o.optout_ratio <= 0)
        return false;
    long every = (long)(1.0 / r->o.optout_ratio + 0.5);
    return every > 0 && i % every == every / 2;
}

static void write_inputs(struct run *r)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/jobs.jsonl", r->o.out);
    FILE *jobs = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/optout.txt", r->o.out);
    FILE *opt = fopen(path, "w");
    if (!jobs || !opt)
        die("cannot write into the --out directory");
    static const char *const names[] = {"Ana", "Marcus", "Priya", "Wei", "Fatima", "Liam"};
    for (long i = 0; i < r->o.patients; i++) {
        fprintf(jobs,
                "{\"type\":\"message\",\"id\":\"fb-%ld\",\"location\":\"loc-%ld\","
                "\"patient\":\"p-%ld\",\"phone\":\"%s\",\"template\":\"reminder_24h\","
                "\"vars\":{\"first_name\":\"%s\",\"date\":\"Dec 1\",\"time\":\"9:30 AM\","
                "\"provider\":\"Dr. Lee\"}}\n",
                i, i % r->o.locations + 1, i, r->phones[i], names[i % 6]);
        if (opted_out(r, i)) {
            fprintf(opt, "%s\n", r->phones[i]);
            r->nopt++;
        }
    }
    fclose(jobs);
    fclose(opt);
    r->total = r->o.patients;
}

/* ---- flexctl and flexd ------------------------------------------------- */

/* The -D options every program of the run gets (NULL-terminated into |argv|
 * from |*n|); locations beyond the config's five are made up. */
static void common_args(struct run *r, char **argv, int *n, char (*buf)[128], int *nb)
{
    argv[(*n)++] = "-c";
    argv[(*n)++] = (char *)r->o.config;
#define DARG(...)                                                                                  \
    do {                                                                                           \
        snprintf(buf[*nb], 128, __VA_ARGS__);                                                      \
        argv[(*n)++] = "-D";                                                                       \
        argv[(*n)++] = buf[(*nb)++];                                                               \
    } while (0)
    DARG("redis.url=%s", r->flexd_url);
    if (r->o.redis_tls)
        DARG("redis.tls_ca=%.100s/tls/ca.crt", r->o.out);
    DARG("carrier.primary.port=%d", r->sim_port);
    if (strcmp(r->o.carrier, "http") == 0) { /* httpsim on the SMSC's port, the backup carrier */
        DARG("route.default=backup");
        DARG("carrier.primary.enabled=false"); /* its port is httpsim's */
        DARG("carrier.backup.url=http://127.0.0.1:%d", r->sim_port);
        DARG("carrier.backup.status_callback=http://127.0.0.1:%d/webhooks/backup/status",
             r->http_port);
    }
    DARG("http.listen=127.0.0.1:%d", r->http_port);
    DARG("quiet_hours.enabled=false");
    DARG("engine.log_level=warn");
    DARG("engine.audit_log=%.100s/audit.log", r->o.out); /* its cost is part of the figure */
    for (long l = 6; l <= r->o.locations && *nb < 60; l++) {
        DARG("location.loc-%ld.name=Bench Dental %ld", l, l);
        DARG("location.loc-%ld.timezone=America/Chicago", l);
        DARG("location.loc-%ld.phone=+1312555%04ld", l, 100 + l);
    }
#undef DARG
    argv[*n] = NULL;
}

/* flexctl with the run's options, then |args| (NULL-terminated, at most 8). */
static int flexctl_args(struct run *r, const char *const *args)
{
    char *argv[160], buf[64][128], path[PATH_MAX];
    int n = 0, nb = 0;
    prog(r, "flexctl", path, sizeof(path));
    argv[n++] = path;
    common_args(r, argv, &n, buf, &nb);
    for (int i = 0; args[i] && i < 8; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return run_cmd(argv, NULL);
}

static int flexctl(struct run *r, const char *cmd, const char *sub, const char *file)
{
    const char *args[] = {cmd, sub ? sub : file, sub ? file : NULL, NULL};
    return flexctl_args(r, args);
}

static void start_flexd(struct run *r)
{
    char *argv[160], buf[64][128], path[PATH_MAX], log[PATH_MAX];
    int n = 0, nb = 0;
    prog(r, "flexd", path, sizeof(path));
    argv[n++] = path;
    common_args(r, argv, &n, buf, &nb);
    snprintf(log, sizeof(log), "%s/flexd.log", r->o.out);
    r->flexd_pid = spawn(argv, log);
}

/* ---- measuring ------------------------------------------------------------ */

/* Whether flexd has read its first job: its own counter on /metrics. */
static bool jobs_read(struct run *r, CURL *c, char *body, size_t cap)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", r->http_port);
    FILE *f = fmemopen(body, cap - 1, "w");
    if (!f)
        return false;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    CURLcode rc = curl_easy_perform(c);
    long pos = ftell(f);
    fclose(f);
    if (rc != CURLE_OK || pos <= 0)
        return false;
    body[pos] = '\0';
    const char *m = strstr(body, "\nflex_jobs_read_total ");
    return m && atol(m + 22) > 0;
}

static long hval(struct redisReply *r, size_t i)
{
    const char *s = flex_reply_str(flex_reply_at(r, i), NULL);
    return s ? atol(s) : 0;
}

static void poll_stats(struct run *r)
{
    flex_store_appendf(r->st, "HMGET flex:stats sent delivered failed expired suppressed_optout "
                              "dead_letter inbound");
    struct redisReply *rep;
    if (flex_store_reply(r->st, &rep) != 0)
        die("lost the connection to Redis");
    r->sent = hval(rep, 0), r->delivered = hval(rep, 1), r->failed = hval(rep, 2);
    r->expired = hval(rep, 3), r->suppressed = hval(rep, 4), r->dead = hval(rep, 5);
    r->inbound = hval(rep, 6);
    flex_store_free_reply(rep);
}

static bool settled(const struct run *r)
{
    return r->sent + r->failed + r->expired + r->suppressed + r->dead >= r->total &&
           r->delivered + r->failed >= r->sent;
}

/* Redis's own CPU seconds so far (0 when it did not answer). */
static double redis_cpu(struct run *r)
{
    double v = bench_redis_cpu(r->st);
    return v < 0 ? 0 : v;
}

/* Redis's used_memory in bytes (INFO memory) less what the job stream
 * still holds (flexd trims it every second; at the end of a short run most
 * of it is still there), or 0. */
static long long redis_mem(struct run *r)
{
    flex_store_appendf(r->st, "INFO memory");
    flex_store_appendf(r->st, "MEMORY USAGE %s SAMPLES 0", FLEX_KEY_JOBS);
    struct redisReply *rep, *jobs;
    if (flex_store_reply(r->st, &rep) != 0)
        return 0;
    if (flex_store_reply(r->st, &jobs) != 0) {
        flex_store_free_reply(rep);
        return 0;
    }
    const char *s = flex_reply_str(rep, NULL), *u;
    long long v = s && (u = strstr(s, "used_memory:")) ? atoll(u + 12) : 0;
    v -= flex_reply_integer(jobs);
    flex_store_free_reply(rep);
    flex_store_free_reply(jobs);
    return v;
}

/* Redis's command count so far; keeps the INFO commandstats text in |keep|
 * for the per-command breakdown of the report. */
static long long redis_commands(struct run *r, char **keep)
{
    flex_store_appendf(r->st, "INFO commandstats");
    struct redisReply *rep;
    if (flex_store_reply(r->st, &rep) != 0)
        return 0;
    long long sum = 0;
    const char *s = flex_reply_str(rep, NULL);
    *keep = flex_strdup(s ? s : "");
    while (s && (s = strstr(s, "calls=")) != NULL) {
        sum += atoll(s + 6);
        s += 6;
    }
    flex_store_free_reply(rep);
    return sum;
}

/* One command's calls and usec in an INFO commandstats text (0 when absent). */
static void cmdstat(const char *info, const char *name, size_t len, long long *calls,
                    long long *usec)
{
    *calls = *usec = 0;
    for (const char *s = info; (s = strstr(s, "cmdstat_")) != NULL; s += 8) {
        if (strncmp(s + 8, name, len) != 0 || s[8 + len] != ':')
            continue;
        const char *c = strstr(s, "calls="), *u = strstr(s, "usec=");
        if (c)
            *calls = atoll(c + 6);
        if (u)
            *usec = atoll(u + 5);
        return;
    }
}

/* Per command run during the drain: calls and microseconds (Redis's own
 * accounting: execution only, not reading or writing sockets) per message. */
static json_t *redis_by_command(const struct run *r, long msgs)
{
    json_t *o = json_object();
    if (!r->cmdstats0 || !r->cmdstats1 || msgs <= 0)
        return o;
    for (const char *s = r->cmdstats1; (s = strstr(s, "cmdstat_")) != NULL; s += 8) {
        const char *name = s + 8, *colon = strchr(name, ':');
        if (!colon || colon - name > 60)
            continue;
        size_t len = (size_t)(colon - name);
        long long c0, u0, c1, u1;
        cmdstat(r->cmdstats0, name, len, &c0, &u0);
        cmdstat(r->cmdstats1, name, len, &c1, &u1);
        if (c1 - c0 <= 0)
            continue;
        char key[64];
        memcpy(key, name, len);
        key[len] = '\0';
        json_object_set_new(o, key,
                            json_pack("{s:f,s:f}", "calls_per_message",
                                      (double)(c1 - c0) / (double)msgs, "usec_per_message",
                                      (double)(u1 - u0) / (double)msgs));
    }
    return o;
}

/* Enqueues jobs [from, to) of jobs.jsonl through flexctl (a slice file). */
static void enqueue_slice(struct run *r, long from, long to)
{
    char src[PATH_MAX], dst[PATH_MAX], line[1024];
    snprintf(src, sizeof(src), "%s/jobs.jsonl", r->o.out);
    snprintf(dst, sizeof(dst), "%s/slice.jsonl", r->o.out);
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    if (!in || !out)
        die("cannot read jobs.jsonl");
    for (long i = 0; i < to && fgets(line, sizeof(line), in); i++)
        if (i >= from)
            fputs(line, out);
    fclose(in);
    fclose(out);
    char per[24];
    snprintf(per, sizeof(per), "%ld", r->o.batch);
    const char *args[] = {"enqueue", "--batch", per, dst, NULL}; /* 1: an entry per job */
    if (flexctl_args(r, args) != 0)
        die("flexctl enqueue rejected jobs (see its output by running it by hand)");
}

/* ---- the open-loop feeder (--rate) ------------------------------------------ */

struct feeder {
    struct run *r;
    struct flex_cfg *cfg;
    struct flex_store *st;
    char *text;   /* jobs.jsonl */
    size_t *line; /* where each job's line starts (n + 1: the end) */
    long n;
    double t0;
    _Atomic long fed;
    _Atomic bool stop;
    double late_ms, cpu_s, t_last;
    pthread_t th;
};

static void feed_diag(void *arg, const char *file, unsigned line, const char *msg)
{
    (void)arg;
    fprintf(stderr, "flexbench: %s:%u: %s\n", file, line, msg);
}

/* Job i is due at t0 + i/rate.  Every millisecond (an absolute timer, so a
 * slow round does not shift the next) the jobs due by then are enqueued
 * and their replies read: one round trip per millisecond at most.  A round
 * late by more than a millisecond catches up with everything due: the
 * arrivals never wait for flexd. */
static void *feed_main(void *arg)
{
    struct feeder *f = arg;
    double rate = f->r->o.rate;
    struct flex_enqueue_batch eb;
    flex_enqueue_batch_init(&eb, (unsigned)f->r->o.batch);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long fed = 0;
    while (fed < f->n && !atomic_load_explicit(&f->stop, memory_order_relaxed)) {
        double t = now_s();
        long due = (long)((t - f->t0) * rate) + 1;
        if (due > f->n)
            due = f->n;
        if (due > fed) {
            double late = (t - (f->t0 + (double)fed / rate)) * 1000.0;
            if (late > f->late_ms)
                f->late_ms = late;
            int cmds = 0;
            for (long i = fed; i < due; i++) {
                char id[FLEX_JOB_ID_MAX + 1];
                struct flex_job_error err;
                size_t len = f->line[i + 1] - f->line[i] - 1; /* without its newline */
                int app;
                if (flex_enqueue_add(&eb, f->st, f->cfg, f->text + f->line[i], len, id, &err,
                                     &app) != 0)
                    die("a job of jobs.jsonl was refused by the enqueue path");
                cmds += app;
            }
            cmds += flex_enqueue_flush(&eb, f->st); /* what is due goes now */
            flex_enqueue_count(f->st, due - fed);
            if (flex_store_drain(f->st, cmds + 1) != 0)
                die("redis refused or lost the open-loop enqueue");
            fed = due;
            f->t_last = now_s();
            /* relaxed: a progress count the main loop polls */
            atomic_store_explicit(&f->fed, fed, memory_order_relaxed);
        }
        next.tv_nsec += 1000000;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    flex_enqueue_batch_free(&eb);
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    f->cpu_s = (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9;
    return NULL;
}

/* Reads jobs.jsonl and the config as flexctl would (the same -D options),
 * connects, and starts the feeder at the time flexd was started. */
static void feeder_start(struct run *r)
{
    struct feeder *f = flex_calloc(1, sizeof(*f));
    f->r = r;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/jobs.jsonl", r->o.out);
    FILE *in = fopen(path, "r");
    if (!in)
        die("cannot read jobs.jsonl");
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    rewind(in);
    f->text = flex_malloc((size_t)size + 1);
    if (size < 0 || fread(f->text, 1, (size_t)size, in) != (size_t)size)
        die("cannot read jobs.jsonl");
    fclose(in);
    f->text[size] = '\0';
    f->line = flex_malloc(((size_t)r->total + 1) * sizeof(*f->line));
    for (long i = 0, o = 0; i <= r->total; i++) {
        f->line[i] = (size_t)o;
        const char *nl = o < size ? memchr(f->text + o, '\n', (size_t)(size - o)) : NULL;
        o = nl ? nl - f->text + 1 : size + 1;
        if (i < r->total && !nl)
            die("jobs.jsonl ends early");
    }
    f->n = r->total;
    char *argv[160], buf[64][128];
    int n = 0, nb = 0;
    common_args(r, argv, &n, buf, &nb);
    struct flex_cfg_override ov[80];
    size_t nov = 0;
    for (int i = 0; i + 1 < n && nov < sizeof(ov) / sizeof(ov[0]); i++)
        if (strcmp(argv[i], "-D") == 0)
            ov[nov++].text = argv[++i];
    if (flex_cfg_load(&f->cfg, r->o.config, ov, nov, feed_diag, NULL) != 0)
        die("the feeder cannot load the configuration");
    char why[256];
    if (flex_store_connect(&f->st, &f->cfg->redis, 5000, why, sizeof(why)) != 0)
        die(why);
    f->t0 = now_s();
    r->feed = f;
    if (pthread_create(&f->th, NULL, feed_main, f) != 0)
        die("cannot start the feeder thread");
}

static long feeder_fed(const struct run *r)
{
    return atomic_load_explicit(&r->feed->fed, memory_order_relaxed);
}

static void feeder_stop(struct run *r)
{
    struct feeder *f = r->feed;
    atomic_store_explicit(&f->stop, true, memory_order_relaxed);
    pthread_join(f->th, NULL);
    long fed = feeder_fed(r);
    double secs = f->t_last - f->t0; /* from the first job due to the last enqueued */
    r->offered_mps = secs > 0 ? (double)fed / secs : 0;
    r->feed_late_ms = f->late_ms;
    r->feed_cpu_s = f->cpu_s;
    flex_store_del(f->st);
    flex_cfg_del(f->cfg);
    flex_free(f->line);
    flex_free(f->text);
    flex_free(f);
    r->feed = NULL;
}

/* Waits up to 10 s for flexd's /readyz (Redis reached, a carrier up). */
static bool flexd_ready(struct run *r, CURL *c)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", r->http_port);
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    bool ok = false;
    for (int i = 0; i < 1000 && !ok; i++) {
        long code = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        ok = code == 200;
        if (!ok)
            usleep(10000);
    }
    if (null)
        fclose(null);
    return ok;
}

/* Runs flexd until every job is settled (or --timeout), sampling the
 * counters every 10 ms; feeds the jobs at --rate when not bursting. */
static void drive(struct run *r)
{
    CURL *c = curl_easy_init();
    char body[65536];
    r->redis_cmds0 = redis_commands(r, &r->cmdstats0);
    r->redis_cpu0 = redis_cpu(r);
    r->t_start = now_s();
    r->wall_start_ms = flex_now_ms();
    start_flexd(r);
    if (r->o.rate > 0) { /* arrivals from the moment flexd is ready: not its start-up */
        if (!flexd_ready(r, c))
            die("flexd did not become ready (see flexd.log in --out)");
        feeder_start(r);
    }
    double last_sample = 0;
    long last_sent = 0;
    while (now_s() - r->t_start < (double)r->o.timeout_s) {
        double t = now_s();
        long fed = r->feed ? feeder_fed(r) : r->total;
        if (r->t_first_read == 0 && jobs_read(r, c, body, sizeof(body)))
            r->t_first_read = t;
        poll_stats(r);
        if (t - last_sample >= 0.25) {
            double dt = last_sample ? t - last_sample : t - r->t_start;
            fprintf(r->samples, "%.3f %.0f %ld %ld\n", t - r->t_start,
                    (double)(r->sent - last_sent) / dt, r->sent, r->delivered);
            last_sample = t, last_sent = r->sent;
        }
        if (fed == r->total && settled(r)) {
            r->t_end = now_s();
            break;
        }
        usleep(10000);
    }
    if (r->t_end == 0)
        r->t_end = now_s(); /* timed out: what is missing counts as lost */
    if (r->feed)
        feeder_stop(r);
    if (r->t_first_read == 0)
        r->t_first_read = r->t_start;
    r->redis_cmds1 = redis_commands(r, &r->cmdstats1);
    r->redis_cpu1 = redis_cpu(r);
    curl_easy_cleanup(c);
}

/* CPU seconds of each of flexd's threads (/proc/PID/task/TID/stat: utime
 * and stime, fields 14 and 15, after the parenthesised name). */
static void thread_cpu(struct run *r)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)r->flexd_pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    long tick = sysconf(_SC_CLK_TCK);
    struct dirent *e;
    r->nthreads = 0;
    while ((e = readdir(d)) != NULL && r->nthreads < 16) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX], buf[1024];
        snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        unsigned long ut, st;
        if (!open || !close ||
            sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            continue;
        size_t nl = (size_t)(close - open - 1);
        if (nl >= sizeof(r->threads[0].name))
            nl = sizeof(r->threads[0].name) - 1;
        memcpy(r->threads[r->nthreads].name, open + 1, nl);
        r->threads[r->nthreads].name[nl] = '\0';
        r->threads[r->nthreads++].cpu_s = (double)(ut + st) / (double)tick;
    }
    closedir(d);
}

static void stop_flexd(struct run *r)
{
    thread_cpu(r);
    kill(r->flexd_pid, SIGTERM);
    int st;
    struct rusage ru;
    if (wait4(r->flexd_pid, &st, 0, &ru) == r->flexd_pid) {
        r->flexd_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        r->flexd_rss_mb = (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
    }
    r->flexd_pid = 0;
}

/* ---- proving the result ---------------------------------------------------- */

/* A counting set of short strings (job ids, phone numbers). */
struct cset {
    char (*keys)[40];
    uint32_t *counts;
    size_t mask;
};

static void cset_init(struct cset *s, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    s->keys = flex_calloc(cap, sizeof(*s->keys));
    s->counts = flex_calloc(cap, sizeof(*s->counts));
    s->mask = cap - 1;
}

static void cset_free(struct cset *s)
{
    flex_free(s->keys);
    flex_free(s->counts);
}

/* Adds |k| (<= 39 bytes) |add| times; returns its count (0: absent). */
static uint32_t cset_add(struct cset *s, const char *k, size_t len, uint32_t add)
{
    static const struct flex_hash_key hk = {0x666c657862656e63ULL, 0x6873657400000001ULL};
    if (len > 39)
        len = 39;
    size_t i = flex_siphash13(&hk, k, len) & s->mask;
    while (s->counts[i] && (strlen(s->keys[i]) != len || memcmp(s->keys[i], k, len) != 0))
        i = (i + 1) & s->mask;
    if (!s->counts[i]) {
        if (!add)
            return 0;
        memcpy(s->keys[i], k, len);
        s->keys[i][len] = '\0';
    }
    s->counts[i] += add;
    return s->counts[i];
}

struct lat {
    double *v;
    size_t n, cap;
};

static void lat_add(struct lat *l, double ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = flex_realloc(l->v, l->cap * sizeof(double));
    }
    l->v[l->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const struct lat *l, double q)
{
    return l->v[(size_t)((double)(l->n - 1) * q)];
}

/* Sorts |l| (its order is lost). */
static json_t *lat_json(struct lat *l)
{
    if (l->n == 0)
        return json_pack("{s:n,s:n,s:n,s:n}", "p50", "p99", "p999", "max");
    qsort(l->v, l->n, sizeof(double), cmp_double);
    return json_pack("{s:f,s:f,s:f,s:f}", "p50", pct(l, 0.5), "p99", pct(l, 0.99), "p999",
                     pct(l, 0.999), "max", l->v[l->n - 1]);
}

struct proof {
    long lost, duplicated, sent_to_optout, final_jobs;
    struct lat accept, receipt;
    FILE *latency; /* "seconds enqueue_to_accept_ms" per message, for the plot */
    int64_t t0_ms; /* flexd started (wall clock) */
};

static void status_seen(const Flex__V1__StatusEvent *s, struct cset *final, struct proof *pf)
{
    if (s->state == FLEX__V1__STATE__STATE_ACCEPTED) {
        lat_add(&pf->accept, (double)(s->at_ms - s->enqueued_at_ms));
        if (pf->latency)
            fprintf(pf->latency, "%.3f %lld\n", (double)(s->at_ms - pf->t0_ms) / 1000.0,
                    (long long)(s->at_ms - s->enqueued_at_ms));
    } else if (s->state == FLEX__V1__STATE__STATE_DELIVERED && s->accepted_at_ms)
        lat_add(&pf->receipt, (double)(s->at_ms - s->accepted_at_ms));
    if (s->state != FLEX__V1__STATE__STATE_ACCEPTED &&
        s->state != FLEX__V1__STATE__STATE_SCHEDULED &&
        cset_add(final, s->job_id, strlen(s->job_id), 1) == 1)
        pf->final_jobs++;
}

/* Every status event (entries of field "evs": a StatusBatch each): final
 * states per job id, and the latencies. */
static void read_status(struct run *r, struct proof *pf)
{
    struct cset final;
    cset_init(&final, (size_t)r->total);
    char from[64] = "-";
    for (;;) {
        flex_store_appendf(r->st, "XRANGE flex:status %s + COUNT 1000", from);
        struct redisReply *rep;
        if (flex_store_reply(r->st, &rep) != 0)
            die("lost the connection to Redis");
        size_t n = flex_reply_count(rep);
        for (size_t i = 0; i < n; i++) {
            struct redisReply *e = flex_reply_at(rep, i), *f = flex_reply_at(e, 1);
            size_t len = 0;
            snprintf(from, sizeof(from), "(%s", flex_reply_str(flex_reply_at(e, 0), NULL));
            const char *evs = NULL;
            for (size_t k = 0; k + 1 < flex_reply_count(f); k += 2)
                if (strcmp(flex_reply_str(flex_reply_at(f, k), NULL), "evs") == 0)
                    evs = flex_reply_str(flex_reply_at(f, k + 1), &len);
            Flex__V1__StatusBatch *b =
                evs ? flex__v1__status_batch__unpack(NULL, len, (const uint8_t *)evs) : NULL;
            for (size_t k = 0; b && k < b->n_events; k++)
                status_seen(b->events[k], &final, pf);
            if (b)
                flex__v1__status_batch__free_unpacked(b, NULL);
        }
        flex_store_free_reply(rep);
        if (n < 1000)
            break;
    }
    cset_free(&final);
    pf->lost = r->total - r->dead - pf->final_jobs;
    if (pf->lost < 0)
        pf->lost = 0;
}

/* The carrier simulator of the run: smscsim, or httpsim for --carrier http. */
static const char *sim_name(const struct run *r)
{
    return strcmp(r->o.carrier, "http") == 0 ? "httpsim" : "smscsim";
}

/* The simulator's log: each patient's number once, none of the opted-out
 * ones. */
static void read_sim_log(struct run *r, struct proof *pf)
{
    struct cset seen, opt;
    cset_init(&seen, (size_t)r->total);
    cset_init(&opt, (size_t)r->nopt + 1);
    for (long i = 0; i < r->total; i++)
        if (opted_out(r, i))
            cset_add(&opt, r->phones[i] + 1, strlen(r->phones[i] + 1), 1); /* log: no '+' */
    char path[PATH_MAX], line[4096];
    snprintf(path, sizeof(path), "%s/%s.log", r->o.out, sim_name(r));
    FILE *f = fopen(path, "r");
    if (!f) /* no log proves nothing: not "0 duplicated" */
        die("cannot read the simulator's log: nothing sent twice or to an opt-out is unproven");
    while (fgets(line, sizeof(line), f)) {
        const char *dst = line[0] == '+' ? line + 1 : line;
        size_t len = strcspn(dst, "\t\n");
        if (cset_add(&seen, dst, len, 1) > 1)
            pf->duplicated++;
        if (cset_add(&opt, dst, len, 0))
            pf->sent_to_optout++;
    }
    fclose(f);
    cset_free(&seen);
    cset_free(&opt);
}

/* ---- reports -------------------------------------------------------------- */

static json_t *report_json(struct run *r, struct proof *pf)
{
    double secs = r->t_end - r->t_first_read;
    long msgs = r->sent;
    json_t *j = json_pack(
        "{s:I,s:f,s:o,s:o,s:f,s:f,s:I,s:I,s:I}", "messages", (json_int_t)msgs, "throughput_mps",
        secs > 0 ? (double)msgs / secs : 0.0, "accept_ms", lat_json(&pf->accept), "receipt_ms",
        lat_json(&pf->receipt), "peak_rss_mb", r->flexd_rss_mb, "cpu_s_per_100k",
        msgs ? r->flexd_cpu_s * 100000.0 / (double)msgs : 0.0, "lost", (json_int_t)pf->lost,
        "duplicated", (json_int_t)pf->duplicated, "sent_to_optout", (json_int_t)pf->sent_to_optout);
    json_object_set_new(
        j, "run",
        json_pack("{s:I,s:I,s:f,s:s,s:s,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I}", "patients",
                  (json_int_t)r->o.patients, "locations", (json_int_t)r->o.locations,
                  "optout_ratio", r->o.optout_ratio, "mode", r->o.rate > 0 ? "rate" : "burst",
                  "carrier", r->o.carrier, "opted_out", (json_int_t)r->nopt, "seconds", secs,
                  "delivered", (json_int_t)r->delivered, "failed", (json_int_t)r->failed, "expired",
                  (json_int_t)r->expired, "suppressed_optout", (json_int_t)r->suppressed,
                  "dead_letter", (json_int_t)r->dead, "flexd_cpu_s", r->flexd_cpu_s,
                  "redis_commands_per_message",
                  msgs ? (double)(r->redis_cmds1 - r->redis_cmds0) / (double)msgs : 0.0,
                  "jobs_per_entry", (json_int_t)r->o.batch));
    /* Per-core view: CPU seconds per 100k messages of each process (the two
     * cores are shared by all three). */
    json_object_set_new(j, "cpu_s_per_100k_by_process",
                        json_pack("{s:f,s:f,s:f}", "flexd",
                                  msgs ? r->flexd_cpu_s * 1e5 / (double)msgs : 0.0, "redis",
                                  msgs ? (r->redis_cpu1 - r->redis_cpu0) * 1e5 / (double)msgs : 0.0,
                                  sim_name(r), msgs ? r->sim_cpu_s * 1e5 / (double)msgs : 0.0));
    if (r->o.rate > 0) /* the open loop: what it offered, and whether it kept its schedule */
        json_object_set_new(j, "open_loop",
                            json_pack("{s:f,s:f,s:f,s:f}", "asked_mps", r->o.rate, "offered_mps",
                                      r->offered_mps, "late_ms_max", r->feed_late_ms,
                                      "feeder_cpu_s_per_100k",
                                      r->total ? r->feed_cpu_s * 1e5 / (double)r->total : 0.0));
    if (strcmp(r->o.carrier, "http") == 0) /* keep-alive shows as few connections */
        json_object_set_new(j, "http_connections", json_integer(r->sim_connections));
    json_object_set_new(j, "redis_by_command", redis_by_command(r, msgs));
    /* --mo-rate: patients' replies applied (classified, routed, counted in
     * flex:stats) while the campaign ran, per second of it. */
    json_object_set_new(j, "inbound",
                        json_pack("{s:f,s:I,s:f}", "asked_per_s", r->o.mo_rate, "applied",
                                  (json_int_t)r->inbound, "applied_per_s",
                                  secs > 0 ? (double)r->inbound / secs : 0.0));
    /* What a message leaves in Redis once drained (idempotency key, history,
     * msgid map, status events; the job stream left out): docs/operations.md
     * sizes maxmemory from it. */
    /* The producer's side of a burst: every job through `flexctl enqueue`
     * (the real path: JSON read, checked, packed, XADD pipelined), wall time
     * of the process, before flexd starts. */
    if (r->enqueue_s > 0)
        json_object_set_new(j, "enqueue",
                            json_pack("{s:I,s:f,s:f}", "jobs", (json_int_t)r->total, "seconds",
                                      r->enqueue_s, "jobs_per_s", (double)r->total / r->enqueue_s));
    json_object_set_new(
        j, "redis_memory",
        json_pack("{s:f,s:f,s:f}", "before_mb", (double)r->redis_mem0 / 1048576.0, "after_mb",
                  (double)r->redis_mem1 / 1048576.0, "bytes_per_message",
                  msgs ? (double)(r->redis_mem1 - r->redis_mem0) / (double)msgs : 0.0));
    json_t *th = json_object();
    for (int i = 0; i < r->nthreads && msgs > 0; i++) {
        json_t *old = json_object_get(th, r->threads[i].name); /* same-named threads add up */
        double v = r->threads[i].cpu_s * 1e5 / (double)msgs + (old ? json_real_value(old) : 0);
        json_object_set_new(th, r->threads[i].name, json_real(v));
    }
    json_object_set_new(j, "flexd_cpu_s_per_100k_by_thread", th);
    return j;
}

static void write_reports(struct run *r, struct proof *pf)
{
    char path[PATH_MAX];
    json_t *j = report_json(r, pf);
    snprintf(path, sizeof(path), "%s/report.json", r->o.out);
    if (json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
        die("cannot write report.json");
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    snprintf(path, sizeof(path), "%s/report.md", r->o.out);
    FILE *md = fopen(path, "w");
    if (!md)
        die("cannot write report.md");
    json_t *run = json_object_get(j, "run");
    fprintf(md,
            "# flexbench report\n\n"
            "%ld patients over %ld locations, %ld opted out, %s, carrier %s, %ld job%s per stream "
            "entry.\n\n"
            "| | |\n|---|---|\n"
            "| messages sent | %ld (delivered %ld) |\n"
            "| end to end (first job read to last receipt written) | %.0f msg/s over %.2f s |\n"
            "| enqueue to accept, ms | p50 %.1f, p99 %.1f, p99.9 %.1f, max %.0f |\n"
            "| accept to receipt, ms | p50 %.1f, p99 %.1f, p99.9 %.1f, max %.0f |\n"
            "| flexd peak RSS | %.1f MB |\n| flexd CPU | %.2f s per 100k messages |\n"
            "| Redis commands per message | %.2f |\n"
            "| enqueue (flexctl enqueue, every job, before flexd) | %.0f jobs/s |\n"
            "| lost / duplicated / sent to an opted-out number | %ld / %ld / %ld |\n\n"
            "![throughput](throughput.png)\n\n![latency](latency.png)\n\n```json\n%s\n```\n",
            r->o.patients, r->o.locations, r->nopt, r->o.rate > 0 ? "at a rate" : "burst",
            r->o.carrier, r->o.batch, r->o.batch == 1 ? "" : "s", r->sent, r->delivered,
            json_real_value(json_object_get(j, "throughput_mps")),
            json_real_value(json_object_get(run, "seconds")),
            json_number_value(json_object_get(json_object_get(j, "accept_ms"), "p50")),
            json_number_value(json_object_get(json_object_get(j, "accept_ms"), "p99")),
            json_number_value(json_object_get(json_object_get(j, "accept_ms"), "p999")),
            json_number_value(json_object_get(json_object_get(j, "accept_ms"), "max")),
            json_number_value(json_object_get(json_object_get(j, "receipt_ms"), "p50")),
            json_number_value(json_object_get(json_object_get(j, "receipt_ms"), "p99")),
            json_number_value(json_object_get(json_object_get(j, "receipt_ms"), "p999")),
            json_number_value(json_object_get(json_object_get(j, "receipt_ms"), "max")),
            r->flexd_rss_mb, json_real_value(json_object_get(j, "cpu_s_per_100k")),
            json_real_value(json_object_get(run, "redis_commands_per_message")),
            r->enqueue_s > 0 ? (double)r->total / r->enqueue_s : 0.0, pf->lost, pf->duplicated,
            pf->sent_to_optout, text);
    fclose(md);
    free(text);
    json_decref(j);
}

/* throughput.png from the samples, by gnuplot. */
static int plot(struct run *r)
{
    char script[PATH_MAX], png[PATH_MAX], dat[PATH_MAX];
    snprintf(script, sizeof(script), "%s/throughput.gp", r->o.out);
    snprintf(png, sizeof(png), "%s/throughput.png", r->o.out);
    snprintf(dat, sizeof(dat), "%s/samples.dat", r->o.out);
    FILE *f = fopen(script, "w");
    if (!f)
        return -1;
    fprintf(f,
            "set terminal png size 900,420\nset output '%s'\n"
            "set title 'flexbench: messages accepted per second'\n"
            "set xlabel 'seconds since flexd started'\nset ylabel 'msg/s'\nset grid\n"
            "plot '%s' using 1:2 with lines lw 2 title 'accepted/s'\n",
            png, dat);
    /* every message's enqueue -> accept latency at the time it was accepted */
    fprintf(f,
            "set output '%s/latency.png'\n"
            "set title 'flexbench: enqueue to carrier accept, per message'\n"
            "set ylabel 'ms (log)'\nset logscale y\n"
            "plot '%s/latency.dat' using 1:($2 < 1 ? 1 : $2) with dots title 'latency'\n",
            r->o.out, r->o.out);
    fclose(f);
    char *argv[] = {"/usr/bin/gnuplot", script, NULL};
    return run_cmd(argv, NULL);
}

/* ---- set-up ----------------------------------------------------------------- */

static int wait_redis(struct run *r)
{
    char why[256];
    for (int i = 0; i < 100; i++) {
        if (flex_store_connect(&r->st, &(struct flex_store_params){.url = r->redis_url}, 1000, why,
                               sizeof(why)) == 0)
            return 0;
        usleep(50000);
    }
    fprintf(stderr, "flexbench: %s\n", why);
    return -1;
}

/* A throw-away CA and a server certificate for 127.0.0.1 in DIR/tls. */
static void make_certs(struct run *r)
{
    char script[PATH_MAX], dir[PATH_MAX];
    snprintf(script, sizeof(script), "bench/tls-certs.sh");
    if (access(script, R_OK) != 0)
        snprintf(script, sizeof(script), "%s/../bench/tls-certs.sh", r->bindir);
    snprintf(dir, sizeof(dir), "%s/tls", r->o.out);
    char *argv[] = {"/bin/sh", script, dir, NULL};
    if (access(script, R_OK) != 0 || run_cmd(argv, NULL) != 0)
        die("--redis-tls: bench/tls-certs.sh failed (run from the source tree; openssl "
            "installed?)");
}

static void start_servers(struct run *r)
{
    char path[PATH_MAX], a[64], log[PATH_MAX], stats[PATH_MAX], dlr[24];
    int base = 21000 + getpid() % 5000;
    r->sim_port = bench_free_port_from(base);
    r->http_port = bench_free_port_from(r->sim_port + 1);
    if (!r->o.redis) {
        r->redis_port = bench_free_port_from(r->http_port + 1);
        snprintf(a, sizeof(a), "%d", r->redis_port);
        char *argv[32] = {
            "/usr/bin/redis-server", "--port", a,       "--bind",         "127.0.0.1", "--save", "",
            "--appendonly",          "no",     "--dir", (char *)r->o.out, NULL};
        char tp[16], crt[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
        if (r->o.redis_tls) {
            make_certs(r);
            r->redis_tls_port = bench_free_port_from(r->redis_port + 1);
            snprintf(tp, sizeof(tp), "%d", r->redis_tls_port);
            snprintf(crt, sizeof(crt), "%s/tls/redis.crt", r->o.out);
            snprintf(key, sizeof(key), "%s/tls/redis.key", r->o.out);
            snprintf(ca, sizeof(ca), "%s/tls/ca.crt", r->o.out);
            char *tls[] = {"--tls-port",
                           tp,
                           "--tls-cert-file",
                           crt,
                           "--tls-key-file",
                           key,
                           "--tls-ca-cert-file",
                           ca,
                           "--tls-auth-clients",
                           "no",
                           NULL};
            memcpy(argv + 11, tls, sizeof(tls));
        }
        char rlog[PATH_MAX];
        snprintf(rlog, sizeof(rlog), "%s/redis.log", r->o.out);
        r->redis_pid = spawn(argv, rlog);
        snprintf(r->redis_url, sizeof(r->redis_url), "redis://127.0.0.1:%d/0", r->redis_port);
        if (r->o.redis_tls)
            snprintf(r->flexd_url, sizeof(r->flexd_url), "rediss://127.0.0.1:%d/0",
                     r->redis_tls_port);
        else
            memcpy(r->flexd_url, r->redis_url, sizeof(r->flexd_url));
    } else {
        snprintf(r->redis_url, sizeof(r->redis_url), "%s", r->o.redis);
        memcpy(r->flexd_url, r->redis_url, sizeof(r->flexd_url));
    }
    prog(r, sim_name(r), path, sizeof(path));
    snprintf(a, sizeof(a), "127.0.0.1:%d", r->sim_port);
    snprintf(log, sizeof(log), "%s/%s.log", r->o.out, sim_name(r));
    snprintf(stats, sizeof(stats), "%s/%s.json", r->o.out, sim_name(r));
    snprintf(dlr, sizeof(dlr), "%ld", r->o.dlr_delay_ms);
    char mo[32], mow[24];
    snprintf(mo, sizeof(mo), "%.0f", r->o.mo_rate);
    snprintf(mow, sizeof(mow), "%ld", r->o.mo_window >= 0 ? r->o.mo_window : 128); /* its default */
    char *sargv[] = {path, "--listen",      a,      "--log",
                     log,  "--stats",       stats,  "--dlr-delay-ms",
                     dlr,  "--max-seconds", "3600", "--mo-rate",
                     mo,   "--mo-window",   mow,    r->o.mo_any ? NULL : "--mo-reply",
                     NULL};
    char *hargv[] = {path, "--listen",      a,      "--log",
                     log,  "--stats",       stats,  "--callback-delay-ms",
                     dlr,  "--max-seconds", "3600", NULL};
    r->sim_pid = spawn(strcmp(r->o.carrier, "http") == 0 ? hargv : sargv, NULL);
    if (wait_redis(r) != 0)
        die("redis did not come up");
}

/* smscsim writes its log out and exits on SIGTERM; its CPU is measured. */
static void stop_sim(struct run *r)
{
    if (!r->sim_pid)
        return;
    struct rusage ru;
    kill(r->sim_pid, SIGTERM);
    if (wait4(r->sim_pid, NULL, 0, &ru) == r->sim_pid)
        r->sim_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r->sim_pid = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.json", r->o.out, sim_name(r));
    json_t *st = json_load_file(path, 0, NULL); /* written at its exit */
    json_t *c = st ? json_object_get(st, "connections") : NULL;
    r->sim_connections = json_is_integer(c) ? (long)json_integer_value(c) : 0;
    json_decref(st);
}

static void stop_all(struct run *r)
{
    if (r->flexd_pid)
        kill(r->flexd_pid, SIGKILL), waitpid(r->flexd_pid, NULL, 0);
    stop_sim(r);
    flex_store_del(r->st);
    r->st = NULL;
    if (r->redis_pid)
        kill(r->redis_pid, SIGTERM), waitpid(r->redis_pid, NULL, 0);
}

/* ---- main ----------------------------------------------------------------- */

static const char usage[] =
    "usage: flexbench [--patients N] [--locations L] [--optout-ratio R] [--rate MPS | --burst]\n"
    "                 [--carrier smpp|http] [--out DIR] [--redis URL]\n"
    "                 [--config FILE] [--dlr-delay-ms N] [--timeout S] [--mo-rate N]\n"
    "                 [--mo-window N] [--mo-from replies|any] [--redis-tls] [--batch N]\n"
    "defaults: 10000 patients, 5 locations, 0.02 opted out, burst, smpp, out bench-out,\n"
    "a redis-server of its own, deploy/flexd.conf, receipts after 50 ms, 300 s timeout\n";

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"patients", required_argument, NULL, 'n'},
                                       {"locations", required_argument, NULL, 'l'},
                                       {"optout-ratio", required_argument, NULL, 'o'},
                                       {"rate", required_argument, NULL, 'r'},
                                       {"burst", no_argument, NULL, 'b'},
                                       {"carrier", required_argument, NULL, 'c'},
                                       {"out", required_argument, NULL, 'O'},
                                       {"redis", required_argument, NULL, 'R'},
                                       {"config", required_argument, NULL, 'C'},
                                       {"dlr-delay-ms", required_argument, NULL, 'd'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"mo-rate", required_argument, NULL, 'm'},
                                       {"mo-window", required_argument, NULL, 'w'},
                                       {"redis-tls", no_argument, NULL, 'T'},
                                       {"batch", required_argument, NULL, 'B'},
                                       {"mo-from", required_argument, NULL, 'F'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    *o = (struct opts){10000, 5, 0.02, 0,  0, "smpp", "bench-out", NULL, "deploy/flexd.conf", 50,
                       300,   0, 0,    -1, 1, 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': o->patients = atol(optarg); break;
        case 'l': o->locations = atol(optarg); break;
        case 'o': o->optout_ratio = atof(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        case 'b': o->rate = 0; break;
        case 'c': o->carrier = optarg; break;
        case 'O': o->out = optarg; break;
        case 'R': o->redis = optarg; break;
        case 'C': o->config = optarg; break;
        case 'd': o->dlr_delay_ms = atol(optarg); break;
        case 't': o->timeout_s = atol(optarg); break;
        case 'm': o->mo_rate = atof(optarg); break;
        case 'w': o->mo_window = atol(optarg); break;
        case 'T': o->redis_tls = 1; break;
        case 'B': o->batch = atol(optarg); break;
        case 'F':
            if (strcmp(optarg, "replies") != 0 && strcmp(optarg, "any") != 0)
                return -1;
            o->mo_any = strcmp(optarg, "any") == 0;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: return -1;
        }
    }
    if (optind != argc || o->patients < 1 || o->patients > 2000000 || o->locations < 1 ||
        o->locations > 25 || o->optout_ratio < 0 || o->optout_ratio > 0.5 || o->rate < 0 ||
        o->mo_rate < 0 || o->timeout_s < 1 || (o->redis_tls && o->redis) || o->batch < 1 ||
        o->batch > FLEX_JOBBATCH_MAX ||
        (strcmp(o->carrier, "smpp") != 0 && strcmp(o->carrier, "http") != 0))
        return -1;
    return 0;
}

static void find_bindir(struct run *r, const char *argv0)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0)
        self[n] = '\0';
    else
        snprintf(self, sizeof(self), "%s", argv0);
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    if (!slash || strlen(self) >= sizeof(r->bindir))
        snprintf(self, sizeof(self), ".");
    memcpy(r->bindir, self, strlen(self) + 1);
}

/* With --redis: the database must hold nothing of Flex's. */
static void check_empty(struct run *r)
{
    flex_store_appendf(r->st, "EXISTS flex:jobs flex:status flex:stats flex:optout");
    struct redisReply *rep;
    if (flex_store_reply(r->st, &rep) != 0 || flex_reply_integer(rep) != 0) {
        fprintf(stderr, "flexbench: %s already holds Flex keys; give it an empty database\n",
                r->redis_url);
        exit(2);
    }
    flex_store_free_reply(rep);
}

int main(int argc, char **argv)
{
    struct run r = {0};
    if (parse(argc, argv, &r.o) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(r.o.carrier, "http") == 0 && r.o.mo_rate > 0) {
        fputs("flexbench: --mo-rate needs --carrier smpp (smscsim sends the replies)\n", stderr);
        return 2;
    }
    find_bindir(&r, argv[0]);
    signal(SIGPIPE, SIG_IGN);
    mkdir(r.o.out, 0755);
    static char outdir[PATH_MAX]; /* absolute: redis-server's --dir moves it before it reads
                                     the --redis-tls files */
    if (realpath(r.o.out, outdir))
        r.o.out = outdir;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/samples.dat", r.o.out);
    if (!(r.samples = fopen(path, "w")))
        die("cannot write into the --out directory");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    make_phones(&r);
    write_inputs(&r);
    start_servers(&r);
    if (r.o.redis)
        check_empty(&r);
    snprintf(path, sizeof(path), "%s/optout.txt", r.o.out);
    if (r.nopt && flexctl(&r, "optout", "import", path) != 0)
        die("flexctl optout import failed");
    r.redis_mem0 = redis_mem(&r);
    if (r.o.rate == 0) {
        double t0 = now_s();
        enqueue_slice(&r, 0, r.total);
        r.enqueue_s = now_s() - t0;
    }
    printf("flexbench: %ld jobs queued, %ld opted out; running flexd\n", r.total, r.nopt);
    drive(&r);
    stop_flexd(&r);
    r.redis_mem1 = redis_mem(&r);
    poll_stats(&r);
    fclose(r.samples);
    stop_sim(&r); /* its log complete, its CPU measured */
    struct proof pf = {.t0_ms = r.wall_start_ms};
    snprintf(path, sizeof(path), "%s/latency.dat", r.o.out);
    pf.latency = fopen(path, "w");
    read_status(&r, &pf);
    if (pf.latency)
        fclose(pf.latency);
    read_sim_log(&r, &pf);
    write_reports(&r, &pf);
    if (plot(&r) != 0)
        fprintf(stderr, "flexbench: gnuplot failed; throughput.png missing\n");
    stop_all(&r);
    printf("flexbench: %ld messages, %.0f msg/s end to end, lost %ld, duplicated %ld, sent to "
           "opted-out %ld; %s/report.md\n",
           r.sent, r.t_end > r.t_first_read ? (double)r.sent / (r.t_end - r.t_first_read) : 0.0,
           pf.lost, pf.duplicated, pf.sent_to_optout, r.o.out);
    flex_free(r.phones);
    flex_free(r.cmdstats0);
    flex_free(r.cmdstats1);
    flex_free(pf.accept.v);
    flex_free(pf.receipt.v);
    curl_global_cleanup();
    return pf.lost || pf.duplicated || pf.sent_to_optout ? 1 : 0;
}
