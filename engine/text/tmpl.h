/*
 * Message templates: text with {placeholder} fields.
 *
 *   "Hi {first_name}, this is {location_name}: see you {date} at {time}."
 *
 * The placeholders are fixed by the contract (enum flex_tmpl_var); "{{" and
 * "}}" stand for literal braces.  "{[" ... "]}" is an optional section, kept
 * only when every placeholder in it has a value, else left out whole:
 *
 *   "See you {date} at {time}{[ with {provider}]}."
 *
 * (an appointment without a provider still gets its reminder).  Sections
 * do not nest and hold at least one placeholder.  Templates are compiled once, at config
 * load, which is where an unknown placeholder or a stray brace is reported;
 * rendering is then a copy loop with no parsing.
 */
#ifndef FLEX_TMPL_H
#define FLEX_TMPL_H

#include <stddef.h>
#include <stdint.h>

enum flex_tmpl_var {
    FLEX_TMPL_FIRST_NAME,
    FLEX_TMPL_LOCATION_NAME,
    FLEX_TMPL_LOCATION_PHONE,
    FLEX_TMPL_DATE,
    FLEX_TMPL_TIME,
    FLEX_TMPL_PROVIDER,
    FLEX_TMPL_NVARS
};

/* Values for one rendering; NULL = not given.  Borrowed for the call. */
struct flex_tmpl_vars {
    const char *v[FLEX_TMPL_NVARS];
    size_t len[FLEX_TMPL_NVARS];
};

struct flex_tmpl_error {
    int code;      /* FLEX_E_PLACEHOLDER, FLEX_E_SYNTAX, FLEX_E_UTF8, ... */
    size_t offset; /* byte offset in the body */
    char reason[96];
};

struct flex_tmpl;

/* Compiles |len| bytes at |body| (borrowed).  Returns 0 and |*out| (free
 * with flex_tmpl_del), or with |*err|: FLEX_E_PLACEHOLDER (unknown name),
 * FLEX_E_SYNTAX (unclosed '{', stray '}', empty body, a control character
 * other than newline, a section nested, unclosed or without a placeholder), FLEX_E_UTF8 (invalid
 * UTF-8), FLEX_E_TOOLONG (over 4096 bytes). */
int flex_tmpl_compile(struct flex_tmpl **out, const char *body, size_t len,
                      struct flex_tmpl_error *err);
void flex_tmpl_del(struct flex_tmpl *t);

/* Bit (1 << var) set for each placeholder |t| needs (outside optional
 * sections), and for each it uses only inside them. */
unsigned flex_tmpl_uses(const struct flex_tmpl *t);
unsigned flex_tmpl_optional(const struct flex_tmpl *t);

/* Renders into |out| (|outsz| bytes), NUL-terminated.  Returns the length,
 * FLEX_E_NOTFOUND when a placeholder it needs has no value (|*missing| set
 * to it when not NULL), or FLEX_E_NOSPACE.  An optional section whose
 * placeholders do not all have a non-empty value is left out. */
long flex_tmpl_render(const struct flex_tmpl *t, const struct flex_tmpl_vars *vars, char *out,
                      size_t outsz, enum flex_tmpl_var *missing);

/* Placeholder name <-> index; lookup returns -1 for an unknown name. */
int flex_tmpl_var_lookup(const char *name, size_t len);
const char *flex_tmpl_var_name(enum flex_tmpl_var v);

#endif
