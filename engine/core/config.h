/*
 * flexd configuration: an INI file parsed into an immutable snapshot.
 *
 * The file has singleton sections ([engine] [redis] [http] [route]
 * [quiet_hours] [keywords]) and named ones ([carrier NAME] [location ID]
 * [template NAME]).  Every key is one row of a table in config.c: type,
 * default, bounds, flags, offset into the snapshot.  Loading collects every
 * error as "FILE:LINE: message" through a callback instead of stopping at the
 * first, so `flexd --check-config` reports them all.
 *
 * A snapshot is never modified after flex_cfg_load() returns.  The running
 * engine reads the current one through flex_cfg_acquire(); a reload builds a
 * whole new snapshot and swaps it in with flex_cfg_publish(); the old one is
 * freed by QSBR once no worker can still hold it (engine/base/qsbr.h).
 *
 * The module is three files: config.c (the key table, parsing, this API),
 * config_check.c (checks across keys and sections, once a file is read) and
 * config_diff.c (flex_cfg_diff); config_int.h is private to them.
 */
#ifndef FLEX_CONFIG_H
#define FLEX_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "qsbr.h"
#include "store.h"

struct flex_tmpl;
struct flex_keywords;

#define FLEX_CFG_MAX_ROUTE 8
#define FLEX_CFG_MAX_CARRIERS 32 /* [carrier] sections enabled at once (one flexd) */
#define FLEX_CFG_NAME_MAX 64
#define FLEX_CFG_KW_LISTS 7 /* FLEX_KW_N of engine/text/intent.h */

/* A comma-separated value split into its entries (trimmed, none empty). */
struct flex_cfg_list {
    const char *const *v;
    size_t n;
};

enum flex_carrier_type { FLEX_CARRIER_SMPP = 1, FLEX_CARRIER_HTTP = 2 };

/* What an http carrier speaks: Twilio's Messages API, or a JSON API
 * described by keys (docs/config.md, "The json profile"). */
enum flex_http_profile { FLEX_HTTP_TWILIO = 0, FLEX_HTTP_JSON = 1 };

/* Where a value came from, for values resolved after the whole file is read
 * (routes name carriers that may be defined further down). */
struct flex_cfg_src {
    const char *text;
    const char *file;
    unsigned line;
};

/* Carriers tried in order; indices into flex_cfg.carriers. */
struct flex_cfg_route {
    uint16_t n;
    uint16_t idx[FLEX_CFG_MAX_ROUTE];
};

struct flex_cfg_carrier {
    const char *name;
    enum flex_carrier_type type;
    bool enabled;
    double mps; /* 0 = unlimited */
    /* smpp */
    const char *host;
    uint32_t port;
    const char *system_id;
    const char *password;
    bool tls;
    bool tls_verify;
    uint32_t window;
    uint32_t binds;
    const char *tls_ca; /* CA file for tls_verify; NULL = system store */
    uint64_t connect_timeout_ms;
    uint64_t response_timeout_ms; /* per PDU */
    uint64_t enquire_link_ms;
    uint64_t reconnect_max_ms;
    bool ambiguous_retry;         /* ambiguous = retry | fail */
    bool ton_strict;              /* smpp: ton = strict | lenient (a text's addresses) */
    uint64_t throttle_timeout_ms; /* http: a message refused 429/503 this long fails over */
    /* http */
    const char *url;
    const char *account_sid;
    const char *auth_token;
    const char *status_callback;
    const char *webhook_url; /* the public base of /webhooks/NAME (a proxy in front) */
    enum flex_http_profile profile;
    /* profile json: the request's header and field names, and where the
     * answer keeps the id, the error code and its text (dotted paths) */
    const char *auth_header;
    const char *json_to, *json_from, *json_body, *json_callback;
    const char *json_id, *json_error_code, *json_error_message;
    unsigned _line; /* section header line, for messages */
};

struct flex_tz;

struct flex_cfg_location {
    const char *id;
    const char *name;
    const char *timezone;
    const struct flex_tz *tz; /* the zone, shared (flex_tz_get) */
    const char *phone;        /* E.164, normalized */
    bool paused;
    double mps;
    struct flex_cfg_src _route_src;
    struct flex_cfg_route route; /* n == 0: use [route] default */
    unsigned _line;
};

struct flex_cfg_template {
    const char *name;
    const char *body;
    struct flex_tmpl *tmpl;
    unsigned _line;
};

struct flex_cfg {
    struct {
        uint64_t drain_timeout_ms;
        const char *audit_log;
        const char *audit_key; /* the secret itself (read from @file) */
        uint32_t log_level;    /* enum flex_log_level */
        uint64_t message_validity_ms;
        uint32_t max_parts;
        bool log_unmasked;
        uint64_t claim_idle_ms;      /* take over jobs pending this long on a dead flexd */
        uint32_t cap_per_day;        /* reminders+recalls per patient per local day; 0 = no cap */
        uint32_t cap_per_week;       /* ... per local week (Monday to Sunday) */
        uint32_t recall_send_min;    /* local time of day recall texts go out */
        double number_mps;           /* per sender number (10DLC, toll-free); 0 = unlimited */
        const char *consumer;        /* name in the consumer group; "" = HOST-PID */
        uint32_t reply_context_days; /* an inbound text is matched to what was sent this recently */
        uint32_t history_days;       /* days a patient's messages are kept for `flexctl history` */
        uint32_t autoreply_per_day;  /* automatic replies (help, opt-in confirmation) per sender
                                        number per day; 0 = none */
        uint32_t inbound_parts_kb;   /* parts of unfinished texts a flexd stores in Redis per
                                        5 minutes (engine/core/reply.h, flex_parts_budget) */
        struct flex_cfg_list confirm_drops; /* reminder kinds dropped when a patient confirms */
        struct flex_cfg_list allow_only;    /* "+" and 1-15 digits: numbers or prefixes;
                                               n == 0: every number (flex_cfg_allowed) */
    } engine;
    struct flex_store_params redis; /* url, tls_ca, tls_cert, tls_key */
    /* How long streams that hold PHI are kept, in days (docs/operations.md,
     * "What Flex keeps in Redis"): trimmed by the intake every minute. */
    struct {
        uint32_t inbound_days;     /* flex:inbound */
        uint32_t deadletter_days;  /* flex:deadletter (whole raw jobs) */
        uint32_t optout_log_days;  /* flex:optout:log (the set itself is kept) */
        uint32_t staff_days;       /* flex:frontdesk*, flex:confirmations, flex:escalations */
        uint32_t status_days;      /* flex:status (status events: ids, no phone or text) */
        uint32_t job_history_days; /* flex:hist:{hour}, flex:job:{id} (flexctl status) */
        uint32_t idempotency_days; /* flex:idem records: a job id sent is refused again this long */
    } retention;
    struct {
        const char *listen;
        const char *admin_listen; /* NULL: /healthz, /readyz, /metrics on listen only */
    } http;
    struct {
        struct flex_cfg_src _default_src;
        struct flex_cfg_route def;
    } route;
    struct {
        bool enabled;
        uint32_t start_min; /* minutes after local midnight */
        uint32_t end_min;
    } quiet_hours;
    struct {
        /* As written, indexed by FLEX_KW_* (engine/text/intent.h); NULL = not set. */
        const char *text[FLEX_CFG_KW_LISTS];
    } keyword_lists;
    /* The built-in lists extended by [keywords]; never NULL in a loaded
     * snapshot, immutable, shared by every thread that holds the snapshot. */
    const struct flex_keywords *keywords;
    struct flex_cfg_carrier *carriers;
    size_t ncarriers;
    struct flex_cfg_location *locations;
    size_t nlocations;
    struct flex_cfg_template *templates;
    size_t ntemplates;
    const char *path;
    uint64_t generation;      /* 1, 2, ... per flex_cfg_publish: tells reloads apart */
    struct flex_arena _arena; /* owns every string and array above */
};

/* One "-D SECTION[.NAME].KEY=VALUE" option, borrowed. */
struct flex_cfg_override {
    const char *text;
};

/* Receives one error: |file| is the config path or "-D", |line| the line
 * (or the -D option's position, from 1). */
typedef void (*flex_cfg_diag_cb)(void *arg, const char *file, unsigned line, const char *msg);

/* Reads and validates |path| with |nov| overrides.  Returns 0 and a new
 * snapshot in |*out| (free with flex_cfg_del), or -errno when the file
 * cannot be read, or FLEX_E_CONFIG after reporting every error through
 * |cb|(|arg|, ...). */
int flex_cfg_load(struct flex_cfg **out, const char *path, const struct flex_cfg_override *ov,
                  size_t nov, flex_cfg_diag_cb cb, void *arg);
/* As flex_cfg_load on |len| bytes at |text| (borrowed); |name| is used in
 * messages.  Never touches the file system except to check time zones and
 * to read an "@file" audit_key. */
int flex_cfg_parse(struct flex_cfg **out, const char *name, const char *text, size_t len,
                   const struct flex_cfg_override *ov, size_t nov, flex_cfg_diag_cb cb, void *arg);
void flex_cfg_del(struct flex_cfg *cfg);

/* One change a reload makes, in words ("[carrier primary] mps: 100 -> 200",
 * "[location loc-9] added"); |restart|: a key only a restart applies. */
typedef void (*flex_cfg_change_cb)(void *arg, const char *line, bool restart);
/* Compares the snapshot about to be published, |now|, with the running one,
 * |was|, key by key: calls |cb| once per section added or removed and per
 * key changed (secrets said to have changed, never shown).  A restart-only
 * key that changed is set back to |was|'s value in |now| (it keeps running
 * as started).  Returns the number of changes. */
size_t flex_cfg_diff(struct flex_cfg *now, const struct flex_cfg *was, flex_cfg_change_cb cb,
                     void *arg);

const struct flex_cfg_carrier *flex_cfg_carrier_find(const struct flex_cfg *cfg, const char *name);
const struct flex_cfg_location *flex_cfg_location_find(const struct flex_cfg *cfg, const char *id);
const struct flex_cfg_template *flex_cfg_template_find(const struct flex_cfg *cfg,
                                                       const char *name);
/* The route a location sends by: its own, else [route] default. */
const struct flex_cfg_route *flex_cfg_route_for(const struct flex_cfg *cfg,
                                                const struct flex_cfg_location *loc);
/* True when engine.allow_only is empty, or |e164| (normalized, borrowed)
 * starts with one of its entries (a whole number is its own prefix).
 * A NULL |e164| is allowed only when the list is empty. */
bool flex_cfg_allowed(const struct flex_cfg *cfg, const char *e164);
/* The first location whose (normalized) phone is |e164| (borrowed), else
 * NULL: which practice an inbound text was sent to. */
const struct flex_cfg_location *flex_cfg_location_by_phone(const struct flex_cfg *cfg,
                                                           const char *e164);
/* True when reminders of kind |kind| (a template name, borrowed) are dropped
 * once the patient confirms (engine.confirm_drops). */
bool flex_cfg_confirm_drops(const struct flex_cfg *cfg, const char *kind);

/* The one global mutable: the snapshot in force, and its QSBR domain. */
extern _Atomic(struct flex_cfg *) flex_cfg_current;
extern struct flex_qsbr flex_cfg_qsbr;

/* Reader: the snapshot in force, valid until the caller's next quiescent
 * point or offline call on flex_cfg_qsbr. */
static inline const struct flex_cfg *flex_cfg_acquire(void)
{
    /* acquire: pairs with the release exchange in flex_cfg_publish, so
     * every field written while building the snapshot is visible. */
    return atomic_load_explicit(&flex_cfg_current, memory_order_acquire);
}

/* Writer (one thread): makes |cfg| current (takes ownership) and retires the
 * previous one. */
void flex_cfg_publish(struct flex_cfg *cfg);

/* The time |days| days before |now_ms|: a [retention] cut. */
static inline int64_t flex_cfg_days_before(int64_t now_ms, uint32_t days)
{
    return now_ms - (int64_t)days * 86400000LL;
}

#endif
