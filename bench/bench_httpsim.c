/* httpsim's ceiling: CONNECTIONS kept-alive libcurl connections (one multi
 * handle, one thread) each POSTing Messages.json back to back with basic
 * auth, no StatusCallback; requests answered 201 per second, and the TCP
 * connections httpsim counted (keep-alive: as many as CONNECTIONS).
 * Starts build/httpsim itself on a free port; arguments after the path go
 * to httpsim (e.g. --threads 2).
 *   bench_httpsim [REQUESTS] [CONNECTIONS] [HTTPSIM_PATH [HTTPSIM_ARGS...]] */
#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_sim.h"

#define MAX_CONNS 1024

struct client {
    CURL *easy;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static pid_t spawn(const char *sim, int port, const char *stats, int argc, char **argv)
{
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        const char *args[64] = {sim, "--listen", listen, "--stats", stats};
        int n = 5;
        for (int i = 0; i < argc && n < 63; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        execv(sim, (char *const *)args);
        _exit(127);
    }
    return pid;
}

static long stat_of(const char *path, const char *key)
{
    char buf[4096], pat[64];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(buf, pat);
    return p ? atol(p + strlen(pat)) : -1;
}

/* CPU seconds (user + system) |pid| has used so far, from /proc. */
static double cpu_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields 14 and 15 after the command */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void setup(struct client *c, const char *url, struct curl_slist *hdrs, const char *body)
{
    c->easy = curl_easy_init();
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_USERPWD, "ACtest:testtoken");
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
}

/* Runs until |total| requests are answered; returns those answered 201. */
static long drive(CURLM *m, struct client *cl, int nconn, long total)
{
    long started = 0, done = 0, ok = 0;
    for (int i = 0; i < nconn && started < total; i++, started++)
        curl_multi_add_handle(m, cl[i].easy);
    while (done < total) {
        int running, left;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            long code = 0;
            struct client *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            curl_multi_remove_handle(m, msg->easy_handle);
            done++;
            ok += msg->data.result == CURLE_OK && code == 201;
            if (started < total) {
                curl_multi_add_handle(m, msg->easy_handle); /* its connection is kept */
                started++;
            }
        }
        if (done < total && running == 0 && started == done)
            break;
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    return ok;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 200000;
    int nconn = argc > 2 ? atoi(argv[2]) : 16;
    const char *sim = argc > 3 ? argv[3] : "build/httpsim";
    if (total < 1 || nconn < 1 || nconn > MAX_CONNS) {
        fputs("usage: bench_httpsim [REQUESTS] [CONNECTIONS] [HTTPSIM_PATH [ARGS...]]\n", stderr);
        return 2;
    }
    char stats[64], url[128];
    snprintf(stats, sizeof(stats), "/tmp/bench_httpsim.%d.json", (int)getpid());
    int port = bench_free_port();
    pid_t pid = spawn(sim, port, stats, argc > 4 ? argc - 4 : 0, argv + 4);
    for (int i = 0; i < 200; i++) {
        int fd = loopback_connect(port);
        if (fd >= 0) {
            close(fd);
            break;
        }
        usleep(20000);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/2010-04-01/Accounts/ACtest/Messages.json",
             port);
    static const char body[] =
        "To=%2B12025550101&From=%2B12025550100&Body=Hi+Alexandra%2C+see+you+Wed%2C+Dec+10+at+"
        "10%3A30+AM+at+Capitol+Dental+Care.+Reply+C+to+confirm+or+call+%2B12025550100.";
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    static struct client cl[MAX_CONNS];
    for (int i = 0; i < nconn; i++)
        setup(&cl[i], url, hdrs, body);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)nconn);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)nconn);
    double t0 = bench_now(), c0 = cpu_of(pid);
    long ok = drive(m, cl, nconn, total);
    double dt = bench_now() - t0, cpu = cpu_of(pid) - c0;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    long conns = stat_of(stats, "connections");
    unlink(stats);
    char name[64];
    snprintf(name, sizeof(name), "httpsim ceiling, %d connections", nconn);
    /* httpsim's own CPU per request: steadier than the rate on a VM whose
     * cores the load generator shares. */
    printf("%-44s %8.0f req/s  (%ld of %ld answered 201 in %.2f s; httpsim %.1f us CPU a "
           "request, %.0f%% of a core; %ld TCP connections)\n",
           name, (double)ok / dt, ok, total, dt, ok ? cpu * 1e6 / (double)ok : 0.0,
           100.0 * cpu / dt, conns);
    for (int i = 0; i < nconn; i++)
        curl_easy_cleanup(cl[i].easy);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    return ok == total ? 0 : 1;
}
