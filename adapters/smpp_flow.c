/*
 * Messages on SMPP sessions: submit, the window, responses, throttling,
 * receipts and inbound texts.  See smpp.h for the rules.
 *
 * Below smpp.c, which calls in through smpp_flow.h (its loop, its
 * timers, the PDUs about messages, a session dropped); nothing here calls
 * smpp.c.  Results go out through the client's event callback
 * (flex_smpp_emit), PDUs onto the session's output, which smpp.c flushes.
 */
#include "smpp_flow.h" /* this file's functions */

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "mem.h"
#include "idmap.h"
#include "recent.h"
#include "smpp_int.h"
#include "smpp_payload.h"
#include "str.h"

#define EARLY_MAX 1024
#define IDMAP_TTL_NS (600ULL * 1000000000ULL) /* local receipt matching: 10 min */
#define FREE_KEEP 1024

#define RECENT_SLOTS 4096    /* ids whose receipt came lately (hashed keys) */
#define SMPP_REFUSALS_MAX 16 /* refusals for now of one message before it fails as temporary */

static bool has_hex_letter(const char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'f')
            return true;
    return false;
}

unsigned flex_smpp_receipt_keys(const struct flex_smpp_client *c, const char *id, char keys[3][65],
                                uint8_t kinds[3])
{
    char own[65], alt[2][65];
    if (flex_smpp_id_key(id, own) == 0)
        return 0;
    /* the same number read the other way: [0] decimal as hex, [1] hex as
     * decimal (flex_smpp_id_alts gives those that parse, in that order) */
    bool dec = own[strspn(own, "0123456789")] == '\0';
    int na = flex_smpp_id_alts(own, alt);
    const char *other[3] = {NULL, NULL, NULL}; /* by kind */
    for (int i = 0; i < na; i++)
        other[(i == 0 && dec) ? 1 : 2] = alt[i];
    const uint32_t *h = c->id_hits;
    int learned = h[1] > h[2] ? 1 : 2; /* the mixing this SMSC showed, if any */
    bool mixing = h[learned] > 0 && h[learned] >= h[0];
    bool same = h[0] >= 8 && h[1] == 0 && h[2] == 0;
    unsigned n = 0;
    if (mixing && other[learned]) {
        flex_strlcpy(keys[n], other[learned], 65);
        kinds[n++] = (uint8_t)learned;
    }
    flex_strlcpy(keys[n], own, 65);
    kinds[n++] = 0;
    for (int k = 1; k <= 2 && !mixing && !same; k++) {
        /* certain only when the other form has letters the own key has
         * not: decimal "255" as hex "ff"; hex "ff" as decimal "255" */
        if (other[k] && (k == 1 ? has_hex_letter(other[k]) : has_hex_letter(own))) {
            flex_strlcpy(keys[n], other[k], 65);
            kinds[n++] = (uint8_t)k;
        }
    }
    return n;
}

/* Looks |id| up by the keys it may match (flex_smpp_receipt_keys);
 * removes and returns the cookie, or 0, and learns which form matched.  A
 * taken key is remembered a while (recent_receipt). */
static uint64_t idmap_take(struct flex_smpp_client *c, const char *id)
{
    char keys[3][65];
    uint8_t kinds[3];
    unsigned n = flex_smpp_receipt_keys(c, id, keys, kinds);
    uint64_t cookie;
    for (unsigned i = 0; i < n; i++)
        if (flex_idmap_take(c->ids, keys[i], &cookie)) {
            flex_recent_add(&c->receipted, keys[i]);
            if (c->id_hits[kinds[i]] < UINT32_MAX)
                c->id_hits[kinds[i]]++;
            return cookie;
        }
    return 0;
}

/* Whether a receipt for |id| was matched lately: the carrier sent it
 * again.  Best effort (a slot taken by a later id forgets it). */
static bool recent_receipt(const struct flex_smpp_client *c, const char *id)
{
    char keys[3][65];
    uint8_t kinds[3];
    unsigned n = flex_smpp_receipt_keys(c, id, keys, kinds);
    for (unsigned i = 0; i < n; i++)
        if (flex_recent_has(&c->receipted, keys[i]))
            return true;
    return false;
}

/* ---- PDUs out ------------------------------------------------------------- */

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 65536;
    while (n < need)
        n *= 2;
    *buf = flex_realloc(*buf, n);
    *cap = n;
}

void flex_smpp_queue_pdu(struct session *s, const struct flex_smpp_pdu *p)
{
    reserve(&s->out, &s->out_cap, s->out_len + 1024 + p->sm_length + p->payload_len);
    long n = flex_smpp_encode(p, s->out + s->out_len, s->out_cap - s->out_len);
    if (n > 0)
        s->out_len += (size_t)n;
}

void flex_smpp_queue_resp(struct session *s, uint32_t cmd, uint32_t status, uint32_t seq)
{
    struct flex_smpp_pdu r = {0};
    r.command_id = cmd;
    r.command_status = status;
    r.sequence = seq;
    flex_smpp_queue_pdu(s, &r);
}

/* ---- messages and queues ---------------------------------------------- */

static void q_push(struct msg_queue *q, struct msg *m, bool front)
{
    m->queued = true;
    if (front) {
        m->next = q->head;
        q->head = m;
        if (!q->tail)
            q->tail = m;
    } else {
        m->next = NULL;
        if (q->tail)
            q->tail->next = m;
        else
            q->head = m;
        q->tail = m;
    }
    q->len++;
}

static struct msg *q_pop(struct msg_queue *q)
{
    struct msg *m = q->head;
    if (!m)
        return NULL;
    q->head = m->next;
    if (!q->head)
        q->tail = NULL;
    q->len--;
    m->queued = false;
    m->next = NULL;
    return m;
}

static void msg_release(struct flex_smpp_client *c, struct msg *m)
{
    c->msgs_live--;
    m->next = c->free_msgs;
    c->free_msgs = m;
}

/* Frees |m| once it has its outcome, no part in a window and no queue. */
static void msg_maybe_release(struct flex_smpp_client *c, struct msg *m)
{
    if (m->done && m->inflight == 0 && !m->queued)
        msg_release(c, m);
}

void flex_smpp_msgs_init(struct flex_smpp_client *c)
{
    c->ids = flex_idmap_new(IDMAP_TTL_NS, flex_smpp_now_ns());
    flex_idmap_set_limit(c->ids, c->cfg.id_map_max);
    c->early = flex_calloc(EARLY_MAX, sizeof(struct early));
    c->early_ix = flex_idmap_new(UINT64_MAX, flex_smpp_now_ns() ^ 0x5bd1e995ULL);
    flex_recent_init(&c->receipted, RECENT_SLOTS);
}

static void free_queue(struct msg_queue *q)
{
    struct msg *m;
    while ((m = q_pop(q)))
        flex_free(m);
}

void flex_smpp_msgs_free(struct flex_smpp_client *c)
{
    free_queue(&c->unassigned);
    for (unsigned i = 0; c->sess && i < c->cfg.binds; i++)
        free_queue(&c->sess[i].q);
    while (c->free_msgs) {
        struct msg *m = c->free_msgs;
        c->free_msgs = m->next;
        flex_free(m);
    }
    flex_idmap_free(c->ids);
    flex_idmap_free(c->early_ix);
    flex_free(c->early);
    flex_recent_free(&c->receipted);
}

static void copy_addr(char dst[21], const char *src)
{
    if (src[0] == '+')
        src++;
    flex_strlcpy(dst, src, 21);
}

int flex_smpp_submit(struct flex_smpp_client *c, const struct flex_smpp_msg *in)
{
    if (c->shutting_down || c->msgs_live >= c->msgs_max)
        return FLEX_E_FULL;
    if (!in->cookie || !in->src || !in->dst || strlen(in->src) > 21 || strlen(in->dst) > 21)
        return FLEX_E_INVAL;
    struct flex_text_error err;
    int rc = flex_sms_encode(c->scratch, in->text, in->len, c->cfg.max_parts, &err);
    if (rc)
        return rc;
    struct msg *m = c->free_msgs;
    if (m)
        c->free_msgs = m->next;
    else
        m = flex_malloc(sizeof(*m));
    flex_mem_zero(m, offsetof(struct msg, part));
    c->msgs_live++;
    m->cookie = in->cookie;
    m->session = -1;
    m->receipt = in->receipt;
    m->dcs = (uint8_t)c->scratch->coding;
    m->nparts = (uint8_t)c->scratch->nparts;
    m->unsent = (uint16_t)((1u << m->nparts) - 1);
    copy_addr(m->src, in->src);
    copy_addr(m->dst, in->dst);
    uint8_t ref = c->next_ref++;
    for (unsigned k = 0; k < m->nparts; k++) {
        size_t start = flex_sms_part_start(c->scratch, k);
        size_t len = c->scratch->part_end[k] - start, h = 0;
        if (m->nparts > 1)
            h = flex_smpp_udh_write(m->part[k], ref, m->nparts, (uint8_t)(k + 1));
        memcpy(m->part[k] + h, c->scratch->data + start, len);
        m->part_len[k] = (uint8_t)(h + len);
    }
    q_push(&c->unassigned, m, false);
    return 0;
}

size_t flex_smpp_client_pending(const struct flex_smpp_client *c)
{
    return c->msgs_live;
}

/* ---- the window ---------------------------------------------------------- */

/* The window: open addressing by sequence number with tombstones (a
 * sequence never reaches WIN_TOMB: the spec's range ends at 0x7FFFFFFF).
 * Rebuilt in place when tombstones and entries fill three quarters. */
#define WIN_TOMB 0xFFFFFFFFu

static void win_rebuild(struct session *s)
{
    uint32_t cap = s->win_mask + 1;
    struct wentry *old = flex_malloc(cap * sizeof(*old));
    memcpy(old, s->win, cap * sizeof(*old));
    memset(s->win, 0, cap * sizeof(*old));
    for (uint32_t k = 0; k < cap; k++) {
        if (!old[k].seq || old[k].seq == WIN_TOMB)
            continue;
        uint32_t i = old[k].seq & s->win_mask;
        while (s->win[i].seq)
            i = (i + 1) & s->win_mask;
        s->win[i] = old[k];
    }
    s->win_tombs = 0;
    flex_free(old);
}

static void win_put(struct session *s, uint32_t seq, struct msg *m, uint8_t part, uint64_t now)
{
    if ((s->in_window + s->win_tombs + 1) * 4 > (s->win_mask + 1) * 3)
        win_rebuild(s);
    uint32_t i = seq & s->win_mask;
    while (s->win[i].seq && s->win[i].seq != WIN_TOMB)
        i = (i + 1) & s->win_mask;
    if (s->win[i].seq == WIN_TOMB)
        s->win_tombs--;
    s->win[i] = (struct wentry){seq, part, m, now};
    s->in_window++;
}

static void win_remove_at(struct session *s, uint32_t i, struct wentry *out)
{
    *out = s->win[i];
    s->win[i].seq = WIN_TOMB;
    s->win[i].m = NULL;
    s->win_tombs++;
    s->in_window--;
}

static bool win_take(struct session *s, uint32_t seq, struct wentry *out)
{
    if (seq == 0 || seq == WIN_TOMB)
        return false;
    for (uint32_t i = seq & s->win_mask, n = 0; n <= s->win_mask; i = (i + 1) & s->win_mask, n++) {
        if (!s->win[i].seq)
            return false;
        if (s->win[i].seq == seq) {
            win_remove_at(s, i, out);
            return true;
        }
    }
    return false;
}

static void fail_msg(struct flex_smpp_client *c, struct msg *m, uint32_t status, bool temporary,
                     bool ambiguous, const char *reason)
{
    if (m->done)
        return;
    m->done = true;
    m->unsent = 0;
    c->st.failed++;
    struct flex_smpp_event ev = {.kind = FLEX_SMPP_EV_FAILED,
                                 .cookie = m->cookie,
                                 .status = status,
                                 .temporary = temporary,
                                 .ambiguous = ambiguous,
                                 .reason = reason};
    flex_smpp_emit(c, &ev);
}

static void part_ambiguous(struct flex_smpp_client *c, struct msg *m, const char *why)
{
    c->st.ambiguous++;
    m->inflight--;
    fail_msg(c, m, 0, c->cfg.ambiguous_retry, true, why);
    msg_maybe_release(c, m);
}

bool flex_smpp_window_timeouts(struct flex_smpp_client *c, struct session *s, uint64_t now)
{
    uint64_t limit = (uint64_t)c->cfg.response_timeout_ms * 1000000ULL;
    bool dead = false;
    if (!s->in_window)
        return false;
    for (uint32_t i = 0; i <= s->win_mask; i++) {
        struct wentry *e = &s->win[i];
        if (e->seq && e->seq != WIN_TOMB && now - e->sent_ns > limit) {
            struct wentry taken;
            win_remove_at(s, i, &taken);
            dead |= s->resp_ns < taken.sent_ns; /* nothing answered since it went */
            part_ambiguous(c, taken.m, "no submit_sm_resp in time (ambiguous)");
        }
    }
    return dead;
}

void flex_smpp_window_fail_all(struct flex_smpp_client *c, struct session *s)
{
    for (uint32_t i = 0; i <= s->win_mask; i++) {
        if (!s->win[i].seq || s->win[i].seq == WIN_TOMB)
            continue;
        struct msg *m = s->win[i].m;
        part_ambiguous(c, m, "connection lost before submit_sm_resp (ambiguous)");
    }
    memset(s->win, 0, (s->win_mask + 1) * sizeof(*s->win));
    s->in_window = 0;
    s->win_tombs = 0;
}

void flex_smpp_requeue_session(struct flex_smpp_client *c, struct session *s)
{
    struct msg *m;
    while ((m = q_pop(&s->q))) {
        if (m->done || !m->unsent) {
            msg_maybe_release(c, m);
            continue;
        }
        m->session = -1;
        q_push(&c->unassigned, m, true);
    }
}

void flex_smpp_fail_unsent(struct flex_smpp_client *c, const char *why)
{
    struct msg_queue *qs[65];
    size_t nq = 0;
    qs[nq++] = &c->unassigned;
    for (unsigned i = 0; i < c->cfg.binds && nq < 65; i++)
        qs[nq++] = &c->sess[i].q;
    for (size_t k = 0; k < nq; k++) {
        struct msg *m;
        while ((m = q_pop(qs[k]))) {
            fail_msg(c, m, 0, true, false, why);
            msg_maybe_release(c, m);
        }
    }
}

/* ---- sending ------------------------------------------------------------ */

static void addr_ton_npi(const char *a, uint8_t *ton, uint8_t *npi)
{
    size_t n = strlen(a), digits = strspn(a, "0123456789");
    if (digits != n) {
        *ton = 5; /* alphanumeric sender */
        *npi = 0;
    } else if (n <= 6) {
        *ton = 3; /* short code: network specific */
        *npi = 0;
    } else {
        *ton = 1; /* international, E.164 */
        *npi = 1;
    }
}

static void send_part(struct flex_smpp_client *c, struct session *s, struct msg *m, unsigned part,
                      uint64_t now)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_SUBMIT_SM;
    if (++s->seq > 0x7FFFFFFFu) /* the spec's range is 1..0x7FFFFFFF */
        s->seq = 1;
    p.sequence = s->seq;
    addr_ton_npi(m->src, &p.source_addr_ton, &p.source_addr_npi);
    addr_ton_npi(m->dst, &p.dest_addr_ton, &p.dest_addr_npi);
    memcpy(p.source_addr, m->src, sizeof(p.source_addr));
    memcpy(p.destination_addr, m->dst, sizeof(p.destination_addr));
    p.esm_class = m->nparts > 1 ? FLEX_SMPP_ESM_UDHI : 0;
    p.data_coding = m->dcs;
    p.registered_delivery = m->receipt ? 1 : 0;
    p.short_message = m->part[part];
    p.sm_length = m->part_len[part];
    flex_smpp_queue_pdu(s, &p);
    win_put(s, p.sequence, m, (uint8_t)part, now);
    m->inflight++;
    s->st.submitted++;
}

static bool can_send(struct flex_smpp_client *c, struct session *s, uint64_t now)
{
    return s->state == S_BOUND && s->in_window < c->cfg.window && now >= s->paused_until_ns;
}

/* Next message with a part to send on |s|: its own queue first (throttled
 * parts, the rest of a long message), then a new one. */
static struct msg *next_msg(struct flex_smpp_client *c, struct session *s)
{
    for (;;) {
        struct msg *m = s->q.head;
        if (!m) {
            m = q_pop(&c->unassigned);
            if (!m)
                return NULL;
            m->session = (int16_t)s->idx;
            q_push(&s->q, m, false);
        }
        if (!m->done && m->unsent)
            return m;
        q_pop(&s->q);
        msg_maybe_release(c, m);
    }
}

/* One part at a time across sessions, so new messages spread over binds. */
void flex_smpp_pump(struct flex_smpp_client *c, uint64_t now)
{
    bool progress = true;
    while (progress) {
        progress = false;
        for (unsigned k = 0; k < c->cfg.binds; k++) {
            struct session *s = &c->sess[(c->rr + k) % c->cfg.binds];
            if (!can_send(c, s, now))
                continue;
            struct msg *m = next_msg(c, s);
            if (!m || !flex_aimd_take(&s->aimd, now))
                continue;
            unsigned part = (unsigned)__builtin_ctz(m->unsent);
            m->unsent &= (uint16_t) ~(1u << part);
            send_part(c, s, m, part, now);
            progress = true;
        }
        c->rr++;
    }
}

/* ---- throttling ----------------------------------------------------------- */

/* ESME_RTHROTTLED / ESME_RMSGQFUL: the session's rate lowered (once per
 * burst of refusals; with no measurement yet, from 100/s) and a short
 * pause. */
static void throttle_hit(struct session *s, uint64_t now)
{
    flex_aimd_refused(&s->aimd, now);
    s->paused_until_ns = now + 20000000ULL;
}

void flex_smpp_throttle_reset(struct session *s)
{
    flex_aimd_reset(&s->aimd, 100, flex_smpp_now_ns());
}

void flex_smpp_throttle_probe(struct session *s, uint64_t now)
{
    flex_aimd_tick(&s->aimd, now);
}

/* ---- receipts ---------------------------------------------------------------- */

static void emit_receipt(struct flex_smpp_client *c, uint64_t cookie, const char *id, uint8_t state,
                         uint16_t err, uint64_t ack)
{
    struct flex_smpp_event ev = {.kind = FLEX_SMPP_EV_RECEIPT,
                                 .cookie = cookie,
                                 .receipt_state = state,
                                 .receipt_err = err,
                                 .ack = ack};
    flex_strlcpy(ev.receipt_id, id, sizeof(ev.receipt_id));
    flex_smpp_emit(c, &ev);
}

static bool any_in_window(struct flex_smpp_client *c)
{
    for (unsigned i = 0; i < c->cfg.binds; i++)
        if (c->sess[i].in_window)
            return true;
    return false;
}

/* Takes the held receipt |e| out of the index (its slot stays until it
 * reaches the front). */
static void early_unhold(struct flex_smpp_client *c, struct early *e)
{
    uint64_t v;
    for (unsigned k = 0; k < e->nkeys; k++)
        if (flex_idmap_get(c->early_ix, e->keys[k], &v) && v == e->seq + 1)
            flex_idmap_take(c->early_ix, e->keys[k], &v);
    e->used = false;
    c->nearly--;
}

/* Drops slots from the front: matched ones, and held ones past |limit|
 * (or all held ones while |room| is wanted), sent on unmatched. */
static void early_trim(struct flex_smpp_client *c, uint64_t now, uint64_t limit, bool room)
{
    while (c->early_head != c->early_tail) {
        struct early *e = &c->early[c->early_head % EARLY_MAX];
        if (e->used) {
            bool old = now - e->at_ns > limit;
            if (!old && !(room && c->early_tail - c->early_head == EARLY_MAX))
                return;
            early_unhold(c, e);
            old ? c->st.early_expired++ : c->st.early_evicted++;
            emit_receipt(c, 0, e->id, e->state, e->err, e->ack);
        }
        c->early_head++;
    }
}

/* Returns whether the receipt went on (or was held) with |ack|, whose
 * deliver_sm_resp then waits for flex_smpp_ack; false: nothing to store,
 * respond now. */
static bool on_receipt(struct flex_smpp_client *c, struct session *s, const struct flex_smpp_pdu *p,
                       uint64_t now, uint64_t ack)
{
    struct flex_smpp_receipt r;
    s->st.receipts++;
    if (flex_smpp_receipt_parse(p, &r) != 0)
        return false; /* no id: nothing to match (counted) */
    /* ENROUTE and ACCEPTD say the message is on its way (registered_delivery
     * asks for final receipts only, but some carriers send them anyway):
     * the message keeps its map entry and waits for the final one. */
    if (r.state == FLEX_SMPP_STATE_ENROUTE || r.state == FLEX_SMPP_STATE_ACCEPTED)
        return false;
    uint64_t cookie = idmap_take(c, r.id);
    /* Held only when its submit_sm_resp may still be on its way; a second
     * copy of a receipt already matched goes on at once (the engine's writer
     * counts it as a duplicate), not into the early table for its timeout. */
    if (cookie || !any_in_window(c) || recent_receipt(c, r.id)) {
        emit_receipt(c, cookie, r.id, r.state, r.err, ack);
        return true;
    }
    /* Its submit_sm_resp may still be on its way: hold it briefly, at the
     * back of the FIFO (the oldest goes on unmatched when it is full). */
    early_trim(c, now, (uint64_t)c->cfg.response_timeout_ms * 1000000ULL, true);
    struct early *e = &c->early[c->early_tail % EARLY_MAX];
    flex_strlcpy(e->id, r.id, sizeof(e->id));
    uint8_t kinds[3];
    e->nkeys = flex_smpp_receipt_keys(c, r.id, e->keys, kinds);
    e->state = r.state;
    e->err = r.err;
    e->ack = ack;
    e->at_ns = now;
    e->seq = c->early_tail++;
    e->used = true;
    c->nearly++;
    for (unsigned k = 0; k < e->nkeys; k++)
        flex_idmap_put(c->early_ix, e->keys[k], e->seq + 1, now);
    return true;
}

/* The held receipts of the parts of |m|, just accepted: one index lookup
 * per part, whatever the table holds. */
static void early_match(struct flex_smpp_client *c, const struct msg *m)
{
    for (unsigned k = 0; k < m->nparts && c->nearly; k++) {
        char pk[65];
        uint64_t v;
        flex_smpp_id_key(m->ids[k], pk);
        if (!flex_idmap_take(c->early_ix, pk, &v))
            continue;
        struct early *e = &c->early[(v - 1) % EARLY_MAX];
        if (!e->used || e->seq != v - 1)
            continue; /* a stale index entry (cannot happen: unhold takes them) */
        uint64_t own;
        if (flex_idmap_take(c->ids, pk, &own)) /* the message's own entry, taken by its key */
            flex_recent_add(&c->receipted, pk);
        emit_receipt(c, m->cookie, e->id, e->state, e->err, e->ack);
        early_unhold(c, e);
    }
}

void flex_smpp_early_expire(struct flex_smpp_client *c, uint64_t now)
{
    early_trim(c, now, (uint64_t)c->cfg.response_timeout_ms * 1000000ULL, false);
}

/* ---- responses and deliver_sm from the SMSC (smpp.c dispatches) --------- */

static void accepted(struct flex_smpp_client *c, struct msg *m, uint64_t now)
{
    m->done = true;
    struct flex_smpp_event ev = {
        .kind = FLEX_SMPP_EV_ACCEPTED, .cookie = m->cookie, .nparts = m->nparts};
    for (unsigned k = 0; k < m->nparts; k++)
        memcpy(ev.part_ids[k], m->ids[k], sizeof(ev.part_ids[k]));
    flex_smpp_emit(c, &ev);
    if (c->nearly)
        early_match(c, m);
    (void)now;
}

void flex_smpp_on_submit_resp(struct flex_smpp_client *c, struct session *s,
                              const struct flex_smpp_pdu *p)
{
    struct wentry e;
    if (!win_take(s, p->sequence, &e))
        return; /* late, after its timeout made it ambiguous */
    struct msg *m = e.m;
    uint64_t now = flex_smpp_now_ns();
    s->resp_ns = now;
    m->inflight--;
    switch (flex_smpp_status_class(p->command_status)) {
    case FLEX_SMPP_CLASS_OK:
        s->st.acknowledged++;
        flex_aimd_accepted(&s->aimd);
        if (m->done)
            break;
        flex_strlcpy(m->ids[e.part], p->message_id, sizeof(m->ids[0]));
        if (m->receipt) {
            char key[65];
            flex_smpp_id_key(p->message_id, key);
            flex_idmap_put(c->ids, key, m->cookie, now);
        }
        if (++m->acked == m->nparts)
            accepted(c, m, now);
        break;
    case FLEX_SMPP_CLASS_THROTTLE: {
        /* ESME_RMSGQFUL is often one handset's store-and-forward queue:
         * it says nothing of the session's rate, and the part goes behind
         * the others; ESME_RTHROTTLED slows the session, and the part is
         * sent first once it may.  Either way a part refused
         * SMPP_REFUSALS_MAX times fails (as a temporary failure: the
         * dispatcher tries it later or on the next carrier), so that one
         * number cannot hold the session's head for good (review F2). */
        bool qfull = p->command_status == 0x14;
        s->st.throttled++;
        if (!qfull)
            throttle_hit(s, now);
        if (m->done)
            break;
        if (++m->refused >= SMPP_REFUSALS_MAX) {
            bool partial = m->acked > 0 || m->inflight > 0; /* as a later part's TEMP */
            if (partial)
                c->st.ambiguous++;
            fail_msg(c, m, p->command_status, partial ? c->cfg.ambiguous_retry : true, partial,
                     qfull ? "refused for now again and again (ESME_RMSGQFUL)"
                           : "refused for now again and again (ESME_RTHROTTLED)");
            break;
        }
        m->unsent |= (uint16_t)(1u << e.part);
        if (!m->queued)
            q_push(&s->q, m, !qfull);
        break;
    }
    case FLEX_SMPP_CLASS_TEMP:
        if (m->acked > 0 || m->inflight > 0) {
            /* Another part is (or may be) on its way to the handset: sent again
             * whole (or by the next carrier) the patient gets that part
             * twice.  Ambiguous: the carrier's `ambiguous` policy decides
             * (fail: no duplicate; retry: no missing text). */
            c->st.ambiguous++;
            fail_msg(c, m, p->command_status, c->cfg.ambiguous_retry, true,
                     "a part refused for now after an earlier part was accepted (ambiguous)");
            break;
        }
        /* fall through */
    case FLEX_SMPP_CLASS_PERM:
        fail_msg(c, m, p->command_status,
                 flex_smpp_status_class(p->command_status) == FLEX_SMPP_CLASS_TEMP, false,
                 flex_smpp_status_name(p->command_status));
        break;
    }
    msg_maybe_release(c, m);
}

/* The token of a deliver_sm_resp (flex_smpp_ack): session index + 1 in
 * bits 48-55, the low 16 bits of its connection's generation in 32-47,
 * the PDU's sequence number in 0-31. */
static uint64_t ack_token(const struct session *s, uint32_t seq)
{
    return (uint64_t)(s->idx + 1) << 48 | (uint64_t)(s->gen & 0xffff) << 32 | seq;
}

void flex_smpp_ack(struct flex_smpp_client *c, uint64_t token)
{
    unsigned idx = (unsigned)(token >> 48 & 0xff);
    if (idx == 0 || idx > c->cfg.binds)
        return;
    struct session *s = &c->sess[idx - 1];
    /* A later connection on the slot: the SMSC delivers the PDU again. */
    if ((s->gen & 0xffff) != (token >> 32 & 0xffff) || s->fd < 0)
        return;
    flex_smpp_queue_resp(s, FLEX_SMPP_DELIVER_SM_RESP, 0, (uint32_t)token);
}

/* A text's address as handed up (flex_smpp_config's ton_strict): with
 * strict, all digits and TON 1 get their '+'. */
static void mo_addr(const struct flex_smpp_client *c, char out[21], const char *addr, uint8_t ton)
{
    size_t n = strlen(addr);
    if (c->cfg.ton_strict && ton == 1 && n > 0 && n < 20 && strspn(addr, "0123456789") == n) {
        out[0] = '+';
        memcpy(out + 1, addr, n + 1);
        return;
    }
    flex_strlcpy(out, addr, 21);
}

void flex_smpp_on_deliver(struct flex_smpp_client *c, struct session *s,
                          const struct flex_smpp_pdu *p)
{
    /* With defer_deliver_resp, a receipt or a whole text is answered by
     * flex_smpp_ack once stored; with parts_up too, every part of a longer
     * text (the engine stores each).  Without parts_up, the parts before
     * the last, and what is not passed on, at once.  (A crash between such
     * a part's answer and the whole text's storing loses that text: the
     * SMSC does not send the answered parts again.) */
    uint64_t ack = c->cfg.defer_deliver_resp ? ack_token(s, p->sequence) : 0;
    uint64_t now = flex_smpp_now_ns();
    if (p->esm_class & FLEX_SMPP_ESM_RECEIPT) {
        if (!on_receipt(c, s, p, now, ack) || !ack)
            flex_smpp_queue_resp(s, FLEX_SMPP_DELIVER_SM_RESP, 0, p->sequence);
        return;
    }
    const uint8_t *data;
    size_t len;
    bool truncated;
    struct flex_smpp_concat cc;
    if (c->cfg.parts_up && flex_smpp_inbound_part(c->inbound, p, &data, &len, &truncated, &cc)) {
        if (!ack)
            flex_smpp_queue_resp(s, FLEX_SMPP_DELIVER_SM_RESP, 0, p->sequence);
        if (cc.seq == 1)
            s->st.inbound++; /* texts begun: the engine joins them */
        struct flex_smpp_event ev = {.kind = FLEX_SMPP_EV_INBOUND_PART,
                                     .truncated = truncated,
                                     .ack = ack,
                                     .part = data,
                                     .part_len = len,
                                     .dcs = p->data_coding,
                                     .part_total = cc.total,
                                     .part_seq = cc.seq,
                                     .part_ref = cc.ref};
        mo_addr(c, ev.from, p->source_addr, p->source_addr_ton);
        mo_addr(c, ev.to, p->destination_addr, p->dest_addr_ton);
        flex_smpp_emit(c, &ev);
        return;
    }
    const char *text = flex_smpp_inbound_add(c->inbound, p, now, &truncated);
    if (!text || !ack)
        flex_smpp_queue_resp(s, FLEX_SMPP_DELIVER_SM_RESP, 0, p->sequence);
    if (!text)
        return; /* a part of a longer text */
    s->st.inbound++;
    struct flex_smpp_event ev = {
        .kind = FLEX_SMPP_EV_INBOUND, .text = text, .truncated = truncated, .ack = ack};
    mo_addr(c, ev.from, p->source_addr, p->source_addr_ton);
    mo_addr(c, ev.to, p->destination_addr, p->dest_addr_ton);
    flex_smpp_emit(c, &ev);
}
