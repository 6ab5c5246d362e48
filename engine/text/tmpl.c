#include "tmpl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "utf.h"

static const char *const var_names[FLEX_TMPL_NVARS] = {
    "first_name", "location_name", "location_phone", "date", "time", "provider",
};

#define OP_LITERAL 0xFFFF
#define OP_SECTION 0xFFFE /* an optional section: the |len| ops after it */

struct op {
    uint16_t var; /* OP_LITERAL, OP_SECTION or an enum flex_tmpl_var */
    uint16_t len; /* literal length; OP_SECTION: the ops it holds */
    uint32_t off; /* literal offset in text */
};

struct flex_tmpl {
    unsigned uses;     /* placeholders outside optional sections */
    unsigned optional; /* ... inside them */
    size_t nops;
    size_t sealed; /* ops before this one are never extended (a closed section's) */
    struct op *ops;
    char *text; /* literal bytes, braces unescaped */
};

int flex_tmpl_var_lookup(const char *name, size_t len)
{
    for (int i = 0; i < FLEX_TMPL_NVARS; i++)
        if (strlen(var_names[i]) == len && memcmp(var_names[i], name, len) == 0)
            return i;
    return -1;
}

const char *flex_tmpl_var_name(enum flex_tmpl_var v)
{
    return (unsigned)v < FLEX_TMPL_NVARS ? var_names[v] : "?";
}

static int tmpl_fail(struct flex_tmpl_error *err, int code, size_t off, const char *what,
                     const char *name, size_t nlen)
{
    if (err) {
        err->code = code;
        err->offset = off;
        if (name)
            snprintf(err->reason, sizeof(err->reason), "%s {%.*s}", what,
                     (int)(nlen > 40 ? 40 : nlen), name);
        else
            snprintf(err->reason, sizeof(err->reason), "%s", what);
    }
    return code;
}

static void add_literal(struct flex_tmpl *t, size_t start, size_t end)
{
    if (end == start)
        return;
    struct op *last = t->nops > t->sealed ? &t->ops[t->nops - 1] : NULL;
    if (last && last->var == OP_LITERAL && last->off + last->len == start) {
        last->len = (uint16_t)(last->len + (end - start));
        return;
    }
    t->ops[t->nops++] = (struct op){OP_LITERAL, (uint16_t)(end - start), (uint32_t)start};
}

int flex_tmpl_compile(struct flex_tmpl **out, const char *body, size_t len,
                      struct flex_tmpl_error *err)
{
    if (len == 0)
        return tmpl_fail(err, FLEX_E_SYNTAX, 0, "empty template", NULL, 0);
    if (len > 4096)
        return tmpl_fail(err, FLEX_E_TOOLONG, 4096, "template longer than 4096 bytes", NULL, 0);
    /* A template is text: valid UTF-8, no control characters but newline
     * (a NUL would silently cut the message short downstream). */
    struct flex_text_error terr;
    if (flex_utf8_validate(body, len, &terr) != 0)
        return tmpl_fail(err, FLEX_E_UTF8, terr.offset, "invalid UTF-8", NULL, 0);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)body[i] < 0x20 && body[i] != '\n') || body[i] == 0x7f)
            return tmpl_fail(err, FLEX_E_SYNTAX, i, "control character", NULL, 0);
    struct flex_tmpl *t = flex_calloc(1, sizeof(*t));
    t->ops = flex_calloc(len + 1, sizeof(struct op)); /* at most one op per byte */
    t->text = flex_malloc(len + 1);
    size_t tl = 0;         /* bytes in t->text */
    size_t sec = SIZE_MAX; /* the open section's op, if any */
    size_t sec_at = 0;     /* ... and where it opened */
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        char c = body[i];
        if (c == '{' && i + 1 < len && body[i + 1] == '[') { /* "{[": an optional section */
            if (sec != SIZE_MAX) {
                rc = tmpl_fail(err, FLEX_E_SYNTAX, i, "'{[' inside an optional section", NULL, 0);
                break;
            }
            sec = t->nops;
            sec_at = i;
            t->ops[t->nops++] = (struct op){OP_SECTION, 0, 0};
            i += 2;
        } else if (c == ']' && sec != SIZE_MAX && i + 1 < len && body[i + 1] == '}') {
            bool any = false;
            for (size_t k = sec + 1; k < t->nops; k++)
                any |= t->ops[k].var != OP_LITERAL;
            if (!any) {
                rc = tmpl_fail(err, FLEX_E_SYNTAX, sec_at,
                               "optional section '{[...]}' without a placeholder", NULL, 0);
                break;
            }
            t->ops[sec].len = (uint16_t)(t->nops - sec - 1);
            t->sealed = t->nops; /* the text after it is not part of it */
            sec = SIZE_MAX;
            i += 2;
        } else if ((c == '{' || c == '}') && i + 1 < len && body[i + 1] == c) {
            t->text[tl] = c;
            add_literal(t, tl, tl + 1);
            tl++;
            i += 2;
        } else if (c == '{') {
            const char *close = memchr(body + i + 1, '}', len - i - 1);
            const char *open = memchr(body + i + 1, '{', len - i - 1);
            if (!close || (open && open < close)) {
                rc = tmpl_fail(err, FLEX_E_SYNTAX, i, "unclosed '{'", NULL, 0);
                break;
            }
            size_t nlen = (size_t)(close - body) - i - 1;
            int v = flex_tmpl_var_lookup(body + i + 1, nlen);
            if (v < 0) {
                rc = tmpl_fail(err, FLEX_E_PLACEHOLDER, i, "unknown placeholder", body + i + 1,
                               nlen);
                break;
            }
            t->ops[t->nops++] = (struct op){(uint16_t)v, 0, 0};
            if (sec != SIZE_MAX)
                t->optional |= 1u << v;
            else
                t->uses |= 1u << v;
            i += nlen + 2;
        } else if (c == '}') {
            rc = tmpl_fail(err, FLEX_E_SYNTAX, i, "'}' without '{' (write '}}' for a brace)", NULL,
                           0);
        } else {
            size_t start = i++; /* (a ']' not closing a section is text) */
            while (i < len && body[i] != '{' && body[i] != '}' &&
                   !(sec != SIZE_MAX && body[i] == ']'))
                i++;
            memcpy(t->text + tl, body + start, i - start);
            add_literal(t, tl, tl + (i - start));
            tl += i - start;
        }
    }
    if (rc == 0 && sec != SIZE_MAX)
        rc = tmpl_fail(err, FLEX_E_SYNTAX, sec_at, "unclosed '{[' (an optional section ends ']}')",
                       NULL, 0);
    if (rc) {
        flex_tmpl_del(t);
        return rc;
    }
    t->text[tl] = '\0';
    *out = t;
    return 0;
}

void flex_tmpl_del(struct flex_tmpl *t)
{
    if (!t)
        return;
    flex_free(t->ops);
    flex_free(t->text);
    flex_free(t);
}

unsigned flex_tmpl_uses(const struct flex_tmpl *t)
{
    return t->uses;
}

unsigned flex_tmpl_optional(const struct flex_tmpl *t)
{
    return t->optional;
}

/* Whether every placeholder of the section at |ops[0]| has a value. */
static bool section_whole(const struct op *ops, const struct flex_tmpl_vars *vars)
{
    for (size_t k = 1; k <= ops[0].len; k++)
        if (ops[k].var != OP_LITERAL && (!vars->v[ops[k].var] || vars->len[ops[k].var] == 0))
            return false;
    return true;
}

long flex_tmpl_render(const struct flex_tmpl *t, const struct flex_tmpl_vars *vars, char *out,
                      size_t outsz, enum flex_tmpl_var *missing)
{
    size_t o = 0;
    for (size_t i = 0; i < t->nops; i++) {
        const struct op *op = &t->ops[i];
        const char *src;
        size_t n;
        if (op->var == OP_SECTION) { /* kept whole, or left out whole */
            if (!section_whole(op, vars))
                i += op->len;
            continue;
        }
        if (op->var == OP_LITERAL) {
            src = t->text + op->off;
            n = op->len;
        } else {
            src = vars->v[op->var];
            if (!src) {
                if (missing)
                    *missing = (enum flex_tmpl_var)op->var;
                return FLEX_E_NOTFOUND;
            }
            n = vars->len[op->var];
        }
        if (o + n >= outsz)
            return FLEX_E_NOSPACE;
        memcpy(out + o, src, n);
        o += n;
    }
    if (o >= outsz)
        return FLEX_E_NOSPACE;
    out[o] = '\0';
    return (long)o;
}
