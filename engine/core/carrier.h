/*
 * The carrier interface: what the dispatcher knows of a carrier, whatever
 * its protocol.  Every adapter (adapters/smpp_carrier.c for SMPP; HTTP
 * next) implements the operations below and reports through one event
 * type whose fields are already normalized: the engine (intake, dispatch,
 * writer) includes nothing from adapters/.
 *
 * A carrier belongs to one thread (the dispatcher's): submit, run, drain
 * and destroy are called there only, and events are delivered during run()
 * and drain(), on that thread, with the carrier itself as their context.
 *
 * Normalization, the adapter's job:
 *   - a message accepted carries the canonical key of each part's carrier
 *     id (docs/schemas.md, flex:msgid: what the receipt is matched by, in
 *     Redis, by whichever flexd receives it);
 *   - a receipt carries its candidate keys, best first: the id as the
 *     carrier wrote it in the receipt and the same number written the
 *     other way (hex and decimal), so that a carrier answering a submit in
 *     hex and reporting in decimal is matched; and whether it is final and
 *     delivered, with the carrier's state name and error code;
 *   - a failure says temporary or permanent, ambiguous (the carrier may
 *     have it), throttled, and the carrier's own code and text.
 */
#ifndef FLEX_CARRIER_H
#define FLEX_CARRIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sms.h"

struct flex_cfg;
struct flex_cfg_carrier;
struct flex_carrier;

#define FLEX_CARRIER_KEY_SZ 65 /* a canonical id key and its NUL */
#define FLEX_CARRIER_KEYS 3    /* candidate keys of a receipt */

enum flex_carrier_ev {
    FLEX_CEV_ACCEPTED,     /* the whole message taken: keys of its parts */
    FLEX_CEV_FAILED,       /* not taken (see temporary, ambiguous) */
    FLEX_CEV_RECEIPT,      /* a final delivery report for one part */
    FLEX_CEV_INBOUND,      /* a patient's text (parts joined) */
    FLEX_CEV_INBOUND_PART, /* one part of a longer text, as it came: the engine
                            * joins the parts in Redis, whichever process got
                            * each (an SMSC may spread them over its binds) */
    FLEX_CEV_SESSION,      /* a connection up or down (health, readiness) */
};

struct flex_carrier_event {
    enum flex_carrier_ev kind;
    uint64_t cookie; /* the message's (submit's); 0 for receipts and inbound */
    unsigned nkeys;  /* of keys[] below */
    /* failed */
    uint32_t code;      /* the carrier's (SMPP command_status, HTTP error code); 0 local */
    bool temporary;     /* worth trying again, here or on another carrier */
    bool ambiguous;     /* no answer after the request went: the carrier may have it */
    bool opted_out;     /* the carrier says the recipient unsubscribed (Twilio 21610) */
    const char *reason; /* the carrier's text or a static one; valid during the call */
    /* receipt */
    bool delivered;    /* final and delivered; false: final and not */
    const char *state; /* the carrier's state name ("DELIVRD", "undelivered") */
    uint32_t err;      /* the carrier's error code in the receipt; 0 none */
    /* inbound */
    char from[21], to[21];
    const char *text; /* UTF-8, valid during the call */
    bool truncated;   /* cut to the adapter's caps (a part: its bytes) */
    /* inbound part: its user data (valid during the call; at most
     * 1,600 bytes from SMPP), data_coding, reference, count, number (1-based) */
    const uint8_t *part;
    size_t part_len;
    uint8_t dcs, part_total, part_seq;
    uint16_t part_ref;
    /* session */
    bool up;
    /* receipt, inbound: the adapter's token for telling the carrier it was
     * taken (SMPP: the deliver_sm_resp), sent by ops->ack once the engine
     * has stored it, so that a crash before then leaves the carrier to
     * send it again; non-zero, at most 56 bits; 0: told already */
    uint64_t ack;
    /* accepted: one key per part; receipt: the candidates, best first.
     * Last, so that clearing up to offsetof(keys) clears every other field
     * (an adapter sets what its kind of event uses). */
    char keys[FLEX_SMS_MAX_PARTS > FLEX_CARRIER_KEYS ? FLEX_SMS_MAX_PARTS : FLEX_CARRIER_KEYS]
             [FLEX_CARRIER_KEY_SZ];
};

typedef void (*flex_carrier_cb)(void *arg, struct flex_carrier *c,
                                const struct flex_carrier_event *ev);

/* One message to send; borrowed for the call (the adapter copies or
 * encodes it at once). */
struct flex_carrier_msg {
    uint64_t cookie;  /* non-zero, echoed in its ACCEPTED or FAILED event */
    const char *src;  /* the location's number (E.164) or a short code */
    const char *dst;  /* E.164 */
    const char *text; /* UTF-8 */
    size_t len;
    bool receipt; /* ask for a delivery report */
};

/* What an adapter counts over its carrier's life (monotonic), shown per
 * carrier on /metrics as flex_carrier_events_total{event}. */
enum flex_carrier_counter {
    FLEX_CC_THROTTLED,       /* "too fast" answers (SMPP ESME_RTHROTTLED, HTTP 429/503) */
    FLEX_CC_AMBIGUOUS,       /* submits sent with no answer: outcome unknown */
    FLEX_CC_RECONNECTS,      /* SMPP sessions lost and bound again; HTTP requests that found
                              * no connection */
    FLEX_CC_INBOUND_CUT,     /* inbound texts cut to a cap, or parts over the part cap */
    FLEX_CC_INBOUND_LOST,    /* inbound multipart sets given up (room, or incomplete 5 min) */
    FLEX_CC_IDS_EVICTED,     /* message ids dropped from the local map for its cap */
    FLEX_CC_EARLY_UNMATCHED, /* receipts held for their submit answer, passed on unmatched
                              * (the writer still matches them through Redis) */
    FLEX_CC_N
};

/* What every adapter implements. */
struct flex_carrier_ops {
    /* Queues |m|: 0; FLEX_E_FULL when it has no room now (try again after
     * run()); another FLEX_E_* when this message can never be sent here
     * (the dispatcher fails it). */
    int (*submit)(struct flex_carrier *c, const struct flex_carrier_msg *m);
    /* Runs the adapter's I/O for at most |timeout_ms| (0: only what is
     * ready), delivering events.  Returns events delivered or -errno. */
    int (*run)(struct flex_carrier *c, int timeout_ms);
    /* Whether a submit now could go out (a session bound, a circuit the
     * adapter keeps closed). */
    bool (*ready)(const struct flex_carrier *c);
    /* Messages queued or awaiting the carrier's answer. */
    size_t (*in_flight)(const struct flex_carrier *c);
    /* Takes no new submits; waits up to |timeout_ms| for the answers of
     * what is in flight (the rest fails as ambiguous), then closes. */
    void (*drain)(struct flex_carrier *c, int timeout_ms);
    void (*destroy)(struct flex_carrier *c);
    /* Tells the carrier that the receipt or text of an event's |ack| token
     * is stored (NULL: the adapter never defers; tokens of a connection
     * gone are ignored: the carrier sends again). */
    void (*ack)(struct flex_carrier *c, uint64_t token);
    /* Its counters into |out| (NULL: it keeps none; read as zeros). */
    void (*counters)(const struct flex_carrier *c, uint64_t out[FLEX_CC_N]);
};

/* The part every adapter's carrier starts with. */
struct flex_carrier {
    const struct flex_carrier_ops *ops;
    char name[65];
    flex_carrier_cb cb;
    void *arg;
};

/* Builds the carrier |cc| of |cfg| (its type's adapter), reporting to
 * |cb|; NULL when its type cannot be used here, with the reason in |why|.
 * Defined by the adapters (adapters/carriers.c). */
struct flex_carrier *flex_carrier_new(const struct flex_cfg *cfg, const struct flex_cfg_carrier *cc,
                                      flex_carrier_cb cb, void *arg, char *why, size_t whysz);

/* Everything |cc|'s carrier is built from, in |buf|: when it changes on a
 * reload, the carrier is built again (the old one drains).  Secrets are
 * hashed, never copied in clear. */
void flex_carrier_sig(const struct flex_cfg *cfg, const struct flex_cfg_carrier *cc, char *buf,
                      size_t bufsz);

struct flex_webhook_form;

/* A webhook of carrier |cc| (a status callback, or an |inbound| text) whose
 * signature has been checked, normalized into |ev| (strings point into
 * |f|).  Returns 1 with |ev| set, 0 when there is nothing to do (a status
 * that is not final), FLEX_E_INVAL for a form its type cannot read, or
 * FLEX_E_NOTFOUND when the type takes no webhooks.  Thread-safe (no carrier
 * instance: the HTTP listener's thread calls it). */
int flex_carrier_webhook(const struct flex_cfg_carrier *cc, bool inbound,
                         const struct flex_webhook_form *f, struct flex_carrier_event *ev);

/* Whether this build has an adapter for |cc|'s type. */
bool flex_carrier_supported(const struct flex_cfg_carrier *cc);

static inline void flex_carrier_emit(struct flex_carrier *c, const struct flex_carrier_event *ev)
{
    c->cb(c->arg, c, ev);
}

static inline int flex_carrier_submit(struct flex_carrier *c, const struct flex_carrier_msg *m)
{
    return c->ops->submit(c, m);
}

static inline int flex_carrier_run(struct flex_carrier *c, int timeout_ms)
{
    return c->ops->run(c, timeout_ms);
}

static inline bool flex_carrier_ready(const struct flex_carrier *c)
{
    return c->ops->ready(c);
}

static inline size_t flex_carrier_in_flight(const struct flex_carrier *c)
{
    return c->ops->in_flight(c);
}

static inline void flex_carrier_drain(struct flex_carrier *c, int timeout_ms)
{
    c->ops->drain(c, timeout_ms);
}

static inline void flex_carrier_destroy(struct flex_carrier *c)
{
    if (c)
        c->ops->destroy(c);
}

static inline void flex_carrier_ack(struct flex_carrier *c, uint64_t token)
{
    if (c->ops->ack)
        c->ops->ack(c, token);
}

static inline void flex_carrier_counters(const struct flex_carrier *c, uint64_t out[FLEX_CC_N])
{
    for (int k = 0; k < FLEX_CC_N; k++)
        out[k] = 0;
    if (c->ops->counters)
        c->ops->counters(c, out);
}

#endif
