/*
 * flexd, the dispatch engine.
 *
 * Loads the configuration, starts the pipeline threads (engine/core/pipeline.h)
 * and then only handles signals: SIGHUP reloads, SIGTERM/SIGINT drain.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis.h>
#include <liburing.h>
#include <openssl/crypto.h>
#include <protobuf-c/protobuf-c.h>
#include <systemd/sd-daemon.h>
#ifndef FLEX_NO_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "config.h"
#include "err.h"
#include "flex.pb-c.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "audit.h"
#include "live.h"
#include "pipeline.h"
#include "store.h"
#include "sms.h"
#include "tmpl.h"
#include "version.h"

static const char usage_text[] =
    "usage: flexd -c FILE [-D SECTION.KEY=VALUE]... [--check-config] [--version] [--help]\n"
    "\n"
    "  -c FILE           configuration file (INI)\n"
    "  -D S.KEY=VALUE    override one key after the file is read; named sections\n"
    "                    as S.NAME.KEY (-D carrier.primary.port=2776)\n"
    "  --check-config    validate the configuration and exit: 0 valid, 2 not\n"
    "  --preview         render every template for every location with sample\n"
    "                    values, showing coding and SMS parts, and exit\n"
    "  --version         print the version and the libraries in use\n"
    "  --help            this text\n";

static void print_diag(void *arg, const char *file, unsigned line, const char *msg)
{
    (void)arg;
    fprintf(stderr, "%s:%u: %s\n", file, line, msg);
}

static const char *allocator_version(void)
{
#ifndef FLEX_NO_JEMALLOC
    static const char *v = "jemalloc";
    size_t sz = sizeof(v);
    const char *jv;
    if (mallctl("version", &jv, &sz, NULL, 0) == 0)
        return jv;
    return v;
#else
    return "libc malloc (sanitizer build)";
#endif
}

static void print_version(void)
{
    struct io_uring ring;
    int uring = io_uring_queue_init(2, &ring, 0);
    if (uring == 0)
        io_uring_queue_exit(&ring);
    /* Packing an empty Job proves the generated schema code is linked. */
    Flex__V1__Job job = FLEX__V1__JOB__INIT;
    printf("flexd %s\n", FLEX_VERSION);
    printf("  liburing    io_uring %s\n", uring == 0 ? "available" : "unavailable");
    printf("  hiredis     %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("  protobuf-c  %s (flex.v1 Job empty size %zu)\n", protobuf_c_version(),
           flex__v1__job__get_packed_size(&job));
    printf("  libcurl     %s\n", curl_version());
    printf("  openssl     %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  allocator   %s\n", allocator_version());
}

static int check_config(const char *path, const struct flex_cfg_override *ov, size_t nov)
{
    struct flex_cfg *cfg;
    int rc = flex_cfg_load(&cfg, path, ov, nov, print_diag, NULL);
    if (rc == 0) {
        printf("%s: configuration ok (%zu carriers, %zu locations, %zu templates)\n", path,
               cfg->ncarriers, cfg->nlocations, cfg->ntemplates);
        flex_cfg_del(cfg);
        return 0;
    }
    if (rc != FLEX_E_CONFIG)
        fprintf(stderr, "%s:0: cannot read: %s\n", path, flex_strerror(rc));
    return 2;
}

/* Renders |t| for |loc| with fictional sample values and prints its cost. */
static void preview_one(const struct flex_cfg_template *t, const struct flex_cfg_location *loc,
                        struct flex_sms *sms)
{
    const char *vals[FLEX_TMPL_NVARS] = {"Alexandra",   loc->name,  loc->phone,
                                         "Wed, Dec 10", "10:30 AM", "Dr. Martinez"};
    struct flex_tmpl_vars v = {0};
    for (int i = 0; i < FLEX_TMPL_NVARS; i++) {
        v.v[i] = vals[i];
        v.len[i] = strlen(vals[i]);
    }
    char out[4096];
    struct flex_text_error err;
    long n = flex_tmpl_render(t->tmpl, &v, out, sizeof(out), NULL);
    if (n < 0 || flex_sms_encode(sms, out, (size_t)n, FLEX_SMS_MAX_PARTS, &err) != 0) {
        printf("  %-15s %-6s cannot render: %s\n", t->name, loc->id,
               flex_strerror(n < 0 ? (int)n : err.code));
        return;
    }
    printf("  %-15s %-6s %-5s %u part%s %3u %s | %s\n", t->name, loc->id,
           sms->coding == FLEX_SMS_GSM7 ? "GSM-7" : "UCS-2", sms->nparts,
           sms->nparts == 1 ? " " : "s", sms->units,
           sms->coding == FLEX_SMS_GSM7 ? "septets" : "units  ", out);
}

static int preview(const char *path, const struct flex_cfg_override *ov, size_t nov)
{
    struct flex_cfg *cfg;
    if (flex_cfg_load(&cfg, path, ov, nov, print_diag, NULL) != 0)
        return check_config(path, ov, nov);
    struct flex_sms *sms = flex_malloc(sizeof(*sms));
    for (size_t t = 0; t < cfg->ntemplates; t++)
        for (size_t l = 0; l < cfg->nlocations; l++)
            preview_one(&cfg->templates[t], &cfg->locations[l], sms);
    flex_free(sms);
    flex_cfg_del(cfg);
    return 0;
}

static const struct flex_log_ctx lctx = {.component = "flexd"};

static void log_diag(void *arg, const char *file, unsigned line, const char *msg)
{
    (void)arg;
    bool warning = strncmp(msg, "warning: ", 9) == 0;
    flex_log(warning ? FLEX_LOG_WARN : FLEX_LOG_ERROR, &lctx, 0, "%s:%u: %s", file, line,
             warning ? msg + 9 : msg);
}

/* SIGHUP or flexctl reload: a whole new snapshot, or the old one stays. */
/* The directories above |path| (mode 0750), so that the shipped config's
 * /var/lib/flex/audit.log works on a new machine; what cannot be made is
 * reported by the open that follows. */
static void mkdir_parents(const char *path)
{
    char dir[PATH_MAX];
    if (!path || !path[0] || strlen(path) >= sizeof(dir))
        return;
    memcpy(dir, path, strlen(path) + 1);
    for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(dir, 0750); /* EEXIST and the rest: the open says */
        *s = '/';
    }
}

/* An audit line of the process itself (start, stop, reload). */
static void audit_self(struct flex_audit *a, const char *ev, const char *result)
{
    char f[256];
    size_t n = flex_audit_field_str(f, sizeof(f), 0, "result", result);
    if (n < sizeof(f))
        flex_audit_add(a, flex_now_ms(), ev, f, n);
}

/* [engine] log_level and log_unmasked, at start and on every reload; the
 * unmasked state is itself logged (docs/operations.md, "Logging"). */
static void apply_logging(const struct flex_cfg *cfg)
{
    struct flex_logger *l = flex_log_default();
    l->level = (int)cfg->engine.log_level;
    bool was = atomic_load_explicit(&l->unmasked, memory_order_relaxed);
    /* relaxed: a flag each log line reads on its own */
    atomic_store_explicit(&l->unmasked, cfg->engine.log_unmasked, memory_order_relaxed);
    if (cfg->engine.log_unmasked && !was)
        flex_log(FLEX_LOG_WARN, &lctx, 0,
                 "engine.log_unmasked = true: phone numbers are written to the log in full "
                 "(PHI); turn it off once done");
    else if (!cfg->engine.log_unmasked && was)
        flex_log(FLEX_LOG_INFO, &lctx, 0, "engine.log_unmasked = false: numbers masked again");
}

/* One line per change a reload makes; a restart-only key as a warning. */
static void log_change(void *arg, const char *line, bool restart)
{
    (void)arg;
    flex_log(restart ? FLEX_LOG_WARN : FLEX_LOG_INFO, &lctx, 0, "reload: %s", line);
}

static void reload(struct flex_pipeline *p, const char *path, const struct flex_cfg_override *ov,
                   size_t nov)
{
    struct flex_cfg *cfg;
    sd_notify(0, "RELOADING=1");
    int rc = flex_cfg_load(&cfg, path, ov, nov, log_diag, NULL);
    audit_self(p->audit, "reload", rc == 0 ? "applied" : "refused");
    /* relaxed: counters for /metrics */
    atomic_fetch_add_explicit(rc == 0 ? &p->m.reloads_applied : &p->m.reloads_refused, 1,
                              memory_order_relaxed);
    atomic_store_explicit(&p->reload_refused, rc != 0, memory_order_relaxed);
    if (rc != 0) {
        flex_log(FLEX_LOG_ERROR, &lctx, rc,
                 "reload of %s refused; the running configuration "
                 "stays in force",
                 path);
        sd_notify(0, "READY=1\nSTATUS=reload refused: the running configuration stays");
        return;
    }
    /* main publishes every snapshot: the current one stays valid here */
    size_t nchanges = flex_cfg_diff(cfg, flex_cfg_acquire(), log_change, NULL);
    apply_logging(cfg);
    flex_cfg_publish(cfg);
    flex_log(FLEX_LOG_INFO, &lctx, 0, "configuration reloaded from %s: %zu change%s", path,
             nchanges, nchanges == 1 ? "" : "s");
    sd_notify(0, "READY=1\nSTATUS=running (configuration reloaded)");
}

/* Redis 7.0 or later (PEXPIRE ... NX in the scripts that join a text's
 * parts, stream commands of 6.2): an older one is said at start, not
 * found later as texts lost.  0, or -1 logged. */
static int redis_version_ok(struct flex_store *st)
{
    flex_store_appendf(st, "INFO server");
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0)
        return 0; /* the pipeline's own retries take over */
    size_t len;
    const char *info = flex_reply_str(r, &len);
    const char *v = info ? strstr(info, "redis_version:") : NULL;
    int major = v ? atoi(v + 14) : 0;
    int rc = 0;
    if (v && major < 7) {
        char ver[16];
        size_t k = strcspn(v + 14, "\r\n");
        snprintf(ver, sizeof(ver), "%.*s", (int)(k < sizeof(ver) ? k : sizeof(ver) - 1), v + 14);
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "Redis %s: Flex needs Redis 7.0 or later; not started",
                 ver);
        rc = -1;
    }
    flex_store_free_reply(r);
    return rc;
}

static int wait_for_redis(const struct flex_cfg *cfg)
{
    char why[256];
    for (int i = 0; i < 20; i++) { /* the retry budget: about 10 s */
        struct flex_store *st;
        if (flex_store_connect(&st, &cfg->redis, 500, why, sizeof(why)) == 0) {
            int rc = redis_version_ok(st);
            flex_store_del(st);
            return rc;
        }
        usleep(500000);
    }
    flex_log(FLEX_LOG_ERROR, &lctx, 0, "%s (gave up after 10 s)", why);
    return -1;
}

static struct flex_pipeline *pipeline_new(const struct flex_cfg *cfg)
{
    struct flex_pipeline *p = flex_calloc(1, sizeof(*p));
    flex_ring_init(&p->jobs, FLEX_RING_SIZE);
    flex_ring_init(&p->results, FLEX_RING_SIZE * 2);
    flex_ring_init(&p->free_recs, FLEX_POOL_SIZE * 2);
    flex_ring_init(&p->free_dispatch, 8192 * 2);
    flex_ring_init(&p->news, 4096);
    flex_ring_init(&p->back, FLEX_POOL_SIZE * 2);
    flex_ring_init(&p->acks, 65536);
    flex_ring_init(&p->hooks, 8192);
    p->pool = flex_calloc(FLEX_POOL_SIZE, sizeof(struct flex_rec));
    p->dpool = flex_calloc(8192, sizeof(struct flex_rec));
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    if (cfg->engine.consumer[0]) /* a stable name: a restart takes back its own pending jobs */
        snprintf(p->consumer, sizeof(p->consumer), "%s", cfg->engine.consumer);
    else
        snprintf(p->consumer, sizeof(p->consumer), "%.40s-%d", host, (int)getpid());
    /* Every configured carrier's and location's series exists from the
     * start, at 0 (a rate() over a series that appears at its first event
     * misses that event).  Before the threads: they write these tables
     * later, each its own (engine/base/metrics.h). */
    for (size_t i = 0; i < cfg->ncarriers; i++)
        if (cfg->carriers[i].enabled) {
            flex_labels_slot(&p->by_carrier, cfg->carriers[i].name);
            flex_labels_slot(&p->carrier_gauges, cfg->carriers[i].name);
            flex_labels_slot(&p->carrier_events, cfg->carriers[i].name);
        }
    for (size_t i = 0; i < cfg->nlocations; i++) {
        flex_labels_slot(&p->by_location, cfg->locations[i].id);
        flex_labels_slot(&p->loc_intake, cfg->locations[i].id);
        flex_labels_slot(&p->held_by, cfg->locations[i].id);
        flex_labels_slot(&p->inbound_by, cfg->locations[i].id);
    }
    return p;
}

static void pipeline_del(struct flex_pipeline *p)
{
    flex_ring_free(&p->jobs);
    flex_ring_free(&p->results);
    flex_ring_free(&p->free_recs);
    flex_ring_free(&p->free_dispatch);
    void *item;
    while (flex_ring_pop_batch(&p->news, &item, 1) == 1) /* news nobody applied */
        flex_news_del(item);
    flex_ring_free(&p->news);
    flex_ring_free(&p->back);
    flex_ring_free(&p->acks);
    while (flex_ring_pop_batch(&p->hooks, &item, 1) == 1) /* webhooks nobody wrote */
        flex_free(item);
    flex_ring_free(&p->hooks);
    flex_free(p->pool);
    flex_free(p->dpool);
    flex_free(p);
}

/* Waits for signals; returns when the drain is over. */
static void serve(struct flex_pipeline *p, const char *path, const struct flex_cfg_override *ov,
                  size_t nov, const sigset_t *sigs)
{
    int64_t drain_until = 0, last_dog = 0;
    uint64_t dog_usec = 0;
    /* systemd's watchdog: ping at half its period while the loop runs. */
    bool dog = sd_watchdog_enabled(0, &dog_usec) > 0;
    for (;;) {
        if (dog && flex_now_ms() - last_dog >= (int64_t)(dog_usec / 2000)) {
            sd_notify(0, "WATCHDOG=1");
            last_dog = flex_now_ms();
        }
        struct timespec ts = {0, 100000000};
        int sig = sigtimedwait(sigs, NULL, &ts);
        flex_qsbr_poll(&flex_cfg_qsbr);
        /* relaxed: a request flag set by the intake. */
        if (sig == SIGHUP ||
            atomic_exchange_explicit(&p->reload_requested, false, memory_order_relaxed))
            reload(p, path, ov, nov);
        if ((sig == SIGTERM || sig == SIGINT) && !drain_until) {
            const struct flex_cfg *cfg = flex_cfg_acquire();
            drain_until = flex_now_ms() + (int64_t)cfg->engine.drain_timeout_ms;
            atomic_store_explicit(&p->stop_intake, true, memory_order_relaxed);
            sd_notify(0, "STOPPING=1");
            flex_log(FLEX_LOG_INFO, &lctx, 0, "draining: %d jobs in flight",
                     atomic_load_explicit(&p->inflight, memory_order_relaxed));
        }
        if (drain_until && (atomic_load_explicit(&p->inflight, memory_order_relaxed) <= 0 ||
                            flex_now_ms() > drain_until))
            return;
    }
}

static int run(const char *path, const struct flex_cfg_override *ov, size_t nov)
{
    struct flex_cfg *cfg;
    /* A daemon's every line is JSON, the fatal ones too (--check-config
     * prints FILE:LINE: for people). */
    int rc = flex_cfg_load(&cfg, path, ov, nov, log_diag, NULL);
    if (rc != 0) {
        if (rc != FLEX_E_CONFIG)
            flex_log(FLEX_LOG_ERROR, &lctx, rc, "cannot read %s", path);
        else
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "%s is not valid (see above); not started", path);
        return 1;
    }
    apply_logging(cfg);
    flex_qsbr_init(&flex_cfg_qsbr);
    flex_cfg_publish(cfg);
    signal(SIGPIPE, SIG_IGN); /* a peer gone shows as EPIPE (OpenSSL writes with write()) */
    if (wait_for_redis(cfg) != 0)
        return 1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* threads inherit it: main takes them */
    struct flex_pipeline *p = pipeline_new(cfg);
    char err[256];
    mkdir_parents(cfg->engine.audit_log);
    rc = flex_audit_open(&p->audit, cfg->engine.audit_log, cfg->engine.audit_key,
                         strlen(cfg->engine.audit_key), err, sizeof(err));
    if (rc != 0) { /* an audit log asked for and not writable: no sending unaudited */
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "engine.audit_log: %s; not started", err);
        pipeline_del(p);
        return 1;
    }
    struct flex_http *http = NULL;
    rc = flex_http_start(&http, cfg->http.listen, p);
    const char *hooks = NULL; /* an HTTP carrier, whose webhooks need a listener */
    for (size_t i = 0; rc != 0 && i < cfg->ncarriers && !hooks; i++)
        if (cfg->carriers[i].enabled && cfg->carriers[i].type == FLEX_CARRIER_HTTP)
            hooks = cfg->carriers[i].name;
    /* Not fatal: another flexd of the host may hold the port, and any
     * flexd matches a webhook through Redis; this one says what it lacks. */
    if (rc != 0)
        flex_log(FLEX_LOG_ERROR, &lctx, rc,
                 "cannot listen on %s: /metrics, /healthz and /readyz are off%s%s%s",
                 cfg->http.listen, hooks ? ", and carrier " : "", hooks ? hooks : "",
                 hooks ? "'s webhooks (receipts, patients' texts) must reach another flexd" : "");
    if (http && cfg->http.admin_listen &&
        (rc = flex_http_admin_start(http, cfg->http.admin_listen)) != 0)
        flex_log(FLEX_LOG_ERROR, &lctx, rc,
                 "cannot listen on %s (http.admin_listen): /healthz, /readyz and /metrics "
                 "only on %s",
                 cfg->http.admin_listen, cfg->http.listen);
    audit_self(p->audit, "start", p->consumer);
    pthread_t th[3];
    pthread_create(&th[0], NULL, flex_writer_main, p);
    pthread_create(&th[1], NULL, flex_dispatch_main, p);
    pthread_create(&th[2], NULL, flex_intake_main, p);
    /* Named for top -H, perf and /proc/PID/task/N/comm. */
    pthread_setname_np(th[0], "flex-writer");
    pthread_setname_np(th[1], "flex-dispatch");
    pthread_setname_np(th[2], "flex-intake");
    flex_log(FLEX_LOG_INFO, &lctx, 0, "flexd %s started as consumer %s", FLEX_VERSION, p->consumer);
    sd_notifyf(0, "READY=1\nSTATUS=running as consumer %s", p->consumer);
    serve(p, path, ov, nov, &sigs);
    atomic_store_explicit(&p->stop_intake, true, memory_order_relaxed);
    atomic_store_explicit(&p->stop_all, true, memory_order_relaxed); /* the intake too */
    pthread_join(th[2], NULL);
    pthread_join(th[1], NULL);
    pthread_join(th[0], NULL);
    flex_http_stop(http);
    int left = atomic_load_explicit(&p->inflight, memory_order_relaxed);
    flex_log(FLEX_LOG_INFO, &lctx, 0, "stopped; %d jobs handed back unacknowledged",
             left > 0 ? left : 0);
    audit_self(p->audit, "stop", p->consumer);
    flex_audit_close(p->audit);
    pipeline_del(p);
    struct flex_cfg *cur = atomic_exchange(&flex_cfg_current, NULL);
    flex_qsbr_poll(&flex_cfg_qsbr);
    flex_cfg_del(cur);
    flex_qsbr_free(&flex_cfg_qsbr);
    return 0;
}

int main(int argc, char **argv)
{
    /* The listener may hold FLEX_HTTP_MAX_CONNECTIONS sockets beside the
     * carriers' and Redis's: the soft descriptor limit up to the hard one
     * (often 1,024 soft). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max &&
        nofile.rlim_cur < 8192) {
        nofile.rlim_cur = nofile.rlim_max < 8192 ? nofile.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    static const struct option longopts[] = {
        {"check-config", no_argument, NULL, 'k'},
        {"preview", no_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    struct flex_cfg_override *ov = flex_calloc((size_t)argc, sizeof(*ov));
    size_t nov = 0;
    int check = 0, c; /* 1: --check-config, 2: --preview */
    while ((c = getopt_long(argc, argv, "c:D:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'D': ov[nov++].text = optarg; break;
        case 'k': check = 1; break;
        case 'p': check = 2; break;
        case 'V':
            print_version();
            flex_free(ov);
            return 0;
        case 'h':
            fputs(usage_text, stdout);
            flex_free(ov);
            return 0;
        default:
            fputs(usage_text, stderr);
            flex_free(ov);
            return 2;
        }
    }
    int rc;
    if (optind != argc || !path) {
        fputs(usage_text, stderr);
        rc = 2;
    } else if (check == 1) {
        rc = check_config(path, ov, nov);
    } else if (check == 2) {
        rc = preview(path, ov, nov);
    } else {
        rc = run(path, ov, nov);
    }
    flex_free(ov);
    return rc;
}
