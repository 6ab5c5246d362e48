/*
 * The SMPP client: its life, the sessions (connect, TLS, bind, enquire_link,
 * unbind, reset with backoff), io_uring I/O and timers.  What concerns
 * messages (queues, the window, submit responses, throttling, receipts,
 * inbound texts) is in smpp_flow.c.
 *
 * Calls go one way: smpp.c -> smpp_flow.c (smpp_flow.h), smpp_tls.c and
 * smpp_rx.c (smpp_int.h); none of them calls back into this file.  A PDU
 * about a message is handed down (flex_smpp_on_pdu); smpp_flow.c reports
 * through the event callback and leaves what to send on the session, which
 * this file flushes.
 */
#include "smpp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "cfgval.h"
#include "idmap.h"
#include "mem.h"
#include "smpp_int.h"
#include "smpp_flow.h"
#include "uring.h"

#define INBUF (256 * 1024)
#define TICK_NS 10000000ULL /* timers are checked every 10 ms */

enum { UD_CONNECT = 1, UD_RECV, UD_SEND, UD_TICK, UD_CANCEL };

void flex_smpp_config_defaults(struct flex_smpp_config *c)
{
    memset(c, 0, sizeof(*c));
    c->name = "smpp";
    c->host = "127.0.0.1";
    c->port = 2775;
    c->system_id = "flex";
    c->password = "";
    c->tls_verify = true;
    c->window = 64;
    c->binds = 1;
    c->connect_timeout_ms = 5000;
    c->response_timeout_ms = 10000;
    c->enquire_link_ms = 30000;
    c->reconnect_min_ms = 100;
    c->reconnect_max_ms = 30000;
    c->ambiguous_retry = false;
    c->max_parts = 6;
    c->id_map_max = 65536;
}

static const struct flex_log_ctx *log_ctx(struct flex_smpp_client *c)
{
    static _Thread_local struct flex_log_ctx ctx;
    ctx.component = "smpp";
    ctx.id = c->name;
    return &ctx;
}

/* ---- output -------------------------------------------------------- */

/* Moves queued PDUs to the wire buffer (encrypting under TLS) and starts a
 * send when none is in flight. */
static int flush(struct flex_smpp_client *c, struct session *s)
{
    if (s->out_len) {
        if (s->ssl) {
            if (flex_smpp_tls_output(s, s->out, s->out_len, &s->wire) < 0)
                return FLEX_E_INVAL;
        } else {
            flex_sendbuf_append(&s->wire, s->out, s->out_len);
        }
        s->out_len = 0;
    }
    if (s->send_pending || s->fd < 0)
        return 0;
    const uint8_t *p;
    size_t n = flex_sendbuf_next(&s->wire, &p);
    if (n == 0)
        return 0;
    struct io_uring_sqe *sqe = flex_uring_sqe(&c->ring);
    io_uring_prep_send(sqe, s->fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_SEND, s->idx, s->gen));
    s->send_pending = true;
    s->ops++;
    return 0;
}

static void arm_recv(struct flex_smpp_client *c, struct session *s)
{
    if (s->recv_pending || s->fd < 0)
        return;
    struct io_uring_sqe *sqe = flex_uring_sqe(&c->ring);
    io_uring_prep_recv(sqe, s->fd, s->in + s->in_len, INBUF - s->in_len, 0);
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_RECV, s->idx, s->gen));
    s->recv_pending = true;
    s->ops++;
}

/* ---- connection life ------------------------------------------------ */

static uint32_t jitter(struct flex_smpp_client *c, uint32_t ms)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    /* "Full jitter" on the upper half: between ms/2 and ms. */
    return ms / 2 + (uint32_t)(c->rng % (ms / 2 + 1));
}

/* Drops the connection: every part in the window becomes ambiguous, queued
 * messages go back to the client, and a reconnect is scheduled. */
static void session_drop(struct flex_smpp_client *c, struct session *s, const char *why,
                         bool failure)
{
    if (s->state == S_IDLE)
        return;
    /* Not the state: an unbind the SMSC sends during the bind makes it
     * S_UNBINDING without ever being bound (a "down" never preceded by an
     * "up" put flexd's count of bound sessions below zero). */
    bool was_bound = s->up;
    s->up = false;
    if (failure)
        flex_log(FLEX_LOG_WARN, log_ctx(c), 0, "session %u reset: %s (%u in window)", s->idx, why,
                 s->in_window);
    if (s->fd >= 0) {
        /* Cancel what is in flight on the old socket (shutdown alone does
         * not always complete a pending recv), then close it: the requests
         * hold their own reference to the file. */
        for (unsigned t = UD_CONNECT; t <= UD_SEND; t++) {
            struct io_uring_sqe *sqe = flex_uring_sqe(&c->ring);
            io_uring_prep_cancel64(sqe, flex_uring_ud(t, s->idx, s->gen), 0);
            io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_CANCEL, s->idx, 0));
        }
        shutdown(s->fd, SHUT_RDWR);
        close(s->fd);
        s->fd = -1;
    }
    s->dropped_ns = flex_smpp_now_ns();
    s->gen++;
    flex_smpp_window_fail_all(c, s);
    flex_smpp_requeue_session(c, s);
    flex_smpp_tls_end(s);
    s->state = S_IDLE;
    s->in_len = s->out_len = 0;
    flex_sendbuf_clear(&s->wire);
    s->enquire_sent_ns = 0;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : c->cfg.reconnect_min_ms;
    if (s->backoff_ms > c->cfg.reconnect_max_ms)
        s->backoff_ms = c->cfg.reconnect_max_ms;
    s->reconnect_at_ns = flex_smpp_now_ns() + (uint64_t)jitter(c, s->backoff_ms) * 1000000ULL;
    if (was_bound) {
        struct flex_smpp_event ev = {.kind = FLEX_SMPP_EV_SESSION, .session = s->idx};
        flex_smpp_emit(c, &ev);
    }
    if (failure)
        s->st.reconnects++;
    else
        s->backoff_ms = 0;
}

/* Drops the connection after a failure (logged, counted, reconnect
 * scheduled with backoff). */
static void session_reset(struct flex_smpp_client *c, struct session *s, const char *why)
{
    session_drop(c, s, why, true);
}

/* A bind in clear, or without checking the SMSC's certificate, to another
 * machine: said at the first connection and then at most once a minute. */
static void warn_insecure(struct flex_smpp_client *c)
{
    uint64_t now = flex_smpp_now_ns();
    if (flex_cfgval_is_loopback(c->host) || (c->cfg.tls && c->cfg.tls_verify) ||
        (c->warned_ns && now - c->warned_ns < 60000000000ULL))
        return;
    c->warned_ns = now;
    flex_log(FLEX_LOG_WARN, log_ctx(c), 0,
             c->cfg.tls ? "TLS to %s without verifying its certificate (tls_verify = false): "
                          "anyone on the path can pose as the SMSC"
                        : "plaintext SMPP to %s: the bind password and every text cross the "
                          "network in clear (tls = true)",
             c->host);
}

static void start_connect(struct flex_smpp_client *c, struct session *s)
{
    warn_insecure(c);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        s->reconnect_at_ns = flex_smpp_now_ns() + 1000000000ULL;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->fd = fd;
    s->state = S_CONNECTING;
    s->deadline_ns = flex_smpp_now_ns() + (uint64_t)c->cfg.connect_timeout_ms * 1000000ULL;
    struct io_uring_sqe *sqe = flex_uring_sqe(&c->ring);
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->addr, sizeof(c->addr));
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_CONNECT, s->idx, s->gen));
    s->ops++;
}

static void send_bind(struct flex_smpp_client *c, struct session *s)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_BIND_TRANSCEIVER;
    p.sequence = ++s->seq;
    snprintf(p.system_id, sizeof(p.system_id), "%s", c->system_id);
    snprintf(p.password, sizeof(p.password), "%s", c->password);
    p.interface_version = FLEX_SMPP_VERSION;
    flex_smpp_queue_pdu(s, &p);
    s->state = S_BINDING;
    s->deadline_ns = flex_smpp_now_ns() + (uint64_t)c->cfg.response_timeout_ms * 1000000ULL;
}

/* TCP lets a socket connecting to a local port in the ephemeral range with
 * nothing listening connect to itself; that is no SMSC. */
static bool connected_to_self(int fd)
{
    struct sockaddr_in a, b;
    socklen_t la = sizeof(a), lb = sizeof(b);
    return getsockname(fd, (struct sockaddr *)&a, &la) == 0 &&
           getpeername(fd, (struct sockaddr *)&b, &lb) == 0 && a.sin_port == b.sin_port &&
           a.sin_addr.s_addr == b.sin_addr.s_addr;
}

static void on_connect(struct flex_smpp_client *c, struct session *s, int res)
{
    if (res < 0) {
        char why[96];
        snprintf(why, sizeof(why), "connect() failed: %s", strerror(-res));
        session_reset(c, s, why);
        return;
    }
    if (connected_to_self(s->fd)) {
        session_reset(c, s, "connected to itself: nothing listens there");
        return;
    }
    s->last_rx_ns = flex_smpp_now_ns();
    arm_recv(c, s);
    if (c->cfg.tls) {
        if (flex_smpp_tls_start(c, s) != 0 || flex_smpp_tls_output(s, NULL, 0, &s->wire) != 0) {
            session_reset(c, s, "TLS set-up failed");
            return;
        }
        s->state = S_HANDSHAKE;
        s->deadline_ns = flex_smpp_now_ns() + (uint64_t)c->cfg.connect_timeout_ms * 1000000ULL;
    } else {
        send_bind(c, s);
    }
    flush(c, s);
}

/* ---- input ---------------------------------------------------------- */

static void on_bind_resp(struct flex_smpp_client *c, struct session *s,
                         const struct flex_smpp_pdu *p)
{
    if (s->state != S_BINDING)
        return;
    if (p->command_status != 0) {
        char why[200];
        /* 0x0D bind failed, 0x0E password, 0x0F system_id: the SMSC says
         * who we are is wrong, which no retry fixes */
        bool creds = p->command_status >= 0x0D && p->command_status <= 0x0F;
        snprintf(why, sizeof(why), "bind refused by %s:%u for system_id %s: %s%s", c->host,
                 c->cfg.port, c->system_id, flex_smpp_status_name(p->command_status),
                 creds ? " (the SMSC refused the credentials: check system_id and password)" : "");
        session_reset(c, s, why);
        return;
    }
    flex_log(FLEX_LOG_INFO, log_ctx(c), 0, "session %u bound to %s:%u as %s%s", s->idx, c->host,
             c->cfg.port, c->system_id, s->was_bound ? " again" : "");
    s->was_bound = true;
    s->up = true;
    s->state = S_BOUND;
    s->backoff_ms = 0;
    s->enquire_sent_ns = 0;
    flex_smpp_throttle_reset(s); /* smpp_flow.c's throttling starts afresh */
    struct flex_smpp_event ev = {.kind = FLEX_SMPP_EV_SESSION, .session = s->idx, .bound = true};
    flex_smpp_emit(c, &ev);
}

/* The session's own PDUs are handled here; those of messages (responses to
 * submits, deliver_sm) go to smpp_flow.c. */
void flex_smpp_on_pdu(struct flex_smpp_client *c, struct session *s, const struct flex_smpp_pdu *p)
{
    switch (p->command_id) {
    case FLEX_SMPP_BIND_TRANSCEIVER_RESP: on_bind_resp(c, s, p); break;
    case FLEX_SMPP_SUBMIT_SM_RESP: flex_smpp_on_submit_resp(c, s, p); break;
    case FLEX_SMPP_GENERIC_NACK:
        if (s->state == S_BINDING)
            session_reset(c, s, "bind answered by generic_nack");
        else
            flex_smpp_on_submit_resp(c, s, p); /* a nack of one of our submits fails it */
        break;
    case FLEX_SMPP_DELIVER_SM: flex_smpp_on_deliver(c, s, p); break;
    case FLEX_SMPP_ENQUIRE_LINK:
        flex_smpp_queue_resp(s, FLEX_SMPP_ENQUIRE_LINK_RESP, 0, p->sequence);
        break;
    case FLEX_SMPP_ENQUIRE_LINK_RESP: s->enquire_sent_ns = 0; break;
    case FLEX_SMPP_UNBIND:
        flex_smpp_queue_resp(s, FLEX_SMPP_UNBIND_RESP, 0, p->sequence);
        s->state = S_UNBINDING; /* reset once the answer is out (deadline) */
        s->deadline_ns = flex_smpp_now_ns() + 200000000ULL;
        break;
    case FLEX_SMPP_UNBIND_RESP:
        if (s->state == S_UNBINDING)
            session_drop(c, s, "unbound", false); /* a clean close: no backoff */
        break;
    default:
        if (!(p->command_id & 0x80000000u))
            flex_smpp_queue_resp(s, FLEX_SMPP_GENERIC_NACK, FLEX_SMPP_ESME_RINVCMDID, p->sequence);
        break;
    }
}

/* Decodes and handles every complete PDU in |buf|; returns bytes used or
 * <0 when the session must reset. */
static long handle_bytes(struct flex_smpp_client *c, struct session *s, const uint8_t *buf,
                         size_t len)
{
    size_t off = 0;
    while (off < len && s->state != S_IDLE) {
        struct flex_smpp_pdu p;
        struct flex_smpp_error err;
        long n = flex_smpp_decode(&p, buf + off, len - off, &err);
        if (n == 0)
            break;
        if (n < 0) {
            if (err.fatal) {
                flex_smpp_queue_resp(s, FLEX_SMPP_GENERIC_NACK, err.status, 0);
                flush(c, s);
                return FLEX_E_SYNTAX;
            }
            /* One bad PDU: answer it and go on with the next. */
            flex_smpp_queue_resp(
                s, err.nack ? FLEX_SMPP_GENERIC_NACK : flex_smpp_resp_of(p.command_id), err.status,
                p.sequence);
            n = flex_smpp_frame_len(buf + off, len - off);
        } else {
            flex_smpp_on_pdu(c, s, &p);
        }
        off += (size_t)n;
    }
    return (long)off;
}

static void on_recv(struct flex_smpp_client *c, struct session *s, int res)
{
    s->recv_pending = false;
    if (res <= 0) {
        session_reset(c, s, res == 0 ? "closed by the SMSC" : "recv() failed");
        return;
    }
    s->last_rx_ns = flex_smpp_now_ns();
    s->in_len += (size_t)res;
    uint8_t *buf = s->in;
    size_t *len = &s->in_len;
    if (s->ssl) {
        int r = flex_smpp_tls_input(s, s->in, s->in_len);
        s->in_len = 0;
        if (r < 0) {
            char why[200];
            snprintf(why, sizeof(why), "TLS error: %s", s->tls_err[0] ? s->tls_err : "unknown");
            s->tls_err[0] = '\0';
            session_reset(c, s, why);
            return;
        }
        if (r == 1 && s->state == S_HANDSHAKE)
            send_bind(c, s);
        buf = s->plain;
        len = &s->plain_len;
    }
    long used = handle_bytes(c, s, buf, *len);
    if (used < 0) {
        session_reset(c, s, "undecodable PDU stream");
        return;
    }
    if (s->state == S_IDLE)
        return;
    memmove(buf, buf + used, *len - (size_t)used);
    *len -= (size_t)used;
    if (s->ssl && s->state == S_HANDSHAKE)
        flex_smpp_tls_output(s, NULL, 0, &s->wire);
    arm_recv(c, s);
}

static void on_send(struct flex_smpp_client *c, struct session *s, int res)
{
    s->send_pending = false;
    if (res < 0) {
        session_reset(c, s, "send() failed");
        return;
    }
    flex_sendbuf_sent(&s->wire, (size_t)res);
}

/* ---- timers ----------------------------------------------------------- */

static void send_enquire(struct session *s, uint64_t now)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_ENQUIRE_LINK;
    p.sequence = ++s->seq;
    flex_smpp_queue_pdu(s, &p);
    s->enquire_sent_ns = now;
}

static void session_timers(struct flex_smpp_client *c, struct session *s, uint64_t now)
{
    uint64_t resp_ns = (uint64_t)c->cfg.response_timeout_ms * 1000000ULL;
    switch (s->state) {
    case S_IDLE:
        if (s->ops && now - s->dropped_ns > 5000000000ULL) {
            /* The old socket's requests never completed: give their
             * buffers up (leaked, never reused) rather than stay down. */
            flex_log(FLEX_LOG_ERROR, log_ctx(c), 0,
                     "session %u: %u requests stuck on a closed socket; new buffers", s->idx,
                     s->ops);
            s->in = flex_malloc(INBUF);
            flex_sendbuf_abandon_sending(&s->wire);
            s->ops = 0;
            s->recv_pending = s->send_pending = false;
        }
        if (s->ops == 0 && now >= s->reconnect_at_ns && !c->shutting_down)
            start_connect(c, s);
        return;
    case S_CONNECTING:
    case S_HANDSHAKE:
    case S_BINDING:
    case S_UNBINDING:
        if (now > s->deadline_ns)
            session_reset(c, s,
                          s->state == S_CONNECTING  ? "connect timed out"
                          : s->state == S_HANDSHAKE ? "TLS handshake timed out"
                          : s->state == S_BINDING   ? "bind timed out"
                                                    : "unbind timed out");
        return;
    case S_BOUND:
        if (s->enquire_sent_ns && now - s->enquire_sent_ns > resp_ns) {
            session_reset(c, s, "enquire_link unanswered");
            return;
        }
        if (!s->enquire_sent_ns &&
            now - s->last_rx_ns > (uint64_t)c->cfg.enquire_link_ms * 1000000ULL)
            send_enquire(s, now);
        if (flex_smpp_window_timeouts(c, s, now)) {
            session_reset(c, s, "submits unanswered past response_timeout (enquire_link answered)");
            return;
        }
        flex_smpp_throttle_probe(s, now);
        return;
    }
}

/* ---- the loop ---------------------------------------------------------- */

static void dispatch(struct flex_smpp_client *c, struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    unsigned type = flex_uring_ud_type(ud);
    if (type == UD_TICK) {
        c->tick_pending = false;
        return;
    }
    if (type == UD_CANCEL)
        return; /* the cancelled request reports on its own */
    uint32_t idx = flex_uring_ud_slot(ud);
    if (idx >= c->cfg.binds)
        return;
    struct session *s = &c->sess[idx];
    s->ops--;
    if (flex_uring_ud_gen(ud) != s->gen) {
        /* A request of a connection already reset: its buffers are quiet
         * now that ops counts it out. */
        if (type == UD_RECV)
            s->recv_pending = false;
        if (type == UD_SEND)
            s->send_pending = false;
        return;
    }
    switch (type) {
    case UD_CONNECT: on_connect(c, s, cqe->res); break;
    case UD_RECV: on_recv(c, s, cqe->res); break;
    case UD_SEND: on_send(c, s, cqe->res); break;
    default: break;
    }
}

static void arm_tick(struct flex_smpp_client *c)
{
    if (c->tick_pending)
        return;
    c->tick.tv_sec = 0;
    c->tick.tv_nsec = (long long)TICK_NS;
    struct io_uring_sqe *sqe = flex_uring_sqe(&c->ring);
    io_uring_prep_timeout(sqe, &c->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, flex_uring_ud(UD_TICK, 0, 0));
    c->tick_pending = true;
}

int flex_smpp_client_run(struct flex_smpp_client *c, int timeout_ms)
{
    c->events = 0;
    uint64_t now = flex_smpp_now_ns();
    for (unsigned i = 0; i < c->cfg.binds; i++)
        session_timers(c, &c->sess[i], now);
    if (c->nearly)
        flex_smpp_early_expire(c, now);
    flex_smpp_pump(c, now);
    for (unsigned i = 0; i < c->cfg.binds; i++)
        if (flush(c, &c->sess[i]) < 0)
            session_reset(c, &c->sess[i], "TLS write failed");
    arm_tick(c);
    struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_cqe *cqe;
    /* Even without waiting, enter the kernel for events: completions that
     * did not fit the CQ ring wait in the kernel's overflow list until an
     * enter asks for events, and a plain submit does not. */
    int rc = timeout_ms > 0 ? io_uring_submit_and_wait_timeout(&c->ring, &cqe, 1, &ts, NULL)
                            : io_uring_submit_and_get_events(&c->ring);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN)
        return rc;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&c->ring, head, cqe)
    {
        dispatch(c, cqe);
        n++;
    }
    io_uring_cq_advance(&c->ring, n);
    now = flex_smpp_now_ns();
    flex_smpp_pump(c, now);
    for (unsigned i = 0; i < c->cfg.binds; i++)
        if (flush(c, &c->sess[i]) < 0)
            session_reset(c, &c->sess[i], "TLS write failed");
    io_uring_submit(&c->ring);
    return c->events;
}

/* ---- life of the client ------------------------------------------------ */

static int resolve(struct flex_smpp_client *c)
{
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons(c->cfg.port);
    if (inet_pton(AF_INET, c->host, &c->addr.sin_addr) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(c->host, NULL, &hints, &res) != 0)
        return FLEX_E_INVAL;
    c->addr.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

struct flex_smpp_client *flex_smpp_client_new(const struct flex_smpp_config *cfg,
                                              flex_smpp_event_cb cb, void *arg)
{
    struct flex_smpp_client *c = flex_calloc(1, sizeof(*c));
    c->cfg = *cfg;
    if (c->cfg.binds == 0)
        c->cfg.binds = 1;
    if (c->cfg.window == 0)
        c->cfg.window = 1;
    if (c->cfg.max_parts == 0 || c->cfg.max_parts > FLEX_SMS_MAX_PARTS)
        c->cfg.max_parts = FLEX_SMS_MAX_PARTS;
    c->name = flex_strdup(cfg->name ? cfg->name : "smpp");
    c->host = flex_strdup(cfg->host);
    c->system_id = flex_strdup(cfg->system_id);
    c->password = flex_strdup(cfg->password ? cfg->password : "");
    c->tls_ca = cfg->tls_ca ? flex_strdup(cfg->tls_ca) : NULL;
    c->cb = cb;
    c->cb_arg = arg;
    c->rng = flex_smpp_now_ns() | 1;
    c->next_ref = (uint8_t)c->rng;
    c->msgs_max = (size_t)c->cfg.window * c->cfg.binds * 4 + 4096;
    c->scratch = flex_malloc(sizeof(*c->scratch));
    c->inbound = flex_smpp_inbound_new();
    flex_smpp_msgs_init(c);
    if (resolve(c) != 0 || flex_uring_init(&c->ring, 1024) != 0 ||
        (c->cfg.tls && flex_smpp_tls_ctx(c) != 0)) {
        flex_log(FLEX_LOG_ERROR, log_ctx(c), 0, "cannot set up carrier %s (%s:%u)", c->name,
                 c->host, c->cfg.port);
        flex_smpp_client_del(c);
        return NULL;
    }
    c->sess = flex_calloc(c->cfg.binds, sizeof(struct session));
    uint32_t wcap = 4;
    while (wcap < c->cfg.window * 2)
        wcap *= 2;
    for (unsigned i = 0; i < c->cfg.binds; i++) {
        struct session *s = &c->sess[i];
        s->cl = c;
        s->idx = i;
        s->fd = -1;
        s->in = flex_malloc(INBUF);
        s->win = flex_calloc(wcap, sizeof(struct wentry));
        s->win_mask = wcap - 1;
    }
    return c;
}

void flex_smpp_client_del(struct flex_smpp_client *c)
{
    if (!c)
        return;
    flex_smpp_msgs_free(c); /* walks the sessions' queues: before they go */
    for (unsigned i = 0; c->sess && i < c->cfg.binds; i++) {
        struct session *s = &c->sess[i];
        if (s->fd >= 0)
            close(s->fd);
        flex_smpp_tls_end(s);
        flex_free(s->in);
        flex_free(s->out);
        flex_sendbuf_free(&s->wire);
        flex_free(s->plain);
        flex_free(s->win);
    }
    flex_free(c->sess);
    if (c->ring.ring_fd > 0)
        io_uring_queue_exit(&c->ring);
    flex_smpp_inbound_del(c->inbound);
    flex_smpp_tls_ctx_free(c);
    flex_free(c->scratch);
    flex_free(c->name);
    flex_free(c->host);
    flex_free(c->system_id);
    flex_free(c->password);
    flex_free(c->tls_ca);
    flex_free(c);
}

bool flex_smpp_client_ready(const struct flex_smpp_client *c)
{
    for (unsigned i = 0; i < c->cfg.binds; i++)
        if (c->sess[i].state == S_BOUND)
            return true;
    return false;
}

void flex_smpp_session_stats(const struct flex_smpp_client *c, unsigned i,
                             struct flex_smpp_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= c->cfg.binds)
        return;
    *out = c->sess[i].st;
    out->in_window = c->sess[i].in_window;
    out->bound = c->sess[i].state == S_BOUND;
}

void flex_smpp_client_stats(const struct flex_smpp_client *c, struct flex_smpp_stats *out)
{
    *out = c->st; /* failed and ambiguous are counted per message */
    for (unsigned i = 0; i < c->cfg.binds; i++) {
        struct flex_smpp_stats s;
        flex_smpp_session_stats(c, i, &s);
        out->submitted += s.submitted;
        out->acknowledged += s.acknowledged;
        out->throttled += s.throttled;
        out->reconnects += s.reconnects;
        out->receipts += s.receipts;
        out->inbound += s.inbound;
        out->in_window += s.in_window;
        out->bound += s.bound;
    }
    flex_smpp_inbound_stats(c->inbound, out); /* one reassembly per client */
    out->ids_evicted = flex_idmap_evicted(c->ids);
}

void flex_smpp_client_shutdown(struct flex_smpp_client *c, int timeout_ms)
{
    c->shutting_down = true;
    uint64_t end = flex_smpp_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    flex_smpp_fail_unsent(c, "shutting down");
    while (flex_smpp_now_ns() < end) {
        bool busy = false;
        for (unsigned i = 0; i < c->cfg.binds; i++) {
            struct session *s = &c->sess[i];
            if (s->state == S_BOUND && s->in_window == 0) {
                struct flex_smpp_pdu p = {0};
                p.command_id = FLEX_SMPP_UNBIND;
                p.sequence = ++s->seq;
                flex_smpp_queue_pdu(s, &p);
                s->state = S_UNBINDING;
                s->deadline_ns = flex_smpp_now_ns() + 1000000000ULL;
            }
            busy |= s->state != S_IDLE;
        }
        if (!busy)
            break;
        flex_smpp_client_run(c, 10);
    }
    for (unsigned i = 0; i < c->cfg.binds; i++)
        session_drop(c, &c->sess[i], "shutdown timed out", c->sess[i].state != S_IDLE);
}
