/*
 * httpsim's parts (bench/httpsim.c: the Messages API, options and main;
 * bench/httpsim_send.c: the webhooks out, its sender thread): what they
 * share.  See the top of bench/httpsim.c for what the simulator does.
 */
#ifndef FLEX_HTTPSIM_H
#define FLEX_HTTPSIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "httpresp.h"
#include "ratelimit.h"
#include "simcommon.h"
#include "webhook.h"

#define INFLIGHT 64       /* callbacks in flight at once */
#define MAX_NUMBER 32     /* To and From bytes kept */
#define MAX_URL 2048      /* a StatusCallback */
#define MAX_AUTHORITY 255 /* host[:port] of a webhook URL */
#define MAX_DESTS 16      /* webhook hosts resolved and kept */
#define MAX_ADDRS 4       /* addresses of a host kept, tried in turn */

struct opts {
    const char *listen, *account_sid, *auth_token;
    unsigned long callback_delay_ms, max_seconds;
    double throttle_mps, fail_rate, undelivered_rate;
    bool unavailable; /* every message answered 503 (an outage) */
    const char *log_path, *stats_path, *mo_file, *mo_url, *mo_to;
    const char *unsubscribed; /* a To answered 21610 (the recipient replied STOP to us) */
    bool callback_sent;
    unsigned callback_retries, threads;
};

enum job_kind { JOB_STATUS, JOB_INBOUND };

/* One webhook to POST: a status callback or an inbound text. */
struct job {
    uint64_t due_ns;
    enum job_kind kind;
    unsigned attempt;
    bool final;         /* a status callback that ends the message */
    bool error;         /* ... with ErrorCode 30003 */
    const char *status; /* static: "sent", "delivered", "undelivered" */
    char sid[35];
    char to[MAX_NUMBER + 1], from[MAX_NUMBER + 1];
    const char *text; /* inbound: the --mo-file line's (lives as long as the sim) */
    char *url;        /* owned */
};

struct heap_ent {
    uint64_t due_ns, seq; /* seq: FIFO among equal due times */
    struct job *job;
};

/* Where a webhook goes: an http:// URL's host and port, resolved once. */
struct dest {
    char authority[MAX_AUTHORITY + 1]; /* host[:port] as the URL has it: the Host header */
    struct sockaddr_storage addr[MAX_ADDRS];
    socklen_t addrlen[MAX_ADDRS];
    unsigned naddr, cur; /* the one connected to, the next after a refusal */
};

enum conn_state { C_CLOSED, C_IDLE, C_CONNECTING, C_SENDING, C_READING };

/* A connection to one dest, and the one webhook it carries at a time (as
 * Twilio's do: no pipelining).  INFLIGHT of them: a free one is a free
 * place for a webhook; an idle one keeps its socket for the next webhook
 * to the same dest. */
struct conn {
    int fd;
    enum conn_state state;
    int dest;          /* index in |dests| (the socket's) */
    bool reused;       /* the socket carried a webhook before this one */
    bool stale;        /* its dest was replaced: closed once its webhook is done */
    struct job *job;   /* the webhook (C_CONNECTING .. C_READING) */
    uint64_t deadline; /* connect within 3 s, answer within 10 s */
    size_t wlen, woff, rlen;
    char wbuf[MAX_URL + 1024 + FLEX_WEBHOOK_MAX_BODY]; /* the request (a body: 16 KiB at most) */
    char rbuf[FLEX_HTTPRESP_HEAD_MAX + FLEX_HTTPRESP_BODY_MAX + 4096]; /* an answer, whole */
};

struct mo {
    char *from, *to, *text;
};

/* Counters: written by the API threads and the sender, read by the stats
 * writer; each stands alone, so relaxed throughout. */
struct stats {
    _Atomic uint64_t requests, received, throttled, failed, rejected, unauthorized, connections;
    _Atomic uint64_t callbacks_sent, receipts_sent, callbacks_failed, callbacks_retried;
    _Atomic uint64_t inbound_sent, inbound_failed, pending;
};

/* A request's body, per TCP connection (requests on one connection come
 * one after another). */
struct conn_ctx {
    char *buf;
    size_t len, cap;
    bool too_big;
};

struct sim {
    struct opts o;
    struct MHD_Daemon *mhd;
    char auth[512]; /* "ACtest:testtoken" in Base64, as the Authorization header has it */
    size_t auth_len;
    uint64_t sid_prefix;
    _Atomic uint64_t sid_next;
    struct stats st;

    pthread_mutex_t lock; /* everything below, up to the sender's own part */
    struct flex_gcra gcra;
    uint64_t gcra_tat, rng;
    FILE *log;
    struct sim_destset dests; /* distinct destinations */
    struct job **incoming;    /* handed to the sender */
    size_t nincoming, incoming_cap;
    bool mo_derive;           /* no --mo-url: from the first StatusCallback */
    char mo_url[MAX_URL + 1]; /* known: where inbound texts go */

    /* The sender's (its thread only, but for |wake| and |stop|). */
    int epfd, wake; /* its epoll set; an eventfd the API threads wake it with */
    atomic_bool stop;
    pthread_t thread;
    struct conn *conns; /* INFLIGHT */
    unsigned busy;      /* conns carrying a webhook */
    struct dest dests_[MAX_DESTS];
    unsigned ndests, next_dest; /* (the next to replace when all are taken) */
    struct job **spare;         /* the sender's half of |incoming| */
    size_t spare_cap;
    struct heap_ent *heap;
    size_t nheap, heap_cap;
    uint64_t heap_seq;
    struct mo *mo;
    size_t nmo;
    bool mo_queued;
    struct flex_webhook_form form; /* the one being sent */
};

static inline void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* a counter alone */
}

static inline uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed); /* a counter alone */
}

/* The sender (bench/httpsim_send.c).  A job handed over under |lock|
 * (s->incoming) waits there until the sender's next turn: sender_wake()
 * starts that turn at once. */
int sender_init(struct sim *s);
void *sender_main(void *arg);
void sender_wake(struct sim *s);
void sender_free(struct sim *s); /* after the thread is joined */
void job_free(struct job *j);
/* A new sid ("SM" and 32 hex digits), unique for this run. */
void new_sid(struct sim *s, char sid[35]);

#endif
