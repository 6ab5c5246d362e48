/*
 * httpsim's webhooks out: the sender thread.  Status callbacks and
 * --mo-file texts wait in a timer heap until due, then go out on the
 * simulator's own small HTTP/1.1 client (see the top of bench/httpsim.c
 * for the rules it keeps, and docs/benchmarks.md for why it is not
 * libcurl).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpsim.h"
#include "mem.h"
#include "str.h"

#define CONNECT_NS 3000000000ULL /* a connection made within 3 s */
#define ANSWER_NS 10000000000ULL /* the answer within 10 s of the request */

/* ---- the timer heap (sender thread) ------------------------------------ */

static bool ent_before(const struct heap_ent *a, const struct heap_ent *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct job *j, uint64_t due_ns)
{
    if (s->nheap == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        s->heap = flex_realloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    struct heap_ent e = {due_ns, s->heap_seq++, j};
    size_t i = s->nheap++;
    while (i > 0 && ent_before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static struct job *heap_pop(struct sim *s)
{
    struct job *top = s->heap[0].job;
    struct heap_ent last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && ent_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ent_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap > 0)
        s->heap[i] = last;
    return top;
}

void job_free(struct job *j)
{
    flex_free(j->url);
    flex_free(j);
}

/* ---- webhooks out (the sender thread) ----------------------------------- */

/* The job's fields in |s->form|, as Twilio posts them.  Returns 0 or a
 * FLEX_E_* code (a field over the form's caps). */
static int build_form(struct sim *s, const struct job *j)
{
    const char *kv[12][2];
    unsigned n = 0;
#define KV(k, v) (kv[n][0] = (k), kv[n][1] = (v), n++)
    if (j->kind == JOB_STATUS) {
        KV("SmsSid", j->sid), KV("SmsStatus", j->status), KV("MessageStatus", j->status);
        KV("To", j->to), KV("MessageSid", j->sid), KV("AccountSid", s->o.account_sid);
        KV("From", j->from), KV("ApiVersion", "2010-04-01");
        if (j->error)
            KV("ErrorCode", "30003");
    } else {
        KV("SmsMessageSid", j->sid), KV("NumMedia", "0"), KV("SmsSid", j->sid);
        KV("SmsStatus", "received"), KV("Body", j->text), KV("To", j->to);
        KV("NumSegments", "1"), KV("MessageSid", j->sid), KV("AccountSid", s->o.account_sid);
        KV("From", j->from), KV("ApiVersion", "2010-04-01");
    }
#undef KV
    flex_webhook_form_init(&s->form);
    for (unsigned i = 0; i < n; i++) {
        int rc =
            flex_webhook_form_add(&s->form, kv[i][0], strlen(kv[i][0]), kv[i][1], strlen(kv[i][1]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* |url|'s dest (resolved on first use; the oldest replaced when
 * MAX_DESTS are known) and where its path starts; -1 when it is not an
 * http:// URL with a host and a port 1-65535 (never reachable), -2 when the
 * host does not resolve now (tried again, as a network error). */
static int find_dest(struct sim *s, const char *url, const char **path)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *host = url + 7;
    size_t n = strcspn(host, "/?#");
    *path = host + n;
    if (n == 0 || n > MAX_AUTHORITY || memchr(host, '@', n))
        return -1;
    for (unsigned i = 0; i < s->ndests; i++)
        if (strlen(s->dests_[i].authority) == n && memcmp(s->dests_[i].authority, host, n) == 0)
            return (int)i;
    char name[MAX_AUTHORITY + 1], *port = NULL;
    memcpy(name, host, n);
    name[n] = '\0';
    char *h = name;
    if (h[0] == '[') { /* [v6]:port */
        char *end = strchr(h, ']');
        if (!end || (end[1] && end[1] != ':'))
            return -1;
        *end = '\0';
        port = end[1] ? end + 2 : NULL;
        h++;
    } else if ((port = strrchr(h, ':'))) {
        *port++ = '\0';
    }
    if (port && (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
                 atoi(port) < 1 || atoi(port) > 65535))
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(h, port ? port : "80", &hints, &ai) != 0 || !ai)
        return -2;
    unsigned i = s->ndests < MAX_DESTS ? s->ndests++ : s->next_dest++ % MAX_DESTS;
    struct dest *d = &s->dests_[i];
    for (unsigned c = 0; c < INFLIGHT; c++) /* sockets to the dest replaced: not kept */
        if (s->conns[c].state == C_IDLE && s->conns[c].dest == (int)i) {
            close(s->conns[c].fd);
            s->conns[c].fd = -1;
            s->conns[c].state = C_CLOSED;
        } else if (s->conns[c].state != C_CLOSED && s->conns[c].dest == (int)i) {
            s->conns[c].stale = true;
        }
    memcpy(d->authority, host, n);
    d->authority[n] = '\0';
    d->naddr = d->cur = 0;
    for (struct addrinfo *a = ai; a && d->naddr < MAX_ADDRS; a = a->ai_next)
        if (a->ai_addrlen <= sizeof(d->addr[0])) {
            memcpy(&d->addr[d->naddr], a->ai_addr, a->ai_addrlen);
            d->addrlen[d->naddr++] = a->ai_addrlen;
        }
    freeaddrinfo(ai);
    return d->naddr ? (int)i : -2;
}

void sender_wake(struct sim *s)
{
    uint64_t one = 1;
    ssize_t r = write(s->wake, &one, sizeof(one)); /* (full: a wake-up is pending anyway) */
    (void)r;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* (leaves the epoll set with it) */
    c->fd = -1;
    c->state = C_CLOSED;
    c->reused = c->stale = false;
}

static void give_up(struct sim *s, struct job *j, const char *why)
{
    uint64_t n = j->kind == JOB_INBOUND
                     ? atomic_fetch_add_explicit(&s->st.inbound_failed, 1, memory_order_relaxed)
                     : atomic_fetch_add_explicit(&s->st.callbacks_failed, 1, memory_order_relaxed);
    if (n < 5) /* the first few say why; the counters tell the rest */
        fprintf(stderr, "httpsim: POST %s given up after %u tries: %s\n", j->url, j->attempt + 1,
                why);
    job_free(j);
}

/* A webhook done: counted, or tried again after 0.1 s, 0.2 s, 0.4 s ...
 * |status| 0: no answer (|why| says what happened). */
static void settle(struct sim *s, struct job *j, int status, const char *why)
{
    if (status >= 200 && status < 300) {
        add(j->kind == JOB_INBOUND ? &s->st.inbound_sent : &s->st.callbacks_sent, 1);
        if (j->final)
            add(&s->st.receipts_sent, 1);
        job_free(j);
    } else if (j->attempt < s->o.callback_retries) {
        unsigned shift = j->attempt < 6 ? j->attempt : 6;
        j->attempt++;
        add(&s->st.callbacks_retried, 1);
        heap_push(s, j, sim_now_ns() + (100000000ULL << shift));
    } else {
        char what[64];
        snprintf(what, sizeof(what), "HTTP %d", status);
        give_up(s, j, status ? what : why);
    }
}

/* |c|'s webhook done (settle()). */
static void finish(struct sim *s, struct conn *c, int status, const char *why)
{
    struct job *j = c->job;
    c->job = NULL;
    s->busy--;
    settle(s, j, status, why);
}

/* Writes what is left of the request; false when the socket failed. */
static bool conn_send(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true; /* the rest when it can take it (EPOLLOUT) */
        if (n <= 0)
            return false;
        c->woff += (size_t)n;
    }
    c->state = C_READING;
    return true;
}

/* A new socket to |c->dest|, in the epoll set for good (edge-triggered,
 * in and out: no epoll_ctl per webhook). */
static bool conn_open(struct sim *s, struct conn *c)
{
    struct dest *d = &s->dests_[c->dest];
    const struct sockaddr_storage *addr = &d->addr[d->cur % d->naddr];
    c->woff = c->rlen = 0; /* (the request from its start: a reused socket may have taken some) */
    c->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        conn_close(c);
        return false;
    }
    c->reused = false;
    if (connect(c->fd, (const struct sockaddr *)addr, d->addrlen[d->cur % d->naddr]) == 0) {
        c->state = C_SENDING;
    } else if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
    } else {
        d->cur++; /* refused: the host's next address next time */
        conn_close(c);
        return false;
    }
    return true;
}

/* Sends the request in |c->wbuf| on |c|'s socket, or a new one; false
 * when no socket could be had (|c| closed). */
static bool conn_go(struct sim *s, struct conn *c)
{
    c->woff = c->rlen = 0;
    if (c->state == C_IDLE) {
        c->reused = true;
        c->state = C_SENDING;
        if (conn_send(c)) {
            c->deadline = sim_now_ns() + ANSWER_NS;
            return true;
        }
        conn_close(c); /* the server closed it while idle: a new one */
    }
    if (!conn_open(s, c))
        return false;
    if (c->state == C_SENDING && !conn_send(c)) {
        conn_close(c);
        return false;
    }
    c->deadline = sim_now_ns() + (c->state == C_CONNECTING ? CONNECT_NS : ANSWER_NS);
    return true;
}

/* A free conn for |dest|: an idle one to it, else a closed one, else an
 * idle one to another dest (closed first). */
static struct conn *conn_for(struct sim *s, int dest)
{
    struct conn *closed = NULL, *other = NULL;
    for (unsigned i = 0; i < INFLIGHT; i++) {
        struct conn *c = &s->conns[i];
        if (c->state == C_IDLE && c->dest == dest)
            return c;
        if (c->state == C_CLOSED && !closed)
            closed = c;
        if (c->state == C_IDLE && !other)
            other = c;
    }
    if (!closed && other)
        conn_close(closed = other);
    return closed;
}

/* Starts |j|: signed, encoded, on its way.  False when it cannot start
 * (|why|): a body over the form's caps, or a URL httpsim cannot reach. */
static bool start(struct sim *s, struct job *j, const char **why)
{
    char sig[FLEX_WEBHOOK_SIG_BUFSZ];
    const char *tok = s->o.auth_token, *path;
    *why = "the body does not fit the form's caps";
    if (build_form(s, j) != 0 ||
        flex_webhook_sign(tok, strlen(tok), j->url, strlen(j->url), &s->form, sig) <= 0)
        return false;
    *why = "not an http:// URL httpsim can reach";
    int dest = find_dest(s, j->url, &path);
    if (dest == -2) { /* the name did not resolve: tried again later */
        settle(s, j, 0, "the host name did not resolve");
        return true;
    }
    if (dest < 0)
        return false;
    struct conn *c = conn_for(s, dest);
    c->dest = dest;
    int h = snprintf(c->wbuf, sizeof(c->wbuf),
                     "POST %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: TwilioProxy/1.1\r\n"
                     "Accept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     "X-Twilio-Signature: %s\r\nContent-Length: ",
                     *path == '/' ? "" : "/", (int)strcspn(path, "#"), path,
                     s->dests_[dest].authority, sig);
    /* the body after the head: its length written in once known */
    char *body = c->wbuf + h + 16;
    int n = h > 0 && (size_t)h + 16 < sizeof(c->wbuf)
                ? flex_webhook_form_encode(&s->form, body, sizeof(c->wbuf) - (size_t)h - 16)
                : -1;
    *why = "the request does not fit httpsim's buffer";
    if (n < 0)
        return false;
    char cl[16];
    int cn = snprintf(cl, sizeof(cl), "%d\r\n\r\n", n);
    memmove(c->wbuf + h + cn, body, (size_t)n);
    memcpy(c->wbuf + h, cl, (size_t)cn);
    c->wlen = (size_t)(h + cn + n);
    c->job = j;
    s->busy++;
    if (!conn_go(s, c)) /* (no socket: tried again later, as a webhook lost) */
        finish(s, c, 0, strerror(errno));
    return true;
}

/* What the socket of a webhook in flight says: connected, room to write,
 * bytes to read, closed. */
static void conn_event(struct sim *s, struct conn *c, uint32_t events)
{
    if (c->state == C_IDLE || c->state == C_CLOSED) { /* an idle socket closed or spoke */
        if (c->state == C_IDLE && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            conn_close(c);
        return;
    }
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            s->dests_[c->dest].cur++; /* the host's next address next time */
            conn_close(c);
            finish(s, c, 0, strerror(err ? err : errno));
            return;
        }
        c->state = C_SENDING;
        c->deadline = sim_now_ns() + ANSWER_NS; /* connected */
    }
    if (c->state == C_SENDING && !conn_send(c)) {
        conn_close(c);
        finish(s, c, 0, "the connection failed while sending");
        return;
    }
    /* (an answer before the request is all sent, such as a 413, is read
     * too: the edge that brought it comes once) */
    bool sent = c->state == C_READING;
    if (!sent && !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    /* Edge-triggered: read until the answer is whole (then nothing more
     * comes: one request at a time; a close is an edge of its own) or the
     * socket has nothing more. */
    bool eof = false;
    struct flex_httpresp r;
    long taken = FLEX_HTTPRESP_MORE;
    while (c->rlen < sizeof(c->rbuf)) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            taken = flex_httpresp_parse(c->rbuf, c->rlen, false, &r);
            if (taken != FLEX_HTTPRESP_MORE)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        eof = true; /* closed, or reset */
        taken = flex_httpresp_parse(c->rbuf, c->rlen, true, &r);
        break;
    }
    if (taken == FLEX_HTTPRESP_MORE && c->rlen < sizeof(c->rbuf))
        return;
    if (taken > 0 && (size_t)taken == c->rlen && !r.close && !eof && !c->stale && sent) {
        c->state = C_IDLE; /* kept for the next webhook to the dest */
        finish(s, c, r.status, NULL);
        return;
    }
    /* A kept-alive socket the server closed before answering (its idle
     * timeout crossed the request): the webhook again on a new one, as
     * HTTP clients do, not counted as a retry. */
    bool again = eof && c->rlen == 0 && c->reused && !c->stale;
    conn_close(c);
    if (taken > 0) /* answered, and the server closes (or said more than asked) */
        finish(s, c, r.status, NULL);
    else if (again && conn_go(s, c))
        return;
    else
        finish(s, c, 0,
               taken == FLEX_HTTPRESP_BAD                                  ? "a malformed answer"
               : taken == FLEX_HTTPRESP_MORE && c->rlen == sizeof(c->rbuf) ? "an answer too long"
                                                                           : "connection closed");
}

/* Webhooks past their deadline: failed (and tried again, as a lost one). */
static void expire(struct sim *s, uint64_t now)
{
    for (unsigned i = 0; i < INFLIGHT && s->busy; i++) {
        struct conn *c = &s->conns[i];
        if (c->job && now >= c->deadline) {
            conn_close(c);
            finish(s, c, 0, "timed out");
        }
    }
}

/* Every --mo-file line, to |url| (the sender's own copy). */
static void queue_mo(struct sim *s, const char *url)
{
    uint64_t now = sim_now_ns();
    for (size_t i = 0; i < s->nmo; i++) {
        struct job *j = flex_calloc(1, sizeof(*j));
        j->due_ns = now;
        j->kind = JOB_INBOUND;
        new_sid(s, j->sid);
        flex_strlcpy(j->from, s->mo[i].from, sizeof(j->from));
        flex_strlcpy(j->to, s->mo[i].to, sizeof(j->to));
        j->text = s->mo[i].text;
        j->url = flex_strdup(url);
        heap_push(s, j, now);
    }
}

/* Takes what the API threads handed over (swapping the two arrays, so the
 * lock is held for a few stores), and the inbound URL once known. */
static void drain(struct sim *s)
{
    char url[MAX_URL + 1] = "";
    pthread_mutex_lock(&s->lock);
    struct job **batch = s->incoming;
    size_t n = s->nincoming, cap = s->incoming_cap;
    s->incoming = s->spare;
    s->incoming_cap = s->spare_cap;
    s->nincoming = 0;
    if (!s->mo_queued && s->mo_url[0]) {
        memcpy(url, s->mo_url, sizeof(url));
        s->mo_queued = true;
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++)
        heap_push(s, batch[i], batch[i]->due_ns);
    s->spare = batch;
    s->spare_cap = cap;
    if (url[0] && s->nmo > 0)
        queue_mo(s, url);
}

/* How long to wait: until the next due job if a conn is free, the next
 * deadline of one in flight, at most a second. */
static int next_timeout_ms(const struct sim *s, uint64_t now)
{
    uint64_t due = now + 1000000000ULL;
    if (s->nheap > 0 && s->busy < INFLIGHT && s->heap[0].due_ns < due)
        due = s->heap[0].due_ns;
    for (unsigned i = 0; i < INFLIGHT && s->busy; i++)
        if (s->conns[i].job && s->conns[i].deadline < due)
            due = s->conns[i].deadline;
    return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

void *sender_main(void *arg)
{
    struct sim *s = arg;
    struct epoll_event evs[INFLIGHT + 1];
    /* relaxed: the flag orders nothing; pthread_join() does. */
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        drain(s);
        uint64_t now = sim_now_ns();
        while (s->nheap > 0 && s->busy < INFLIGHT && s->heap[0].due_ns <= now) {
            struct job *j = heap_pop(s);
            const char *why;
            if (!start(s, j, &why))
                give_up(s, j, why);
        }
        expire(s, now);
        /* relaxed: a gauge for the stats file. */
        atomic_store_explicit(&s->st.pending, s->nheap + s->busy, memory_order_relaxed);
        int n = epoll_wait(s->epfd, evs, INFLIGHT + 1, next_timeout_ms(s, now));
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) { /* the API threads' wake-up */
                uint64_t v;
                ssize_t r = read(s->wake, &v, sizeof(v));
                (void)r;
                continue;
            }
            conn_event(s, evs[i].data.ptr, evs[i].events);
        }
    }
    return NULL;
}

int sender_init(struct sim *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (s->epfd < 0 || s->wake < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake, &ev) != 0) {
        fprintf(stderr, "httpsim: epoll/eventfd: %s\n", strerror(errno));
        return -1;
    }
    s->conns = flex_calloc(INFLIGHT, sizeof(struct conn));
    for (unsigned i = 0; i < INFLIGHT; i++)
        s->conns[i].fd = -1;
    return 0;
}

void sender_free(struct sim *s)
{
    for (unsigned i = 0; s->conns && i < INFLIGHT; i++) {
        struct conn *c = &s->conns[i];
        if (c->job)
            job_free(c->job);
        conn_close(c);
    }
    flex_free(s->conns);
    while (s->nheap > 0)
        job_free(heap_pop(s));
    flex_free(s->heap);
    for (size_t i = 0; i < s->nincoming; i++)
        job_free(s->incoming[i]);
    flex_free(s->incoming);
    flex_free(s->spare);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wake >= 0)
        close(s->wake);
}
