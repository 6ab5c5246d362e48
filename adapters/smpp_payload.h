/*
 * What rides inside SMPP short messages: concatenation headers (UDH and the
 * sar_* parameters), delivery receipt text, and message-id matching.
 * Sans-I/O like the PDU codec.
 */
#ifndef FLEX_SMPP_PAYLOAD_H
#define FLEX_SMPP_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "smpp_pdu.h"

/* A concatenated part: reference shared by all parts of one message, count
 * and 1-based position. */
struct flex_smpp_concat {
    uint16_t ref;
    uint8_t total, seq;
};

/* Writes the 6-octet UDH for part |seq| of |total| (8-bit reference) into
 * |out|; returns 6. */
size_t flex_smpp_udh_write(uint8_t *out, uint8_t ref, uint8_t total, uint8_t seq);

/* Reads a UDH at the start of |sm| (|len| bytes).  Returns the UDH length
 * including its length octet (text starts there), or FLEX_E_SYNTAX for a
 * UDH running past the message.  |*c| gets the concatenation element when
 * there is one (8- or 16-bit reference), else total = 0. */
long flex_smpp_udh_parse(const uint8_t *sm, size_t len, struct flex_smpp_concat *c);

/* The text bytes of a submit_sm or deliver_sm |p| (short_message, or
 * message_payload when that is empty) past any valid UDH, in |*data| and
 * |*len| (pointing into |p|'s buffer), and its concatenation from the UDH
 * or the sar_* parameters in |*c| (total = 0: not a part).  A UDH running
 * past the message is kept as text, not a part. */
void flex_smpp_user_data(const struct flex_smpp_pdu *p, const uint8_t **data, size_t *len,
                         struct flex_smpp_concat *c);

/* Delivery receipt, from the optional parameters first and the receipt
 * text second ("id:... sub:... dlvrd:... submit date:... done date:...
 * stat:DELIVRD err:000 text:..."), keys in any case and order, fields
 * possibly missing. */
struct flex_smpp_receipt {
    char id[65];
    uint8_t state; /* enum flex_smpp_msg_state; FLEX_SMPP_STATE_UNKNOWN if unsaid */
    uint16_t err;  /* err: field or network_error_code; 0 if none */
};

/* Returns 0, or FLEX_E_NOTFOUND when neither the TLV nor the text carries an
 * id. */
int flex_smpp_receipt_parse(const struct flex_smpp_pdu *pdu, struct flex_smpp_receipt *r);

/* "DELIVRD" -> FLEX_SMPP_STATE_DELIVERED ...; 0 when unknown. */
uint8_t flex_smpp_stat_parse(const char *s, size_t len);
const char *flex_smpp_stat_name(uint8_t state);

/* Message ids as keys: SMSCs return them in hex in submit_sm_resp and in
 * decimal in receipts (or the reverse), with or without leading zeros, in
 * either case.  flex_smpp_id_key() writes the canonical key of |id| (lower
 * case, no leading zeros) and returns its length (0 for an empty id).
 * flex_smpp_id_alts() writes up to two keys of the same number read the
 * other way: decimal digits read as decimal and written in hex, and hex
 * digits read as hex and written in decimal (values up to 64 bits); it
 * returns how many it wrote.  A receipt is matched by its key, then by its
 * alternates; the submit side stores the key alone. */
size_t flex_smpp_id_key(const char *id, char out[65]);
int flex_smpp_id_alts(const char *id, char out[2][65]);

#endif
