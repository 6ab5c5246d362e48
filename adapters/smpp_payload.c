#include "smpp_payload.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "str.h"

size_t flex_smpp_udh_write(uint8_t *out, uint8_t ref, uint8_t total, uint8_t seq)
{
    out[0] = 5;    /* UDH length */
    out[1] = 0x00; /* IE: concatenated short messages, 8-bit reference */
    out[2] = 3;
    out[3] = ref;
    out[4] = total;
    out[5] = seq;
    return 6;
}

long flex_smpp_udh_parse(const uint8_t *sm, size_t len, struct flex_smpp_concat *c)
{
    c->ref = 0;
    c->total = c->seq = 0;
    if (len < 1 || (size_t)sm[0] + 1 > len)
        return FLEX_E_SYNTAX;
    size_t end = (size_t)sm[0] + 1;
    for (size_t i = 1; i + 2 <= end;) {
        uint8_t iei = sm[i], iel = sm[i + 1];
        const uint8_t *v = sm + i + 2;
        if (i + 2 + iel > end)
            return FLEX_E_SYNTAX;
        if (iei == 0x00 && iel == 3 && v[1] > 0 && v[2] > 0 && v[2] <= v[1]) {
            c->ref = v[0];
            c->total = v[1];
            c->seq = v[2];
        } else if (iei == 0x08 && iel == 4 && v[2] > 0 && v[3] > 0 && v[3] <= v[2]) {
            c->ref = (uint16_t)(v[0] << 8 | v[1]);
            c->total = v[2];
            c->seq = v[3];
        }
        i += 2 + (size_t)iel;
    }
    return (long)end;
}

void flex_smpp_user_data(const struct flex_smpp_pdu *p, const uint8_t **data, size_t *len,
                         struct flex_smpp_concat *c)
{
    const uint8_t *b = p->sm_length ? p->short_message : p->payload;
    size_t n = p->sm_length ? p->sm_length : p->payload_len;
    *c = (struct flex_smpp_concat){0};
    if ((p->esm_class & FLEX_SMPP_ESM_UDHI) && n > 0) {
        long h = flex_smpp_udh_parse(b, n, c);
        if (h > 0) {
            b += h;
            n -= (size_t)h;
        } else {
            *c = (struct flex_smpp_concat){0};
        }
    } else if (p->tlv_mask & FLEX_SMPP_HAS_SAR) {
        c->ref = p->sar_msg_ref_num;
        c->total = p->sar_total_segments;
        c->seq = p->sar_segment_seqnum;
    }
    *data = b;
    *len = n;
}

static const struct {
    const char *text;
    uint8_t state;
} stats[] = {
    {"DELIVRD", FLEX_SMPP_STATE_DELIVERED},
    {"EXPIRED", FLEX_SMPP_STATE_EXPIRED},
    {"DELETED", FLEX_SMPP_STATE_DELETED},
    {"UNDELIV", FLEX_SMPP_STATE_UNDELIVERABLE},
    {"ACCEPTD", FLEX_SMPP_STATE_ACCEPTED},
    {"UNKNOWN", FLEX_SMPP_STATE_UNKNOWN},
    {"REJECTD", FLEX_SMPP_STATE_REJECTED},
    {"ENROUTE", FLEX_SMPP_STATE_ENROUTE},
    /* spellings seen from real SMSCs */
    {"DELIVERED", FLEX_SMPP_STATE_DELIVERED},
    {"UNDELIVERABLE", FLEX_SMPP_STATE_UNDELIVERABLE},
    {"REJECTED", FLEX_SMPP_STATE_REJECTED},
    {"ACCEPTED", FLEX_SMPP_STATE_ACCEPTED},
};

uint8_t flex_smpp_stat_parse(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
        if (strlen(stats[i].text) == len && strncasecmp(stats[i].text, s, len) == 0)
            return stats[i].state;
    return 0;
}

const char *flex_smpp_stat_name(uint8_t state)
{
    for (size_t i = 0; i < 8; i++)
        if (stats[i].state == state)
            return stats[i].text;
    return "UNKNOWN";
}

/* Finds "key:" (any case) in |t| and returns the value's start and length
 * (up to the next space, or to the end for "text:"). */
static const char *field(const char *t, size_t len, const char *key, size_t *vlen)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= len; i++) {
        if ((i == 0 || t[i - 1] == ' ') && strncasecmp(t + i, key, kl) == 0) {
            size_t j = i + kl;
            size_t e = j;
            while (e < len && t[e] != ' ')
                e++;
            *vlen = e - j;
            return t + j;
        }
    }
    return NULL;
}

static void receipt_from_text(const struct flex_smpp_pdu *pdu, struct flex_smpp_receipt *r)
{
    const uint8_t *sm = pdu->sm_length ? pdu->short_message : pdu->payload;
    size_t len = pdu->sm_length ? pdu->sm_length : pdu->payload_len;
    char t[256];
    if (!sm || len == 0)
        return;
    len = len < sizeof(t) - 1 ? len : sizeof(t) - 1;
    for (size_t i = 0; i < len; i++)
        t[i] = sm[i] ? (char)sm[i] : ' ';
    t[len] = '\0';
    size_t vl;
    const char *v;
    if (!r->id[0] && (v = field(t, len, "id:", &vl)) && vl > 0 && vl < sizeof(r->id)) {
        memcpy(r->id, v, vl);
        r->id[vl] = '\0';
    }
    if (r->state == 0 && (v = field(t, len, "stat:", &vl)))
        r->state = flex_smpp_stat_parse(v, vl);
    if (r->err == 0 && (v = field(t, len, "err:", &vl))) {
        unsigned e = 0;
        for (size_t i = 0; i < vl && i < 5 && isdigit((unsigned char)v[i]); i++)
            e = e * 10 + (unsigned)(v[i] - '0');
        r->err = (uint16_t)e;
    }
}

int flex_smpp_receipt_parse(const struct flex_smpp_pdu *pdu, struct flex_smpp_receipt *r)
{
    memset(r, 0, sizeof(*r));
    if (pdu->tlv_mask & FLEX_SMPP_HAS_RECEIPTED_ID)
        flex_strlcpy(r->id, pdu->receipted_message_id, sizeof(r->id));
    if (pdu->tlv_mask & FLEX_SMPP_HAS_MESSAGE_STATE)
        r->state = pdu->message_state;
    if (pdu->tlv_mask & FLEX_SMPP_HAS_NETWORK_ERROR)
        r->err = pdu->network_error_code;
    receipt_from_text(pdu, r);
    if (r->state == 0 || r->state > FLEX_SMPP_STATE_REJECTED)
        r->state = FLEX_SMPP_STATE_UNKNOWN;
    return r->id[0] ? 0 : FLEX_E_NOTFOUND;
}

size_t flex_smpp_id_key(const char *id, char out[65])
{
    size_t i = 0, n = 0;
    while (id[i] == '0' && id[i + 1] != '\0')
        i++;
    for (; id[i] && n < 64; i++)
        out[n++] = (char)tolower((unsigned char)id[i]);
    out[n] = '\0';
    return n;
}

static int parse_base(const char *id, unsigned base, uint64_t *v)
{
    uint64_t x = 0;
    if (!*id)
        return -1;
    for (const char *p = id; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && tolower((unsigned char)*p) >= 'a' &&
                 tolower((unsigned char)*p) <= 'f')
            d = (unsigned)(tolower((unsigned char)*p) - 'a' + 10);
        else
            return -1;
        if (x > (UINT64_MAX - d) / base)
            return -1;
        x = x * base + d;
    }
    *v = x;
    return 0;
}

int flex_smpp_id_alts(const char *id, char out[2][65])
{
    int n = 0;
    uint64_t v;
    if (parse_base(id, 10, &v) == 0)
        snprintf(out[n++], 65, "%llx", (unsigned long long)v);
    if (parse_base(id, 16, &v) == 0)
        snprintf(out[n++], 65, "%llu", (unsigned long long)v);
    return n;
}
