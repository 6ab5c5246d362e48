/*
 * flexctl, the operator CLI: talks to Redis directly, never to a flexd.
 *
 *   flexctl -c FILE [-D SECTION.KEY=VALUE]... COMMAND
 *
 * Exit codes: 0 done; 1 a fatal error (config, Redis); 2 usage; 3 some
 * input lines were rejected (enqueue, optout import); 4 audit chain broken.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "e164.h"
#include "err.h"
#include "history.h"
#include "cfgval.h"
#include "deadletter.h"
#include "enqueue.h"
#include "job.h"
#include "jobstatus.h"
#include "mem.h"
#include "store.h"
#include "version.h"

#define BATCH 512

static const char usage_text[] =
    "usage: flexctl -c FILE [-D SECTION.KEY=VALUE]... COMMAND\n"
    "  enqueue [--batch N] [FILE|-]  JSON job lines (N jobs per stream entry, 1-64)\n"
    "  optout import [FILE|-]      one number a line (first CSV column)\n"
    "  optout add NUMBER | optout remove NUMBER | optout check NUMBER\n"
    "  stats                       counters across all flexd, as JSON\n"
    "  status ID [ID...]           a job's history, as JSON (one line per job)\n"
    "  location pause ID|--all | location resume ID|--all\n"
    "  carrier drain NAME | carrier undrain NAME   no new message to that carrier, on\n"
    "                              every flexd within a second (in-flight ones finish)\n"
    "  carrier list                every carrier of the config, enabled or not, drained or not\n"
    "  deadletter list [--since 2h|2026-11-30T08:00:00Z]   refused jobs, one JSON line each\n"
    "  deadletter replay ENTRY|JOB_ID|--all   send refused jobs through again (after a fix)\n"
    "  history PHONE|PATIENT       the patient's messages out and in, oldest first\n"
    "  history import [FILE|-]     a previous system's history, JSON lines\n"
    "  patient forget PHONE|PATIENT   a deletion request: the patient's history, reply\n"
    "                              context, scheduled texts and inbound entries (the\n"
    "                              opt-out record is kept)\n"
    "  reload                      ask every flexd to reload its config\n"
    "  audit verify [FILE...]      check the audit chain (default: engine.audit_log and its\n"
    "                              rotated files); exit 0 intact, 4 broken, 1 unreadable\n";

struct ctl {
    struct flex_cfg *cfg;
    struct flex_store *st;
    struct flex_audit *audit; /* opened by the first change it records */
    bool audit_tried;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An operator's change (opt-out, opt-in, pause, resume, history import) in
 * the audit log of the config flexctl runs with, written by flexctl itself:
 * it is where the change is made.  |phone| is masked; NULL: none. */
static void ctl_audit(struct ctl *c, const char *ev, const char *name, const char *value,
                      const char *phone)
{
    if (!c->audit_tried) {
        char err[256];
        c->audit_tried = true;
        if (flex_audit_open(&c->audit, c->cfg->engine.audit_log, c->cfg->engine.audit_key,
                            strlen(c->cfg->engine.audit_key), err, sizeof(err)) != 0)
            fprintf(stderr, "flexctl: warning: audit log: %s\n", err);
    }
    if (!c->audit)
        return;
    char f[512];
    size_t n = flex_audit_field_str(f, sizeof(f), 0, "source", "flexctl");
    if (name)
        n = flex_audit_field_str(f, sizeof(f), n, name, value);
    if (phone)
        n = flex_audit_field_phone(f, sizeof(f), n, "phone", phone);
    if (n >= sizeof(f) || flex_audit_add(c->audit, now_ms(), ev, f, n) != 0)
        fprintf(stderr, "flexctl: warning: audit line for %s not written\n", ev);
}

static void print_diag(void *arg, const char *file, unsigned line, const char *msg)
{
    (void)arg;
    fprintf(stderr, "%s:%u: %s\n", file, line, msg);
}

static FILE *open_input(const char *path)
{
    if (!path || strcmp(path, "-") == 0)
        return stdin;
    FILE *f = fopen(path, "r");
    if (!f)
        fprintf(stderr, "flexctl: cannot open %s: %s\n", path, strerror(errno));
    return f;
}

/* Reads one line of any length; returns its length or -1 at EOF. */
static long read_line(FILE *f, char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, f);
    if (n < 0)
        return -1;
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
        (*buf)[--n] = '\0';
    return (long)n;
}

static int flush_batch(struct ctl *c, int pending)
{
    int rc = flex_store_drain(c->st, pending);
    if (rc < 0) {
        fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
        return -1;
    }
    if (rc > 0) {
        fprintf(stderr, "flexctl: redis refused %d commands\n", rc);
        return -1;
    }
    return 0;
}

/* Rejections are printed after the totals, as the contract orders. */
struct rejects {
    char *text;
    size_t len, cap;
    long n;
};

static void reject(struct rejects *r, long line, const char *reason)
{
    char tmp[256];
    int n = snprintf(tmp, sizeof(tmp), "%ld: %s\n", line, reason);
    if (r->len + (size_t)n + 1 > r->cap) {
        r->cap = (r->cap + (size_t)n + 1) * 2;
        r->text = flex_realloc(r->text, r->cap);
    }
    memcpy(r->text + r->len, tmp, (size_t)n + 1);
    r->len += (size_t)n;
    r->n++;
}

/* enqueue [--batch N] [FILE|-]: |per_entry| jobs in one stream entry (a
 * JobBatch) when above 1. */
static int cmd_enqueue(struct ctl *c, const char *path, unsigned per_entry)
{
    FILE *f = open_input(path);
    if (!f)
        return 1;
    char *line = NULL;
    size_t cap = 0;
    long n, lineno = 0, ok = 0;
    int pending = 0, rc = 0;
    struct rejects rj = {0};
    struct flex_enqueue_batch eb;
    flex_enqueue_batch_init(&eb, per_entry);
    while ((n = read_line(f, &line, &cap)) >= 0) {
        lineno++;
        if (n == 0 || strspn(line, " \t") == (size_t)n)
            continue; /* blank lines are not jobs */
        char id[FLEX_JOB_ID_MAX + 1];
        struct flex_job_error err;
        int appended;
        if (flex_enqueue_add(&eb, c->st, c->cfg, line, (size_t)n, id, &err, &appended) != 0) {
            reject(&rj, lineno, err.reason);
            continue;
        }
        ok++;
        pending += appended;
        if (pending >= BATCH) {
            if (flush_batch(c, pending) != 0) {
                rc = 1;
                break;
            }
            pending = 0;
        }
    }
    if (rc == 0)
        pending += flex_enqueue_flush(&eb, c->st);
    flex_enqueue_batch_free(&eb);
    if (rc == 0 && ok)
        flex_enqueue_count(c->st, ok), pending++;
    if (rc == 0 && pending && flush_batch(c, pending) != 0)
        rc = 1;
    free(line);
    if (f != stdin)
        fclose(f);
    if (rc)
        return rc;
    printf("enqueued %ld, rejected %ld\n", ok, rj.n);
    if (rj.n)
        fputs(rj.text, stdout);
    flex_free(rj.text);
    return rj.n ? 3 : 0;
}

/* Normalizes |in| or prints why not; returns 0 on success. */
static int number_arg(const char *in, char out[FLEX_E164_BUFSZ], char *why, size_t whysz)
{
    struct flex_e164_error err;
    if (flex_e164_normalize(in, strlen(in), out, &err) < 0) {
        snprintf(why, whysz, "invalid phone number: %s", err.reason);
        return -1;
    }
    return 0;
}

/* Adds or removes numbers (comma-joined in |list|, |count| of them): the
 * set, the log every flexd follows for its bloom filter, the counter. */
static int optout_apply(struct ctl *c, char op, const char *const *nums, size_t count)
{
    if (count == 0)
        return 0;
    const char **argv = flex_malloc((count + 2) * sizeof(char *));
    size_t *lens = flex_malloc((count + 2) * sizeof(size_t)), total = 0;
    argv[0] = op == '+' ? "SADD" : "SREM";
    argv[1] = FLEX_KEY_OPTOUT;
    lens[0] = 4;
    lens[1] = strlen(FLEX_KEY_OPTOUT);
    for (size_t i = 0; i < count; i++) {
        argv[i + 2] = nums[i];
        lens[i + 2] = strlen(nums[i]);
        total += lens[i + 2] + 1;
    }
    char *joined = flex_malloc(total + 1), opstr[2] = {op, 0};
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(joined + o, nums[i], lens[i + 2]);
        o += lens[i + 2];
        joined[o++] = ',';
    }
    joined[o ? o - 1 : 0] = '\0';
    /* The set first, then the log: a flexd that sees the log entry finds
     * the numbers in the set. */
    flex_store_append(c->st, (int)count + 2, argv, lens);
    flex_store_appendf(c->st, "XADD %s * op %s numbers %s", FLEX_KEY_OPTOUT_LOG, opstr, joined);
    struct redisReply *r = NULL;
    int rc = flex_store_reply(c->st, &r);
    long long changed = rc == 0 && !flex_reply_is_error(r) ? flex_reply_integer(r) : -1;
    flex_store_free_reply(r);
    if (rc == 0 && flex_store_drain(c->st, 1) != 0)
        rc = -1;
    if (rc == 0 && changed > 0)
        flex_store_appendf(c->st, "HINCRBY %s optouts %lld", FLEX_KEY_STATS,
                           op == '+' ? changed : -changed),
            rc = flex_store_drain(c->st, 1) == 0 ? 0 : -1;
    flex_free(argv);
    flex_free(lens);
    flex_free(joined);
    if (rc != 0 || changed < 0)
        fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
    for (size_t i = 0; rc == 0 && changed >= 0 && i < count; i++)
        ctl_audit(c, op == '+' ? "optout" : "optin", NULL, NULL, nums[i]);
    return rc != 0 || changed < 0 ? 1 : 0;
}

static int cmd_optout_import(struct ctl *c, const char *path)
{
    FILE *f = open_input(path);
    if (!f)
        return 1;
    char *line = NULL, (*nums)[FLEX_E164_BUFSZ] = flex_malloc(1000 * FLEX_E164_BUFSZ);
    const char *ptrs[1000];
    size_t cap = 0, k = 0;
    long n, lineno = 0, ok = 0;
    int rc = 0;
    struct rejects rj = {0};
    while (rc == 0 && (n = read_line(f, &line, &cap)) >= 0) {
        lineno++;
        char *l = line;
        if (lineno == 1 && strncmp(l, "\xef\xbb\xbf", 3) == 0)
            l += 3;                   /* a UTF-8 byte order mark (a spreadsheet's "CSV UTF-8") */
        l[strcspn(l, ",;\t")] = '\0'; /* first CSV column */
        char *v = l + strspn(l, " \"");
        v[strcspn(v, "\"")] = '\0';
        if (!*v)
            continue; /* blank */
        /* A header is a first line without a digit ("Phone", "number"):
         * any line with one is a number, or rejected with its reason. */
        if (lineno == 1 && !strpbrk(v, "0123456789")) {
            fprintf(stderr, "flexctl: line 1 has no digit: skipped as a header\n");
            continue;
        }
        char why[160];
        if (number_arg(v, nums[k], why, sizeof(why)) != 0) {
            reject(&rj, lineno, why);
            continue;
        }
        ptrs[k] = nums[k];
        ok++;
        if (++k == 1000) {
            rc = optout_apply(c, '+', ptrs, k);
            k = 0;
        }
    }
    if (rc == 0)
        rc = optout_apply(c, '+', ptrs, k);
    free(line);
    flex_free(nums);
    if (f != stdin)
        fclose(f);
    if (rc)
        return rc;
    printf("imported %ld, rejected %ld\n", ok, rj.n);
    if (rj.n)
        fputs(rj.text, stdout);
    flex_free(rj.text);
    return rj.n ? 3 : 0;
}

static int cmd_optout(struct ctl *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "import") == 0 && argc <= 2)
        return cmd_optout_import(c, argc == 2 ? argv[1] : NULL);
    if (argc != 2)
        return 2;
    char num[FLEX_E164_BUFSZ], why[160];
    if (number_arg(argv[1], num, why, sizeof(why)) != 0) {
        fprintf(stderr, "flexctl: %s\n", why);
        return 1;
    }
    const char *one[] = {num};
    if (strcmp(argv[0], "add") == 0)
        return optout_apply(c, '+', one, 1);
    if (strcmp(argv[0], "remove") == 0)
        return optout_apply(c, '-', one, 1);
    if (strcmp(argv[0], "check") != 0)
        return 2;
    flex_store_appendf(c->st, "SISMEMBER %s %s", FLEX_KEY_OPTOUT, num);
    struct redisReply *r;
    if (flex_store_reply(c->st, &r) != 0 || flex_reply_is_error(r)) {
        fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
        return 1;
    }
    puts(flex_reply_integer(r) ? "opted-out" : "allowed");
    flex_store_free_reply(r);
    return 0;
}

/* Prints a Redis hash reply as a JSON object; |numeric| fields unquoted. */
static void print_hash(const struct redisReply *r, const char *const *defaults, size_t ndef)
{
    size_t n = flex_reply_count(r);
    printf("{");
    bool first = true;
    for (size_t i = 0; i < ndef; i++) {
        bool present = false;
        for (size_t k = 0; k + 1 < n; k += 2)
            present |= strcmp(flex_reply_str(flex_reply_at(r, k), NULL), defaults[i]) == 0;
        if (!present) {
            printf("%s\"%s\":0", first ? "" : ",", defaults[i]);
            first = false;
        }
    }
    for (size_t k = 0; k + 1 < n; k += 2) {
        const char *key = flex_reply_str(flex_reply_at(r, k), NULL);
        const char *val = flex_reply_str(flex_reply_at(r, k + 1), NULL);
        bool num = val && *val && strspn(val, "-0123456789") == strlen(val);
        printf(num ? "%s\"%s\":%s" : "%s\"%s\":\"%s\"", first ? "" : ",", key, val ? val : "");
        first = false;
    }
    printf("}\n");
}

static int cmd_hash(struct ctl *c, const char *key, const char *const *defaults, size_t ndef,
                    bool must_exist)
{
    flex_store_appendf(c->st, "HGETALL %s", key);
    struct redisReply *r;
    if (flex_store_reply(c->st, &r) != 0 || flex_reply_is_error(r)) {
        fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
        return 1;
    }
    int rc = 0;
    if (must_exist && flex_reply_count(r) == 0) {
        fprintf(stderr, "flexctl: no such job\n");
        rc = 1;
    } else {
        print_hash(r, defaults, ndef);
    }
    flex_store_free_reply(r);
    return rc;
}

/* --since: a duration back from now ("2h", "30m", "1d") or a UTC time
 * ("2026-11-30T08:00:00Z"); 0 on a bad value. */
static int64_t since_ms(const char *v)
{
    uint64_t ms;
    char why[128];
    if (flex_cfgval_duration(v, 1000, 1, 3650ULL * 86400000ULL, &ms, why, sizeof(why)) == 0)
        return (int64_t)time(NULL) * 1000 - (int64_t)ms;
    struct tm tm = {0};
    const char *end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (end[0] != 'Z' && end[0] != '\0') || (end[0] == 'Z' && end[1]))
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

static int cmd_deadletter(struct ctl *c, int argc, char **argv)
{
    char why[256];
    if (argc >= 1 && strcmp(argv[0], "list") == 0 && (argc == 1 || argc == 3)) {
        int64_t since = 0;
        if (argc == 3 && (strcmp(argv[1], "--since") != 0 || (since = since_ms(argv[2])) <= 0)) {
            fprintf(stderr, "flexctl: --since takes a duration (2h) or a UTC time "
                            "(2026-11-30T08:00:00Z)\n");
            return 2;
        }
        long n = flex_deadletter_list(c->st, since, stdout, why, sizeof(why));
        if (n < 0)
            fprintf(stderr, "flexctl: %s\n", why);
        return n < 0;
    }
    if (argc == 2 && strcmp(argv[0], "replay") == 0) {
        bool all = strcmp(argv[1], "--all") == 0;
        long n = flex_deadletter_replay(c->st, all ? NULL : argv[1], stdout, why, sizeof(why));
        if (n < 0) {
            fprintf(stderr, "flexctl: %s\n", why);
            return 1;
        }
        if (n > 0)
            ctl_audit(c, "replay", "dead_letters", all ? "*" : argv[1], NULL);
        printf("%ld replayed\n", n);
        if (n == 0 && !all) {
            fprintf(stderr, "flexctl: no dead letter %s\n", argv[1]);
            return 1;
        }
        return 0;
    }
    return 2;
}

/* Drained carriers are a set in Redis, like paused locations: every flexd
 * reads it at connect and again on each drain/undrain control entry. */
static int cmd_carrier(struct ctl *c, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        flex_store_appendf(c->st, "SMEMBERS %s", FLEX_KEY_DRAINED);
        struct redisReply *r;
        if (flex_store_reply(c->st, &r) != 0) {
            fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
            return 1;
        }
        for (size_t i = 0; i < c->cfg->ncarriers; i++) {
            const struct flex_cfg_carrier *k = &c->cfg->carriers[i];
            bool drained = false;
            for (size_t j = 0; j < flex_reply_count(r); j++)
                drained |= strcmp(flex_reply_str(flex_reply_at(r, j), NULL), k->name) == 0;
            printf("%s\t%s\t%s\t%s\n", k->name, k->type == FLEX_CARRIER_HTTP ? "http" : "smpp",
                   k->enabled ? "enabled" : "disabled", drained ? "drained" : "in routes");
        }
        flex_store_free_reply(r);
        return 0;
    }
    if (argc != 2 || (strcmp(argv[0], "drain") != 0 && strcmp(argv[0], "undrain") != 0))
        return 2;
    if (!flex_cfg_carrier_find(c->cfg, argv[1])) {
        fprintf(stderr, "flexctl: unknown carrier '%s'\n", argv[1]);
        return 1;
    }
    bool drain = argv[0][0] == 'd';
    flex_store_appendf(c->st, "%s %s %s", drain ? "SADD" : "SREM", FLEX_KEY_DRAINED, argv[1]);
    flex_store_appendf(c->st, "XADD %s MAXLEN ~ 10000 * cmd %s arg %s", FLEX_KEY_CONTROL, argv[0],
                       argv[1]);
    if (flex_store_drain(c->st, 2) != 0) {
        fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
        return 1;
    }
    ctl_audit(c, argv[0], "carrier", argv[1], NULL);
    printf(drain ? "%s drained: no new message goes to it (what it has in flight finishes)\n"
                 : "%s back in the routes\n",
           argv[1]);
    return 0;
}

/* "--all" is the member "*" of the paused set: every location, including
 * ones added to the config later, until resume --all (which also clears
 * every single pause). */
static int cmd_location(struct ctl *c, int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[0], "pause") != 0 && strcmp(argv[0], "resume") != 0))
        return 2;
    bool all = strcmp(argv[1], "--all") == 0;
    if (!all && !flex_cfg_location_find(c->cfg, argv[1])) {
        fprintf(stderr, "flexctl: unknown location '%s'\n", argv[1]);
        return 1;
    }
    bool pause = argv[0][0] == 'p';
    if (all && !pause)
        flex_store_appendf(c->st, "DEL %s", FLEX_KEY_PAUSED);
    else
        flex_store_appendf(c->st, "%s %s %s", pause ? "SADD" : "SREM", FLEX_KEY_PAUSED,
                           all ? "*" : argv[1]);
    flex_store_appendf(c->st, "XADD %s MAXLEN ~ 10000 * cmd %s arg %s", FLEX_KEY_CONTROL, argv[0],
                       all ? "*" : argv[1]);
    if (flex_store_drain(c->st, 2) != 0) {
        fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
        return 1;
    }
    ctl_audit(c, pause ? "pause" : "resume", "loc", all ? "*" : argv[1], NULL);
    printf("%s %s\n", all ? "every location" : argv[1], pause ? "paused" : "resumed");
    if (!pause && !all) { /* a single resume does not lift pause --all */
        flex_store_appendf(c->st, "SISMEMBER %s *", FLEX_KEY_PAUSED);
        struct redisReply *r = NULL;
        if (flex_store_reply(c->st, &r) == 0 && flex_reply_integer(r) == 1)
            fprintf(stderr, "flexctl: note: every location is still paused (pause --all): "
                            "resume --all lifts it\n");
        flex_store_free_reply(r);
    }
    return 0;
}

static int cmd_history(struct ctl *c, int argc, char **argv)
{
    char why[256];
    if (argc >= 1 && argc <= 2 && strcmp(argv[0], "import") == 0) {
        FILE *f = open_input(argc == 2 ? argv[1] : NULL);
        if (!f)
            return 1;
        /* as enqueue prints: the totals, then each refused line's reason */
        char *refused = NULL;
        size_t refused_len = 0;
        FILE *errs = open_memstream(&refused, &refused_len);
        if (!errs) {
            perror("flexctl");
            if (f != stdin)
                fclose(f);
            return 1;
        }
        long imported, rejected;
        int rc = flex_history_import(c->st, c->cfg, f, errs, &imported, &rejected);
        fclose(errs);
        if (f != stdin)
            fclose(f);
        if (rc != 0) {
            free(refused);
            fprintf(stderr, "flexctl: redis: %s\n", flex_store_error(c->st));
            return 1;
        }
        printf("imported %ld, rejected %ld\n", imported, rejected);
        fwrite(refused, 1, refused_len, stdout);
        free(refused);
        return rejected ? 3 : 0;
    }
    if (argc != 1)
        return 2;
    long n = flex_history_print(c->st, c->cfg, argv[0], stdout, why, sizeof(why));
    if (n < 0) {
        fprintf(stderr, "flexctl: %s\n", why);
        return 1;
    }
    if (n == 0)
        fprintf(stderr, "flexctl: no messages for %s within engine.history_days\n", argv[0]);
    return 0;
}

/* patient forget PHONE|PATIENT: a deletion request (docs/operations.md). */
static int cmd_patient(struct ctl *c, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "forget") != 0)
        return 2;
    char why[256];
    struct flex_forget f;
    if (flex_history_forget(c->st, c->cfg, argv[1], &f, why, sizeof(why)) != 0) {
        fprintf(stderr, "flexctl: %s\n", why);
        return 1;
    }
    printf("removed: %ld message-log records (history and reply context), %ld scheduled "
           "texts, %ld inbound texts, %ld front-desk, confirmation and escalation entries, "
           "%ld dead letters, %ld queued jobs and automatic replies\n",
           f.log, f.scheduled, f.inbound, f.staff, f.dead, f.queued);
    if (f.opted_out)
        printf("kept: the opt-out record of this number (the law requires it; it holds the "
               "number only)\n");
    printf("not in Redis: the audit log keeps ids and masked numbers, no texts "
           "(docs/operations.md)\n");
    /* the deletion itself, by ids only: a patient id, or the masked number */
    char num[FLEX_E164_BUFSZ];
    bool phone = flex_e164_normalize(argv[1], strlen(argv[1]), num, NULL) > 0;
    ctl_audit(c, "forget", phone ? NULL : "patient", phone ? NULL : argv[1], phone ? num : NULL);
    return 0;
}

/* audit verify [FILE...]: the chain of the FILEs (oldest first), else of
 * engine.audit_log and its rotated files, under engine.audit_key.  Exit 0
 * intact (the summary on stdout), 4 broken (the first bad line on stdout),
 * 1 a file cannot be read, 2 usage or config errors (stderr). */
static int cmd_audit(const char *cfgpath, const struct flex_cfg_override *ov, size_t nov, int argc,
                     char **argv)
{
    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    struct flex_cfg *cfg;
    int rc = flex_cfg_load(&cfg, cfgpath, ov, nov, print_diag, NULL);
    if (rc != 0) {
        if (rc != FLEX_E_CONFIG)
            fprintf(stderr, "flexctl: %s: %s\n", cfgpath, flex_strerror(rc));
        return 2;
    }
    const char *key = cfg->engine.audit_key, *log = cfg->engine.audit_log;
    char **paths = argv + 1, **owned = NULL;
    size_t n = (size_t)argc - 1;
    if (!key || !*key) {
        fprintf(stderr, "flexctl: engine.audit_key is not set\n");
        rc = 2;
    } else if (n == 0 && (!log || !*log)) {
        fprintf(stderr, "flexctl: engine.audit_log is not set: name the files\n");
        rc = 2;
    } else if (n == 0 && (rc = flex_audit_paths(log, &owned, &n)) < 0) {
        fprintf(stderr, "flexctl: %s: %s\n", log, flex_strerror(rc));
        rc = 1;
    }
    if (rc == 0) {
        char *text = NULL;
        size_t tlen = 0;
        FILE *mem = open_memstream(&text, &tlen);
        rc = flex_audit_verify((const char *const *)(owned ? owned : paths), n, key, strlen(key),
                               mem);
        fclose(mem);
        fputs(text, rc < 0 ? stderr : stdout);
        free(text);
        rc = rc == 0 ? 0 : rc == 1 ? 4 : 1;
    }
    flex_audit_paths_free(owned, owned ? n : 0);
    flex_cfg_del(cfg);
    return rc;
}

static int dispatch(struct ctl *c, int argc, char **argv)
{
    /* every counter flexd keeps in flex:stats, printed at 0 until it counts
     * (docs/operations.md) */
    static const char *const stats[] = {"enqueued",
                                        "sent",
                                        "delivered",
                                        "failed",
                                        "suppressed_optout",
                                        "dead_letter",
                                        "inbound",
                                        "optouts",
                                        "duplicates_suppressed",
                                        "expired",
                                        "optins",
                                        "scheduled",
                                        "suppressed_other",
                                        "inbound_stop",
                                        "inbound_start",
                                        "inbound_help",
                                        "inbound_confirm",
                                        "inbound_reschedule",
                                        "inbound_emergency",
                                        "inbound_other"};
    const char *cmd = argv[0];
    if (strcmp(cmd, "enqueue") == 0 && argc >= 3 && strcmp(argv[1], "--batch") == 0 && argc <= 4) {
        char *end;
        unsigned long per = strtoul(argv[2], &end, 10);
        if (*end || per < 1 || per > FLEX_JOBBATCH_MAX) {
            fprintf(stderr, "flexctl: --batch takes 1 to %d jobs per stream entry\n",
                    FLEX_JOBBATCH_MAX);
            return 2;
        }
        return cmd_enqueue(c, argc == 4 ? argv[3] : NULL, (unsigned)per);
    }
    if (strcmp(cmd, "enqueue") == 0 && argc == 2 && strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "flexctl: enqueue: %s needs its value\n", argv[1]);
        return 2; /* not a file named like an option */
    }
    if (strcmp(cmd, "enqueue") == 0 && argc <= 2)
        return cmd_enqueue(c, argc == 2 ? argv[1] : NULL, 1);
    if (strcmp(cmd, "optout") == 0)
        return cmd_optout(c, argc - 1, argv + 1);
    if (strcmp(cmd, "stats") == 0 && argc == 1)
        return cmd_hash(c, FLEX_KEY_STATS, stats, sizeof(stats) / sizeof(stats[0]), false);
    if (strcmp(cmd, "status") == 0 && argc >= 2) {
        int rc = 0; /* extension: several ids, one JSON line each */
        for (int i = 1; i < argc; i++) {
            char why[256];
            int r = flex_job_status(c->st, c->cfg, argv[i], stdout, why, sizeof(why));
            if (r != 0)
                fprintf(stderr, "flexctl: %s\n", why);
            rc |= r != 0;
        }
        return rc;
    }
    if (strcmp(cmd, "location") == 0)
        return cmd_location(c, argc - 1, argv + 1);
    if (strcmp(cmd, "carrier") == 0)
        return cmd_carrier(c, argc - 1, argv + 1);
    if (strcmp(cmd, "deadletter") == 0)
        return cmd_deadletter(c, argc - 1, argv + 1);
    if (strcmp(cmd, "history") == 0)
        return cmd_history(c, argc - 1, argv + 1);
    if (strcmp(cmd, "patient") == 0)
        return cmd_patient(c, argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0 && argc == 1) {
        flex_store_appendf(c->st, "XADD %s MAXLEN ~ 10000 * cmd reload arg -", FLEX_KEY_CONTROL);
        if (flex_store_drain(c->st, 1) != 0)
            return 1;
        puts("reload requested");
        return 0;
    }
    return 2;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* Redis gone mid-write is EPIPE, said as such (store.h) */
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    const char *path = NULL;
    struct flex_cfg_override *ov = flex_calloc((size_t)argc, sizeof(*ov));
    size_t nov = 0;
    int c;
    while ((c = getopt(argc, argv, "+c:D:h")) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'D': ov[nov++].text = optarg; break;
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
    if (optind < argc && strcmp(argv[optind], "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!path || optind >= argc) {
        fputs(usage_text, stderr);
        flex_free(ov);
        return 2;
    }
    if (strcmp(argv[optind], "audit") == 0) { /* needs the config, not Redis */
        int arc = cmd_audit(path, ov, nov, argc - optind - 1, argv + optind + 1);
        flex_free(ov);
        return arc;
    }
    struct ctl ctl = {0};
    int rc = flex_cfg_load(&ctl.cfg, path, ov, nov, print_diag, NULL);
    flex_free(ov);
    if (rc != 0) {
        if (rc != FLEX_E_CONFIG)
            fprintf(stderr, "flexctl: %s: %s\n", path, flex_strerror(rc));
        return 1;
    }
    char why[256];
    if (flex_store_connect(&ctl.st, &ctl.cfg->redis, 5000, why, sizeof(why)) != 0) {
        fprintf(stderr, "flexctl: %s\n", why);
        flex_cfg_del(ctl.cfg);
        return 1;
    }
    rc = dispatch(&ctl, argc - optind, argv + optind);
    if (rc == 2)
        fputs(usage_text, stderr);
    flex_audit_close(ctl.audit);
    flex_store_del(ctl.st);
    flex_cfg_del(ctl.cfg);
    return rc;
}
