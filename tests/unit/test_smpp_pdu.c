/* SMPP 3.4 PDU codec: known bytes, round trips of every command, framing,
 * and every class of malformed input with the answer it calls for. */
#include "test_common.h"

#include <string.h>

#include "err.h"
#include "smpp_pdu.h"

static uint8_t buf[FLEX_SMPP_MAX_PDU];

static void test_smpp_known_bytes(void **state)
{
    (void)state;
    const uint8_t enquire[] = {0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7};
    struct flex_smpp_pdu p;
    struct flex_smpp_error err;
    assert_int_equal(flex_smpp_decode(&p, enquire, sizeof(enquire), &err), 16);
    assert_int_equal(p.command_id, FLEX_SMPP_ENQUIRE_LINK);
    assert_int_equal(p.sequence, 7);
    assert_int_equal(flex_smpp_encode(&p, buf, sizeof(buf)), 16);
    assert_memory_equal(buf, enquire, 16);

    /* bind_transceiver "flex"/"flexpass", version 0x34 */
    const uint8_t bind[] = {0,   0,   0,   35,  0,   0,   0,   9,    0, 0,   0,   0,
                            0,   0,   0,   1,   'f', 'l', 'e', 'x',  0, 'f', 'l', 'e',
                            'x', 'p', 'a', 's', 's', 0,   0,   0x34, 0, 0,   0};
    assert_int_equal(flex_smpp_decode(&p, bind, sizeof(bind), &err), 35);
    assert_int_equal(p.command_id, FLEX_SMPP_BIND_TRANSCEIVER);
    assert_string_equal(p.system_id, "flex");
    assert_string_equal(p.password, "flexpass");
    assert_int_equal(p.interface_version, 0x34);
    assert_int_equal(flex_smpp_encode(&p, buf, sizeof(buf)), 35);
    assert_memory_equal(buf, bind, 35);
}

static struct flex_smpp_pdu sample_submit(const uint8_t *sm, uint8_t len)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_SUBMIT_SM;
    p.sequence = 0x01020304;
    p.source_addr_ton = 1;
    p.source_addr_npi = 1;
    memcpy(p.source_addr, "12025550100", 12);
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    memcpy(p.destination_addr, "12025550143", 12);
    p.esm_class = FLEX_SMPP_ESM_UDHI;
    p.registered_delivery = 1;
    p.data_coding = 8;
    p.short_message = sm;
    p.sm_length = len;
    p.tlv_mask = FLEX_SMPP_HAS_USER_REF;
    p.user_message_reference = 4242;
    return p;
}

static void test_smpp_submit_round_trip(void **state)
{
    (void)state;
    const uint8_t sm[] = {5, 0, 3, 0x2a, 2, 1, 0x00, 0x48, 0xd8, 0x3d, 0xde, 0x00};
    struct flex_smpp_pdu p = sample_submit(sm, sizeof(sm)), q;
    struct flex_smpp_error err;
    long n = flex_smpp_encode(&p, buf, sizeof(buf));
    assert_true(n > 16);
    assert_int_equal(flex_smpp_decode(&q, buf, (size_t)n, &err), n);
    assert_int_equal(q.sequence, 0x01020304);
    assert_string_equal(q.destination_addr, "12025550143");
    assert_int_equal(q.esm_class, FLEX_SMPP_ESM_UDHI);
    assert_int_equal(q.data_coding, 8);
    assert_int_equal(q.sm_length, sizeof(sm));
    assert_memory_equal(q.short_message, sm, sizeof(sm));
    assert_true(q.short_message >= buf && q.short_message < buf + n); /* zero copy */
    assert_int_equal(q.user_message_reference, 4242);
    /* Every prefix is "not yet complete", never an error. */
    for (long k = 0; k < n; k++)
        assert_int_equal(flex_smpp_decode(&q, buf, (size_t)k, &err), 0);
}

static void test_smpp_deliver_receipt_tlvs_round_trip(void **state)
{
    (void)state;
    const char *text = "id:0A1B2C sub:001 dlvrd:001 submit date:2612011200 done "
                       "date:2612011201 stat:DELIVRD err:000 text:";
    struct flex_smpp_pdu p = {0}, q;
    struct flex_smpp_error err;
    p.command_id = FLEX_SMPP_DELIVER_SM;
    p.sequence = 9;
    p.esm_class = FLEX_SMPP_ESM_RECEIPT;
    p.short_message = (const uint8_t *)text;
    p.sm_length = (uint8_t)strlen(text);
    p.tlv_mask = FLEX_SMPP_HAS_RECEIPTED_ID | FLEX_SMPP_HAS_MESSAGE_STATE |
                 FLEX_SMPP_HAS_NETWORK_ERROR | FLEX_SMPP_HAS_SAR;
    memcpy(p.receipted_message_id, "0a1b2c", 7);
    p.message_state = FLEX_SMPP_STATE_DELIVERED;
    p.network_error_type = 3;
    p.network_error_code = 0x0102;
    p.sar_msg_ref_num = 0xBEEF;
    p.sar_total_segments = 3;
    p.sar_segment_seqnum = 2;
    long n = flex_smpp_encode(&p, buf, sizeof(buf));
    assert_int_equal(flex_smpp_decode(&q, buf, (size_t)n, &err), n);
    assert_int_equal(q.tlv_mask, p.tlv_mask);
    assert_string_equal(q.receipted_message_id, "0a1b2c");
    assert_int_equal(q.message_state, FLEX_SMPP_STATE_DELIVERED);
    assert_int_equal(q.network_error_code, 0x0102);
    assert_int_equal(q.sar_msg_ref_num, 0xBEEF);
    assert_int_equal(q.sar_segment_seqnum, 2);
}

static void test_smpp_every_command_round_trips(void **state)
{
    (void)state;
    const uint32_t ids[] = {
        FLEX_SMPP_GENERIC_NACK,          FLEX_SMPP_BIND_RECEIVER,
        FLEX_SMPP_BIND_RECEIVER_RESP,    FLEX_SMPP_BIND_TRANSMITTER,
        FLEX_SMPP_BIND_TRANSMITTER_RESP, FLEX_SMPP_SUBMIT_SM,
        FLEX_SMPP_SUBMIT_SM_RESP,        FLEX_SMPP_DELIVER_SM,
        FLEX_SMPP_DELIVER_SM_RESP,       FLEX_SMPP_UNBIND,
        FLEX_SMPP_UNBIND_RESP,           FLEX_SMPP_BIND_TRANSCEIVER,
        FLEX_SMPP_BIND_TRANSCEIVER_RESP, FLEX_SMPP_ENQUIRE_LINK,
        FLEX_SMPP_ENQUIRE_LINK_RESP,
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct flex_smpp_pdu p = {0}, q;
        struct flex_smpp_error err;
        p.command_id = ids[i];
        p.sequence = (uint32_t)i + 100;
        memcpy(p.system_id, "flex", 5);
        memcpy(p.message_id, "5f3a", 5);
        if (ids[i] == FLEX_SMPP_BIND_TRANSCEIVER_RESP) {
            p.tlv_mask = FLEX_SMPP_HAS_SC_VERSION;
            p.sc_interface_version = 0x34;
        }
        long n = flex_smpp_encode(&p, buf, sizeof(buf));
        assert_true(n >= 16);
        assert_int_equal(flex_smpp_decode(&q, buf, (size_t)n, &err), n);
        assert_int_equal(q.command_id, ids[i]);
        assert_int_equal(q.sequence, i + 100);
        assert_string_not_equal(flex_smpp_cmd_name(ids[i]), "UNKNOWN_COMMAND");
    }
}

static void test_smpp_framing_errors(void **state)
{
    (void)state;
    struct flex_smpp_pdu p;
    struct flex_smpp_error err;
    uint8_t h[16] = {0, 0, 0, 15, 0, 0, 0, 0x15};
    assert_int_equal(flex_smpp_decode(&p, h, 16, &err), FLEX_E_SYNTAX);
    assert_true(err.fatal);
    assert_true(err.nack);
    assert_int_equal(err.status, FLEX_SMPP_ESME_RINVCMDLEN);
    h[0] = 0x7f; /* 2 GB */
    h[3] = 16;
    assert_int_equal(flex_smpp_decode(&p, h, 16, &err), FLEX_E_SYNTAX);
    assert_true(err.fatal);
    assert_int_equal(flex_smpp_frame_len(h, 3), 0);
    /* Unknown command: generic_nack, the stream stays usable. */
    uint8_t u[16] = {0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 5};
    assert_int_equal(flex_smpp_decode(&p, u, 16, &err), FLEX_E_SYNTAX);
    assert_false(err.fatal);
    assert_true(err.nack);
    assert_int_equal(err.status, FLEX_SMPP_ESME_RINVCMDID);
    assert_int_equal(p.sequence, 5);
}

/* Corrupts an encoded submit_sm in one place and checks the answer. */
static void expect_body_error(uint8_t *pdu, long n, uint32_t status)
{
    struct flex_smpp_pdu p;
    struct flex_smpp_error err = {0};
    assert_int_equal(flex_smpp_decode(&p, pdu, (size_t)n, &err), FLEX_E_SYNTAX);
    assert_false(err.fatal);
    assert_false(err.nack); /* a request: answered by its own _resp */
    assert_int_equal(err.status, status);
    assert_int_equal(p.command_id, FLEX_SMPP_SUBMIT_SM);
}

static void set_len(uint8_t *pdu, long n)
{
    pdu[0] = (uint8_t)(n >> 24);
    pdu[1] = (uint8_t)(n >> 16);
    pdu[2] = (uint8_t)(n >> 8);
    pdu[3] = (uint8_t)n;
}

static void test_smpp_body_errors(void **state)
{
    (void)state;
    const uint8_t sm[] = "hello";
    struct flex_smpp_pdu p = sample_submit(sm, 5);
    p.tlv_mask = 0;
    long n = flex_smpp_encode(&p, buf, sizeof(buf));
    /* sm_length (last mandatory octet before the text) claims more than is there */
    buf[n - 6] = 200;
    expect_body_error(buf, n, FLEX_SMPP_ESME_RINVMSGLEN);
    buf[n - 6] = 5;
    /* Truncated body: a C-string runs to the end. */
    set_len(buf, 20);
    expect_body_error(buf, 20, FLEX_SMPP_ESME_RINVCMDLEN);
    set_len(buf, n);
    /* A trailing TLV header cut short, then one running past the end. */
    buf[n] = 0x04;
    buf[n + 1] = 0x27;
    set_len(buf, n + 2);
    expect_body_error(buf, n + 2, FLEX_SMPP_ESME_RINVOPTPARSTREAM);
    buf[n + 2] = 0;
    buf[n + 3] = 9;
    buf[n + 4] = 2;
    set_len(buf, n + 5);
    expect_body_error(buf, n + 5, FLEX_SMPP_ESME_RINVOPTPARSTREAM);
    /* message_state with the wrong length */
    buf[n + 3] = 2;
    buf[n + 5] = 2;
    set_len(buf, n + 6);
    expect_body_error(buf, n + 6, FLEX_SMPP_ESME_RINVPARLEN);
    /* An unknown TLV is skipped. */
    buf[n] = 0x14;
    buf[n + 1] = 0x00;
    struct flex_smpp_pdu q;
    struct flex_smpp_error err;
    assert_int_equal(flex_smpp_decode(&q, buf, (size_t)n + 6, &err), n + 6);
    /* A C-octet string over its limit (destination_addr is 21 with NUL). */
    struct flex_smpp_pdu big = sample_submit(sm, 5);
    memset(big.destination_addr, '9', sizeof(big.destination_addr));
    assert_int_equal(flex_smpp_encode(&big, buf, sizeof(buf)), FLEX_E_INVAL);
    assert_int_equal(flex_smpp_encode(&p, buf, 20), FLEX_E_NOSPACE);
    big.command_id = 0x77;
    assert_int_equal(flex_smpp_encode(&big, buf, sizeof(buf)), FLEX_E_INVAL);
}

static void test_smpp_error_resp_without_body(void **state)
{
    (void)state;
    const uint8_t resp[] = {0, 0, 0, 16, 0x80, 0, 0, 4, 0, 0, 0, 0x58, 0, 0, 0, 3};
    struct flex_smpp_pdu p;
    struct flex_smpp_error err;
    assert_int_equal(flex_smpp_decode(&p, resp, 16, &err), 16);
    assert_int_equal(p.command_status, FLEX_SMPP_ESME_RTHROTTLED);
    assert_string_equal(p.message_id, "");
    assert_string_equal(flex_smpp_status_name(p.command_status), "ESME_RTHROTTLED");
}

static void test_smpp_status_classes(void **state)
{
    (void)state;
    assert_int_equal(flex_smpp_status_class(0), FLEX_SMPP_CLASS_OK);
    assert_int_equal(flex_smpp_status_class(0x58), FLEX_SMPP_CLASS_THROTTLE);
    assert_int_equal(flex_smpp_status_class(0x14), FLEX_SMPP_CLASS_THROTTLE);
    assert_int_equal(flex_smpp_status_class(0x0B), FLEX_SMPP_CLASS_PERM);
    assert_int_equal(flex_smpp_status_class(0x08), FLEX_SMPP_CLASS_TEMP);
    assert_int_equal(flex_smpp_status_class(0x400), FLEX_SMPP_CLASS_TEMP);
    assert_string_equal(flex_smpp_status_name(0x400), "ESME_UNKNOWN_STATUS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smpp_known_bytes),
        cmocka_unit_test(test_smpp_submit_round_trip),
        cmocka_unit_test(test_smpp_deliver_receipt_tlvs_round_trip),
        cmocka_unit_test(test_smpp_every_command_round_trips),
        cmocka_unit_test(test_smpp_framing_errors),
        cmocka_unit_test(test_smpp_body_errors),
        cmocka_unit_test(test_smpp_error_resp_without_body),
        cmocka_unit_test(test_smpp_status_classes),
    };
    return cmocka_run_group_tests_name("smpp_pdu", tests, NULL, NULL);
}
