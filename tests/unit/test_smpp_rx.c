/* Inbound reassembly: 2- and 3-part GSM-7 and UCS-2 texts (UDH with 8- and
 * 16-bit references, sar_* parameters), parts out of order and repeated,
 * sets interleaved, and the caps: oversize parts, texts over the cap cut at
 * a character boundary and flagged, the memory cap, the slot table, the
 * TTL.  Every PDU goes through the real encoder and decoder. */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "smpp_int.h"
#include "smpp_payload.h"
#include "str.h"

/* The caps of smpp_rx.c, as docs/smpp.md states them. */
#define PART_MAX 1600
#define TEXT_MAX 4096
#define SEC 1000000000ULL

enum how { PLAIN, UDH8, UDH16, SAR, PAYLOAD_SAR };

struct part_in {
    const char *from;
    uint8_t dcs;
    enum how how;
    uint16_t ref;
    uint8_t total, seq;
    const uint8_t *body;
    size_t len;
};

static uint8_t wire[FLEX_SMPP_MAX_PDU];
static uint8_t ud[FLEX_SMPP_MAX_PDU];
static uint8_t big[3][30000];

/* Builds the deliver_sm of |in|, encodes it, decodes it back and feeds the
 * decoded PDU to |set|: the result of flex_smpp_inbound_add(). */
static const char *feed(struct inbound_set *set, const struct part_in *in, uint64_t now,
                        bool *truncated)
{
    struct flex_smpp_pdu p = {0}, q;
    struct flex_smpp_error err;
    size_t h = 0;
    p.command_id = FLEX_SMPP_DELIVER_SM;
    p.sequence = 1;
    flex_strlcpy(p.source_addr, in->from, sizeof(p.source_addr));
    flex_strlcpy(p.destination_addr, "12025550100", sizeof(p.destination_addr));
    p.data_coding = in->dcs;
    if (in->how == UDH8) {
        h = flex_smpp_udh_write(ud, (uint8_t)in->ref, in->total, in->seq);
    } else if (in->how == UDH16) {
        const uint8_t udh[] = {6,         8,      4, (uint8_t)(in->ref >> 8), (uint8_t)in->ref,
                               in->total, in->seq};
        memcpy(ud, udh, sizeof(udh));
        h = sizeof(udh);
    } else if (in->how == SAR || in->how == PAYLOAD_SAR) {
        p.tlv_mask = FLEX_SMPP_HAS_SAR;
        p.sar_msg_ref_num = in->ref;
        p.sar_total_segments = in->total;
        p.sar_segment_seqnum = in->seq;
    }
    if (h)
        p.esm_class = FLEX_SMPP_ESM_UDHI;
    memcpy(ud + h, in->body, in->len);
    if (in->how == PAYLOAD_SAR || h + in->len > 254) {
        p.tlv_mask |= FLEX_SMPP_HAS_PAYLOAD;
        p.payload = ud;
        p.payload_len = (uint16_t)(h + in->len);
    } else {
        p.short_message = ud;
        p.sm_length = (uint8_t)(h + in->len);
    }
    long n = flex_smpp_encode(&p, wire, sizeof(wire));
    assert_true(n > 0);
    assert_int_equal(flex_smpp_decode(&q, wire, (size_t)n, &err), n);
    return flex_smpp_inbound_add(set, &q, now, truncated);
}

static struct part_in part(const char *from, uint8_t dcs, enum how how, uint16_t ref, uint8_t total,
                           uint8_t seq, const void *body, size_t len)
{
    return (struct part_in){from, dcs, how, ref, total, seq, body, len};
}

static struct flex_smpp_stats stats(const struct inbound_set *set)
{
    struct flex_smpp_stats st = {0};
    flex_smpp_inbound_stats(set, &st);
    return st;
}

static void test_smpp_rx_two_30000_byte_parts(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr = false;
    memset(big[0], 'A', sizeof(big[0]));
    memset(big[1], 'B', sizeof(big[1]));
    struct part_in a = part("447700900001", 0, PAYLOAD_SAR, 7, 2, 1, big[0], sizeof(big[0]));
    assert_null(feed(set, &a, 1, &tr));
    a.seq = 2;
    a.body = big[1];
    const char *t = feed(set, &a, 2, &tr);
    assert_non_null(t);
    assert_true(tr);
    /* Part 1 cut to PART_MAX; nothing after a cut part is kept. */
    assert_int_equal(strlen(t), PART_MAX);
    assert_int_equal(strspn(t, "A"), PART_MAX);
    struct flex_smpp_stats st = stats(set);
    assert_int_equal(st.inbound_truncated, 1);
    assert_int_equal(st.inbound_parts_cut, 2);
    assert_int_equal(st.inbound_evicted, 0);
    /* The same, UCS-2 and in the other order: the text is still a prefix. */
    for (size_t i = 0; i < sizeof(big[0]); i += 2) {
        big[0][i] = 0x04, big[0][i + 1] = 0x14; /* U+0414 */
        big[1][i] = 0x00, big[1][i + 1] = 'x';
    }
    a = part("447700900001", 8, PAYLOAD_SAR, 8, 2, 2, big[1], sizeof(big[1]));
    assert_null(feed(set, &a, 3, &tr));
    a.seq = 1;
    a.body = big[0];
    t = feed(set, &a, 4, &tr);
    assert_true(tr);
    assert_int_equal(strlen(t), PART_MAX); /* 800 units of 2 UTF-8 bytes each */
    assert_memory_equal(t, "\xD0\x94\xD0\x94", 4);
    assert_int_equal(stats(set).inbound_truncated, 2);
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_gsm7_udh(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr = true;
    /* "Hi @" then "5" ESC 'e' (the euro sign) */
    const uint8_t p1[] = {'H', 'i', ' ', 0x00}, p2[] = {'5', 0x1B, 0x65};
    struct part_in a = part("447700900001", 0, UDH8, 0x2a, 2, 1, p1, sizeof(p1));
    assert_null(feed(set, &a, 1, &tr));
    a = part("447700900001", 0, UDH8, 0x2a, 2, 2, p2, sizeof(p2));
    const char *t = feed(set, &a, 2, &tr);
    assert_string_equal(t, "Hi @5\xE2\x82\xAC");
    assert_false(tr);
    /* Three parts, 16-bit reference. */
    const char *w[] = {"one ", "two ", "three"};
    for (uint8_t i = 0; i < 3; i++) {
        a = part("447700900001", 0, UDH16, 0xBEEF, 3, (uint8_t)(i + 1), w[i], strlen(w[i]));
        t = feed(set, &a, 3, &tr);
        if (i < 2)
            assert_null(t);
    }
    assert_string_equal(t, "one two three");
    assert_false(tr);
    /* A lone text, and a part of one: not held. */
    a = part("447700900002", 0, PLAIN, 0, 0, 0, "STOP", 4);
    assert_string_equal(feed(set, &a, 4, &tr), "STOP");
    a = part("447700900002", 0, UDH8, 9, 1, 1, "YES", 3);
    assert_string_equal(feed(set, &a, 4, &tr), "YES");
    struct flex_smpp_stats st = stats(set);
    assert_int_equal(st.inbound_truncated + st.inbound_parts_cut + st.inbound_evicted +
                         st.inbound_expired + st.inbound_decode_errors,
                     0);
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_ucs2_sar(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr = true;
    /* "Hi " then a grinning face whose surrogate pair is split over the
     * parts, then "!" */
    const uint8_t p1[] = {0, 'H', 0, 'i', 0, ' ', 0xD8, 0x3D};
    const uint8_t p2[] = {0xDE, 0x00, 0, '!'};
    struct part_in a = part("447700900001", 8, SAR, 0x1234, 2, 1, p1, sizeof(p1));
    assert_null(feed(set, &a, 1, &tr));
    a = part("447700900001", 8, SAR, 0x1234, 2, 2, p2, sizeof(p2));
    assert_string_equal(feed(set, &a, 2, &tr), "Hi \xF0\x9F\x98\x80!");
    assert_false(tr);
    /* Three parts by UDH, the same text in UCS-2 over message_payload. */
    const uint8_t q[3][2] = {{0x04, 0x14}, {0, 'a'}, {0x20, 0xAC}};
    const char *t = NULL;
    for (uint8_t i = 0; i < 3; i++) {
        a = part("447700900001", 8, PAYLOAD_SAR, 3, 3, (uint8_t)(i + 1), q[i], 2);
        t = feed(set, &a, 3, &tr);
    }
    assert_string_equal(t, "\xD0\x94"
                           "a\xE2\x82\xAC");
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_order_duplicates_interleaving(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr;
    const char *w[] = {"a-", "b-", "c"};
    const uint8_t order[] = {3, 1, 1, 2}; /* part 1 twice */
    const char *t = NULL;
    for (int i = 0; i < 4; i++) {
        uint8_t k = order[i];
        /* The repeated part 1 carries other bytes: the first copy stands. */
        struct part_in a = part("447700900001", 0, UDH8, 5, 3, k, i == 2 ? "XX" : w[k - 1], 2);
        if (k == 3)
            a.len = 1;
        t = feed(set, &a, (uint64_t)i, &tr);
        if (i < 3)
            assert_null(t);
    }
    assert_string_equal(t, "a-b-c");
    /* A late duplicate of a finished text starts a new set: held, not
     * delivered twice. */
    struct part_in a = part("447700900001", 0, UDH8, 5, 3, 2, "b-", 2);
    assert_null(feed(set, &a, 5, &tr));
    /* Two senders, the same reference and count, interleaved; and one
     * sender's two texts with different references. */
    struct part_in x1 = part("447700900001", 0, SAR, 9, 2, 1, "x1 ", 3);
    struct part_in y1 = part("447700900002", 0, SAR, 9, 2, 1, "y1 ", 3);
    struct part_in x2 = part("447700900001", 0, SAR, 9, 2, 2, "x2", 2);
    struct part_in y2 = part("447700900002", 0, SAR, 9, 2, 2, "y2", 2);
    struct part_in z1 = part("447700900001", 0, SAR, 10, 2, 1, "z1 ", 3);
    struct part_in z2 = part("447700900001", 0, SAR, 10, 2, 2, "z2", 2);
    assert_null(feed(set, &x1, 6, &tr));
    assert_null(feed(set, &z1, 6, &tr));
    assert_null(feed(set, &y1, 6, &tr));
    assert_string_equal(feed(set, &y2, 7, &tr), "y1 y2");
    assert_string_equal(feed(set, &z2, 7, &tr), "z1 z2");
    assert_string_equal(feed(set, &x2, 8, &tr), "x1 x2");
    assert_false(tr);
    flex_smpp_inbound_del(set);
}

/* Three parts of 1,500 bytes (4,500 > TEXT_MAX), sent in |order|: the text
 * is the first TEXT_MAX bytes less what ends off a character boundary. */
static void text_cap_case(const uint8_t order[3], uint8_t dcs, size_t want_len,
                          const char *want_tail)
{
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr = false;
    const char *t = NULL;
    for (int i = 0; i < 3; i++) {
        uint8_t k = order[i];
        struct part_in a = part("447700900003", dcs, PAYLOAD_SAR, 1, 3, k, big[k - 1], 1500);
        t = feed(set, &a, 1, &tr);
    }
    assert_non_null(t);
    assert_true(tr);
    assert_int_equal(strlen(t), want_len);
    size_t tl = strlen(want_tail);
    assert_memory_equal(t + want_len - tl, want_tail, tl);
    struct flex_smpp_stats st = stats(set);
    assert_int_equal(st.inbound_truncated, 1);
    assert_int_equal(st.inbound_parts_cut, 0);
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_text_cap(void **state)
{
    (void)state;
    const uint8_t in_order[3] = {1, 2, 3}, reversed[3] = {3, 2, 1}, mixed[3] = {2, 3, 1};
    /* GSM-7: 'a's, 'b's, 'c's; an escape pair starts at byte 4095 (1095
     * of part 3), so the text stops before it. */
    memset(big[0], 'a', 1500);
    memset(big[1], 'b', 1500);
    memset(big[2], 'c', 1500);
    big[2][1095] = 0x1B, big[2][1096] = 0x65;
    text_cap_case(in_order, 0, TEXT_MAX - 1, "cc"); /* no space for a lone ESC */
    text_cap_case(reversed, 0, TEXT_MAX - 1, "cc");
    text_cap_case(mixed, 0, TEXT_MAX - 1, "cc");
    big[2][1095] = 'c';
    text_cap_case(mixed, 0, TEXT_MAX, "cc");
    /* UCS-2: a surrogate pair at bytes 4094-4097 is not split into U+FFFD. */
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 1500; i += 2)
            big[k][i] = 0, big[k][i + 1] = (uint8_t)('a' + k);
    memcpy(big[2] + 1094, "\xD8\x3D\xDE\x00", 4);
    text_cap_case(reversed, 8, 2047, "cc"); /* no U+FFFD */
    memcpy(big[2] + 1094, "\x00z\x00z", 4);
    text_cap_case(in_order, 8, 2048, "cz");
}

static void test_smpp_rx_whole_text_cap(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr = false;
    memset(big[0], 'w', sizeof(big[0]));
    /* One 30,000-byte text in message_payload, not a part: cut to TEXT_MAX. */
    struct part_in a = part("447700900004", 0, PLAIN, 0, 0, 0, big[0], sizeof(big[0]));
    const char *t = feed(set, &a, 1, &tr);
    assert_true(tr);
    assert_int_equal(strlen(t), TEXT_MAX);
    a.dcs = 3; /* Latin-1 */
    big[0][TEXT_MAX - 1] = 0xE9;
    t = feed(set, &a, 1, &tr);
    assert_true(tr);
    assert_int_equal(strlen(t), TEXT_MAX + 1);
    assert_memory_equal(t + TEXT_MAX - 1, "\xC3\xA9", 2);
    assert_int_equal(stats(set).inbound_truncated, 2);
    assert_int_equal(stats(set).inbound_parts_cut, 0);
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_memory_cap(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr;
    char from[21];
    /* 200 sets (fewer than the 256 slots) of 255 parts, holding 2 parts of
     * 1,600 bytes each: about 7 KiB a set, 1.4 MiB in all: the memory cap
     * gives up the oldest. */
    memset(big[0], 'm', PART_MAX);
    for (int i = 0; i < 200; i++) {
        snprintf(from, sizeof(from), "4477009%05d", i);
        for (uint8_t k = 1; k <= 2; k++) {
            struct part_in a = part(from, 0, PAYLOAD_SAR, 1, 255, k, big[0], PART_MAX);
            assert_null(feed(set, &a, (uint64_t)i, &tr));
        }
    }
    struct flex_smpp_stats st = stats(set);
    assert_true(st.inbound_evicted > 40 && st.inbound_evicted < 100);
    assert_int_equal(st.inbound_parts_cut, 0);
    /* The newest set is whole: its other 253 parts complete it. */
    const char *t = NULL;
    for (unsigned k = 3; k <= 255; k++) {
        struct part_in a = part(from, 0, PAYLOAD_SAR, 1, 255, (uint8_t)k, "z", 1);
        t = feed(set, &a, 300, &tr);
        if (k < 255)
            assert_null(t);
    }
    assert_non_null(t);
    assert_false(tr);
    assert_int_equal(strlen(t), 2 * PART_MAX + 253);
    /* The oldest was given up: its other parts open a set that never
     * completes. */
    for (unsigned k = 3; k <= 255; k++) {
        struct part_in a = part("447700900000", 0, PAYLOAD_SAR, 1, 255, (uint8_t)k, "z", 1);
        assert_null(feed(set, &a, 300, &tr));
    }
    assert_int_equal(stats(set).inbound_expired, 0);
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_slots_full(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr;
    char from[21];
    for (int i = 0; i < 300; i++) {
        snprintf(from, sizeof(from), "4477009%05d", i);
        struct part_in a = part(from, 0, UDH8, 1, 2, 1, "hello ", 6);
        assert_null(feed(set, &a, (uint64_t)i, &tr));
    }
    assert_int_equal(stats(set).inbound_evicted, 300 - 256);
    /* The last 256 are held: one of them completes. */
    struct part_in a = part("447700900299", 0, UDH8, 1, 2, 2, "there", 5);
    assert_string_equal(feed(set, &a, 301, &tr), "hello there");
    flex_smpp_inbound_del(set);
}

static void test_smpp_rx_ttl(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr;
    struct part_in a1 = part("447700900005", 0, UDH8, 3, 2, 1, "late ", 5);
    struct part_in a2 = part("447700900005", 0, UDH8, 3, 2, 2, "part", 4);
    /* Within 5 minutes: joined. */
    assert_null(feed(set, &a1, 0, &tr));
    assert_string_equal(feed(set, &a2, 299 * SEC, &tr), "late part");
    assert_int_equal(stats(set).inbound_expired, 0);
    /* Over 5 minutes: part 1 is given up, part 2 waits alone. */
    assert_null(feed(set, &a1, 1000 * SEC, &tr));
    assert_null(feed(set, &a2, 1301 * SEC, &tr));
    assert_int_equal(stats(set).inbound_expired, 1);
    assert_string_equal(feed(set, &a1, 1302 * SEC, &tr), "late part");
    assert_false(tr);
    flex_smpp_inbound_del(set);
}

/* Empty texts and parts are texts, not errors. */
static void test_smpp_rx_empty(void **state)
{
    (void)state;
    struct inbound_set *set = flex_smpp_inbound_new();
    bool tr;
    struct part_in a = part("1", 0, PLAIN, 0, 0, 0, "", 0);
    assert_string_equal(feed(set, &a, 0, &tr), "");
    assert_false(tr);
    a = part("1", 0, SAR, 1, 2, 1, "", 0);
    assert_null(feed(set, &a, 0, NULL));
    a.seq = 2;
    assert_string_equal(feed(set, &a, 0, NULL), "");
    flex_smpp_inbound_del(set);
    flex_smpp_inbound_del(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smpp_rx_two_30000_byte_parts),
        cmocka_unit_test(test_smpp_rx_gsm7_udh),
        cmocka_unit_test(test_smpp_rx_ucs2_sar),
        cmocka_unit_test(test_smpp_rx_order_duplicates_interleaving),
        cmocka_unit_test(test_smpp_rx_text_cap),
        cmocka_unit_test(test_smpp_rx_whole_text_cap),
        cmocka_unit_test(test_smpp_rx_memory_cap),
        cmocka_unit_test(test_smpp_rx_slots_full),
        cmocka_unit_test(test_smpp_rx_ttl),
        cmocka_unit_test(test_smpp_rx_empty),
    };
    return cmocka_run_group_tests_name("smpp_rx", tests, NULL, NULL);
}
