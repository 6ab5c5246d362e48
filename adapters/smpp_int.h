/*
 * Internals of the SMPP client shared by adapters/smpp*.c (not a public
 * header: the engine includes smpp.h): the client's and the sessions'
 * structs, the two helpers every file uses (clock, event callback), the
 * functions of smpp_tls.c and smpp_rx.c, and smpp.c's PDU entry (for a
 * unit test).  smpp_flow.c's functions are in smpp_flow.h.
 *
 * Calls go one way (adapters/README.md): smpp.c -> smpp_flow.c ->
 * smpp_rx.c, and smpp.c -> smpp_tls.c; none calls back up.
 */
#ifndef FLEX_SMPP_INT_H
#define FLEX_SMPP_INT_H

#include <liburing.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "ratelimit.h"
#include "sendbuf.h"
#include "hash.h"
#include "recent.h"
#include "smpp.h"
#include "smpp_pdu.h"

struct ssl_st;
struct bio_st;
struct ssl_ctx_st;

enum sess_state { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_BINDING, S_BOUND, S_UNBINDING };

/* A message being sent: its parts are encoded once, at submit. */
struct msg {
    uint64_t cookie;
    struct msg *next; /* in a queue */
    int16_t session;  /* -1: not yet on a session */
    uint8_t nparts, acked, inflight;
    uint8_t refused; /* refusals for now (ESME_RTHROTTLED, ESME_RMSGQFUL) of its parts */
    uint16_t unsent; /* bit per part still to send (again) */
    bool done;       /* an event (accepted or failed) was emitted */
    bool queued;     /* on a queue (unassigned or a session's) */
    bool receipt;
    uint8_t dcs;
    char src[21], dst[21];
    uint8_t part_len[FLEX_SMS_MAX_PARTS];
    uint8_t part[FLEX_SMS_MAX_PARTS][160];
    char ids[FLEX_SMS_MAX_PARTS][65];
};

struct msg_queue {
    struct msg *head, *tail;
    size_t len;
};

/* One submit_sm awaiting its response. */
struct wentry {
    uint32_t seq; /* 0 = free */
    uint8_t part;
    struct msg *m;
    uint64_t sent_ns;
};

struct session {
    char tls_err[160]; /* OpenSSL's reason for the last TLS failure ("" none) */
    bool was_bound;    /* bound before: the next bind is a recovery, logged as one */
    bool up;           /* bound now (said up to the engine): its drop is said once */
    uint64_t resp_ns;  /* the last submit_sm_resp (any status) on this connection */
    struct flex_smpp_client *cl;
    unsigned idx;
    enum sess_state state;
    int fd;
    uint32_t gen;
    unsigned ops; /* io_uring requests in flight on this session's fd */
    bool recv_pending, send_pending;
    uint8_t *in;
    size_t in_len;
    uint8_t *out; /* PDUs queued (plain) */
    size_t out_len, out_cap;
    struct flex_sendbuf wire; /* bytes for the socket (ciphertext under TLS) */
    uint32_t seq;
    struct wentry *win;
    uint32_t win_mask, in_window, win_tombs;
    struct msg_queue q;   /* messages bound to this session */
    uint64_t deadline_ns; /* connect / handshake / bind / unbind */
    uint64_t last_rx_ns, enquire_sent_ns, reconnect_at_ns, dropped_ns;
    uint32_t backoff_ms;
    /* adaptive throttling: the rate ESME_RTHROTTLED taught
     * (engine/base/ratelimit.h), and a short pause after each refusal */
    struct flex_aimd aimd;
    uint64_t paused_until_ns;
    struct flex_smpp_stats st; /* this session's counters */
    /* TLS (NULL when plain) */
    struct ssl_st *ssl;
    struct bio_st *rbio, *wbio;
    uint8_t *plain; /* decrypted bytes awaiting PDUs */
    size_t plain_len;
};

/* A receipt whose id is not known yet (its submit_sm_resp may still come):
 * held in arrival order (so expired from the front), indexed by each of
 * its keys (early_ix: key -> position). */
struct early {
    char id[65];      /* as the receipt gave it */
    char keys[3][65]; /* its key and alternates (flex_smpp_id_key, _alts) */
    uint64_t ack;     /* its deliver_sm_resp's token (0: answered) */
    unsigned nkeys;
    uint8_t state;
    uint16_t err;
    uint64_t at_ns;
    uint64_t seq; /* position in the FIFO, for the index */
    bool used;    /* false: matched since (its slot waits to leave the front) */
};

struct flex_idmap;

struct flex_smpp_client {
    struct flex_smpp_config cfg;
    char *name, *host, *system_id, *password, *tls_ca;
    struct sockaddr_in addr;
    flex_smpp_event_cb cb;
    void *cb_arg;
    struct io_uring ring;
    struct session *sess;
    struct msg_queue unassigned;
    struct msg *free_msgs;
    size_t msgs_live, msgs_max;
    unsigned rr; /* next session for round robin */
    bool shutting_down;
    uint64_t rng;
    uint8_t next_ref;
    struct flex_smpp_stats st;
    struct flex_idmap *ids;       /* part id key -> cookie, for receipts */
    struct early *early;          /* EARLY_MAX slots: a FIFO from early_head */
    uint64_t early_head;          /* seq of the oldest slot */
    uint64_t early_tail;          /* seq the next one gets */
    unsigned nearly;              /* early receipts held (used slots) */
    struct flex_idmap *early_ix;  /* key -> seq + 1 */
    struct flex_recent receipted; /* keys of ids whose receipt came lately */
    /* receipts matched here by their own key [0], by their decimal id read
     * as hex [1], by their hex id read as decimal [2] (flex_smpp_receipt_keys) */
    uint32_t id_hits[3];
    struct flex_sms *scratch;
    struct ssl_ctx_st *tls_ctx;
    struct __kernel_timespec tick;
    bool tick_pending;
    uint64_t warned_ns; /* the last warning about a bind in clear (warn_insecure) */
    int events;         /* emitted during the current run() */
    struct inbound_set *inbound;
};

static inline uint64_t flex_smpp_now_ns(void)
{
    return flex_mono_ns();
}

/* Hands |ev| to the client's event callback (counted for run()'s return):
 * how smpp.c and smpp_flow.c report, neither calling the other. */
static inline void flex_smpp_emit(struct flex_smpp_client *c, struct flex_smpp_event *ev)
{
    c->events++;
    c->cb(c->cb_arg, ev);
}

/* smpp.c: takes one decoded PDU from the SMSC on |s| (|p| borrowed for the
 * call): session PDUs here, those of messages handed to smpp_flow.c.
 * Internal; tests/unit/test_receipt.c feeds it a receipt. */
void flex_smpp_on_pdu(struct flex_smpp_client *c, struct session *s, const struct flex_smpp_pdu *p);

/* smpp_tls.c */
int flex_smpp_tls_ctx(struct flex_smpp_client *c);
void flex_smpp_tls_ctx_free(struct flex_smpp_client *c);
int flex_smpp_tls_start(struct flex_smpp_client *c, struct session *s);
void flex_smpp_tls_end(struct session *s);
/* Feeds received ciphertext; moves plaintext to s->plain.  Returns 0, 1
 * when the handshake just finished, or <0 on a TLS error. */
int flex_smpp_tls_input(struct session *s, const uint8_t *buf, size_t len);
/* Encrypts |len| plain bytes (or drives the handshake when |len| is 0)
 * and queues the ciphertext on |out|. */
int flex_smpp_tls_output(struct session *s, const uint8_t *plain, size_t len,
                         struct flex_sendbuf *out);

/* smpp_rx.c: inbound reassembly, bounded (part, text and memory caps: see
 * smpp_rx.c and docs/smpp.md).  An all-zero struct inbound_set is empty. */
struct inbound_set *flex_smpp_inbound_new(void);
void flex_smpp_inbound_del(struct inbound_set *set);
/* Takes deliver_sm |p| (borrowed for the call; its bytes are copied) at
 * |now_ns| (a monotonic clock).  Returns a joined UTF-8 text when |p| is a
 * whole text or completes one (owned by the set, valid until the next
 * call), else NULL.  |*truncated| (may be NULL) is set true when the text
 * was cut (a cap, or a text that could not be decoded), else false. */
const char *flex_smpp_inbound_add(struct inbound_set *set, const struct flex_smpp_pdu *p,
                                  uint64_t now_ns, bool *truncated);
struct flex_smpp_concat;

/* With parts_up: true when |p| is a part of a longer text (2 parts or more,
 * its number within them), its user data in |*data| and |*len| (pointing
 * into |p|, cut to the part cap: |*cut| set and counted in
 * inbound_parts_cut) and its concatenation in |*cc|; false for a whole
 * text, which goes through flex_smpp_inbound_add. */
bool flex_smpp_inbound_part(struct inbound_set *set, const struct flex_smpp_pdu *p,
                            const uint8_t **data, size_t *len, bool *cut,
                            struct flex_smpp_concat *cc);
/* Adds the set's inbound_* counters to |out|'s. */
void flex_smpp_inbound_stats(const struct inbound_set *set, struct flex_smpp_stats *out);

#endif
