/* Config: the shipped file, every class of error with FILE:LINE, -D
 * overrides, secrets from files, and the snapshot swap. */
#include "test_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "carrier.h"
#include "config_int.h"
#include "err.h"
#include "intent.h"
#include "mem.h"
#include "sms.h"
#include "tmpl.h"

struct diags {
    int n;
    char text[8192];
};

static void collect(void *arg, const char *file, unsigned line, const char *msg)
{
    struct diags *d = arg;
    size_t have = strlen(d->text);
    snprintf(d->text + have, sizeof(d->text) - have, "%s:%u: %s\n", file, line, msg);
    d->n++;
}

static const char *srcdir(void)
{
    const char *s = getenv("FLEX_SRCDIR");
    return s ? s : ".";
}

static struct flex_cfg *load_shipped(const struct flex_cfg_override *ov, size_t nov,
                                     struct diags *d)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/flexd.conf", srcdir());
    struct flex_cfg *cfg = NULL;
    int rc = flex_cfg_load(&cfg, path, ov, nov, collect, d);
    if (rc != 0)
        fail_msg("deploy/flexd.conf: rc %d\n%s", rc, d->text);
    return cfg;
}

static void count_restarts(void *arg, const char *line, bool restart)
{
    (void)line;
    *(size_t *)arg += restart;
}

/* Every restart-only key is of a singleton section (its offset is from the
 * config itself) and of a type a reload can keep the running value of
 * (flex_cfg_diff): a reload over a changed one keeps it. */
static void test_config_restart_only_keys_kept(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *run = load_shipped(NULL, 0, &d);
    struct flex_cfg_override ov[] = {{"redis.url=redis://127.0.0.1:6390/0"},
                                     {"http.listen=127.0.0.1:9199"}};
    struct flex_cfg *next = load_shipped(ov, 2, &d);
    for (size_t r = 0; r < cfg_nrows; r++) {
        if (!(cfg_rows[r].flags & F_IMMUT))
            continue;
        assert_false(cfg_kinds[cfg_rows[r].kind].named);
        char scratch[64];
        assert_int_equal(
            cfg_row_keep(&cfg_rows[r], next, scratch, (const char *)run + cfg_rows[r].off), 0);
    }
    size_t restarts = 0;
    assert_int_equal(flex_cfg_diff(next, run, count_restarts, &restarts), 2);
    assert_int_equal(restarts, 2);
    assert_string_equal(next->redis.url, "redis://127.0.0.1:6379/0");
    assert_string_equal(next->http.listen, "127.0.0.1:9100");
    flex_cfg_del(next);
    flex_cfg_del(run);
}

static void collect_lines(void *arg, const char *line, bool restart)
{
    (void)restart;
    char *out = arg;
    strncat(out, line, 1023 - strlen(out));
    strncat(out, "\n", 1023 - strlen(out));
}

/* A key of words (ton, ambiguous) is said in its words by a reload, and
 * refused with them. */
static void test_config_word_keys(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *run = load_shipped(NULL, 0, &d);
    assert_false(flex_cfg_carrier_find(run, "primary")->ton_strict); /* lenient */
    struct flex_cfg_override ov[] = {{"carrier.primary.ton=strict"},
                                     {"carrier.primary.ambiguous=retry"}};
    struct flex_cfg *next = load_shipped(ov, 2, &d);
    assert_true(flex_cfg_carrier_find(next, "primary")->ton_strict);
    char lines[1024] = "";
    assert_int_equal(flex_cfg_diff(next, run, collect_lines, lines), 2);
    assert_non_null(strstr(lines, "ton: lenient -> strict"));
    assert_non_null(strstr(lines, "ambiguous: fail -> retry"));
    flex_cfg_del(next);
    flex_cfg_del(run);
}

/* A changed value for |r| (a carrier key of |cc|) that the parser takes,
 * into |out|; false for a type this test cannot vary (then the test
 * fails: give the type a case here). */
static bool other_value(const struct cfg_row *r, const struct flex_cfg_carrier *cc, char *out,
                        size_t n)
{
    const void *v = (const char *)cc + r->off;
    switch (r->type) {
    case T_BOOL: snprintf(out, n, "%s", *(const bool *)v ? "false" : "true"); return true;
    case T_AMBIGUOUS: snprintf(out, n, "%s", *(const bool *)v ? "fail" : "retry"); return true;
    case T_TON: snprintf(out, n, "%s", *(const bool *)v ? "lenient" : "strict"); return true;
    case T_UINT:
        snprintf(out, n, "%u",
                 *(const uint32_t *)v == (uint32_t)r->min ? (uint32_t)r->min + 1
                                                          : (uint32_t)r->min);
        return true;
    case T_DURATION:
        snprintf(out, n, "%s", *(const uint64_t *)v == 2000 ? "3s" : "2s");
        return true;
    case T_STR:
    case T_SECRET: /* auth_header: one header line */
        snprintf(out, n, "%s", strcmp(r->key, "auth_header") == 0 ? "X-Test: zz9" : "zz9");
        return true;
    case T_HTTPURL: snprintf(out, n, "http://127.0.0.1:9/zz"); return true;
    default: return false;
    }
}

/* Every key a reload applies to a carrier either rebuilds it (it is part
 * of flex_carrier_sig: the dispatcher drains the old one and starts the
 * new) or is applied in place (enabled, mps): a key in neither would be
 * said applied by the reload and never be. */
static void test_config_carrier_keys_rebuild(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg_override base[] = {{"carrier.j.type=http"},
                                       {"carrier.j.profile=json"},
                                       {"carrier.j.url=http://127.0.0.1:9/m"}};
    struct flex_cfg *was = load_shipped(base, 3, &d);
    size_t tried = 0;
    for (size_t r = 0; r < cfg_nrows; r++) {
        const struct cfg_row *row = &cfg_rows[r];
        if (row->kind != K_CARRIER || !(row->flags & F_RELOAD) ||
            strcmp(row->key, "enabled") == 0 || strcmp(row->key, "mps") == 0 ||
            strcmp(row->key, "type") == 0 || strcmp(row->key, "profile") == 0)
            continue;
        const char *names[2] = {"primary", "backup"};
        size_t nn = 2;
        if (row->flags & F_SMPP)
            nn = 1;
        else if (row->flags & F_JSONP)
            names[0] = "j", nn = 1;
        else if (row->flags & F_HTTP)
            names[0] = "backup", nn = 1;
        for (size_t i = 0; i < nn; i++) {
            const struct flex_cfg_carrier *cc = flex_cfg_carrier_find(was, names[i]);
            assert_non_null(cc);
            char val[64], ov[128], s0[2048], s1[2048];
            if (!other_value(row, cc, val, sizeof(val)))
                fail_msg("carrier key %s: no value to try for its type", row->key);
            snprintf(ov, sizeof(ov), "carrier.%s.%s=%s", names[i], row->key, val);
            struct flex_cfg_override ovs[4] = {base[0], base[1], base[2], {ov}};
            struct flex_cfg *now = load_shipped(ovs, 4, &d);
            flex_carrier_sig(was, cc, s0, sizeof(s0));
            flex_carrier_sig(now, flex_cfg_carrier_find(now, names[i]), s1, sizeof(s1));
            if (strcmp(s0, s1) == 0)
                fail_msg("%s: the carrier is not rebuilt (flex_carrier_sig)", ov);
            flex_cfg_del(now);
            tried++;
        }
    }
    assert_true(tried >= 20);
    flex_cfg_del(was);
}

static void test_config_shipped_file_is_valid(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c = load_shipped(NULL, 0, &d);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->redis.url, "redis://127.0.0.1:6379/0");
    assert_string_equal(c->http.listen, "127.0.0.1:9100");
    assert_int_equal(c->engine.drain_timeout_ms, 30000);
    assert_true(c->quiet_hours.enabled);
    assert_int_equal(c->quiet_hours.start_min, 21 * 60);
    assert_int_equal(c->quiet_hours.end_min, 8 * 60);
    const struct flex_cfg_carrier *p = flex_cfg_carrier_find(c, "primary");
    assert_non_null(p);
    assert_int_equal(p->type, FLEX_CARRIER_SMPP);
    assert_string_equal(p->host, "127.0.0.1");
    assert_int_equal(p->port, 2775);
    assert_string_equal(p->system_id, "flex");
    assert_string_equal(p->password, "flexpass");
    const struct flex_cfg_carrier *b = flex_cfg_carrier_find(c, "backup");
    assert_non_null(b);
    assert_int_equal(b->type, FLEX_CARRIER_HTTP);
    assert_string_equal(b->url, "http://127.0.0.1:8085");
    assert_string_equal(b->account_sid, "ACtest");
    assert_string_equal(b->auth_token, "testtoken");
    assert_int_equal(c->route.def.n, 2);
    assert_string_equal(c->carriers[c->route.def.idx[0]].name, "primary");
    assert_string_equal(c->carriers[c->route.def.idx[1]].name, "backup");
    const char *zones[] = {"America/New_York", "America/Chicago", "America/Denver",
                           "America/Phoenix", "America/Los_Angeles"};
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof(id), "loc-%d", i + 1);
        const struct flex_cfg_location *l = flex_cfg_location_find(c, id);
        assert_non_null(l);
        assert_string_equal(l->timezone, zones[i]);
        assert_ptr_equal(flex_cfg_route_for(c, l), &c->route.def);
    }
    flex_cfg_del(c);
}

/* Every standard template, for every shipped location, with long-ish
 * typical values, fits one GSM-7 SMS. */
static void test_config_shipped_templates_fit_one_sms(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c = load_shipped(NULL, 0, &d);
    static struct flex_sms sms;
    for (size_t li = 0; li < c->nlocations; li++) {
        const struct flex_cfg_location *l = &c->locations[li];
        struct flex_tmpl_vars v = {0};
        const char *vals[FLEX_TMPL_NVARS] = {"Alexandra",   l->name,    l->phone,
                                             "Wed, Dec 10", "10:30 AM", "Dr. Martinez"};
        for (int i = 0; i < FLEX_TMPL_NVARS; i++) {
            v.v[i] = vals[i];
            v.len[i] = strlen(vals[i]);
        }
        for (size_t ti = 0; ti < c->ntemplates; ti++) {
            char out[1024];
            struct flex_text_error err;
            long n = flex_tmpl_render(c->templates[ti].tmpl, &v, out, sizeof(out), NULL);
            assert_true(n > 0);
            assert_int_equal(flex_sms_encode(&sms, out, (size_t)n, 6, &err), 0);
            if (sms.coding != FLEX_SMS_GSM7 || sms.nparts != 1)
                fail_msg("[template %s] at %s: %u parts, coding %d, %u units: %s",
                         c->templates[ti].name, l->id, sms.nparts, sms.coding, sms.units, out);
        }
    }
    flex_cfg_del(c);
}

/* A minimal valid config; cases append to it. */
static const char base[] =
    "[route]\n"
    "default = a\n"
    "[carrier a]\n"
    "type = smpp\n"
    "host = 127.0.0.1\n"
    "system_id = flex\n"
    "password = pw\n"
    "[template reminder_72h]\nbody = x\n[template reminder_24h]\nbody = x\n"
    "[template reminder_2h]\nbody = x\n[template recall_due]\nbody = x\n"
    "[template recall_overdue]\nbody = x\n[template optout_confirm]\nbody = x\n"
    "[template optin_confirm]\nbody = x\n[template help]\nbody = x\n";
#define BASE_LINES 23

static int parse(const char *extra, const struct flex_cfg_override *ov, size_t nov, struct diags *d,
                 struct flex_cfg **out)
{
    char text[4096];
    snprintf(text, sizeof(text), "%s%s", base, extra);
    struct flex_cfg *cfg = NULL;
    int rc = flex_cfg_parse(&cfg, "t.conf", text, strlen(text), ov, nov, collect, d);
    if (out)
        *out = cfg;
    else
        flex_cfg_del(cfg);
    return rc;
}

static void test_config_base_is_valid(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c;
    assert_int_equal(parse("", NULL, 0, &d, &c), 0);
    assert_int_equal(c->carriers[0].window, 64); /* defaults applied */
    assert_int_equal(c->carriers[0].port, 2775);
    assert_int_equal(c->carriers[0].response_timeout_ms, 10000);
    assert_int_equal(c->carriers[0].enquire_link_ms, 30000);
    assert_false(c->carriers[0].ambiguous_retry); /* default: never risk a duplicate */
    assert_int_equal(c->engine.message_validity_ms, 24 * 3600 * 1000ULL);
    flex_cfg_del(c);
}

static void expect_error(const char *extra, unsigned line, const char *what)
{
    struct diags d = {0};
    assert_int_equal(parse(extra, NULL, 0, &d, NULL), FLEX_E_CONFIG);
    char want[64];
    snprintf(want, sizeof(want), "t.conf:%u: ", line);
    const char *hit = strstr(d.text, want);
    if (!hit || !strstr(hit, what))
        fail_msg("want '%s...%s' in:\n%s", want, what, d.text);
}

static void test_config_each_error_has_file_and_line(void **state)
{
    (void)state;
    const unsigned L = BASE_LINES + 1; /* first appended line */
    expect_error("[nonsense]\n", L, "unknown section [nonsense]");
    expect_error("[engine]\nbogus = 1\n", L + 1, "unknown key 'bogus' in [engine]");
    expect_error("[engine]\ndrain_timeout = 5 parsecs\n", L + 1, "unit");
    expect_error("[engine]\ndrain_timeout = 2d\n", L + 1, "out of range");
    expect_error("[carrier b]\ntype = smpp\nhost = h\nsystem_id = s\npassword = p\n"
                 "window = lots\n",
                 L + 5, "expected a whole number");
    expect_error("[quiet_hours]\nstart = 7pm\n", L + 1, "HH:MM");
    expect_error("[carrier b]\ntype = smpp\nhost = h\nsystem_id = s\npassword = p\n"
                 "ton = international\n",
                 L + 5, "expected lenient or strict");
    expect_error("[location x]\nname = X\ntimezone = Mars/Olympus\nphone = 2025550100\n", L + 2,
                 "unknown time zone");
    expect_error("[location x]\nname = X\ntimezone = ../../etc/passwd\nphone = 2025550100\n", L + 2,
                 "IANA");
    expect_error("[location x]\nname = X\ntimezone = UTC\nphone = 555-0100\n", L + 3, "too short");
    /* a name saved in Latin-1 would fail every text of the location */
    expect_error("[location x]\nname = Caf\xe9 Dental\ntimezone = UTC\nphone = 2025550100\n", L + 1,
                 "not UTF-8 at byte 4");
    expect_error("[location x]\nname = Bell\x07\ntimezone = UTC\nphone = 2025550100\n", L + 1,
                 "a control character at byte 5");
    expect_error("[template t]\nbody = Hi {patient}\n", L + 1, "unknown placeholder {patient}");
    expect_error("[location x]\nname = X\ntimezone = UTC\nphone = 2025550100\nroute = a, zz\n",
                 L + 4, "carrier 'zz', which is not defined");
    expect_error("[route]\n", L, "duplicate section [route] (first at line 1)");
    expect_error("[carrier a]\n", L, "duplicate section [carrier a]");
    expect_error("[engine]\nlog_level = info\nlog_level = debug\n", L + 2,
                 "duplicate key 'log_level' (first at line");
    expect_error("[carrier h]\ntype = http\nurl = http://127.0.0.1:8085\naccount_sid = A\n", L,
                 "missing required key 'auth_token' (http)");
    expect_error("[carrier h]\ntype = http\nurl = http://x\naccount_sid = A\nauth_token = t\n"
                 "binds = 5\n",
                 L + 5, "does not apply to an http carrier");
    expect_error("[carrier j]\ntype = http\nurl = http://x\nprofile = xml\n", L + 3,
                 "expected twilio or json");
    expect_error("[carrier j]\ntype = http\nurl = http://x\nprofile = json\naccount_sid = A\n",
                 L + 4, "does not apply to an http carrier of profile json");
    expect_error("[carrier j]\ntype = http\nurl = http://x\nauth_token = t\naccount_sid = A\n"
                 "json_to = recipient\n",
                 L + 5, "does not apply to an http carrier of profile twilio");
    expect_error("[carrier j]\ntype = http\nurl = http://x\nprofile = json\n"
                 "auth_header = Bearer-without-a-name\n",
                 L, "auth_header must be one header line");
    expect_error("[carrier s]\nhost = h\n", L, "missing required key 'type'");
    expect_error("[carrier s]\ntype = smpp\nhost = h\nsystem_id = sixteencharslong\n"
                 "password = p\n",
                 L + 3, "length must be 1 to 15");
    expect_error("[location]\n", L, "needs a NAME");
    expect_error("[engine x]\n", L, "takes no name");
    expect_error("[engine]\njust text\n", L + 1, "expected KEY = VALUE");
    expect_error("[redis]\nurl = redis://127.0.0.1:99999\n", L + 1, "bad port");
    expect_error("[http]\nlisten = 9100\n", L + 1, "missing port");
    expect_error("[quiet_hours]\nstart = 08:00\nend = 08:00\n", L, "start and end are equal");
    expect_error("[engine]\nmax_parts =\n", L + 1, "must not be empty");
    expect_error("[engine]\nconsumer = two words\n", L + 1, "only letters, digits");
    expect_error("[engine]\nconsumer = "
                 "a234567890123456789012345678901234567890x\n",
                 L + 1, "length must be 0 to 40");
}

/* The reply and keyword keys: each error at its line, as the others. */
static void test_config_reply_keys_errors(void **state)
{
    (void)state;
    const unsigned L = BASE_LINES + 1;
    expect_error("[engine]\nreply_context_days = 0\n", L + 1, "out of range");
    expect_error("[engine]\nhistory_days = 3651\n", L + 1, "out of range");
    expect_error("[engine]\nautoreply_per_day = 101\n", L + 1, "out of range");
    expect_error("[engine]\nallow_only = +1202555, 202555\n", L + 1,
                 "'202555': invalid phone number");
    expect_error("[engine]\nallow_only = +0123\n", L + 1, "expected + and 1 to 15 digits");
    expect_error("[engine]\nallow_only = +1202abc\n", L + 1, "expected + and 1 to 15 digits");
    expect_error("[engine]\nallow_only = +1234567890123456\n", L + 1, "expected + and 1 to 15");
    expect_error("[engine]\nallow_only = +\n", L + 1, "expected + and 1 to 15 digits");
    expect_error("[engine]\nconfirm_drops = reminder_2h, nosuch\n", L + 1,
                 "engine.confirm_drops names 'nosuch', which is not a [template]");
    expect_error("[engine]\nconfirm_drops = bad name!\n", L + 1, "a name is 1-64 letters");
    expect_error("[engine]\naudit_log = /tmp/flex-audit.log\n", L + 1,
                 "engine.audit_key is required when engine.audit_log is set");
    expect_error("[engine]\naudit_log = /tmp/flex-audit.log\naudit_key =\n", L + 1,
                 "engine.audit_key is required when engine.audit_log is set");
    expect_error("[keywords]\nconfirm = yass\noptout = -STOP\n", L + 2,
                 "[keywords] optout = '-STOP': 'stop' cannot be removed");
    expect_error("[keywords]\nconfirm = -zz\n", L + 1, "'zz' is not a built-in confirm keyword");
    expect_error("[keywords]\nhelp = yes\n", L + 1, "cannot also be a help keyword");
    expect_error("[keywords]\noptout = zork\noptin = zork\n", L,
                 "[keywords] 'zork' cannot be both an opt-out and an opt-in");
    expect_error("[keywords]\nbogus = x\n", L + 1, "unknown key 'bogus' in [keywords]");
}

static void test_config_reply_keys_defaults(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c;
    assert_int_equal(parse("", NULL, 0, &d, &c), 0);
    assert_int_equal(c->engine.reply_context_days, 30);
    assert_int_equal(c->engine.history_days, 30);
    assert_int_equal(c->engine.autoreply_per_day, 3);
    assert_int_equal(c->engine.confirm_drops.n, 2);
    assert_string_equal(c->engine.confirm_drops.v[0], "reminder_72h");
    assert_string_equal(c->engine.confirm_drops.v[1], "reminder_24h");
    assert_true(flex_cfg_confirm_drops(c, "reminder_24h"));
    assert_false(flex_cfg_confirm_drops(c, "reminder_2h"));
    assert_false(flex_cfg_confirm_drops(c, NULL));
    assert_int_equal(c->engine.allow_only.n, 0);
    assert_true(flex_cfg_allowed(c, "+12025550143"));
    assert_true(flex_cfg_allowed(c, NULL));
    /* The keyword lists are built with every snapshot. */
    assert_non_null(c->keywords);
    struct flex_intent_result r;
    flex_intent_classify(c->keywords, "STOP", 4, &r);
    assert_int_equal(r.intent, FLEX_INTENT_STOP);
    flex_cfg_del(c);
}

static void test_config_reply_keys_set(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c;
    assert_int_equal(parse("[engine]\nreply_context_days = 7\nhistory_days = 3650\n"
                           "autoreply_per_day = 0\n"
                           "confirm_drops = reminder_72h,reminder_24h , reminder_2h,\n"
                           "allow_only = +1 202-555, (312) 555-0199,, +44 20\n"
                           "[location x]\nname = X\ntimezone = UTC\nphone = (312) 555-0100\n",
                           NULL, 0, &d, &c),
                     0);
    assert_int_equal(c->engine.reply_context_days, 7);
    assert_int_equal(c->engine.history_days, 3650);
    assert_int_equal(c->engine.autoreply_per_day, 0);
    assert_int_equal(c->engine.confirm_drops.n, 3);
    assert_true(flex_cfg_confirm_drops(c, "reminder_2h"));
    assert_int_equal(c->engine.allow_only.n, 3);
    assert_string_equal(c->engine.allow_only.v[0], "+1202555");
    assert_string_equal(c->engine.allow_only.v[1], "+13125550199");
    assert_string_equal(c->engine.allow_only.v[2], "+4420");
    assert_true(flex_cfg_allowed(c, "+12025550143"));  /* prefix */
    assert_true(flex_cfg_allowed(c, "+13125550199"));  /* the number itself */
    assert_true(flex_cfg_allowed(c, "+442079460958")); /* prefix */
    assert_false(flex_cfg_allowed(c, "+13125550198"));
    assert_false(flex_cfg_allowed(c, "+12035550143"));
    assert_false(flex_cfg_allowed(c, "+1202"));
    assert_false(flex_cfg_allowed(c, NULL));
    const struct flex_cfg_location *l = flex_cfg_location_by_phone(c, "+13125550100");
    assert_non_null(l);
    assert_string_equal(l->id, "x");
    assert_null(flex_cfg_location_by_phone(c, "+13125550101"));
    assert_null(flex_cfg_location_by_phone(c, NULL));
    flex_cfg_del(c);
    /* An empty list replaces the default: nothing is dropped. */
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse("[engine]\nconfirm_drops =\nallow_only = \n", NULL, 0, &d, &c), 0);
    assert_int_equal(c->engine.confirm_drops.n, 0);
    assert_false(flex_cfg_confirm_drops(c, "reminder_72h"));
    assert_true(flex_cfg_allowed(c, "+12025550143"));
    flex_cfg_del(c);
}

static enum flex_intent intent_of(const struct flex_cfg *c, const char *text)
{
    struct flex_intent_result r;
    flex_intent_classify(c->keywords, text, strlen(text), &r);
    return r.intent;
}

/* [keywords] extend the built-in lists, per snapshot: a reload that drops
 * a word takes it away. */
static void test_config_keywords(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *a, *b;
    assert_int_equal(parse("[keywords]\nconfirm = yass, -c\noptout = take me off\n"
                           "emergency = dry socket\nfrontdesk_optout = moved away\n"
                           "optin = \"Sign me up\"\nhelp = huh\nreschedule = other slot\n",
                           NULL, 0, &d, &a),
                     0);
    assert_int_equal(intent_of(a, "Yass!"), FLEX_INTENT_CONFIRM);
    assert_int_equal(intent_of(a, "c"), FLEX_INTENT_OTHER);
    assert_int_equal(intent_of(a, "please take me off"), FLEX_INTENT_STOP);
    assert_int_equal(intent_of(a, "I have a dry socket"), FLEX_INTENT_EMERGENCY);
    assert_int_equal(intent_of(a, "we moved away"), FLEX_INTENT_STOP);
    assert_int_equal(intent_of(a, "sign me up"), FLEX_INTENT_START);
    assert_int_equal(intent_of(a, "huh?"), FLEX_INTENT_HELP);
    assert_int_equal(intent_of(a, "any other slot?"), FLEX_INTENT_RESCHEDULE);
    assert_string_equal(a->keyword_lists.text[FLEX_KW_CONFIRM], "yass, -c");
    assert_string_equal(a->keyword_lists.text[FLEX_KW_OPTOUT], "take me off");
    assert_int_equal(parse("", NULL, 0, &d, &b), 0);
    assert_null(b->keyword_lists.text[FLEX_KW_CONFIRM]);
    assert_int_equal(intent_of(b, "Yass!"), FLEX_INTENT_OTHER);
    assert_int_equal(intent_of(b, "c"), FLEX_INTENT_CONFIRM);
    flex_cfg_del(a);
    flex_cfg_del(b);
    /* From -D too, with the -D position in the message. */
    struct flex_cfg_override ov[] = {{"keywords.confirm=yass"}, {"keywords.optout=-quit"}};
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse("", ov, 2, &d, NULL), FLEX_E_CONFIG);
    assert_non_null(strstr(d.text, "-D:2: [keywords] optout = '-quit': 'quit' cannot be removed"));
    assert_int_equal(d.n, 1);
    struct flex_cfg_override both[] = {{"keywords.optout=zork"}, {"keywords.optin=zork"}};
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse("", both, 2, &d, NULL), FLEX_E_CONFIG);
    assert_non_null(strstr(d.text, "-D:1: [keywords] 'zork' cannot be both"));
}

/* audit_key is never quoted, whatever else is wrong around it. */
static void test_config_audit_key_never_shown(void **state)
{
    (void)state;
    struct diags d = {0};
    assert_int_equal(parse("[engine]\naudit_log = /tmp/flex-audit.log\n"
                           "audit_key = s3cr3t-Audit-Key-0123456789012345678901234567890123456789"
                           "0123456789\nlog_level = loud\naudit_key = s3cr3t-Audit-Key\n",
                           NULL, 0, &d, NULL),
                     FLEX_E_CONFIG);
    assert_int_equal(d.n, 2); /* bad log_level, duplicate audit_key */
    assert_null(strstr(d.text, "s3cr3t"));
    struct flex_cfg_override ov[] = {{"engine.audit_key=@/nonexistent/s3cr3t.key"},
                                     {"engine.audit_log=/tmp/flex-audit.log"}};
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse("", ov, 2, &d, NULL), FLEX_E_CONFIG);
    assert_non_null(strstr(d.text, "-D:1: [engine] audit_key: cannot open secret file"));
    assert_null(strstr(d.text, "s3cr3t"));
    assert_null(strstr(d.text, "is required")); /* the key was given, just unreadable */
    assert_int_equal(d.n, 1);
}

/* A route holds at most FLEX_CFG_MAX_ROUTE carriers (struct flex_cfg_route's
 * idx[] is that long): exactly that many is a valid route, in order; one
 * more is a config error at the route's line, for a location's route and
 * for [route] default alike (never written past the array). */
static void test_config_route_limit(void **state)
{
    (void)state;
    char extra[2048] = "", names[256] = "", longer[256];
    size_t o = 0;
    /* carriers c1..c9 after the base's a */
    for (int i = 1; i <= FLEX_CFG_MAX_ROUTE + 1; i++)
        o += (size_t)snprintf(extra + o, sizeof(extra) - o,
                              "[carrier c%d]\ntype = smpp\nhost = h\nsystem_id = s\npassword = p\n",
                              i);
    size_t carrier_lines = (size_t)(FLEX_CFG_MAX_ROUTE + 1) * 5;
    o = 0;
    for (int i = 1; i <= FLEX_CFG_MAX_ROUTE; i++)
        o += (size_t)snprintf(names + o, sizeof(names) - o, "%sc%d", i > 1 ? ", " : "", i);
    snprintf(longer, sizeof(longer), "%s, a", names); /* one more */

    char text[4096];
    struct diags d = {0};
    struct flex_cfg *c;
    snprintf(text, sizeof(text),
             "%s[location x]\nname = X\ntimezone = UTC\nphone = 2025550100\nroute = %s\n", extra,
             names);
    assert_int_equal(parse(text, NULL, 0, &d, &c), 0);
    const struct flex_cfg_route *r = flex_cfg_route_for(c, flex_cfg_location_find(c, "x"));
    assert_int_equal(r->n, FLEX_CFG_MAX_ROUTE);
    for (int i = 0; i < FLEX_CFG_MAX_ROUTE; i++) {
        char want[8];
        snprintf(want, sizeof(want), "c%d", i + 1);
        assert_string_equal(c->carriers[r->idx[i]].name, want);
    }
    flex_cfg_del(c);

    char what[64];
    snprintf(what, sizeof(what), "route lists more than %d carriers", FLEX_CFG_MAX_ROUTE);
    snprintf(text, sizeof(text),
             "%s[location x]\nname = X\ntimezone = UTC\nphone = 2025550100\nroute = %s\n", extra,
             longer);
    expect_error(text, BASE_LINES + 1 + (unsigned)carrier_lines + 4, what);

    struct flex_cfg_override ov[1];
    char dflt[300];
    snprintf(dflt, sizeof(dflt), "route.default=%s", longer);
    ov[0].text = dflt;
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse(extra, ov, 1, &d, NULL), FLEX_E_CONFIG);
    if (!strstr(d.text, what))
        fail_msg("want '%s' in:\n%s", what, d.text);
    snprintf(dflt, sizeof(dflt), "route.default=%s", names);
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse(extra, ov, 1, &d, &c), 0);
    assert_int_equal(c->route.def.n, FLEX_CFG_MAX_ROUTE);
    flex_cfg_del(c);

    /* a location's route of one carrier is its route, not the default's */
    snprintf(text, sizeof(text),
             "%s[location y]\nname = Y\ntimezone = UTC\nphone = 2025550101\nroute = c3\n", extra);
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse(text, NULL, 0, &d, &c), 0);
    r = flex_cfg_route_for(c, flex_cfg_location_find(c, "y"));
    assert_int_equal(r->n, 1);
    assert_string_equal(c->carriers[r->idx[0]].name, "c3");
    assert_ptr_equal(flex_cfg_route_for(c, NULL), &c->route.def);
    flex_cfg_del(c);
}

static void test_config_missing_required_sections(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c = NULL;
    const char *text = "[engine]\nlog_level = debug\n";
    assert_int_equal(flex_cfg_parse(&c, "m.conf", text, strlen(text), NULL, 0, collect, &d),
                     FLEX_E_CONFIG);
    assert_non_null(strstr(d.text, "m.conf:2: missing required section [route]"));
    assert_non_null(strstr(d.text, "m.conf:2: missing required section [template help]"));
    assert_int_equal(d.n, 9); /* route + 8 templates */
}

static void test_config_reports_every_error(void **state)
{
    (void)state;
    struct diags d = {0};
    assert_int_equal(parse("[engine]\nlog_level = loud\nmax_parts = 99\nbogus = 1\n"
                           "[wat]\n[http]\nlisten = x\n",
                           NULL, 0, &d, NULL),
                     FLEX_E_CONFIG);
    assert_int_equal(d.n, 5);
    /* Sorted by line. */
    assert_true(strstr(d.text, ":25: ") < strstr(d.text, ":26: "));
}

static void test_config_overrides(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg_override ov[] = {
        {"carrier.a.port=2776"},
        {"redis.url=redis://127.0.0.1:6390/0"},
        {"template.help.body=Call {location_phone}"},
        {"location.loc-9.name=Override Dental"},
        {"location.loc-9.timezone=America/Chicago"},
        {"location.loc-9.phone=(312) 555-0199"},
        {"engine.log_level=debug"},
        {"carrier.a.ambiguous=retry"},
    };
    struct flex_cfg *c;
    assert_int_equal(parse("[engine]\nlog_level = warn\n", ov, 8, &d, &c), 0);
    assert_true(c->carriers[0].ambiguous_retry);
    assert_int_equal(c->carriers[0].port, 2776);
    assert_string_equal(c->redis.url, "redis://127.0.0.1:6390/0");
    assert_string_equal(flex_cfg_template_find(c, "help")->body, "Call {location_phone}");
    const struct flex_cfg_location *l = flex_cfg_location_find(c, "loc-9");
    assert_non_null(l);
    assert_string_equal(l->phone, "+13125550199");
    assert_int_equal(c->engine.log_level, 0);
    flex_cfg_del(c);

    struct flex_cfg_override bad[] = {{"carrier.a.port=0"},
                                      {"nosuch.key=1"},
                                      {"engine"},
                                      {"carrier.port=1"},
                                      {"engine.Bad-Key=1"}};
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse("", bad, 5, &d, NULL), FLEX_E_CONFIG);
    assert_non_null(strstr(d.text, "-D:1: [carrier a] port = '0'"));
    assert_non_null(strstr(d.text, "-D:2: unknown section 'nosuch'"));
    assert_non_null(strstr(d.text, "-D:3: expected SECTION.KEY=VALUE"));
    assert_non_null(strstr(d.text, "-D:4: expected carrier.NAME.KEY=VALUE"));
    assert_non_null(strstr(d.text, "-D:5: bad key name"));
}

static void test_config_secret_from_file_and_not_echoed(void **state)
{
    (void)state;
    char path[] = "/tmp/flex-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret-key\n", 11), 11);
    close(fd);
    char extra[256];
    snprintf(extra, sizeof(extra), "[engine]\naudit_key = @%s\n", path);
    struct diags d = {0};
    struct flex_cfg *c;
    assert_int_equal(parse(extra, NULL, 0, &d, &c), 0);
    assert_string_equal(c->engine.audit_key, "s3cret-key");
    flex_cfg_del(c);
    unlink(path);
    assert_int_equal(parse(extra, NULL, 0, &d, NULL), FLEX_E_CONFIG);
    assert_non_null(strstr(d.text, "cannot open secret file"));
    /* A bad sensitive value is reported without its text. */
    memset(&d, 0, sizeof(d));
    assert_int_equal(parse("[carrier b]\ntype = smpp\nhost = h\nsystem_id = s\n"
                           "password = hunter2hunter2\n",
                           NULL, 0, &d, NULL),
                     FLEX_E_CONFIG);
    assert_null(strstr(d.text, "hunter2"));
}

static void test_config_quoted_values(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_cfg *c;
    assert_int_equal(parse("[location q]\nname = \"  Spaced \\\"Dental\\\"  \"\n"
                           "timezone = UTC\nphone = +442079460958\n",
                           NULL, 0, &d, &c),
                     0);
    assert_string_equal(flex_cfg_location_find(c, "q")->name, "  Spaced \"Dental\"  ");
    flex_cfg_del(c);
}

static void test_config_unreadable_file(void **state)
{
    (void)state;
    struct flex_cfg *c;
    assert_int_equal(flex_cfg_load(&c, "/nonexistent/flexd.conf", NULL, 0, NULL, NULL), -ENOENT);
    assert_int_equal(flex_cfg_load(&c, "/tmp", NULL, 0, NULL, NULL), -EINVAL);
}

/* The swap: a reader holding the old snapshot keeps it valid until its
 * quiescent point; then it is freed (ASan would catch a use after free). */
static void test_config_publish_and_reclaim(void **state)
{
    (void)state;
    struct diags d = {0};
    struct flex_qsbr_reader reader;
    flex_qsbr_init(&flex_cfg_qsbr);
    assert_int_equal(flex_qsbr_register(&flex_cfg_qsbr, &reader), 0);
    struct flex_cfg *a, *b;
    assert_int_equal(parse("", NULL, 0, &d, &a), 0);
    assert_int_equal(parse("[engine]\nmax_parts = 3\n", NULL, 0, &d, &b), 0);
    flex_cfg_publish(a);
    flex_qsbr_quiescent(&flex_cfg_qsbr, &reader);
    const struct flex_cfg *held = flex_cfg_acquire();
    assert_ptr_equal(held, a);
    flex_cfg_publish(b);
    assert_int_equal(flex_qsbr_poll(&flex_cfg_qsbr), 1); /* a still held */
    assert_int_equal(held->engine.max_parts, 6);         /* and still readable */
    flex_qsbr_quiescent(&flex_cfg_qsbr, &reader);
    assert_int_equal(flex_qsbr_poll(&flex_cfg_qsbr), 0); /* a freed */
    assert_int_equal(flex_cfg_acquire()->engine.max_parts, 3);
    flex_qsbr_unregister(&flex_cfg_qsbr, &reader);
    struct flex_cfg *cur = atomic_exchange(&flex_cfg_current, NULL);
    flex_cfg_del(cur);
    flex_qsbr_free(&flex_cfg_qsbr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_word_keys),
        cmocka_unit_test(test_config_carrier_keys_rebuild),
        cmocka_unit_test(test_config_shipped_file_is_valid),
        cmocka_unit_test(test_config_restart_only_keys_kept),
        cmocka_unit_test(test_config_shipped_templates_fit_one_sms),
        cmocka_unit_test(test_config_base_is_valid),
        cmocka_unit_test(test_config_each_error_has_file_and_line),
        cmocka_unit_test(test_config_reply_keys_errors),
        cmocka_unit_test(test_config_reply_keys_defaults),
        cmocka_unit_test(test_config_reply_keys_set),
        cmocka_unit_test(test_config_keywords),
        cmocka_unit_test(test_config_audit_key_never_shown),
        cmocka_unit_test(test_config_route_limit),
        cmocka_unit_test(test_config_missing_required_sections),
        cmocka_unit_test(test_config_reports_every_error),
        cmocka_unit_test(test_config_overrides),
        cmocka_unit_test(test_config_secret_from_file_and_not_echoed),
        cmocka_unit_test(test_config_quoted_values),
        cmocka_unit_test(test_config_unreadable_file),
        cmocka_unit_test(test_config_publish_and_reclaim),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
