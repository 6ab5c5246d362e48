/*
 * Private to the config module (engine/core/config*.c), included by no other
 * file: the key table and the parser state its three parts share.
 *
 *   config.c        the key table, lexing a file and -D options, typed
 *                   values, defaults; the public load, lookup and publish API
 *   config_check.c  checks across keys and sections once everything is read
 *                   (cfg_check_all): required keys, routes, TLS files,
 *                   [keywords], warnings
 *   config_diff.c   what a reload changes (flex_cfg_diff)
 */
#ifndef FLEX_CONFIG_INT_H
#define FLEX_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define MAX_SECTIONS 4096

/* ---- the key table (its rows: cfg_rows in config.c) ------------------ */

enum cfg_kind {
    K_ENGINE,
    K_REDIS,
    K_HTTP,
    K_ROUTE,
    K_QUIET,
    K_KEYWORDS,
    K_CARRIER,
    K_LOCATION,
    K_TEMPLATE,
    K_RETENTION,
    K_NKINDS
};

/* A section kind: its name, and whether it is "[name NAME]". */
struct cfg_kind_desc {
    const char *name;
    bool named;
};

extern const struct cfg_kind_desc cfg_kinds[K_NKINDS];

enum cfg_vtype {
    T_STR,
    T_SECRET,
    T_BOOL,
    T_UINT,
    T_DOUBLE,
    T_DURATION,
    T_HHMM,
    T_LOGLEVEL,
    T_CTYPE,
    T_TZ,
    T_PHONE,
    T_ROUTE,
    T_REDISURL,
    T_HTTPURL,
    T_HOSTPORT,
    T_TMPL,
    T_AMBIGUOUS,
    T_TON, /* lenient | strict -> bool (true: strict) */
    T_PROFILE,
    T_NAME,     /* 0-40 of [A-Za-z0-9._-]: goes into Redis commands as one word */
    T_KEYWORDS, /* one [keywords] list: engine/text/intent.h syntax */
    T_LIST,     /* comma-separated names (template kinds) -> struct flex_cfg_list */
    T_ALLOW     /* comma-separated numbers or "+DIGITS" prefixes -> struct flex_cfg_list */
};

/* Row flags.  RELOADABLE keys take effect on reload; IMMUTABLE ones need a
 * restart (a reload that changes one keeps the old value and says so);
 * SENSITIVE values are never echoed in messages. */
#define F_REQ 0x01
#define F_SMPP 0x02 /* applies to smpp carriers only */
#define F_HTTP 0x04 /* applies to http carriers only */
#define F_SENS 0x08
#define F_RELOAD 0x10
#define F_IMMUT 0x20
#define F_TWILIO 0x40 /* http: profile twilio only */
#define F_JSONP 0x80  /* http: profile json only */

struct cfg_row {
    uint8_t kind;
    const char *key;
    uint8_t type;
    size_t off;
    const char *dflt; /* NULL: no default (0/NULL) */
    double min, max;
    unsigned flags;
};

/* One row per key, cfg_nrows of them (at most 128: see struct cfg_sect). */
extern const struct cfg_row cfg_rows[];
extern const size_t cfg_nrows;

/* config_diff.c: row |r| at |dst| (in |now|) takes the value at |src| again,
 * by its type; -1 for a type a restart-only key may not have. */
int cfg_row_keep(const struct cfg_row *r, struct flex_cfg *now, void *dst, const void *src);
#define ROW_BIT(r) (1ULL << ((r) % 64))
#define ROW_WORD(r) ((r) / 64)

/* ---- parser state ------------------------------------------------- */

/* One section instance: a singleton (always present, maybe not in the file)
 * or one named section. */
struct cfg_sect {
    uint8_t kind;
    bool in_file; /* header seen (singletons) */
    const char *name;
    const char *file;
    unsigned line;
    size_t index;    /* into the kind's array (named kinds) */
    uint64_t set[2]; /* rows given a value (a bit per row) */
};

/* One "key = value", from the file or a -D option. */
struct cfg_kv {
    size_t sect;
    const char *key;
    const char *val;
    const char *file;
    unsigned line;
};

struct cfg_diagnostic; /* config.c */

struct cfg_parser {
    struct cfg_diagnostic *diags;
    size_t ndiags, capdiags;
    struct flex_cfg *cfg;
    struct flex_arena *a;
    const char *file;
    unsigned last_line;
    flex_cfg_diag_cb cb;
    void *arg;
    unsigned nerr;
    struct cfg_sect *sects;
    size_t nsects, capsects;
    struct cfg_kv *kvs;
    size_t nkvs, capkvs;
    bool kw_bad; /* a [keywords] list was refused: do not build them again */
};

/* ---- shared by the parts (config.c unless said) ---------------------- */

/* An error at |file|:|line| (reported sorted once loading ends); the
 * configuration is refused. */
void cfg_diag(struct cfg_parser *p, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A diagnostic that does not refuse the configuration: "warning: ..." */
void cfg_warn(struct cfg_parser *p, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "[kind]" or "[kind NAME]" of |s| into |buf|; returns |buf|. */
const char *cfg_sect_label(const struct cfg_sect *s, char buf[96]);
/* The index of section |kind| (named |name| if the kind is named), else -1. */
long cfg_sect_find(const struct cfg_parser *p, int kind, const char *name);
/* The row of |key| in sections of |kind|, else NULL. */
const struct cfg_row *cfg_row_find(int kind, const char *key);
/* [|s|, |e|) without leading blanks and trailing blanks or '\r'; the new
 * end in |*end|. */
const char *cfg_trim(const char *s, const char *e, const char **end);
/* config_check.c: every check across keys and sections, once the values
 * are applied; resolves the routes and compiles the [keywords] lists. */
void cfg_check_all(struct cfg_parser *p);

#endif
