#include "smpp_pdu.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"

enum layout { L_NONE, L_BIND, L_BRESP, L_SM, L_SMRESP };

static const struct {
    uint32_t id;
    enum layout body;
    const char *name;
} commands[] = {
#define X(name, id, body) {id, L_##body, #name},
#include "smpp_pdu.def"
#undef X
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct {
    uint32_t value;
    enum flex_smpp_status_class cls;
    const char *name;
} statuses[] = {
#define X(name, value, cls) {value, FLEX_SMPP_CLASS_##cls, #name},
#include "smpp_status.def"
#undef X
};
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

static int layout_of(uint32_t id)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].id == id)
            return (int)commands[i].body;
    return -1;
}

const char *flex_smpp_cmd_name(uint32_t id)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].id == id)
            return commands[i].name;
    return "UNKNOWN_COMMAND";
}

const char *flex_smpp_status_name(uint32_t status)
{
    for (size_t i = 0; i < NSTATUSES; i++)
        if (statuses[i].value == status)
            return statuses[i].name;
    return "ESME_UNKNOWN_STATUS";
}

enum flex_smpp_status_class flex_smpp_status_class(uint32_t status)
{
    for (size_t i = 0; i < NSTATUSES; i++)
        if (statuses[i].value == status)
            return statuses[i].cls;
    return FLEX_SMPP_CLASS_TEMP;
}

/* ---- decoding ------------------------------------------------------ */

/* A bounded reader over one PDU body; the first failure sticks. */
struct rd {
    const uint8_t *p, *end;
    uint32_t status; /* 0 while good */
    const char *why;
};

static void rd_fail(struct rd *r, uint32_t status, const char *why)
{
    if (!r->status) {
        r->status = status;
        r->why = why;
    }
    r->p = r->end;
}

static inline uint8_t rd_u8(struct rd *r)
{
    if (r->p >= r->end) {
        rd_fail(r, FLEX_SMPP_ESME_RINVCMDLEN, "body shorter than its fields");
        return 0;
    }
    return *r->p++;
}

static uint16_t rd_u16(struct rd *r)
{
    uint16_t hi = rd_u8(r);
    return (uint16_t)(hi << 8 | rd_u8(r));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A C-octet string of at most |cap| bytes including its NUL. */
static void rd_cstr(struct rd *r, char *dst, size_t cap)
{
    size_t avail = (size_t)(r->end - r->p);
    size_t lim = avail < cap ? avail : cap;
    for (size_t i = 0; i < lim; i++) {
        if ((dst[i] = (char)r->p[i]) == '\0') {
            r->p += i + 1;
            return;
        }
    }
    dst[0] = '\0';
    rd_fail(r, avail < cap ? FLEX_SMPP_ESME_RINVCMDLEN : FLEX_SMPP_ESME_RINVPARLEN,
            avail < cap ? "unterminated C-octet string" : "C-octet string over its limit");
}

static void decode_bind(struct rd *r, struct flex_smpp_pdu *pdu)
{
    rd_cstr(r, pdu->system_id, sizeof(pdu->system_id));
    rd_cstr(r, pdu->password, sizeof(pdu->password));
    rd_cstr(r, pdu->system_type, sizeof(pdu->system_type));
    pdu->interface_version = rd_u8(r);
    pdu->addr_ton = rd_u8(r);
    pdu->addr_npi = rd_u8(r);
    rd_cstr(r, pdu->address_range, sizeof(pdu->address_range));
}

/* Copies a receipted_message_id value: some SMSCs omit the NUL. */
static void tlv_id(struct rd *r, struct flex_smpp_pdu *pdu, const uint8_t *v, uint16_t len)
{
    size_t n = len;
    if (n > 0 && v[n - 1] == 0)
        n--;
    if (n >= sizeof(pdu->receipted_message_id) || memchr(v, 0, n)) {
        rd_fail(r, FLEX_SMPP_ESME_RINVOPTPARAMVAL, "bad receipted_message_id");
        return;
    }
    memcpy(pdu->receipted_message_id, v, n);
    pdu->receipted_message_id[n] = '\0';
    pdu->tlv_mask |= FLEX_SMPP_HAS_RECEIPTED_ID;
}

/* One optional parameter; unknown tags are skipped. */
static void decode_tlv(struct rd *r, struct flex_smpp_pdu *pdu, uint16_t tag, const uint8_t *v,
                       uint16_t len)
{
    static const struct {
        uint16_t tag, len;
    } fixed[] = {
        {FLEX_SMPP_TLV_MESSAGE_STATE, 1},          {FLEX_SMPP_TLV_NETWORK_ERROR_CODE, 3},
        {FLEX_SMPP_TLV_SAR_MSG_REF_NUM, 2},        {FLEX_SMPP_TLV_SAR_TOTAL_SEGMENTS, 1},
        {FLEX_SMPP_TLV_SAR_SEGMENT_SEQNUM, 1},     {FLEX_SMPP_TLV_SC_INTERFACE_VERSION, 1},
        {FLEX_SMPP_TLV_USER_MESSAGE_REFERENCE, 2},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (fixed[i].tag == tag && fixed[i].len != len) {
            rd_fail(r, FLEX_SMPP_ESME_RINVPARLEN, "optional parameter of the wrong length");
            return;
        }
    switch (tag) {
    case FLEX_SMPP_TLV_RECEIPTED_MESSAGE_ID: tlv_id(r, pdu, v, len); break;
    case FLEX_SMPP_TLV_MESSAGE_STATE:
        pdu->message_state = v[0];
        pdu->tlv_mask |= FLEX_SMPP_HAS_MESSAGE_STATE;
        break;
    case FLEX_SMPP_TLV_NETWORK_ERROR_CODE:
        pdu->network_error_type = v[0];
        pdu->network_error_code = (uint16_t)(v[1] << 8 | v[2]);
        pdu->tlv_mask |= FLEX_SMPP_HAS_NETWORK_ERROR;
        break;
    case FLEX_SMPP_TLV_MESSAGE_PAYLOAD:
        pdu->payload = v;
        pdu->payload_len = len;
        pdu->tlv_mask |= FLEX_SMPP_HAS_PAYLOAD;
        break;
    case FLEX_SMPP_TLV_SAR_MSG_REF_NUM: pdu->sar_msg_ref_num = (uint16_t)(v[0] << 8 | v[1]); break;
    case FLEX_SMPP_TLV_SAR_TOTAL_SEGMENTS: pdu->sar_total_segments = v[0]; break;
    case FLEX_SMPP_TLV_SAR_SEGMENT_SEQNUM: pdu->sar_segment_seqnum = v[0]; break;
    case FLEX_SMPP_TLV_SC_INTERFACE_VERSION:
        pdu->sc_interface_version = v[0];
        pdu->tlv_mask |= FLEX_SMPP_HAS_SC_VERSION;
        break;
    case FLEX_SMPP_TLV_USER_MESSAGE_REFERENCE:
        pdu->user_message_reference = (uint16_t)(v[0] << 8 | v[1]);
        pdu->tlv_mask |= FLEX_SMPP_HAS_USER_REF;
        break;
    default: break; /* unknown optional parameters are ignored (spec 5.3) */
    }
}

static void decode_tlvs(struct rd *r, struct flex_smpp_pdu *pdu)
{
    unsigned sar = 0;
    while (r->p < r->end) {
        if (r->end - r->p < 4) {
            rd_fail(r, FLEX_SMPP_ESME_RINVOPTPARSTREAM, "truncated optional parameter");
            return;
        }
        uint16_t tag = rd_u16(r), len = rd_u16(r);
        if (len > r->end - r->p) {
            rd_fail(r, FLEX_SMPP_ESME_RINVOPTPARSTREAM, "optional parameter past the PDU end");
            return;
        }
        const uint8_t *v = r->p;
        r->p += len;
        decode_tlv(r, pdu, tag, v, len);
        sar |= tag == FLEX_SMPP_TLV_SAR_MSG_REF_NUM      ? 1
               : tag == FLEX_SMPP_TLV_SAR_TOTAL_SEGMENTS ? 2
               : tag == FLEX_SMPP_TLV_SAR_SEGMENT_SEQNUM ? 4
                                                         : 0;
    }
    if (sar == 7)
        pdu->tlv_mask |= FLEX_SMPP_HAS_SAR;
}

static void decode_sm(struct rd *r, struct flex_smpp_pdu *pdu)
{
    rd_cstr(r, pdu->service_type, sizeof(pdu->service_type));
    pdu->source_addr_ton = rd_u8(r);
    pdu->source_addr_npi = rd_u8(r);
    rd_cstr(r, pdu->source_addr, sizeof(pdu->source_addr));
    pdu->dest_addr_ton = rd_u8(r);
    pdu->dest_addr_npi = rd_u8(r);
    rd_cstr(r, pdu->destination_addr, sizeof(pdu->destination_addr));
    pdu->esm_class = rd_u8(r);
    pdu->protocol_id = rd_u8(r);
    pdu->priority_flag = rd_u8(r);
    rd_cstr(r, pdu->schedule_delivery_time, sizeof(pdu->schedule_delivery_time));
    rd_cstr(r, pdu->validity_period, sizeof(pdu->validity_period));
    pdu->registered_delivery = rd_u8(r);
    pdu->replace_if_present_flag = rd_u8(r);
    pdu->data_coding = rd_u8(r);
    pdu->sm_default_msg_id = rd_u8(r);
    pdu->sm_length = rd_u8(r);
    if (r->status)
        return;
    if (pdu->sm_length > r->end - r->p) {
        rd_fail(r, FLEX_SMPP_ESME_RINVMSGLEN, "sm_length past the PDU end");
        return;
    }
    pdu->short_message = r->p;
    r->p += pdu->sm_length;
    decode_tlvs(r, pdu);
    if (!r->status && pdu->sm_length && (pdu->tlv_mask & FLEX_SMPP_HAS_PAYLOAD))
        rd_fail(r, FLEX_SMPP_ESME_RINVMSGLEN, "both short_message and message_payload");
}

long flex_smpp_frame_len(const uint8_t *buf, size_t len)
{
    if (len < 4)
        return 0;
    uint32_t n = get_u32(buf);
    if (n < FLEX_SMPP_HEADER || n > FLEX_SMPP_MAX_PDU)
        return FLEX_E_SYNTAX;
    return (long)n;
}

static long decode_error(struct flex_smpp_error *err, uint32_t status, bool nack, bool fatal,
                         const char *why)
{
    if (err) {
        err->status = status;
        err->nack = nack;
        err->fatal = fatal;
        snprintf(err->reason, sizeof(err->reason), "%s", why);
    }
    return FLEX_E_SYNTAX;
}

/* Every field empty: strings "" and numbers 0, field by field.  Zeroing
 * the whole 368-byte struct was 6-8% of the dispatcher's time (two PDUs per
 * message); this writes a tenth of it.  A new field must be added here. */
static void pdu_clear(struct flex_smpp_pdu *pdu)
{
    pdu->system_id[0] = pdu->password[0] = pdu->system_type[0] = pdu->address_range[0] = '\0';
    pdu->interface_version = pdu->addr_ton = pdu->addr_npi = 0;
    pdu->service_type[0] = pdu->source_addr[0] = pdu->destination_addr[0] = '\0';
    pdu->schedule_delivery_time[0] = pdu->validity_period[0] = '\0';
    pdu->source_addr_ton = pdu->source_addr_npi = pdu->dest_addr_ton = pdu->dest_addr_npi = 0;
    pdu->esm_class = pdu->protocol_id = pdu->priority_flag = 0;
    pdu->registered_delivery = pdu->replace_if_present_flag = 0;
    pdu->data_coding = pdu->sm_default_msg_id = pdu->sm_length = 0;
    pdu->short_message = NULL;
    pdu->message_id[0] = '\0';
    pdu->tlv_mask = 0;
    pdu->receipted_message_id[0] = '\0';
    pdu->message_state = pdu->network_error_type = 0;
    pdu->network_error_code = 0;
    pdu->payload = NULL;
    pdu->payload_len = pdu->sar_msg_ref_num = 0;
    pdu->sar_total_segments = pdu->sar_segment_seqnum = pdu->sc_interface_version = 0;
    pdu->user_message_reference = 0;
}

long flex_smpp_decode(struct flex_smpp_pdu *pdu, const uint8_t *buf, size_t len,
                      struct flex_smpp_error *err)
{
    long n = flex_smpp_frame_len(buf, len);
    if (n < 0)
        return decode_error(err, FLEX_SMPP_ESME_RINVCMDLEN, true, true,
                            "command_length under 16 or over the maximum");
    if (n == 0 || len < (size_t)n)
        return 0;
    pdu_clear(pdu);
    pdu->command_id = get_u32(buf + 4);
    pdu->command_status = get_u32(buf + 8);
    pdu->sequence = get_u32(buf + 12);
    int body = layout_of(pdu->command_id);
    if (body < 0)
        return decode_error(err, FLEX_SMPP_ESME_RINVCMDID, true, false, "unknown command_id");
    struct rd r = {buf + FLEX_SMPP_HEADER, buf + n, 0, NULL};
    bool resp = (pdu->command_id & 0x80000000u) != 0;
    switch (body) {
    case L_BIND: decode_bind(&r, pdu); break;
    case L_BRESP:
        if (r.p < r.end) {
            rd_cstr(&r, pdu->system_id, sizeof(pdu->system_id));
            decode_tlvs(&r, pdu);
        }
        break;
    case L_SM: decode_sm(&r, pdu); break;
    case L_SMRESP:
        /* An error response may come without a body (spec 4.4.2). */
        if (r.p < r.end)
            rd_cstr(&r, pdu->message_id, sizeof(pdu->message_id));
        break;
    default: break; /* header-only: trailing bytes are tolerated */
    }
    if (r.status)
        return decode_error(err, r.status, resp, false, r.why);
    return n;
}

/* ---- encoding ------------------------------------------------------ */

struct wr {
    uint8_t *p, *end;
    int bad; /* FLEX_E_NOSPACE or FLEX_E_INVAL; the first sticks */
};

static void wr_fail(struct wr *w, int code)
{
    if (!w->bad)
        w->bad = code;
    w->p = w->end;
}

static void wr_bytes(struct wr *w, const void *src, size_t n)
{
    if ((size_t)(w->end - w->p) < n) {
        wr_fail(w, FLEX_E_NOSPACE);
        return;
    }
    if (n)
        memcpy(w->p, src, n);
    w->p += n;
}

static inline void wr_u8(struct wr *w, uint8_t v)
{
    if (w->p < w->end)
        *w->p++ = v;
    else
        wr_fail(w, FLEX_E_NOSPACE);
}

static inline void wr_u16(struct wr *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Copies the string and its NUL, which must come within |cap| bytes.  A
 * byte loop: fields are short (at most 65), shorter than a strnlen and
 * memcpy call pair costs. */
static void wr_cstr(struct wr *w, const char *s, size_t cap)
{
    for (size_t i = 0; i < cap; i++) {
        if (w->p >= w->end) {
            wr_fail(w, FLEX_E_NOSPACE);
            return;
        }
        if ((*w->p++ = (uint8_t)s[i]) == 0)
            return;
    }
    wr_fail(w, FLEX_E_INVAL); /* no NUL within the limit */
}

static void wr_tlv_u8(struct wr *w, uint16_t tag, uint8_t v)
{
    wr_u16(w, tag);
    wr_u16(w, 1);
    wr_u8(w, v);
}

static void wr_tlv_u16(struct wr *w, uint16_t tag, uint16_t v)
{
    wr_u16(w, tag);
    wr_u16(w, 2);
    wr_u16(w, v);
}

static void encode_tlvs(struct wr *w, const struct flex_smpp_pdu *pdu)
{
    uint32_t m = pdu->tlv_mask;
    if (m & FLEX_SMPP_HAS_RECEIPTED_ID) {
        size_t n = strnlen(pdu->receipted_message_id, sizeof(pdu->receipted_message_id));
        wr_u16(w, FLEX_SMPP_TLV_RECEIPTED_MESSAGE_ID);
        wr_u16(w, (uint16_t)(n + 1));
        wr_cstr(w, pdu->receipted_message_id, sizeof(pdu->receipted_message_id));
    }
    if (m & FLEX_SMPP_HAS_MESSAGE_STATE)
        wr_tlv_u8(w, FLEX_SMPP_TLV_MESSAGE_STATE, pdu->message_state);
    if (m & FLEX_SMPP_HAS_NETWORK_ERROR) {
        wr_u16(w, FLEX_SMPP_TLV_NETWORK_ERROR_CODE);
        wr_u16(w, 3);
        wr_u8(w, pdu->network_error_type);
        wr_u16(w, pdu->network_error_code);
    }
    if (m & FLEX_SMPP_HAS_SAR) {
        wr_tlv_u16(w, FLEX_SMPP_TLV_SAR_MSG_REF_NUM, pdu->sar_msg_ref_num);
        wr_tlv_u8(w, FLEX_SMPP_TLV_SAR_TOTAL_SEGMENTS, pdu->sar_total_segments);
        wr_tlv_u8(w, FLEX_SMPP_TLV_SAR_SEGMENT_SEQNUM, pdu->sar_segment_seqnum);
    }
    if (m & FLEX_SMPP_HAS_SC_VERSION)
        wr_tlv_u8(w, FLEX_SMPP_TLV_SC_INTERFACE_VERSION, pdu->sc_interface_version);
    if (m & FLEX_SMPP_HAS_USER_REF)
        wr_tlv_u16(w, FLEX_SMPP_TLV_USER_MESSAGE_REFERENCE, pdu->user_message_reference);
    if (m & FLEX_SMPP_HAS_PAYLOAD) {
        wr_u16(w, FLEX_SMPP_TLV_MESSAGE_PAYLOAD);
        wr_u16(w, pdu->payload_len);
        wr_bytes(w, pdu->payload, pdu->payload_len);
    }
}

static void encode_sm(struct wr *w, const struct flex_smpp_pdu *pdu)
{
    wr_cstr(w, pdu->service_type, sizeof(pdu->service_type));
    wr_u8(w, pdu->source_addr_ton);
    wr_u8(w, pdu->source_addr_npi);
    wr_cstr(w, pdu->source_addr, sizeof(pdu->source_addr));
    wr_u8(w, pdu->dest_addr_ton);
    wr_u8(w, pdu->dest_addr_npi);
    wr_cstr(w, pdu->destination_addr, sizeof(pdu->destination_addr));
    wr_u8(w, pdu->esm_class);
    wr_u8(w, pdu->protocol_id);
    wr_u8(w, pdu->priority_flag);
    wr_cstr(w, pdu->schedule_delivery_time, sizeof(pdu->schedule_delivery_time));
    wr_cstr(w, pdu->validity_period, sizeof(pdu->validity_period));
    wr_u8(w, pdu->registered_delivery);
    wr_u8(w, pdu->replace_if_present_flag);
    wr_u8(w, pdu->data_coding);
    wr_u8(w, pdu->sm_default_msg_id);
    wr_u8(w, pdu->sm_length);
    wr_bytes(w, pdu->short_message, pdu->sm_length);
    encode_tlvs(w, pdu);
}

long flex_smpp_encode(const struct flex_smpp_pdu *pdu, uint8_t *out, size_t outsz)
{
    int body = layout_of(pdu->command_id);
    if (body < 0)
        return FLEX_E_INVAL;
    if (outsz < FLEX_SMPP_HEADER)
        return FLEX_E_NOSPACE;
    struct wr w = {out + FLEX_SMPP_HEADER, out + outsz, 0};
    switch (body) {
    case L_BIND:
        wr_cstr(&w, pdu->system_id, sizeof(pdu->system_id));
        wr_cstr(&w, pdu->password, sizeof(pdu->password));
        wr_cstr(&w, pdu->system_type, sizeof(pdu->system_type));
        wr_u8(&w, pdu->interface_version);
        wr_u8(&w, pdu->addr_ton);
        wr_u8(&w, pdu->addr_npi);
        wr_cstr(&w, pdu->address_range, sizeof(pdu->address_range));
        break;
    case L_BRESP:
        wr_cstr(&w, pdu->system_id, sizeof(pdu->system_id));
        encode_tlvs(&w, pdu);
        break;
    case L_SM: encode_sm(&w, pdu); break;
    case L_SMRESP: wr_cstr(&w, pdu->message_id, sizeof(pdu->message_id)); break;
    default: break;
    }
    if (w.bad)
        return w.bad;
    size_t n = (size_t)(w.p - out);
    if (n > FLEX_SMPP_MAX_PDU)
        return FLEX_E_INVAL;
    put_u32(out, (uint32_t)n);
    put_u32(out + 4, pdu->command_id);
    put_u32(out + 8, pdu->command_status);
    put_u32(out + 12, pdu->sequence);
    return (long)n;
}
