/* The simulator's ceiling: one session, window 512, submit_sm with receipts
 * requested, every receipt answered; messages per second from the first
 * submit to the last receipt.  Starts build/smscsim itself on a free port.
 *   bench_smscsim [MESSAGES] [SMSCSIM_PATH] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_sim.h"
#include "smpp_pdu.h"

#define WINDOW 512

static uint8_t inb[1 << 22], outb[1 << 22];

struct state {
    int fd;
    size_t in_len, out_len;
    long sent, acked, receipts, total;
};

static void queue(struct state *st, const struct flex_smpp_pdu *p)
{
    long n = flex_smpp_encode(p, outb + st->out_len, sizeof(outb) - st->out_len);
    if (n > 0)
        st->out_len += (size_t)n;
}

static void on_pdu(struct state *st, const struct flex_smpp_pdu *p)
{
    if (p->command_id == FLEX_SMPP_SUBMIT_SM_RESP) {
        st->acked++;
    } else if (p->command_id == FLEX_SMPP_DELIVER_SM) {
        struct flex_smpp_pdu r = {0};
        r.command_id = FLEX_SMPP_DELIVER_SM_RESP;
        r.sequence = p->sequence;
        queue(st, &r);
        st->receipts++;
    }
}

static void read_some(struct state *st)
{
    ssize_t r = recv(st->fd, inb + st->in_len, sizeof(inb) - st->in_len, MSG_DONTWAIT);
    if (r <= 0)
        return;
    st->in_len += (size_t)r;
    size_t off = 0;
    for (;;) {
        struct flex_smpp_pdu p;
        struct flex_smpp_error err;
        long n = flex_smpp_decode(&p, inb + off, st->in_len - off, &err);
        if (n <= 0)
            break;
        on_pdu(st, &p);
        off += (size_t)n;
    }
    memmove(inb, inb + off, st->in_len - off);
    st->in_len -= off;
}

static void fill_window(struct state *st, struct flex_smpp_pdu *sub)
{
    while (st->sent < st->total && st->sent - st->acked < WINDOW &&
           st->out_len + 512 < sizeof(outb)) {
        sub->sequence = (uint32_t)++st->sent;
        snprintf(sub->destination_addr, sizeof(sub->destination_addr), "1202555%04ld",
                 st->sent % 10000);
        queue(st, sub);
    }
}

static void flush(struct state *st)
{
    if (!st->out_len)
        return;
    ssize_t w = send(st->fd, outb, st->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
        memmove(outb, outb + w, st->out_len - (size_t)w);
        st->out_len -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 300000;
    const char *sim = argc > 2 ? argv[2] : "build/smscsim";
    int port = bench_free_port();
    pid_t pid = bench_spawn_smscsim(sim, port);
    struct state st = {.fd = -1, .total = total};
    for (int i = 0; i < 200 && st.fd < 0; i++) {
        usleep(20000);
        st.fd = loopback_connect(port);
    }
    if (st.fd < 0) {
        fprintf(stderr, "bench_smscsim: cannot reach %s\n", sim);
        return 1;
    }
    int one = 1;
    setsockopt(st.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct flex_smpp_pdu bind = {0};
    bind.command_id = FLEX_SMPP_BIND_TRANSCEIVER;
    bind.sequence = 0;
    memcpy(bind.system_id, "flex", 5);
    memcpy(bind.password, "flexpass", 9);
    bind.interface_version = FLEX_SMPP_VERSION;
    queue(&st, &bind);
    flush(&st);
    struct pollfd pfd = {st.fd, POLLIN, 0};
    poll(&pfd, 1, 2000);
    read_some(&st); /* bind_resp */
    const char *text = "Hi Alexandra, see you Wed, Dec 10 at 10:30 AM at Capitol Dental Care. "
                       "Reply C to confirm or call +12025550100 to reschedule.";
    struct flex_smpp_pdu sub = {0};
    sub.command_id = FLEX_SMPP_SUBMIT_SM;
    sub.source_addr_ton = sub.dest_addr_ton = 1;
    sub.source_addr_npi = sub.dest_addr_npi = 1;
    memcpy(sub.source_addr, "12025550100", 12);
    sub.registered_delivery = 1;
    sub.short_message = (const uint8_t *)text;
    sub.sm_length = (uint8_t)strlen(text);
    double t0 = bench_now();
    while (st.receipts < total || st.acked < total) {
        fill_window(&st, &sub);
        flush(&st);
        pfd.events = POLLIN | (st.out_len ? POLLOUT : 0);
        if (poll(&pfd, 1, 5000) <= 0) {
            fprintf(stderr, "bench_smscsim: stalled at %ld acked, %ld receipts\n", st.acked,
                    st.receipts);
            break;
        }
        read_some(&st);
    }
    double dt = bench_now() - t0;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    printf("%-44s %8.0f msg/s  (%ld submits + %ld receipts in %.2f s, window %d)\n",
           "smscsim ceiling, 1 session", (double)st.receipts / dt, st.acked, st.receipts, dt,
           WINDOW);
    return st.receipts == total ? 0 : 1;
}
