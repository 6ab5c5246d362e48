/* Receipts (TLVs first, text second, the usual variations), UDH, and
 * message-id matching across hex and decimal. */
#include "test_common.h"

#include <string.h>

#include "err.h"
#include "smpp_payload.h"

static struct flex_smpp_pdu text_receipt(const char *text)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_DELIVER_SM;
    p.esm_class = FLEX_SMPP_ESM_RECEIPT;
    p.short_message = (const uint8_t *)text;
    p.sm_length = (uint8_t)strlen(text);
    return p;
}

static void test_smpp_receipt_from_text_variations(void **state)
{
    (void)state;
    struct flex_smpp_receipt r;
    struct flex_smpp_pdu p =
        text_receipt("id:0001A2B3 sub:001 dlvrd:001 submit date:2612011200 done date:2612011201 "
                     "stat:DELIVRD err:000 text:Hi Ana");
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), 0);
    assert_string_equal(r.id, "0001A2B3");
    assert_int_equal(r.state, FLEX_SMPP_STATE_DELIVERED);
    assert_int_equal(r.err, 0);
    /* Upper-case keys, other order, fields missing, another stat. */
    p = text_receipt("STAT:UNDELIV ID:98765 ERR:034");
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), 0);
    assert_string_equal(r.id, "98765");
    assert_int_equal(r.state, FLEX_SMPP_STATE_UNDELIVERABLE);
    assert_int_equal(r.err, 34);
    p = text_receipt("id:55 stat:expired");
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), 0);
    assert_int_equal(r.state, FLEX_SMPP_STATE_EXPIRED);
    p = text_receipt("id:56 stat:WHATEVER");
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), 0);
    assert_int_equal(r.state, FLEX_SMPP_STATE_UNKNOWN);
    p = text_receipt("no id here stat:DELIVRD");
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), FLEX_E_NOTFOUND);
    const char *names[] = {"ACCEPTD", "REJECTD", "DELETED", "ENROUTE"};
    const uint8_t states[] = {FLEX_SMPP_STATE_ACCEPTED, FLEX_SMPP_STATE_REJECTED,
                              FLEX_SMPP_STATE_DELETED, FLEX_SMPP_STATE_ENROUTE};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(flex_smpp_stat_parse(names[i], 7), states[i]);
        assert_string_equal(flex_smpp_stat_name(states[i]), names[i]);
    }
}

static void test_smpp_receipt_tlvs_win(void **state)
{
    (void)state;
    struct flex_smpp_receipt r;
    struct flex_smpp_pdu p = text_receipt("id:111 stat:UNDELIV err:001");
    p.tlv_mask = FLEX_SMPP_HAS_RECEIPTED_ID | FLEX_SMPP_HAS_MESSAGE_STATE;
    memcpy(p.receipted_message_id, "6f", 3);
    p.message_state = FLEX_SMPP_STATE_DELIVERED;
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), 0);
    assert_string_equal(r.id, "6f");
    assert_int_equal(r.state, FLEX_SMPP_STATE_DELIVERED);
    assert_int_equal(r.err, 1); /* not in the TLVs: from the text */
}

static void test_smpp_id_keys(void **state)
{
    (void)state;
    char k[65], alts[2][65];
    flex_smpp_id_key("0001A2B3", k);
    assert_string_equal(k, "1a2b3");
    flex_smpp_id_key("000", k);
    assert_string_equal(k, "0");
    /* submit_sm_resp said hex "1a2b3"; the receipt says decimal 107187. */
    int n = flex_smpp_id_alts("107187", alts);
    assert_int_equal(n, 2);
    assert_string_equal(alts[0], "1a2b3");
    assert_string_equal(alts[1], "1077639"); /* 0x107187 */
    /* resp said decimal 4660; the receipt says hex 1234. */
    n = flex_smpp_id_alts("1234", alts);
    assert_string_equal(alts[1], "4660");
    n = flex_smpp_id_alts("msg-77", alts);
    assert_int_equal(n, 0);
    n = flex_smpp_id_alts("ffffffffffffffffff", alts); /* over 64 bits */
    assert_int_equal(n, 0);
}

static void test_smpp_udh(void **state)
{
    (void)state;
    uint8_t sm[16];
    struct flex_smpp_concat c;
    assert_int_equal(flex_smpp_udh_write(sm, 0x2a, 3, 2), 6);
    assert_int_equal(flex_smpp_udh_parse(sm, 6, &c), 6);
    assert_int_equal(c.ref, 0x2a);
    assert_int_equal(c.total, 3);
    assert_int_equal(c.seq, 2);
    const uint8_t ref16[] = {6, 8, 4, 0xBE, 0xEF, 2, 1, 'x'};
    assert_int_equal(flex_smpp_udh_parse(ref16, sizeof(ref16), &c), 7);
    assert_int_equal(c.ref, 0xBEEF);
    assert_int_equal(c.total, 2);
    /* Another IE first (port addressing), then concatenation. */
    const uint8_t mixed[] = {11, 5, 4, 0x0B, 0x84, 0x23, 0xF0, 0, 3, 9, 2, 2, 'y'};
    assert_int_equal(flex_smpp_udh_parse(mixed, sizeof(mixed), &c), 12);
    assert_int_equal(c.ref, 9);
    assert_int_equal(c.seq, 2);
    const uint8_t runs_over[] = {9, 0, 3, 1};
    assert_int_equal(flex_smpp_udh_parse(runs_over, sizeof(runs_over), &c), FLEX_E_SYNTAX);
    const uint8_t ie_over[] = {4, 0, 7, 1, 2};
    assert_int_equal(flex_smpp_udh_parse(ie_over, sizeof(ie_over), &c), FLEX_E_SYNTAX);
    const uint8_t seq_zero[] = {5, 0, 3, 1, 2, 0};
    assert_int_equal(flex_smpp_udh_parse(seq_zero, sizeof(seq_zero), &c), 6);
    assert_int_equal(c.total, 0); /* not a valid concatenation element */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smpp_receipt_from_text_variations),
        cmocka_unit_test(test_smpp_receipt_tlvs_win),
        cmocka_unit_test(test_smpp_id_keys),
        cmocka_unit_test(test_smpp_udh),
    };
    return cmocka_run_group_tests_name("smpp_payload", tests, NULL, NULL);
}
