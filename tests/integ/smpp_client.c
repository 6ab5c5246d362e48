#include "smpp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reply.h"
#include "store.h"

#include "loopback.h"

/* Ports below the kernel's ephemeral range (32768+): a client reconnecting
 * to a dead server on an ephemeral port can connect to itself and hold the
 * port, which a restarted server then cannot bind. */
int tc_free_port(void)
{
    static unsigned next;
    if (!next)
        next = 20000 + (unsigned)(getpid() * 7919u % 10000u);
    for (int tries = 0; tries < 1000; tries++) {
        unsigned port = 20000 + (next++ % 12000);
        if (loopback_port_free((int)port))
            return (int)port;
    }
    return -1;
}

pid_t tc_spawn(char *const argv[], int port)
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 4 s */
        int fd = loopback_connect(port);
        if (fd >= 0) {
            close(fd);
            /* A killed server's listening socket can outlive it briefly (its
             * io_uring is torn down asynchronously) and accept this probe:
             * make sure the child is the one that answered. */
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                return -1;
            return pid;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

pid_t tc_redis_start(char *url, size_t urlsz)
{
    if (access("/usr/bin/redis-server", X_OK) != 0)
        return -1;
    int port = tc_free_port();
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", port);
    char *argv[] = {
        "/usr/bin/redis-server", "--port", ports,       "--bind",    "127.0.0.1", "--save", "",
        "--appendonly",          "no",     "--logfile", "/dev/null", NULL};
    pid_t pid = tc_spawn(argv, port);
    if (pid > 0)
        snprintf(url, urlsz, "redis://127.0.0.1:%d/0", port);
    return pid;
}

void tc_redis_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int tc_redis_scripts(pid_t *pid, struct flex_store **st, struct flex_reply *rq)
{
    char url[64], why[256];
    *st = NULL;
    *pid = tc_redis_start(url, sizeof(url));
    if (*pid <= 0)
        return -1;
    struct flex_store_params p = {.url = url};
    if (flex_store_connect(st, &p, 3000, why, sizeof(why)) == 0 && flex_reply_load(*st, rq) == 0)
        return 0;
    /* (cmocka runs no teardown after a failed setup) */
    tc_redis_scripts_end(*pid, *st, rq);
    *st = NULL;
    *pid = -1;
    return -1;
}

void tc_redis_scripts_end(pid_t pid, struct flex_store *st, struct flex_reply *rq)
{
    flex_reply_free(rq);
    flex_store_del(st);
    tc_redis_stop(pid);
}

int tc_stop(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tc_connect(struct tc_conn *c, int port)
{
    c->len = 0;
    c->fd = loopback_connect(port);
    return c->fd < 0 ? -1 : 0;
}

void tc_close(struct tc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int tc_send(struct tc_conn *c, const struct flex_smpp_pdu *p)
{
    uint8_t b[FLEX_SMPP_MAX_PDU];
    long n = flex_smpp_encode(p, b, sizeof(b));
    if (n < 0)
        return -1;
    for (long off = 0; off < n;) {
        ssize_t w = send(c->fd, b + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

int tc_recv(struct tc_conn *c, struct flex_smpp_pdu *p, int timeout_ms)
{
    for (;;) {
        long need = flex_smpp_frame_len(c->buf, c->len);
        if (need < 0)
            return -1;
        if (need > 0 && c->len >= (size_t)need) {
            memcpy(c->pdu, c->buf, (size_t)need);
            memmove(c->buf, c->buf + need, c->len - (size_t)need);
            c->len -= (size_t)need;
            struct flex_smpp_error err;
            return flex_smpp_decode(p, c->pdu, (size_t)need, &err) == need ? 0 : -1;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
}

int tc_bind(struct tc_conn *c, const char *system_id, const char *password)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_BIND_TRANSCEIVER;
    p.sequence = 1;
    snprintf(p.system_id, sizeof(p.system_id), "%s", system_id);
    snprintf(p.password, sizeof(p.password), "%s", password);
    p.interface_version = FLEX_SMPP_VERSION;
    if (tc_send(c, &p) != 0 || tc_recv(c, &p, 2000) != 0 ||
        p.command_id != FLEX_SMPP_BIND_TRANSCEIVER_RESP)
        return -1;
    return (int)p.command_status;
}

int tc_env_begin(char *bin, size_t binsz, char *dir, size_t dirsz, const char *tmpl)
{
    const char *b = getenv("BUILD");
    snprintf(bin, binsz, "%s/smscsim", b ? b : "build");
    snprintf(dir, dirsz, "%s", tmpl);
    signal(SIGPIPE, SIG_IGN);
    return mkdtemp(dir) ? 0 : -1;
}

int tc_env_end(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

char *tc_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

long tc_json_num(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}
