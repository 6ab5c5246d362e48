/* SMPP PDU decoder, with a round-trip oracle: whatever decodes re-encodes,
 * and decodes again to the same fields.  Receipt and UDH parsing run on
 * every decoded deliver_sm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_payload.h"
#include "smpp_pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[FLEX_SMPP_MAX_PDU];

static void same_fields(const struct flex_smpp_pdu *a, const struct flex_smpp_pdu *b)
{
    if (a->command_id != b->command_id || a->command_status != b->command_status ||
        a->sequence != b->sequence || strcmp(a->system_id, b->system_id) != 0 ||
        strcmp(a->destination_addr, b->destination_addr) != 0 ||
        strcmp(a->message_id, b->message_id) != 0 || a->sm_length != b->sm_length ||
        (a->sm_length && memcmp(a->short_message, b->short_message, a->sm_length) != 0) ||
        a->tlv_mask != b->tlv_mask || a->payload_len != b->payload_len ||
        strcmp(a->receipted_message_id, b->receipted_message_id) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_smpp_pdu p, q;
    struct flex_smpp_error err;
    long n = flex_smpp_decode(&p, data, size, &err);
    if (n <= 0)
        return 0;
    if ((size_t)n > size)
        abort();
    if (p.command_id == FLEX_SMPP_DELIVER_SM) {
        struct flex_smpp_receipt r;
        struct flex_smpp_concat c;
        (void)flex_smpp_receipt_parse(&p, &r);
        if (p.sm_length)
            (void)flex_smpp_udh_parse(p.short_message, p.sm_length, &c);
    }
    /* Partial sar_* sets are dropped by the encoder: compare what it keeps. */
    long m = flex_smpp_encode(&p, out, sizeof(out));
    if (m < 0)
        abort();
    if (flex_smpp_decode(&q, out, (size_t)m, &err) != m)
        abort();
    same_fields(&p, &q);
    return 0;
}
