#include "smsc.h"

#include "simcommon.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gsm7.h"
#include "hash.h"
#include "mem.h"
#include "ratelimit.h"
#include "sms.h"
#include "smpp_payload.h"
#include "smpp_pdu.h"
#include "sendbuf.h"
#include "uring.h"
#include "utf.h"
#include "str.h"

#define MAX_CONNS 512
#define INBUF (256 * 1024)
#define OUT_MAX (64u << 20) /* a peer that reads nothing loses its session */
#define MAX_PENDING_CONCAT 4096

enum { UD_ACCEPT = 1, UD_RECV, UD_SEND };

struct dlr {
    uint32_t slot, gen;
    uint64_t due_ns;
    time_t submitted;
    char id[24];
    char src[21], dst[21];
};

/* One part of a long text sent on its own (--mo-spread, --mo-part-gap-ms). */
struct mo_part {
    uint64_t due_ns;
    char from[21], to[21];
    uint8_t dcs, len;
    uint8_t sm[160]; /* UDH and user data: 6 + 153 unpacked GSM-7 septets at most */
};

/* A deliver_sm sent and not answered yet.  As an SMSC does, what a session
 * leaves unanswered when it goes is delivered again (on any receiver bound
 * then): a receipt, a patient's whole text (tracked by its last part), or a
 * part sent on its own. */
struct unanswered {
    uint32_t seq; /* 0: answered (a hole until it reaches the front) */
    bool mo;
    bool is_part;           /* a part on its own: in |part| */
    struct dlr d;           /* a receipt: what it reports */
    char *from, *to, *text; /* a text */
    struct mo_part part;
};

struct conn {
    int fd;
    uint32_t gen;
    bool used, bound, rx, closing, recv_pending, send_pending;
    uint8_t *in;
    size_t in_len;
    struct flex_sendbuf tx; /* answers queued and in flight */
    uint32_t seq;           /* our own requests (deliver_sm) */
    struct unanswered *ua;  /* FIFO of deliver_sm awaiting their answer */
    size_t ua_head, ua_len, ua_cap;
};

struct part_set { /* parts of one concatenated message, for the log */
    bool used;
    uint32_t slot;
    uint16_t ref;
    uint8_t total, have, dcs;
    char src[21], dst[21];
    char *text[256];
    char ids[256][24];
};

/* --mo-reply: the numbers texted, in the order first texted, each with
 * who texted it last (an index of srcs); found by the number's hash (open
 * addressing, slot 0 = empty, else 1 + its place in the list). */
#define REPLY_SRCS 64
struct texted {
    char dst[21];
    uint8_t src;
    uint16_t answered; /* texts sent from it: each a new wording */
};
struct replyto {
    uint64_t *h;
    uint32_t *at;
    size_t mask;
    struct texted *list;
    size_t n, cap;
    struct flex_hash_key key;
    char srcs[REPLY_SRCS][21];
    unsigned nsrcs;
};

struct smsc {
    const struct smsc_opts *o;
    int lfd;
    struct io_uring ring;
    struct conn conns[MAX_CONNS];
    struct dlr *dlrs; /* FIFO, ordered by due time */
    size_t dlr_head, dlr_len, dlr_cap;
    struct flex_gcra throttle;
    uint64_t throttle_tat;
    uint64_t rng;
    uint32_t id_prefix;
    uint64_t next_id;
    FILE *log;
    char **mo_from, **mo_to, **mo_text;
    size_t nmo;
    FILE *follow;                     /* --mo-follow: lines sent as they are appended */
    uint64_t flood_start, flood_sent; /* --mo-rate */
    unsigned follow_rr;               /* the receiver session that gets the next one */
    struct part_set *pending;         /* MAX_PENDING_CONCAT */
    struct sim_destset dests;         /* distinct destinations */
    struct replyto replyto;           /* --mo-reply */
    struct unanswered *mo_again;      /* texts to deliver again (unanswered) */
    size_t nmo_again;
    struct mo_part *parts; /* parts sent on their own, in due order (--mo-spread...) */
    size_t nparts;
    unsigned parts_rr; /* the receiver that gets the next (--mo-spread) */
    struct {
        uint64_t received, throttled, failed, receipts_sent, inbound_sent, binds_rejected;
        uint64_t submit_sm, deliver_sm_resp, bound_total, unbinds;
        uint64_t redelivered; /* deliver_sm unanswered when their session went */
    } st;
};

/* ---- output ------------------------------------------------------- */

static void queue_pdu(struct conn *c, const struct flex_smpp_pdu *p)
{
    size_t room = 1024 + p->sm_length + p->payload_len;
    long n = flex_smpp_encode(p, flex_sendbuf_reserve(&c->tx, room), room);
    if (n > 0)
        flex_sendbuf_commit(&c->tx, (size_t)n);
    if (c->tx.queued_len > OUT_MAX && !c->closing) {
        fprintf(stderr, "smscsim: dropping a session that reads nothing (%zu bytes queued)\n",
                c->tx.queued_len);
        c->closing = true;
    }
}

static void queue_resp(struct conn *c, uint32_t cmd, uint32_t status, uint32_t seq,
                       const char *message_id)
{
    struct flex_smpp_pdu r = {0};
    r.command_id = cmd;
    r.command_status = status;
    r.sequence = seq;
    if (message_id)
        snprintf(r.message_id, sizeof(r.message_id), "%s", message_id);
    queue_pdu(c, &r);
}

static void arm_send(struct smsc *s, struct conn *c, uint32_t slot)
{
    const uint8_t *buf;
    size_t n;
    if (c->send_pending || (n = flex_sendbuf_next(&c->tx, &buf)) == 0)
        return;
    struct io_uring_sqe *sqe = flex_uring_sqe(&s->ring);
    io_uring_prep_send(sqe, c->fd, buf, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_SEND, slot, c->gen));
    c->send_pending = true;
}

static void arm_recv(struct smsc *s, struct conn *c, uint32_t slot)
{
    if (c->recv_pending || c->closing)
        return;
    struct io_uring_sqe *sqe = flex_uring_sqe(&s->ring);
    io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, INBUF - c->in_len, 0);
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_RECV, slot, c->gen));
    c->recv_pending = true;
}

static void unanswered_free(struct unanswered *u)
{
    if (u->mo) {
        flex_free(u->from);
        flex_free(u->to);
        flex_free(u->text);
    }
}

static void conn_close(struct conn *c)
{
    if (!c->used)
        return;
    close(c->fd);
    flex_free(c->in);
    flex_sendbuf_free(&c->tx);
    for (size_t i = 0; i < c->ua_len; i++)
        unanswered_free(&c->ua[(c->ua_head + i) % c->ua_cap]);
    flex_free(c->ua);
    uint32_t gen = c->gen + 1;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
}

static void dlr_push(struct smsc *s, const struct dlr *d);

/* A session going: its unanswered receipts go back to the receipt queue
 * (due now), its unanswered texts to the texts to send again. */
static void unanswered_requeue(struct smsc *s, struct conn *c)
{
    for (size_t i = 0; i < c->ua_len; i++) {
        struct unanswered *u = &c->ua[(c->ua_head + i) % c->ua_cap];
        if (!u->seq)
            continue;
        s->st.redelivered++;
        if (u->is_part) { /* to the front of the parts to send: due now */
            s->parts = flex_realloc(s->parts, (s->nparts + 1) * sizeof(*s->parts));
            memmove(s->parts + 1, s->parts, s->nparts * sizeof(*s->parts));
            s->parts[0] = u->part;
            s->parts[0].due_ns = 0;
            s->nparts++;
            continue;
        }
        if (!u->mo) {
            u->d.due_ns = sim_now_ns();
            dlr_push(s, &u->d);
            continue;
        }
        s->mo_again = flex_realloc(s->mo_again, (s->nmo_again + 1) * sizeof(*s->mo_again));
        s->mo_again[s->nmo_again++] = *u;
        u->mo = false; /* its strings moved */
    }
}

/* Closes once nothing is in flight on the socket (a completion still
 * pending would otherwise land on a reused slot's buffers). */
static void conn_maybe_close(struct smsc *s, struct conn *c)
{
    if (c->used && c->closing && !c->recv_pending && !c->send_pending &&
        (c->tx.queued_len == 0 || c->fd < 0)) {
        unanswered_requeue(s, c);
        conn_close(c);
    }
}

/* A circular FIFO of |len| items of |elem| bytes from |*head| in |*cap|
 * slots, full: doubled (|first| slots when empty), its items moved to the
 * front of the new storage.  Returns the new storage. */
static void *fifo_grow(void *buf, size_t elem, size_t *head, size_t len, size_t *cap, size_t first)
{
    size_t ncap = *cap ? *cap * 2 : first;
    unsigned char *n = flex_malloc(ncap * elem);
    for (size_t i = 0; i < len; i++)
        memcpy(n + i * elem, (unsigned char *)buf + (*head + i) % *cap * elem, elem);
    flex_free(buf);
    *cap = ncap;
    *head = 0;
    return n;
}

static void unanswered_add(struct conn *c, const struct unanswered *u)
{
    if (c->ua_len == c->ua_cap)
        c->ua = fifo_grow(c->ua, sizeof(*c->ua), &c->ua_head, c->ua_len, &c->ua_cap, 256);
    c->ua[(c->ua_head + c->ua_len++) % c->ua_cap] = *u;
}

/* The answer to deliver_sm |seq|: answers come mostly in order, so the
 * search starts at the front, and answered entries leave from there. */
static void unanswered_answer(struct conn *c, uint32_t seq)
{
    for (size_t i = 0; i < c->ua_len; i++) {
        struct unanswered *u = &c->ua[(c->ua_head + i) % c->ua_cap];
        if (u->seq == seq) {
            unanswered_free(u);
            u->mo = false;
            u->seq = 0;
            break;
        }
    }
    while (c->ua_len && c->ua[c->ua_head].seq == 0) {
        c->ua_head = (c->ua_head + 1) % c->ua_cap;
        c->ua_len--;
    }
}

/* ---- the log -------------------------------------------------------- */

static void decode_text(uint8_t dcs, const uint8_t *b, size_t n, char *out, size_t outsz)
{
    long r;
    if (dcs == 8) {
        r = flex_utf16be_to_utf8(b, n, out, outsz);
    } else if (dcs == 0) {
        r = flex_gsm7_decode(b, n, out, outsz);
    } else if (dcs == 1) { /* IA5 (ASCII) */
        size_t k = n < outsz - 1 ? n : outsz - 1;
        for (size_t i = 0; i < k; i++)
            out[i] = (char)(b[i] & 0x7f);
        out[k] = '\0';
        r = (long)k;
    } else { /* Latin-1 and anything else: bytes as Latin-1 */
        size_t o = 0;
        for (size_t i = 0; i < n && o + 3 < outsz; i++)
            o += flex_utf8_put(b[i], (unsigned char *)out + o);
        out[o] = '\0';
        r = (long)o;
    }
    if (r < 0)
        out[0] = '\0';
}

static void log_message(struct smsc *s, const char *dst, const char *src, uint8_t dcs,
                        const char *text, const char *ids)
{
    if (!s->log)
        return;
    fprintf(s->log, "%s\t%s\t%u\t", dst, src, dcs);
    /* Plain runs in one write each: a character at a time was this
     * simulator's biggest cost under flexbench. */
    for (const char *p = text; *p;) {
        size_t run = strcspn(p, "\t\n\r\\");
        fwrite(p, 1, run, s->log);
        p += run;
        if (!*p)
            break;
        fputs(*p == '\t' ? "\\t" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : "\\\\", s->log);
        p++;
    }
    fprintf(s->log, "\t%s\n", ids);
}

static struct part_set *part_set_for(struct smsc *s, uint32_t slot, const struct flex_smpp_pdu *p,
                                     const struct flex_smpp_concat *cc)
{
    struct part_set *free_one = NULL;
    for (size_t i = 0; i < MAX_PENDING_CONCAT; i++) {
        struct part_set *ps = &s->pending[i];
        if (!ps->used) {
            if (!free_one)
                free_one = ps;
            continue;
        }
        if (ps->slot == slot && ps->ref == cc->ref && ps->total == cc->total &&
            strcmp(ps->src, p->source_addr) == 0 && strcmp(ps->dst, p->destination_addr) == 0)
            return ps;
    }
    if (!free_one)
        return NULL; /* too many open concatenations: log parts alone */
    memset(free_one, 0, sizeof(*free_one));
    free_one->used = true;
    free_one->slot = slot;
    free_one->ref = cc->ref;
    free_one->total = cc->total;
    free_one->dcs = p->data_coding;
    flex_strlcpy(free_one->src, p->source_addr, sizeof(free_one->src));
    flex_strlcpy(free_one->dst, p->destination_addr, sizeof(free_one->dst));
    return free_one;
}

static void part_set_flush(struct smsc *s, struct part_set *ps)
{
    size_t len = 0;
    for (unsigned i = 1; i <= ps->total; i++)
        len += strlen(ps->text[i]);
    char *all = flex_malloc(len + 1), ids[256 * 25];
    size_t o = 0, io = 0;
    for (unsigned i = 1; i <= ps->total; i++) {
        size_t n = strlen(ps->text[i]);
        memcpy(all + o, ps->text[i], n);
        o += n;
        io += (size_t)snprintf(ids + io, sizeof(ids) - io, "%s%s", i > 1 ? "," : "", ps->ids[i]);
        flex_free(ps->text[i]);
    }
    all[o] = '\0';
    log_message(s, ps->dst, ps->src, ps->dcs, all, ids);
    flex_free(all);
    ps->used = false;
}

/* Logs a received submit_sm, joining concatenated parts (UDH or sar_*). */
static void log_submit(struct smsc *s, uint32_t slot, const struct flex_smpp_pdu *p, const char *id)
{
    const uint8_t *b;
    size_t n;
    struct flex_smpp_concat cc;
    flex_smpp_user_data(p, &b, &n, &cc);
    char text[4 * 1024];
    decode_text(p->data_coding, b, n, text, sizeof(text));
    struct part_set *ps =
        cc.total > 1 && cc.seq >= 1 && cc.seq <= cc.total ? part_set_for(s, slot, p, &cc) : NULL;
    if (!ps) {
        log_message(s, p->destination_addr, p->source_addr, p->data_coding, text, id);
        return;
    }
    if (!ps->text[cc.seq]) {
        ps->text[cc.seq] = flex_strdup(text);
        snprintf(ps->ids[cc.seq], sizeof(ps->ids[0]), "%s", id);
        ps->have++;
    }
    if (ps->have == ps->total)
        part_set_flush(s, ps);
}

/* ---- destinations seen (stats) ------------------------------------ */

/* ---- receipts and inbound texts ------------------------------------ */

static void dlr_push(struct smsc *s, const struct dlr *d)
{
    if (s->dlr_len == s->dlr_cap)
        s->dlrs = fifo_grow(s->dlrs, sizeof(*s->dlrs), &s->dlr_head, s->dlr_len, &s->dlr_cap, 4096);
    s->dlrs[(s->dlr_head + s->dlr_len) % s->dlr_cap] = *d;
    s->dlr_len++;
}

/* A bound receiver for traffic of |slot|: that session while it lives,
 * else any other bound receiver (as an SMSC does after a reconnect). */
static struct conn *receiver_for(struct smsc *s, uint32_t slot, uint32_t gen, uint32_t *out)
{
    struct conn *c = &s->conns[slot];
    for (uint32_t i = 0; s->o->dlr_other && i < MAX_CONNS; i++) /* another session first */
        if (i != slot && s->conns[i].used && s->conns[i].bound && s->conns[i].rx &&
            !s->conns[i].closing) {
            *out = i;
            return &s->conns[i];
        }
    if (c->used && c->gen == gen && c->bound && c->rx && !c->closing) {
        *out = slot;
        return c;
    }
    for (uint32_t i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].used && s->conns[i].bound && s->conns[i].rx && !s->conns[i].closing) {
            *out = i;
            return &s->conns[i];
        }
    return NULL;
}

/* YYMMDDhhmm, the receipt's date format (two-digit year by the spec). */
static void receipt_date(time_t t, char out[16])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    unsigned v[5] = {(unsigned)tm.tm_year % 100, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday,
                     (unsigned)tm.tm_hour, (unsigned)tm.tm_min};
    for (int i = 0; i < 5; i++) {
        out[2 * i] = (char)('0' + v[i] / 10 % 10);
        out[2 * i + 1] = (char)('0' + v[i] % 10);
    }
    out[10] = '\0';
}

/* The id of |id| (hex) as the receipt's text and TLV name it under
 * |form| (enum smsc_ids); an empty |tlv|: no TLV. */
static void receipt_ids(int form, const char *id, char tid[32], char tlv[32])
{
    unsigned long long v = strtoull(id, NULL, 16);
    char up[32];
    size_t n = 0;
    up[n++] = '0';
    up[n++] = '0';
    for (const char *c = id; *c && n < sizeof(up) - 1; c++)
        up[n++] = (char)toupper((unsigned char)*c);
    up[n] = '\0';
    switch (form) {
    case SMSC_IDS_NOTLV: snprintf(tid, 32, "%s", id), tlv[0] = '\0'; break;
    case SMSC_IDS_DEC: snprintf(tid, 32, "%llu", v), tlv[0] = '\0'; break;
    case SMSC_IDS_DEC_TLV: snprintf(tid, 32, "%llu", v), snprintf(tlv, 32, "%s", id); break;
    case SMSC_IDS_UPPER: snprintf(tid, 32, "%s", up), snprintf(tlv, 32, "%s", up); break;
    default: snprintf(tid, 32, "%s", id), snprintf(tlv, 32, "%s", id); break;
    }
}

/* A receipt for |d| in |state| (|stat|: its name in the text). */
static void send_receipt(struct smsc *s, struct conn *c, const struct dlr *d, uint8_t state,
                         const char *stat)
{
    char text[200], sub[16], done[16], tid[32], tlv[32];
    receipt_ids(s->o->receipt_ids, d->id, tid, tlv);
    receipt_date(d->submitted, sub);
    receipt_date(time(NULL), done);
    int n = snprintf(text, sizeof(text),
                     "id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s "
                     "err:000 text:",
                     tid, state == FLEX_SMPP_STATE_DELIVERED ? "001" : "000", sub, done, stat);
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_DELIVER_SM;
    p.sequence = ++c->seq;
    p.source_addr_ton = p.dest_addr_ton = 1;
    p.source_addr_npi = p.dest_addr_npi = 1;
    memcpy(p.source_addr, d->dst, sizeof(p.source_addr));
    memcpy(p.destination_addr, d->src, sizeof(p.destination_addr));
    p.esm_class = FLEX_SMPP_ESM_RECEIPT;
    p.short_message = (const uint8_t *)text;
    p.sm_length = (uint8_t)n;
    p.tlv_mask = FLEX_SMPP_HAS_MESSAGE_STATE;
    if (tlv[0]) {
        p.tlv_mask |= FLEX_SMPP_HAS_RECEIPTED_ID;
        snprintf(p.receipted_message_id, sizeof(p.receipted_message_id), "%s", tlv);
    }
    p.message_state = state;
    queue_pdu(c, &p);
    unanswered_add(c, &(struct unanswered){.seq = p.sequence, .d = *d});
    s->st.receipts_sent++;
}

static void dlr_run(struct smsc *s, uint64_t now)
{
    while (s->dlr_len > 0) {
        struct dlr *d = &s->dlrs[s->dlr_head];
        if (d->due_ns > now)
            return;
        uint32_t slot;
        struct conn *c = receiver_for(s, d->slot, d->gen, &slot);
        if (!c)
            return; /* kept until a receiver binds */
        if (s->o->dlr_enroute)
            send_receipt(s, c, d, FLEX_SMPP_STATE_ENROUTE, "ENROUTE");
        send_receipt(s, c, d, FLEX_SMPP_STATE_DELIVERED, "DELIVRD");
        if (s->o->dlr_twice)
            send_receipt(s, c, d, FLEX_SMPP_STATE_DELIVERED, "DELIVRD");
        arm_send(s, c, slot);
        s->dlr_head = (s->dlr_head + 1) % s->dlr_cap;
        s->dlr_len--;
    }
}

/* The parts due (--mo-spread, --mo-part-gap-ms), in order, each to a bound
 * receiver: the next in turn with --mo-spread, else the first.  None is
 * sent while no receiver is bound. */
static void parts_run(struct smsc *s, uint64_t now)
{
    struct conn *rx[MAX_CONNS];
    unsigned n = 0;
    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].used && s->conns[i].bound && s->conns[i].rx && !s->conns[i].closing)
            rx[n++] = &s->conns[i];
    size_t done = 0;
    while (n && done < s->nparts && s->parts[done].due_ns <= now) {
        const struct mo_part *mp = &s->parts[done++];
        struct conn *c = rx[s->o->mo_spread ? s->parts_rr++ % n : 0];
        struct flex_smpp_pdu p = {0};
        p.command_id = FLEX_SMPP_DELIVER_SM;
        p.sequence = ++c->seq;
        p.source_addr_ton = p.dest_addr_ton = 1;
        p.source_addr_npi = p.dest_addr_npi = 1;
        snprintf(p.source_addr, sizeof(p.source_addr), "%s", mp->from);
        snprintf(p.destination_addr, sizeof(p.destination_addr), "%s", mp->to);
        p.esm_class = FLEX_SMPP_ESM_UDHI;
        p.data_coding = mp->dcs;
        p.short_message = (uint8_t *)mp->sm;
        p.sm_length = mp->len;
        queue_pdu(c, &p);
        unanswered_add(c, &(struct unanswered){.seq = c->seq, .is_part = true, .part = *mp});
        arm_send(s, c, (uint32_t)(c - s->conns));
    }
    memmove(s->parts, s->parts + done, (s->nparts - done) * sizeof(*s->parts));
    s->nparts -= done;
}

/* One inbound text from |from| to |to| (NULL: --mo-to) on |c|, in parts
 * with a UDH when it is long (with --mo-spread or --mo-part-gap-ms, the
 * parts go on their own: parts_run). */
static void send_one_mo(struct smsc *s, struct conn *c, const char *from, const char *to,
                        const char *text)
{
    static struct flex_sms sms;
    struct flex_text_error err;
    if (flex_sms_encode(&sms, text, strlen(text), FLEX_SMS_MAX_PARTS, &err) != 0)
        return;
    uint8_t ref = (uint8_t)sim_xorshift(&s->rng);
    if (sms.nparts > 1 && (s->o->mo_spread || s->o->mo_part_gap_ms)) {
        uint64_t now = sim_now_ns();
        for (unsigned k = 0; k < sms.nparts; k++) {
            struct mo_part mp = {.due_ns = now + k * s->o->mo_part_gap_ms * 1000000ULL,
                                 .dcs = (uint8_t)sms.coding};
            size_t start = flex_sms_part_start(&sms, k), len = sms.part_end[k] - start;
            size_t h = flex_smpp_udh_write(mp.sm, ref, (uint8_t)sms.nparts, (uint8_t)(k + 1));
            memcpy(mp.sm + h, sms.data + start, len); /* 6 + 140 at most */
            mp.len = (uint8_t)(h + len);
            snprintf(mp.from, sizeof(mp.from), "%s", from);
            snprintf(mp.to, sizeof(mp.to), "%s", to ? to : s->o->mo_to);
            size_t at = s->nparts; /* in due order */
            while (at > 0 && s->parts[at - 1].due_ns > mp.due_ns)
                at--;
            s->parts = flex_realloc(s->parts, (s->nparts + 1) * sizeof(*s->parts));
            memmove(s->parts + at + 1, s->parts + at, (s->nparts - at) * sizeof(*s->parts));
            s->parts[at] = mp;
            s->nparts++;
        }
        s->st.inbound_sent++;
        parts_run(s, now);
        return;
    }
    for (unsigned k = 0; k < sms.nparts; k++) {
        uint8_t sm[200];
        size_t start = flex_sms_part_start(&sms, k), len = sms.part_end[k] - start, h = 0;
        if (sms.nparts > 1)
            h = flex_smpp_udh_write(sm, ref, (uint8_t)sms.nparts, (uint8_t)(k + 1));
        memcpy(sm + h, sms.data + start, len);
        struct flex_smpp_pdu p = {0};
        p.command_id = FLEX_SMPP_DELIVER_SM;
        p.sequence = ++c->seq;
        p.source_addr_ton = p.dest_addr_ton = 1;
        p.source_addr_npi = p.dest_addr_npi = 1;
        snprintf(p.source_addr, sizeof(p.source_addr), "%s", from);
        snprintf(p.destination_addr, sizeof(p.destination_addr), "%s", to ? to : s->o->mo_to);
        p.esm_class = sms.nparts > 1 ? FLEX_SMPP_ESM_UDHI : 0;
        p.data_coding = (uint8_t)sms.coding;
        p.short_message = sm;
        p.sm_length = (uint8_t)(h + len);
        queue_pdu(c, &p);
    }
    unanswered_add(c, &(struct unanswered){.seq = c->seq,
                                           .mo = true,
                                           .from = flex_strdup(from),
                                           .to = to ? flex_strdup(to) : NULL,
                                           .text = flex_strdup(text)});
    s->st.inbound_sent++;
}

/* Texts a session left unanswered, to a receiver bound now. */
static void mo_again_run(struct smsc *s)
{
    uint32_t slot;
    struct conn *c = receiver_for(s, 0, UINT32_MAX, &slot);
    if (!c)
        return;
    for (size_t i = 0; i < s->nmo_again; i++) {
        struct unanswered *u = &s->mo_again[i];
        send_one_mo(s, c, u->from, u->to, u->text);
        s->st.inbound_sent--; /* counted once, when first sent */
        unanswered_free(u);
    }
    s->nmo_again = 0;
    arm_send(s, c, slot);
}

/* Sends every --mo-file line to a session that has just bound. */
static void send_mo(struct smsc *s, struct conn *c)
{
    for (size_t i = 0; i < s->nmo; i++)
        send_one_mo(s, c, s->mo_from[i], s->mo_to[i], s->mo_text[i]);
}

/* Splits "FROM<TAB>TEXT" or "FROM<TAB>TO<TAB>TEXT" (TO: digits, '+'
 * first allowed) in place; false for a line without a sender. */
static bool mo_line(char *line, char **from, char **to, char **text)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *tab = strchr(line, '\t');
    if (!tab || tab == line)
        return false;
    *tab = '\0';
    *from = line[0] == '+' ? line + 1 : line;
    *to = NULL;
    *text = tab + 1;
    char *tab2 = strchr(tab + 1, '\t');
    char *t = tab + 1 + (tab[1] == '+');
    if (tab2 && tab2 > t && strspn(t, "0123456789") == (size_t)(tab2 - t)) {
        *tab2 = '\0';
        *to = t;
        *text = tab2 + 1;
    }
    return true;
}

/* The slot of hash |h|: its own, or the empty one it would take. */
static size_t replyto_slot(const struct replyto *t, uint64_t h)
{
    size_t j = h & t->mask;
    while (t->h[j] && t->h[j] != h)
        j = (j + 1) & t->mask;
    return j;
}

/* |src| texted |dst| (the last one to do so is who it answers); numbers
 * or sources too long for the list, and sources past REPLY_SRCS, are not
 * kept. */
static void replyto_put(struct replyto *t, const char *dst, const char *src)
{
    size_t dl = strlen(dst);
    if (dl >= sizeof(t->list[0].dst) || strlen(src) >= sizeof(t->srcs[0]))
        return;
    unsigned k = 0;
    while (k < t->nsrcs && strcmp(t->srcs[k], src) != 0)
        k++;
    if (k == t->nsrcs) {
        if (k == REPLY_SRCS)
            return;
        memcpy(t->srcs[t->nsrcs++], src, strlen(src) + 1);
    }
    if ((t->n + 1) * 2 > t->mask + 1) { /* grow: every kept number again */
        flex_free(t->h);
        flex_free(t->at);
        t->mask = t->mask ? t->mask * 2 + 1 : 1023;
        t->h = flex_calloc(t->mask + 1, sizeof(*t->h));
        t->at = flex_calloc(t->mask + 1, sizeof(*t->at));
        for (size_t i = 0; i < t->n; i++) {
            uint64_t h = flex_siphash13(&t->key, t->list[i].dst, strlen(t->list[i].dst)) | 1;
            size_t j = replyto_slot(t, h);
            t->h[j] = h;
            t->at[j] = (uint32_t)i;
        }
    }
    uint64_t h = flex_siphash13(&t->key, dst, dl) | 1;
    size_t j = replyto_slot(t, h);
    if (!t->h[j]) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 1024;
            t->list = flex_realloc(t->list, t->cap * sizeof(*t->list));
        }
        memcpy(t->list[t->n].dst, dst, dl + 1);
        t->list[t->n].answered = 0;
        t->h[j] = h;
        t->at[j] = (uint32_t)t->n++;
    }
    t->list[t->at[j]].src = (uint8_t)k;
}

/* --mo-rate: patients' replies at a steady rate to the bound receivers in
 * turn, from --mo-senders numbers (+1{303,202,...}555xxxx, some of them
 * flexbench's patients) or, with --mo-reply, from the numbers texted so far
 * to the number that texted each, and texts that need no automatic answer (confirmations,
 * reschedules, other, emergencies), so that they load the inbound path alone.  As an SMSC's window
 * does, a session with --mo-window deliver_sm unanswered (receipts included), or whose socket is
 * not drained, gets none until it has room: the rate measured is what flexd absorbs, and a flexd
 * that answers a text only once stored is not flooded past it. */
static void flood_mo(struct smsc *s, uint64_t now)
{
    static const char *const texts[] = {"C",
                                        "Yes",
                                        "Running 10 min late, sorry",
                                        "Can I reschedule to Friday?",
                                        "Thanks!",
                                        "my tooth hurts and the gum is swollen",
                                        "Sí, confirmo",
                                        "ok see you then"};
    struct conn *rx[MAX_CONNS];
    unsigned n = 0;
    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].used && s->conns[i].bound && s->conns[i].rx &&
            s->conns[i].tx.queued_len < 256 * 1024 &&
            (!s->o->mo_window || s->conns[i].ua_len < s->o->mo_window))
            rx[n++] = &s->conns[i];
    /* (--mo-reply: the flood starts with the first number texted) */
    if (n == 0 || (s->o->mo_reply && s->replyto.n == 0))
        return;
    if (!s->flood_start)
        s->flood_start = now;
    double due = (double)(now - s->flood_start) / 1e9 * s->o->mo_rate - (double)s->flood_sent;
    unsigned full = 0; /* receivers in a row found with no room: all of them ends it */
    for (int k = 0; k < 4000 && due >= 1 && full < n;) {
        struct conn *c = rx[s->flood_sent % n];
        if (s->o->mo_window && c->ua_len >= s->o->mo_window) {
            full++;
            s->flood_sent++, due--; /* (its turn passes: not sent, not owed later) */
            continue;
        }
        full = 0;
        char from[24];
        uint64_t i = s->flood_sent++;
        const size_t ntexts = sizeof(texts) / sizeof(texts[0]);
        if (s->o->mo_reply) { /* the numbers texted, in turn, each to who texted it */
            /* each of its texts worded anew (64 wordings, then the same
             * again: a carrier's copy to flexd), so that the flood is of
             * texts flexd has not seen, as patients' are */
            static const char *const tails[] = {
                "",        " thanks",           " :)",    " ok?",
                " please", " \xf0\x9f\x91\x8d", " - Ana", " (sent from my phone)"};
            struct replyto *t = &s->replyto;
            struct texted *e = &t->list[i % t->n];
            unsigned v = e->answered++;
            char text[96];
            snprintf(text, sizeof(text), "%s%s", texts[v % ntexts],
                     tails[(v / ntexts) % (sizeof(tails) / sizeof(tails[0]))]);
            send_one_mo(s, c, e->dst, t->srcs[e->src], text);
            k++, due--;
            continue;
        }
        static const char *const areas[] = {"303", "202", "312", "415", "602",
                                            "212", "213", "305", "404", "503"};
        unsigned who = (unsigned)(i % s->o->mo_senders);
        snprintf(from, sizeof(from), "1%s555%04u", areas[(who / 10000u) % 10u], who % 10000u);
        send_one_mo(s, c, from, NULL, texts[(i / s->o->mo_senders) % ntexts]);
        k++, due--;
    }
    for (unsigned i = 0; i < n; i++)
        arm_send(s, rx[i], (uint32_t)(rx[i] - s->conns));
}

/* --mo-follow: the lines appended to the file since the last look, each
 * to one bound receiver (in turn); none is read while no receiver is
 * bound, so none is lost. */
static void follow_mo(struct smsc *s)
{
    struct conn *rx[MAX_CONNS];
    unsigned n = 0;
    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].used && s->conns[i].bound && s->conns[i].rx)
            rx[n++] = &s->conns[i];
    if (n == 0)
        return;
    char line[2048];
    long at = ftell(s->follow);
    while (fgets(line, sizeof(line), s->follow)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') { /* half written: again next time */
            fseek(s->follow, at, SEEK_SET);
            break;
        }
        at = ftell(s->follow);
        char *from, *to, *text;
        if (!mo_line(line, &from, &to, &text))
            continue;
        struct conn *c = rx[s->follow_rr++ % n];
        send_one_mo(s, c, from, to, text);
        arm_send(s, c, (uint32_t)(c - s->conns));
    }
    clearerr(s->follow);
}

/* ---- requests ------------------------------------------------------ */

static void on_bind(struct smsc *s, struct conn *c, const struct flex_smpp_pdu *p)
{
    struct flex_smpp_pdu r = {0};
    r.command_id = flex_smpp_resp_of(p->command_id);
    r.sequence = p->sequence;
    memcpy(r.system_id, "smscsim", 8);
    if (c->bound) {
        r.command_status = FLEX_SMPP_ESME_RALYBND;
    } else if (strcmp(p->system_id, s->o->system_id) != 0 ||
               strcmp(p->password, s->o->password) != 0) {
        r.command_status = FLEX_SMPP_ESME_RBINDFAIL;
        s->st.binds_rejected++;
    } else {
        c->bound = true;
        c->rx = p->command_id != FLEX_SMPP_BIND_TRANSMITTER;
        r.tlv_mask = FLEX_SMPP_HAS_SC_VERSION;
        r.sc_interface_version = FLEX_SMPP_VERSION;
        s->st.bound_total++;
    }
    queue_pdu(c, &r);
    if (r.command_status == 0 && c->rx)
        send_mo(s, c);
}

static void on_submit(struct smsc *s, struct conn *c, uint32_t slot, const struct flex_smpp_pdu *p)
{
    s->st.submit_sm++;
    if (!c->bound) {
        queue_resp(c, FLEX_SMPP_SUBMIT_SM_RESP, FLEX_SMPP_ESME_RINVBNDSTS, p->sequence, NULL);
        return;
    }
    if (s->o->throttle_mps > 0 && flex_gcra_take(&s->throttle, &s->throttle_tat, sim_now_ns(), 1)) {
        s->st.throttled++;
        queue_resp(c, FLEX_SMPP_SUBMIT_SM_RESP, FLEX_SMPP_ESME_RTHROTTLED, p->sequence, NULL);
        return;
    }
    if (s->o->fail_rate > 0 &&
        (double)(sim_xorshift(&s->rng) >> 11) * 0x1.0p-53 < s->o->fail_rate) {
        s->st.failed++;
        queue_resp(c, FLEX_SMPP_SUBMIT_SM_RESP,
                   s->o->fail_status ? s->o->fail_status : FLEX_SMPP_ESME_RSYSERR, p->sequence,
                   NULL);
        return;
    }
    struct dlr d = {.slot = slot, .gen = c->gen};
    snprintf(d.id, sizeof(d.id), "%08x%08llx", s->id_prefix, (unsigned long long)++s->next_id);
    queue_resp(c, FLEX_SMPP_SUBMIT_SM_RESP, 0, p->sequence, d.id);
    /* received counts messages: a long text's later parts are not counted. */
    struct flex_smpp_concat cc = {0};
    if (!((p->esm_class & FLEX_SMPP_ESM_UDHI) && p->sm_length &&
          flex_smpp_udh_parse(p->short_message, p->sm_length, &cc) > 0 && cc.seq > 1) &&
        !((p->tlv_mask & FLEX_SMPP_HAS_SAR) && p->sar_segment_seqnum > 1))
        s->st.received++;
    sim_destset_add(&s->dests, p->destination_addr, strlen(p->destination_addr));
    if (s->o->mo_reply)
        replyto_put(&s->replyto, p->destination_addr, p->source_addr);
    log_submit(s, slot, p, d.id);
    if (p->registered_delivery & 0x03) {
        d.due_ns = sim_now_ns() + s->o->dlr_delay_ms * 1000000ULL;
        d.submitted = time(NULL);
        flex_strlcpy(d.src, p->source_addr, sizeof(d.src));
        flex_strlcpy(d.dst, p->destination_addr, sizeof(d.dst));
        dlr_push(s, &d);
    }
}

static void on_pdu(struct smsc *s, struct conn *c, uint32_t slot, const struct flex_smpp_pdu *p)
{
    switch (p->command_id) {
    case FLEX_SMPP_BIND_TRANSCEIVER:
    case FLEX_SMPP_BIND_TRANSMITTER:
    case FLEX_SMPP_BIND_RECEIVER: on_bind(s, c, p); break;
    case FLEX_SMPP_SUBMIT_SM: on_submit(s, c, slot, p); break;
    case FLEX_SMPP_ENQUIRE_LINK:
        queue_resp(c, FLEX_SMPP_ENQUIRE_LINK_RESP, 0, p->sequence, NULL);
        break;
    case FLEX_SMPP_UNBIND:
        s->st.unbinds++;
        queue_resp(c, FLEX_SMPP_UNBIND_RESP, 0, p->sequence, NULL);
        c->bound = false;
        c->closing = true;
        break;
    case FLEX_SMPP_DELIVER_SM_RESP:
        s->st.deliver_sm_resp++;
        if (p->command_status == 0) /* refused: delivered again when the session goes */
            unanswered_answer(c, p->sequence);
        break;
    case FLEX_SMPP_DELIVER_SM: /* not for an SMSC to receive */
        queue_resp(c, FLEX_SMPP_DELIVER_SM_RESP, FLEX_SMPP_ESME_RINVCMDID, p->sequence, NULL);
        break;
    default: break; /* responses to nothing, generic_nack: ignored */
    }
}

/* Decodes every complete PDU in the input buffer. */
static void process_input(struct smsc *s, struct conn *c, uint32_t slot)
{
    size_t off = 0;
    while (off < c->in_len && !c->closing) {
        struct flex_smpp_pdu p;
        struct flex_smpp_error err;
        long n = flex_smpp_decode(&p, c->in + off, c->in_len - off, &err);
        if (n == 0)
            break;
        if (n < 0) {
            uint32_t seq = c->in_len - off >= 16 ? p.sequence : 0;
            if (err.fatal) {
                fprintf(stderr, "smscsim: dropping a session: %s\n", err.reason);
                queue_resp(c, FLEX_SMPP_GENERIC_NACK, err.status, 0, NULL);
                c->closing = true;
                break;
            }
            queue_resp(c, err.nack ? FLEX_SMPP_GENERIC_NACK : flex_smpp_resp_of(p.command_id),
                       err.status, seq, NULL);
            n = flex_smpp_frame_len(c->in + off, c->in_len - off);
        } else {
            on_pdu(s, c, slot, &p);
        }
        off += (size_t)n;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

/* ---- events --------------------------------------------------------- */

static void arm_accept(struct smsc *s)
{
    struct io_uring_sqe *sqe = flex_uring_sqe(&s->ring);
    io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_ACCEPT, 0, 0));
}

static void on_accept(struct smsc *s, int res, uint32_t flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept(s); /* multishot ended (error or overload): re-arm */
    if (res < 0)
        return;
    for (uint32_t i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->used)
            continue;
        int one = 1;
        setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->used = true;
        c->fd = res;
        c->in = flex_malloc(INBUF);
        arm_recv(s, c, i);
        return;
    }
    close(res); /* table full */
}

static void on_recv(struct smsc *s, struct conn *c, uint32_t slot, int res)
{
    c->recv_pending = false;
    if (res <= 0) {
        if (res < 0)
            fprintf(stderr, "smscsim: recv() failed: %s\n", strerror(-res));
        c->closing = true;
        c->tx.queued_len = 0;
        return;
    }
    c->in_len += (size_t)res;
    process_input(s, c, slot);
    arm_recv(s, c, slot);
    arm_send(s, c, slot);
}

static void on_send(struct smsc *s, struct conn *c, uint32_t slot, int res)
{
    c->send_pending = false;
    if (res < 0) {
        fprintf(stderr, "smscsim: send() failed: %s\n", strerror(-res));
        c->closing = true;
        flex_sendbuf_clear(&c->tx);
        return;
    }
    flex_sendbuf_sent(&c->tx, (size_t)res);
    arm_send(s, c, slot);
}

static void write_stats(struct smsc *s)
{
    if (!s->o->stats_path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->o->stats_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    unsigned bound = 0;
    for (uint32_t i = 0; i < MAX_CONNS; i++)
        bound += s->conns[i].used && s->conns[i].bound;
    fprintf(f,
            "{\"received\":%llu,\"unique_destinations\":%llu,\"throttled\":%llu,"
            "\"failed\":%llu,\"receipts_sent\":%llu,\"inbound_sent\":%llu,"
            "\"submit_sm\":%llu,\"binds_rejected\":%llu,\"bound_sessions\":%u,"
            "\"receipts_pending\":%zu,\"unbinds\":%llu,\"redelivered\":%llu}\n",
            (unsigned long long)s->st.received, (unsigned long long)s->dests.count,
            (unsigned long long)s->st.throttled, (unsigned long long)s->st.failed,
            (unsigned long long)s->st.receipts_sent, (unsigned long long)s->st.inbound_sent,
            (unsigned long long)s->st.submit_sm, (unsigned long long)s->st.binds_rejected, bound,
            s->dlr_len, (unsigned long long)s->st.unbinds, (unsigned long long)s->st.redelivered);
    fclose(f);
    rename(tmp, s->o->stats_path);
}

static void dispatch(struct smsc *s, struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    unsigned type = flex_uring_ud_type(ud);
    if (type == UD_ACCEPT) {
        on_accept(s, cqe->res, cqe->flags);
        return;
    }
    uint32_t slot = flex_uring_ud_slot(ud);
    struct conn *c = &s->conns[slot];
    if (slot >= MAX_CONNS || !c->used || c->gen != flex_uring_ud_gen(ud))
        return; /* stale */
    if (type == UD_RECV)
        on_recv(s, c, slot, cqe->res);
    else if (type == UD_SEND)
        on_send(s, c, slot, cqe->res);
    conn_maybe_close(s, c);
}

int smsc_run(struct smsc *s, volatile sig_atomic_t *stop)
{
    uint64_t start = sim_now_ns(), last_stats = 0;
    arm_accept(s);
    while (!*stop) {
        /* The wait itself times out (no timer request to lose): 1 ms while
         * receipts are due, so their delay holds to the millisecond. */
        struct __kernel_timespec ts = {0, s->dlr_len || s->o->mo_rate > 0 ? 1000000 : 50000000};
        struct io_uring_cqe *first;
        int rc = io_uring_submit_and_wait_timeout(&s->ring, &first, 1, &ts, NULL);
        if (rc < 0 && rc != -EINTR && rc != -ETIME) {
            fprintf(stderr, "smscsim: io_uring_submit_and_wait() failed: %s\n", strerror(-rc));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&s->ring, head, cqe)
        {
            dispatch(s, cqe);
            n++;
        }
        io_uring_cq_advance(&s->ring, n);
        uint64_t now = sim_now_ns();
        dlr_run(s, now);
        if (s->nmo_again)
            mo_again_run(s);
        if (s->nparts)
            parts_run(s, now);
        if (s->follow)
            follow_mo(s);
        if (s->o->mo_rate > 0)
            flood_mo(s, now);
        if (now - last_stats >= 1000000000ULL) {
            write_stats(s);
            if (s->log)
                fflush(s->log); /* readers follow it while we run */
            last_stats = now;
        }
        if (s->o->max_seconds && now - start >= s->o->max_seconds * 1000000000ULL)
            break;
    }
    write_stats(s);
    if (s->log)
        fflush(s->log);
    return 0;
}

static int load_mo(struct smsc *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "smscsim: cannot open --mo-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[2048];
    while (fgets(line, sizeof(line), f)) {
        char *from, *to, *text;
        if (!mo_line(line, &from, &to, &text))
            continue;
        s->mo_from = flex_realloc(s->mo_from, (s->nmo + 1) * sizeof(char *));
        s->mo_to = flex_realloc(s->mo_to, (s->nmo + 1) * sizeof(char *));
        s->mo_text = flex_realloc(s->mo_text, (s->nmo + 1) * sizeof(char *));
        s->mo_from[s->nmo] = flex_strdup(from);
        s->mo_to[s->nmo] = to ? flex_strdup(to) : NULL;
        s->mo_text[s->nmo] = flex_strdup(text);
        s->nmo++;
    }
    fclose(f);
    return 0;
}

struct smsc *smsc_new(const struct smsc_opts *o, int listen_fd)
{
    struct smsc *s = flex_calloc(1, sizeof(*s));
    s->o = o;
    s->lfd = listen_fd;
    s->rng = sim_now_ns() | 1;
    s->id_prefix = (uint32_t)(sim_xorshift(&s->rng) >> 32);
    sim_destset_init(&s->dests, sim_xorshift(&s->rng), 0);
    s->replyto.key = (struct flex_hash_key){sim_xorshift(&s->rng), sim_xorshift(&s->rng)};
    s->pending = flex_calloc(MAX_PENDING_CONCAT, sizeof(struct part_set));
    flex_gcra_init(&s->throttle, o->throttle_mps,
                   o->throttle_mps > 100 ? (uint32_t)(o->throttle_mps / 100) : 1);
    int rc = flex_uring_init(&s->ring, 4096);
    if (rc < 0) {
        fprintf(stderr, "smscsim: io_uring_queue_init() failed: %s\n", strerror(-rc));
        smsc_del(s);
        return NULL;
    }
    if (o->log_path) {
        s->log = fopen(o->log_path, "w");
        if (!s->log) {
            fprintf(stderr, "smscsim: cannot open --log %s: %s\n", o->log_path, strerror(errno));
            smsc_del(s);
            return NULL;
        }
        setvbuf(s->log, NULL, _IOFBF, 1 << 20);
    }
    if (o->mo_follow && !(s->follow = fopen(o->mo_follow, "r"))) {
        fprintf(stderr, "smscsim: cannot open --mo-follow %s: %s\n", o->mo_follow, strerror(errno));
        smsc_del(s);
        return NULL;
    }
    if (o->mo_file && load_mo(s, o->mo_file) != 0) {
        smsc_del(s);
        return NULL;
    }
    return s;
}

void smsc_del(struct smsc *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < MAX_CONNS; i++)
        conn_close(&s->conns[i]);
    for (size_t i = 0; i < s->nmo_again; i++)
        unanswered_free(&s->mo_again[i]);
    flex_free(s->mo_again);
    flex_free(s->parts);
    for (size_t i = 0; i < MAX_PENDING_CONCAT; i++)
        if (s->pending[i].used)
            for (unsigned k = 0; k < 256; k++)
                flex_free(s->pending[i].text[k]);
    for (size_t i = 0; i < s->nmo; i++) {
        flex_free(s->mo_from[i]);
        flex_free(s->mo_to[i]);
        flex_free(s->mo_text[i]);
    }
    flex_free(s->mo_from);
    flex_free(s->mo_to);
    if (s->follow)
        fclose(s->follow);
    flex_free(s->mo_text);
    flex_free(s->pending);
    sim_destset_free(&s->dests);
    flex_free(s->replyto.h);
    flex_free(s->replyto.at);
    flex_free(s->replyto.list);
    flex_free(s->dlrs);
    if (s->log)
        fclose(s->log);
    if (s->ring.ring_fd > 0)
        io_uring_queue_exit(&s->ring);
    flex_free(s);
}
