/*
 * SMPP 3.4 PDU codec.  Sans-I/O: bytes in, a decoded struct out, and back;
 * no sockets, no clock, no allocation.  Every read is bounded by the bytes
 * of the PDU (command_length), never by the buffer beyond it.
 *
 * Decoded variable-length fields (short_message, message_payload) point into
 * the input buffer and are valid as long as it is.  C-octet strings are
 * copied into fixed arrays sized by the spec's maxima (including the NUL);
 * a longer or unterminated one is an error.
 */
#ifndef FLEX_SMPP_PDU_H
#define FLEX_SMPP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLEX_SMPP_HEADER 16
/* Largest PDU we accept: a submit_sm/deliver_sm with a 64 KiB payload TLV
 * fits; anything bigger is a broken or hostile peer. */
#define FLEX_SMPP_MAX_PDU (64 * 1024 + 1024)
#define FLEX_SMPP_VERSION 0x34

enum flex_smpp_cmd {
#define X(name, id, body) FLEX_SMPP_##name = id,
#include "smpp_pdu.def"
#undef X
};

enum flex_smpp_status {
#define X(name, value, cls) FLEX_SMPP_##name = value,
#include "smpp_status.def"
#undef X
};

enum flex_smpp_status_class {
    FLEX_SMPP_CLASS_OK,
    FLEX_SMPP_CLASS_THROTTLE,
    FLEX_SMPP_CLASS_TEMP,
    FLEX_SMPP_CLASS_PERM,
};

/* esm_class bits */
#define FLEX_SMPP_ESM_RECEIPT 0x04 /* deliver_sm is a delivery receipt */
#define FLEX_SMPP_ESM_UDHI 0x40    /* short_message starts with a UDH */

/* Optional parameter tags */
#define FLEX_SMPP_TLV_USER_MESSAGE_REFERENCE 0x0204
#define FLEX_SMPP_TLV_SAR_MSG_REF_NUM 0x020C
#define FLEX_SMPP_TLV_SAR_TOTAL_SEGMENTS 0x020E
#define FLEX_SMPP_TLV_SAR_SEGMENT_SEQNUM 0x020F
#define FLEX_SMPP_TLV_SC_INTERFACE_VERSION 0x0210
#define FLEX_SMPP_TLV_RECEIPTED_MESSAGE_ID 0x001E
#define FLEX_SMPP_TLV_NETWORK_ERROR_CODE 0x0423
#define FLEX_SMPP_TLV_MESSAGE_PAYLOAD 0x0424
#define FLEX_SMPP_TLV_MESSAGE_STATE 0x0427

/* message_state values */
enum flex_smpp_msg_state {
    FLEX_SMPP_STATE_ENROUTE = 1,
    FLEX_SMPP_STATE_DELIVERED = 2,
    FLEX_SMPP_STATE_EXPIRED = 3,
    FLEX_SMPP_STATE_DELETED = 4,
    FLEX_SMPP_STATE_UNDELIVERABLE = 5,
    FLEX_SMPP_STATE_ACCEPTED = 6,
    FLEX_SMPP_STATE_UNKNOWN = 7,
    FLEX_SMPP_STATE_REJECTED = 8,
};

/* Which optional parameters a PDU carries. */
#define FLEX_SMPP_HAS_RECEIPTED_ID 0x001
#define FLEX_SMPP_HAS_MESSAGE_STATE 0x002
#define FLEX_SMPP_HAS_NETWORK_ERROR 0x004
#define FLEX_SMPP_HAS_PAYLOAD 0x008
#define FLEX_SMPP_HAS_SAR 0x010 /* all three sar_* */
#define FLEX_SMPP_HAS_SC_VERSION 0x020
#define FLEX_SMPP_HAS_USER_REF 0x040

/* One PDU.  Zeroed, it is an empty PDU of no command; fill what the command
 * needs.  Field sizes include the terminating NUL (spec maxima).
 * flex_smpp_decode empties every field before it reads (strings "" and
 * numbers 0; the bytes after a string's NUL are left undefined): a new
 * field needs a line in smpp_pdu.c's pdu_clear(). */
struct flex_smpp_pdu {
    uint32_t command_id;
    uint32_t command_status;
    uint32_t sequence;
    /* bind_*, bind_*_resp (system_id only) */
    char system_id[16];
    char password[9];
    char system_type[13];
    uint8_t interface_version;
    uint8_t addr_ton, addr_npi;
    char address_range[41];
    /* submit_sm, deliver_sm */
    char service_type[6];
    uint8_t source_addr_ton, source_addr_npi;
    char source_addr[21];
    uint8_t dest_addr_ton, dest_addr_npi;
    char destination_addr[21];
    uint8_t esm_class, protocol_id, priority_flag;
    char schedule_delivery_time[17];
    char validity_period[17];
    uint8_t registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id;
    uint8_t sm_length;
    const uint8_t *short_message; /* sm_length bytes; borrowed */
    /* submit_sm_resp, deliver_sm_resp */
    char message_id[65];
    /* optional parameters */
    uint32_t tlv_mask; /* FLEX_SMPP_HAS_* */
    char receipted_message_id[65];
    uint8_t message_state;
    uint8_t network_error_type;
    uint16_t network_error_code;
    const uint8_t *payload; /* message_payload; borrowed */
    uint16_t payload_len;
    uint16_t sar_msg_ref_num;
    uint8_t sar_total_segments, sar_segment_seqnum;
    uint8_t sc_interface_version;
    uint16_t user_message_reference;
};

/* Why a PDU could not be decoded, and what to answer. */
struct flex_smpp_error {
    uint32_t status; /* command_status for the answer (ESME_RINVCMDLEN...) */
    bool nack;       /* answer generic_nack (else the command's _resp) */
    bool fatal;      /* the byte stream cannot be trusted: reset the session */
    char reason[80];
};

/* Length of the PDU starting at |buf| once FLEX_SMPP_HEADER bytes are in:
 * returns the command_length, 0 when fewer than 4 bytes are available, or
 * FLEX_E_SYNTAX when it is under 16 or over FLEX_SMPP_MAX_PDU (the stream
 * is broken: reset the session). */
long flex_smpp_frame_len(const uint8_t *buf, size_t len);

/* Decodes one PDU from |buf| (|len| bytes, borrowed; decoded pointers stay
 * valid while it is).  Returns the bytes consumed (> 0), 0 when the PDU is
 * not complete yet, or FLEX_E_SYNTAX with |*err| saying how to answer.
 * After a non-fatal error the header fields (command_id, sequence) are
 * valid, and the PDU's bytes may be skipped (frame_len of them). */
long flex_smpp_decode(struct flex_smpp_pdu *pdu, const uint8_t *buf, size_t len,
                      struct flex_smpp_error *err);

/* Encodes |pdu| into |out| (|outsz| bytes).  Returns the bytes written,
 * FLEX_E_NOSPACE, or FLEX_E_INVAL for an unknown command or a field over its
 * limit. */
long flex_smpp_encode(const struct flex_smpp_pdu *pdu, uint8_t *out, size_t outsz);

/* The response command for a request (command_id | 0x80000000). */
static inline uint32_t flex_smpp_resp_of(uint32_t command_id)
{
    return command_id | 0x80000000u;
}

/* "submit_sm", "ESME_RTHROTTLED", ...; never NULL. */
const char *flex_smpp_cmd_name(uint32_t command_id);
const char *flex_smpp_status_name(uint32_t status);
enum flex_smpp_status_class flex_smpp_status_class(uint32_t status);

#endif
