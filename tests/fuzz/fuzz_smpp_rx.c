/* Inbound reassembly over many deliver_sm, so that sets are held across
 * PDUs: the input is a sequence of records, each one PDU fed to one
 * reassembly at a fake clock that only moves forward.
 *
 *   raw record:   op (bit 7 set), step, len (u16 BE), len bytes decoded by
 *                 the real PDU decoder (whatever decodes is fed)
 *   built record: op, step, data_coding, ref, total, seq, len (u16 BE),
 *                 blen, blen bytes: a deliver_sm whose user data is len
 *                 bytes (the blen bytes over and over, or A-Z when blen is
 *                 0, so a few input bytes make a 30,000-byte part); op
 *                 bits 0-1 concatenation (none, UDH 8-bit ref, UDH 16-bit
 *                 ref, sar_*), bit 2 message_payload (also taken past 254
 *                 bytes), bits 3-4 the sender (one of 4)
 *
 * step advances the clock by step * 2 s (past the 5-minute TTL in three
 * records).  Oracles: a text is valid UTF-8 no longer than the caps allow,
 * and every text flagged truncated is counted; the reassembly is freed at
 * the end (LeakSanitizer checks it held nothing else).  Every PDU is also
 * taken as flexd takes it (parts_up: a part handed up on its own, to be
 * joined in Redis): a part's bytes stay within the part cap and the PDU,
 * and decode (flex_sms_decode, as the writer decodes a joined text) to
 * valid UTF-8 of at most 3 bytes a byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_int.h"
#include "smpp_payload.h"
#include "smpp_pdu.h"
#include "sms.h"
#include "utf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_MAX 4096 /* smpp_rx.c's cap on a text's source bytes */
#define PART_MAX 1600 /* ... and on a part's */
#define MAX_RECORDS 512

static uint8_t wire[FLEX_SMPP_MAX_PDU];
static uint8_t ud[FLEX_SMPP_MAX_PDU];

struct in {
    const uint8_t *p;
    size_t left;
};

static bool take(struct in *in, void *out, size_t n)
{
    if (in->left < n)
        return false;
    memcpy(out, in->p, n);
    in->p += n;
    in->left -= n;
    return true;
}

static void check_text(const char *t, bool truncated, uint64_t *flagged)
{
    size_t n = strnlen(t, TEXT_MAX * 3 + 1);
    if (n > TEXT_MAX * 3 || flex_utf8_validate(t, n, NULL) != 0)
        abort();
    *flagged += truncated;
}

/* A part as flexd hands it up, and its bytes decoded as the writer
 * decodes a joined text (cut on a character boundary when flagged). */
static void check_part(const struct flex_smpp_pdu *p, const uint8_t *b, size_t n, bool cut,
                       const struct flex_smpp_concat *cc)
{
    static char out[PART_MAX * 3 + 1];
    if (n > PART_MAX || cc->total < 2 || cc->seq < 1 || cc->seq > cc->total)
        abort();
    /* short_message, or message_payload when that is empty */
    const uint8_t *lo = p->sm_length ? p->short_message : p->payload;
    size_t whole = p->sm_length ? p->sm_length : p->payload_len;
    if (n && (b < lo || b + n > lo + whole))
        abort(); /* points into the PDU's own user data */
    size_t k = cut ? flex_sms_char_boundary(p->data_coding, b, n) : n;
    if (k > n)
        abort();
    long r = flex_sms_decode(p->data_coding, b, k, out, sizeof(out));
    if (r < 0 || strlen(out) != (size_t)r || flex_utf8_validate(out, (size_t)r, NULL) != 0)
        abort();
}

/* The UDH or sar_* parameters of a built record (|h|: data_coding, ref,
 * total, seq); returns the UDH's length in ud[]. */
static size_t concat(uint8_t op, const uint8_t *h, struct flex_smpp_pdu *p)
{
    size_t o = 0;
    if ((op & 3) == 1) {
        o = flex_smpp_udh_write(ud, h[1], h[2], h[3]);
    } else if ((op & 3) == 2) {
        const uint8_t u[] = {6, 8, 4, h[1], (uint8_t)~h[1], h[2], h[3]};
        memcpy(ud, u, sizeof(u));
        o = sizeof(u);
    } else if ((op & 3) == 3) {
        p->tlv_mask |= FLEX_SMPP_HAS_SAR;
        p->sar_msg_ref_num = h[1];
        p->sar_total_segments = h[2];
        p->sar_segment_seqnum = h[3];
    }
    if (o)
        p->esm_class = FLEX_SMPP_ESM_UDHI;
    return o;
}

/* Builds the deliver_sm of a built record and encodes it into wire[];
 * returns its length, or 0 when the input ran out. */
static long build(struct in *in, uint8_t op)
{
    static const char *const senders[] = {"447700900001", "447700900002", "12025550143", ""};
    uint8_t h[6], blen, body[255];
    if (!take(in, h, sizeof(h)) || !take(in, &blen, 1) || !take(in, body, blen))
        return 0;
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_DELIVER_SM;
    p.sequence = 1;
    const char *from = senders[(op >> 3) & 3];
    memcpy(p.source_addr, from, strlen(from) + 1);
    p.data_coding = h[0];
    size_t o = concat(op, h, &p);
    size_t len = (size_t)h[4] << 8 | h[5];
    bool payload = (op & 4) || o + len > 254;
    size_t max = payload ? UINT16_MAX : 254;
    if (o + len > max)
        len = max - o;
    for (size_t i = 0; i < len; i++)
        ud[o + i] = blen ? body[i % blen] : (uint8_t)('A' + i % 26);
    if (payload) {
        p.tlv_mask |= FLEX_SMPP_HAS_PAYLOAD;
        p.payload = ud;
        p.payload_len = (uint16_t)(o + len);
    } else {
        p.short_message = ud;
        p.sm_length = (uint8_t)(o + len);
    }
    long n = flex_smpp_encode(&p, wire, sizeof(wire));
    if (n <= 0)
        abort(); /* every field is within its limits */
    return n;
}

/* Puts a raw record's bytes on the wire; returns their length, or -1 when
 * the input ran out. */
static long raw(struct in *in)
{
    uint8_t l[2];
    if (!take(in, l, 2))
        return -1;
    size_t n = (size_t)l[0] << 8 | l[1];
    if (n > in->left)
        n = in->left;
    take(in, wire, n);
    return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct inbound_set *set = flex_smpp_inbound_new();
    uint64_t now = 1000000000ULL, flagged = 0;
    uint8_t op, step;
    for (int r = 0; r < MAX_RECORDS && take(&in, &op, 1) && take(&in, &step, 1); r++) {
        now += step * 2000000000ULL;
        long n = op & 0x80 ? raw(&in) : build(&in, op);
        if (n < 0 || (n == 0 && !(op & 0x80)))
            break;
        struct flex_smpp_pdu p;
        struct flex_smpp_error err;
        if (flex_smpp_decode(&p, wire, (size_t)n, &err) <= 0)
            continue;
        if (p.command_id != FLEX_SMPP_DELIVER_SM || (p.esm_class & FLEX_SMPP_ESM_RECEIPT))
            continue; /* what on_deliver() sends elsewhere */
        const uint8_t *pb;
        size_t pl;
        bool pcut;
        struct flex_smpp_concat cc;
        if (flex_smpp_inbound_part(set, &p, &pb, &pl, &pcut, &cc))
            check_part(&p, pb, pl, pcut, &cc);
        bool truncated = false;
        const char *t = flex_smpp_inbound_add(set, &p, now, &truncated);
        if (t)
            check_text(t, truncated, &flagged);
        else if (truncated)
            abort(); /* no text, nothing flagged */
    }
    struct flex_smpp_stats st = {0};
    flex_smpp_inbound_stats(set, &st);
    if (st.inbound_truncated != flagged)
        abort();
    flex_smpp_inbound_del(set);
    return 0;
}
