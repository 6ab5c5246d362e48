#include "job.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "clock.h"
#include "e164.h"
#include "err.h"
#include "flex.pb-c.h"
#include "mem.h"
#include "sms.h"
#include "tmpl.h"

#define MAX_VARS 16

static int job_fail(struct flex_job_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int job_fail(struct flex_job_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return code;
}

static bool is_empty(const char *s)
{
    return !s || !*s;
}

/* ---- time ------------------------------------------------------------ */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01, proleptic Gregorian. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

int flex_job_parse_date(const char *s, int64_t *ms)
{
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &m) ||
        digits(s + 8, 2, &d) || !valid_date(y, m, d))
        return FLEX_E_SYNTAX;
    *ms = days_from_civil(y, m, d) * 86400000LL;
    return 0;
}

int flex_job_parse_time(const char *s, int64_t *ms)
{
    size_t len = strlen(s);
    int64_t day;
    int hh, mm, ss = 0, oh = 0, om = 0, sign = 0;
    char date[11];
    if (len < 16 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':')
        return FLEX_E_SYNTAX;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (flex_job_parse_date(date, &day) || digits(s + 11, 2, &hh) || digits(s + 14, 2, &mm))
        return FLEX_E_SYNTAX;
    const char *p = s + 16;
    if (*p == ':') {
        if (digits(p + 1, 2, &ss))
            return FLEX_E_SYNTAX;
        p += 3;
        if (*p == '.') /* fractions of a second are ignored */
            while (*++p >= '0' && *p <= '9')
                ;
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return FLEX_E_SYNTAX;
        p += 6;
    } else {
        return FLEX_E_SYNTAX; /* a time without a zone is ambiguous */
    }
    if (*p || hh > 23 || mm > 59 || ss > 60 || oh > 23 || om > 59)
        return FLEX_E_SYNTAX;
    int64_t secs = (int64_t)hh * 3600 + mm * 60 + ss - sign * (oh * 3600 + om * 60);
    *ms = day + secs * 1000;
    return 0;
}

/* ---- validation --------------------------------------------------------- */

static int check_message(const struct flex_cfg *cfg, const Flex__V1__Job *job,
                         struct flex_job_error *err)
{
    bool has_tmpl = !is_empty(job->template_), has_body = !is_empty(job->body);
    if (has_tmpl == has_body)
        return job_fail(err, FLEX_E_INVAL, "a message needs exactly one of template and body");
    if (has_body) {
        static _Thread_local struct flex_sms sms;
        struct flex_text_error terr;
        int rc = flex_sms_encode(&sms, job->body, strlen(job->body), cfg->engine.max_parts, &terr);
        if (rc == FLEX_E_UTF8)
            return job_fail(err, FLEX_E_INVAL, "body is not valid UTF-8");
        if (rc)
            return job_fail(err, FLEX_E_INVAL, "oversize body: more than engine.max_parts SMS");
        return 0;
    }
    const struct flex_cfg_template *t = flex_cfg_template_find(cfg, job->template_);
    if (!t)
        return job_fail(err, FLEX_E_INVAL, "unknown template '%.60s'", job->template_);
    unsigned need = flex_tmpl_uses(t->tmpl) &
                    ~((1u << FLEX_TMPL_LOCATION_NAME) | (1u << FLEX_TMPL_LOCATION_PHONE));
    for (int v = 0; v < FLEX_TMPL_NVARS; v++) {
        if (!(need & (1u << v)))
            continue;
        bool found = false;
        for (size_t i = 0; i < job->n_vars; i++)
            found |= strcmp(job->vars[i]->key, flex_tmpl_var_name((enum flex_tmpl_var)v)) == 0 &&
                     !is_empty(job->vars[i]->value);
        if (!found)
            return job_fail(err, FLEX_E_INVAL, "missing field: vars.%s (the template uses it)",
                            flex_tmpl_var_name((enum flex_tmpl_var)v));
    }
    return 0;
}

static int check_kind(const struct flex_cfg *cfg, const Flex__V1__Job *job,
                      struct flex_job_error *err)
{
    int64_t t;
    switch (job->type) {
    case FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE: return check_message(cfg, job, err);
    case FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT:
        if (is_empty(job->first_name))
            return job_fail(err, FLEX_E_INVAL, "missing field: first_name");
        if (is_empty(job->starts_at) || flex_job_parse_time(job->starts_at, &t))
            return job_fail(err, FLEX_E_INVAL,
                            "missing or bad field: starts_at (RFC 3339 with offset)");
        return 0;
    case FLEX__V1__JOB_TYPE__JOB_TYPE_RECALL:
        if (is_empty(job->first_name))
            return job_fail(err, FLEX_E_INVAL, "missing field: first_name");
        if (is_empty(job->due) || flex_job_parse_date(job->due, &t))
            return job_fail(err, FLEX_E_INVAL, "missing or bad field: due (YYYY-MM-DD)");
        return 0;
    default: return job_fail(err, FLEX_E_INVAL, "missing or unknown type");
    }
}

int flex_job_validate(const struct flex_cfg *cfg, Flex__V1__Job *job, char *phone_buf,
                      struct flex_job_error *err)
{
    if (is_empty(job->id))
        return job_fail(err, FLEX_E_INVAL, "missing field: id");
    /* Ids flexd derives for reminders ("a-1/24h/1764...") may be longer. */
    if (strlen(job->id) > (is_empty(job->parent_id) ? FLEX_JOB_ID_MAX : FLEX_JOB_DERIVED_ID_MAX))
        return job_fail(err, FLEX_E_INVAL, "id longer than 64 bytes");
    for (const char *p = job->id; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return job_fail(err, FLEX_E_INVAL, "id with spaces or control characters");
    if (is_empty(job->location))
        return job_fail(err, FLEX_E_INVAL, "missing field: location");
    if (!flex_cfg_location_find(cfg, job->location))
        return job_fail(err, FLEX_E_INVAL, "unknown location '%.60s'", job->location);
    if (is_empty(job->patient))
        return job_fail(err, FLEX_E_INVAL, "missing field: patient");
    if (strlen(job->patient) > 64) /* kept whole everywhere (a cap is per patient id) */
        return job_fail(err, FLEX_E_INVAL, "patient id longer than 64 bytes");
    if (is_empty(job->phone))
        return job_fail(err, FLEX_E_INVAL, "missing field: phone");
    struct flex_e164_error perr;
    if (flex_e164_normalize(job->phone, strlen(job->phone), phone_buf, &perr) < 0)
        return job_fail(err, FLEX_E_INVAL, "invalid phone: %s", perr.reason);
    job->phone = phone_buf;
    /* Every other string bounded, whatever the job's type carries: a
     * 200 KB first_name on a message job was taken and stored whole, and
     * on an appointment it failed as "cannot render template". */
    const struct {
        const char *name, *v;
        size_t max;
    } caps[] = {{"first_name", job->first_name, FLEX_JOB_VAR_MAX},
                {"provider", job->provider, FLEX_JOB_VAR_MAX},
                {"starts_at", job->starts_at, 64},
                {"due", job->due, 64},
                {"template", job->template_, 64}};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        if (caps[i].v && strlen(caps[i].v) > caps[i].max)
            return job_fail(err, FLEX_E_INVAL, "%s longer than %zu bytes", caps[i].name,
                            caps[i].max);
    for (size_t i = 0; i < job->n_vars; i++)
        if (job->vars[i]->value && strlen(job->vars[i]->value) > FLEX_JOB_VAR_MAX)
            return job_fail(err, FLEX_E_INVAL, "vars.%.40s is longer than 200 bytes",
                            job->vars[i]->key ? job->vars[i]->key : "");
    return check_kind(cfg, job, err);
}

/* ---- JSON ------------------------------------------------------------------ */

static const char *jstr(json_t *o, const char *key, struct flex_job_error *err, int *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        job_fail(err, FLEX_E_INVAL, "field %s must be a string", key);
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

static int parse_type(const char *t, Flex__V1__JobType *out)
{
    if (!t)
        return -1;
    *out = strcmp(t, "message") == 0       ? FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE
           : strcmp(t, "appointment") == 0 ? FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT
           : strcmp(t, "recall") == 0      ? FLEX__V1__JOB_TYPE__JOB_TYPE_RECALL
                                           : FLEX__V1__JOB_TYPE__JOB_TYPE_UNSPECIFIED;
    return *out == FLEX__V1__JOB_TYPE__JOB_TYPE_UNSPECIFIED ? -1 : 0;
}

/* Reads "vars": an object of string values. */
static int json_vars(json_t *o, Flex__V1__Job__VarsEntry *ents, Flex__V1__Job__VarsEntry **ptrs,
                     size_t *n, struct flex_job_error *err)
{
    json_t *vars = json_object_get(o, "vars"), *v;
    const char *k;
    *n = 0;
    if (!vars || json_is_null(vars))
        return 0;
    if (!json_is_object(vars))
        return job_fail(err, FLEX_E_INVAL, "field vars must be an object");
    json_object_foreach(vars, k, v)
    {
        if (!json_is_string(v))
            return job_fail(err, FLEX_E_INVAL, "vars.%.40s must be a string", k);
        if (strlen(json_string_value(v)) > FLEX_JOB_VAR_MAX)
            return job_fail(err, FLEX_E_INVAL, "vars.%.40s is longer than 200 bytes", k);
        if (*n == MAX_VARS)
            return job_fail(err, FLEX_E_INVAL, "more than 16 vars");
        flex__v1__job__vars_entry__init(&ents[*n]);
        ents[*n].key = (char *)k;
        ents[*n].value = (char *)json_string_value(v);
        ptrs[*n] = &ents[*n];
        (*n)++;
    }
    return 0;
}

static int fill_from_json(json_t *o, Flex__V1__Job *job, Flex__V1__Job__VarsEntry *ents,
                          Flex__V1__Job__VarsEntry **ptrs, struct flex_job_error *err)
{
    int bad = 0;
    const char *type = jstr(o, "type", err, &bad);
    if (bad)
        return err->code;
    if (parse_type(type, &job->type) != 0)
        return job_fail(err, FLEX_E_INVAL,
                        "missing or unknown type (message, appointment or recall)");
    static const char *const names[] = {"id",        "location", "patient",    "phone",
                                        "template",  "body",     "first_name", "provider",
                                        "starts_at", "due",      "status"};
    char **fields[] = {
        &job->id,   &job->location,   &job->patient,  &job->phone,     &job->template_,
        &job->body, &job->first_name, &job->provider, &job->starts_at, &job->due,
        NULL};
    const char *status = NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = jstr(o, names[i], err, &bad);
        if (bad)
            return err->code;
        if (fields[i])
            *fields[i] = v ? (char *)v : (char *)"";
        else
            status = v;
    }
    if (status && strcmp(status, "cancelled") == 0)
        job->status = FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_CANCELLED;
    else if (!status || strcmp(status, "scheduled") == 0)
        job->status = job->type == FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT
                          ? FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SCHEDULED
                          : FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_UNSPECIFIED;
    else
        return job_fail(err, FLEX_E_INVAL, "status must be scheduled or cancelled");
    /* Extension: "expires_at" (RFC 3339), after which the job is not sent. */
    const char *exp = jstr(o, "expires_at", err, &bad);
    if (bad)
        return err->code;
    if (exp && flex_job_parse_time(exp, &job->expires_at_ms) != 0)
        return job_fail(err, FLEX_E_INVAL, "bad field: expires_at (RFC 3339 with offset)");
    /* Extension: "send_at" (RFC 3339): not before this time. */
    const char *at = jstr(o, "send_at", err, &bad);
    if (bad)
        return err->code;
    if (at && flex_job_parse_time(at, &job->send_at_ms) != 0)
        return job_fail(err, FLEX_E_INVAL, "bad field: send_at (RFC 3339 with offset)");
    int rc = json_vars(o, ents, ptrs, &job->n_vars, err);
    job->vars = ptrs;
    return rc;
}

int flex_job_from_json(const struct flex_cfg *cfg, const char *line, size_t len, uint8_t **out,
                       size_t *outlen, char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    id[0] = '\0';
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return job_fail(err, FLEX_E_SYNTAX, "not a JSON object%s%.100s", o ? "" : ": ",
                        o ? "" : jerr.text);
    }
    Flex__V1__Job job = FLEX__V1__JOB__INIT;
    Flex__V1__Job__VarsEntry ents[MAX_VARS], *ptrs[MAX_VARS];
    char phone[FLEX_E164_BUFSZ];
    int rc = fill_from_json(o, &job, ents, ptrs, err);
    if (rc == 0)
        rc = flex_job_validate(cfg, &job, phone, err);
    if (rc == 0) {
        job.enqueued_at_ms = flex_now_ms(); /* to the millisecond: latency is measured from it */
        *outlen = flex__v1__job__get_packed_size(&job);
        *out = flex_malloc(*outlen ? *outlen : 1);
        flex__v1__job__pack(&job, *out);
        snprintf(id, FLEX_JOB_ID_MAX + 1, "%s", job.id);
    }
    json_decref(o);
    return rc;
}

const char *flex_job_state_name(int state)
{
    switch ((Flex__V1__State)state) {
    case FLEX__V1__STATE__STATE_QUEUED: return "queued";
    case FLEX__V1__STATE__STATE_SCHEDULED: return "scheduled";
    case FLEX__V1__STATE__STATE_ACCEPTED: return "accepted";
    case FLEX__V1__STATE__STATE_DELIVERED: return "delivered";
    case FLEX__V1__STATE__STATE_FAILED: return "failed";
    case FLEX__V1__STATE__STATE_EXPIRED: return "expired";
    case FLEX__V1__STATE__STATE_SUPPRESSED: return "suppressed";
    case FLEX__V1__STATE__STATE_DEAD_LETTERED: return "dead_letter";
    default: return "unknown";
    }
}

/* A base-128 varint at |*pos| (at most 10 bytes, under |len|); -1 when
 * cut short or too long. */
static int read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t b = buf[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

long flex_jobbatch_split(const uint8_t *buf, size_t len, struct flex_job_slice *out, size_t max)
{
    size_t pos = 0;
    long n = 0;
    while (pos < len) {
        uint64_t tag, v;
        if (read_varint(buf, len, &pos, &tag) != 0 || tag >> 3 == 0)
            return -1;
        switch (tag & 7) {
        case 0: /* varint */
            if (read_varint(buf, len, &pos, &v) != 0)
                return -1;
            break;
        case 1: /* 64-bit */
            if (len - pos < 8)
                return -1;
            pos += 8;
            break;
        case 5: /* 32-bit */
            if (len - pos < 4)
                return -1;
            pos += 4;
            break;
        case 2: /* length-delimited: a job when field 1 */
            if (read_varint(buf, len, &pos, &v) != 0 || v > len - pos)
                return -1;
            if (tag >> 3 == 1) {
                if ((size_t)n < max)
                    out[n] = (struct flex_job_slice){buf + pos, (size_t)v};
                n++;
            }
            pos += (size_t)v;
            break;
        default: /* groups (3, 4) are gone from proto3; 6, 7 do not exist */ return -1;
        }
    }
    return n;
}
