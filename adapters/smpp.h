/*
 * The SMPP 3.4 ESME: Flex's side of an SMPP carrier.
 *
 * One struct flex_smpp_client is one carrier on one worker thread: it owns
 * an io_uring and |binds| sessions (bind_transceiver each) to the same SMSC,
 * and spreads submits over the sessions that are bound and have window
 * room.  Everything happens inside flex_smpp_client_run(), called in a loop
 * by the owning thread; results come back through the event callback, on
 * that thread, during run().  Nothing here is thread-safe: one thread owns
 * a client.
 *
 * Per session:
 *
 *   IDLE --connect--> CONNECTING --(TLS handshake)--> BINDING --resp OK--> BOUND
 *     ^                    |                             |                   |
 *     +---- backoff <------+------- error/timeout -------+---- error --------+
 *                                                                            |
 *                                                     unbind on shutdown <---+
 *
 * A message is cut into parts (GSM-7 or UCS-2, UDH for long texts, all parts
 * of one message on one session with one reference) and is ACCEPTED when
 * every part is; a part refused with a throttling status is sent again
 * later and slows its session down; any other refusal FAILS the message,
 * temporary or permanent by docs/smpp.md's table.  A part whose response
 * never comes (timeout, or the connection dropped) is AMBIGUOUS: the carrier
 * may or may not have it.  The policy decides: fail it as temporary (the
 * dispatcher may send again: risk of a duplicate) or as permanent (risk of a
 * lost message); see docs/smpp.md.
 */
#ifndef FLEX_SMPP_H
#define FLEX_SMPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sms.h"

struct flex_smpp_config {
    const char *name; /* carrier name, for logs */
    const char *host;
    uint16_t port;
    const char *system_id;
    const char *password;
    bool tls;
    bool tls_verify;    /* verify the SMSC's certificate and host name */
    const char *tls_ca; /* CA file; NULL = system store */
    uint32_t window;    /* outstanding submit_sm per session */
    uint32_t binds;     /* sessions */
    uint32_t connect_timeout_ms;
    uint32_t response_timeout_ms; /* per PDU */
    uint32_t enquire_link_ms;     /* idle time before an enquire_link */
    uint32_t reconnect_min_ms, reconnect_max_ms;
    bool ambiguous_retry; /* true: an ambiguous part fails as temporary */
    unsigned max_parts;
    uint32_t id_map_max; /* message ids kept for local receipt matching (older evicted) */
    /* true: a receipt's or a patient's text's deliver_sm_resp waits for
     * flex_smpp_ack with its event's |ack| (sent once the engine has stored
     * it: a crash before then leaves the SMSC to deliver it again); false
     * (the default): it goes at once */
    bool defer_deliver_resp;
    /* true: the parts of a longer text from a handset are not joined here
     * but handed up one by one (FLEX_SMPP_EV_INBOUND_PART, answered like a
     * whole text), for an engine that joins them where every process sees
     * them: an SMSC may deliver the parts of one text to different binds,
     * of different processes; false (the default): joined here */
    bool parts_up;
    /* How a text's (deliver_sm's) addresses are read.  false (lenient, the
     * default): as they are; the engine reads digits as a NANP number when
     * they make one, else as international, whatever the TON (some SMSCs
     * mark national numbers international).  true (strict): digits with
     * TON 1 (international) are the whole international number, handed up
     * with a '+' ("3545550143": Iceland's +354 555 0143, not the NANP
     * +1 354-555-0143). */
    bool ton_strict;
};

/* Fills |c| with the defaults (timeouts, backoff, window 64, one bind). */
void flex_smpp_config_defaults(struct flex_smpp_config *c);

enum flex_smpp_event_kind {
    FLEX_SMPP_EV_ACCEPTED,     /* every part taken; ids in part_ids */
    FLEX_SMPP_EV_FAILED,       /* not taken: status, temporary, reason */
    FLEX_SMPP_EV_RECEIPT,      /* a delivery receipt for one part */
    FLEX_SMPP_EV_INBOUND,      /* a text from a handset (parts joined) */
    FLEX_SMPP_EV_INBOUND_PART, /* with parts_up: one part of a longer text */
    FLEX_SMPP_EV_SESSION,      /* a session bound or was lost (for health) */
};

struct flex_smpp_event {
    enum flex_smpp_event_kind kind;
    uint64_t cookie; /* the message's, or 0 for a receipt not matched here */
    /* accepted */
    unsigned nparts;
    char part_ids[FLEX_SMS_MAX_PARTS][65];
    /* failed */
    uint32_t status; /* command_status, or 0 for an ambiguous/local failure */
    bool temporary;
    bool ambiguous;
    const char *reason; /* static text or status name */
    /* receipt */
    char receipt_id[65];
    uint8_t receipt_state; /* enum flex_smpp_msg_state */
    uint16_t receipt_err;
    /* inbound */
    char from[21], to[21];
    const char *text; /* UTF-8, valid during the callback */
    bool truncated;   /* text cut to the reassembly's caps (docs/smpp.md); a part:
                       * its bytes cut to the part cap */
    /* a part (parts_up): its user data as it came (valid during the
     * callback), data_coding, reference, count and number (1-based) */
    const uint8_t *part;
    size_t part_len;
    uint8_t dcs, part_total, part_seq;
    uint16_t part_ref;
    /* session */
    unsigned session;
    bool bound;
    /* receipt, inbound, with defer_deliver_resp: the token of its
     * deliver_sm_resp for flex_smpp_ack (non-zero, at most 56 bits); 0: sent
     * already */
    uint64_t ack;
};

typedef void (*flex_smpp_event_cb)(void *arg, const struct flex_smpp_event *ev);

/* One message to send.  Borrowed for the call: it is encoded at once. */
struct flex_smpp_msg {
    uint64_t cookie; /* non-zero, echoed in its events */
    const char *src; /* sender: E.164 with or without '+', or a short code */
    const char *dst;
    const char *text; /* UTF-8 */
    size_t len;
    bool receipt; /* ask for a delivery receipt */
};

struct flex_smpp_stats {
    uint64_t submitted, acknowledged, throttled, failed, ambiguous, reconnects, receipts, inbound;
    /* Inbound reassembly (client only, docs/smpp.md): texts delivered cut
     * to a cap, parts over the part cap, sets given up for room (memory cap
     * or every slot taken) or after 5 minutes incomplete, texts that could
     * not be decoded (delivered as U+FFFD). */
    uint64_t inbound_truncated, inbound_parts_cut, inbound_evicted, inbound_expired,
        inbound_decode_errors;
    /* Local receipt matching (client only): ids dropped from the map for
     * its cap; receipts held for their submit_sm_resp that were sent on
     * unmatched for room or after the response timeout (the writer still
     * matches them through Redis). */
    uint64_t ids_evicted, early_evicted, early_expired;
    uint32_t in_window; /* parts awaiting a response now, all sessions */
    uint32_t bound;     /* sessions bound now */
};

struct flex_smpp_client;

/* Returns a client (owned by the caller; flex_smpp_client_del) that starts
 * connecting on the first run().  |cfg| strings are copied. */
struct flex_smpp_client *flex_smpp_client_new(const struct flex_smpp_config *cfg,
                                              flex_smpp_event_cb cb, void *arg);
void flex_smpp_client_del(struct flex_smpp_client *c);

/* Queues |m|.  Returns 0, FLEX_E_FULL when the queue is full (apply
 * backpressure and try again after run()), or with the message not taken:
 * FLEX_E_UTF8 / FLEX_E_TOOMANY / FLEX_E_INVAL for a text that cannot be
 * sent. */
int flex_smpp_submit(struct flex_smpp_client *c, const struct flex_smpp_msg *m);

/* Runs the event loop for at most |timeout_ms| (0: only what is ready).
 * Returns the number of events delivered, or -errno on an io_uring
 * failure. */
int flex_smpp_client_run(struct flex_smpp_client *c, int timeout_ms);

/* Stops taking submits, unbinds every session once its window is empty (or
 * |timeout_ms| passed: what is left fails as ambiguous), and closes.  Runs
 * the loop itself. */
void flex_smpp_client_shutdown(struct flex_smpp_client *c, int timeout_ms);

/* True when at least one session is bound. */
bool flex_smpp_client_ready(const struct flex_smpp_client *c);
/* The keys a receipt naming |id| may match, in the order to try them, into
 * |keys| (and what each is into |kinds|: 0 its own key, 1 its decimal id
 * read as hex, 2 its hex id read as decimal); returns how many (0: no id).
 *
 * SMSCs that give hex ids in submit_sm_resp and decimal ones in receipts
 * exist; so do SMSCs with decimal ids everywhere, whose "4096" read as hex
 * ("1000") is another message's id.  So a form is tried only when it is
 * certain or learned: its own key always; another form when it has letters
 * the receipt's own key cannot have ("255" as hex is "ff": no decimal
 * SMSC makes that id), or once receipts of this SMSC were matched that way
 * at least as often as by their own key (then first: the own key of a
 * mixing SMSC can be another message's).  After 8 receipts matched by their
 * own key and none another way, only the own key. */
unsigned flex_smpp_receipt_keys(const struct flex_smpp_client *c, const char *id, char keys[3][65],
                                uint8_t kinds[3]);

/* Sends the deliver_sm_resp of an event's |ack| token (defer_deliver_resp):
 * on the session that received it, if it is still that connection (after
 * a reconnect the SMSC delivers the PDU again; nothing is sent). */
void flex_smpp_ack(struct flex_smpp_client *c, uint64_t token);
/* Messages queued or in a window: 0 means everything has an outcome. */
size_t flex_smpp_client_pending(const struct flex_smpp_client *c);
/* Counters of the whole client, and of session |i| (0..binds-1; all zero
 * for another i).  failed and ambiguous count messages and are kept for the
 * client only, as are the inbound_* reassembly counters. */
void flex_smpp_client_stats(const struct flex_smpp_client *c, struct flex_smpp_stats *out);
void flex_smpp_session_stats(const struct flex_smpp_client *c, unsigned i,
                             struct flex_smpp_stats *out);

/* The client behind the carrier interface (adapters/smpp_carrier.c). */
struct flex_cfg;
struct flex_cfg_carrier;
struct flex_carrier;
struct flex_carrier_event;
struct flex_carrier *flex_smpp_carrier_new(
    const struct flex_cfg *cfg, const struct flex_cfg_carrier *cc,
    void (*cb)(void *arg, struct flex_carrier *c, const struct flex_carrier_event *ev), void *arg);

#endif
