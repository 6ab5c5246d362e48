/* A blocking SMPP client and process helpers for integration tests: start
 * a program on a free loopback port, connect, send and receive PDUs with
 * timeouts.  Test-only; the engine's ESME is adapters/smpp.c. */
#ifndef FLEX_TEST_SMPP_CLIENT_H
#define FLEX_TEST_SMPP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "smpp_pdu.h"

/* A free TCP port on 127.0.0.1 (bound, read, released). */
int tc_free_port(void);
/* Starts |argv| (argv[0] a path), waits until 127.0.0.1:|port| accepts.
 * Returns the pid, or -1. */
pid_t tc_spawn(char *const argv[], int port);
/* SIGTERM, then waits; returns the exit status (or -1). */
int tc_stop(pid_t pid);
/* A redis-server of the test's own (no persistence) on a free port, its
 * URL ("redis://127.0.0.1:PORT/0") into |url|.  Returns the pid, or -1
 * (none installed, or it did not come up). */
pid_t tc_redis_start(char *url, size_t urlsz);
/* Kills it (no save) and reaps it; pid <= 0: nothing. */
void tc_redis_stop(pid_t pid);

struct flex_store;
struct flex_reply;
/* tc_redis_start, connected to in |*st|, with the reply scripts loaded
 * into |rq| (engine/core/reply.h).  Returns 0, or -1. */
int tc_redis_scripts(pid_t *pid, struct flex_store **st, struct flex_reply *rq);
/* Frees what tc_redis_scripts made and stops the server. */
void tc_redis_scripts_end(pid_t pid, struct flex_store *st, struct flex_reply *rq);

struct tc_conn {
    int fd;
    uint8_t buf[FLEX_SMPP_MAX_PDU * 2];
    size_t len;
    uint8_t pdu[FLEX_SMPP_MAX_PDU]; /* bytes of the last PDU read */
};

int tc_connect(struct tc_conn *c, int port);
void tc_close(struct tc_conn *c);
/* Encodes and writes |p|; 0 or -1. */
int tc_send(struct tc_conn *c, const struct flex_smpp_pdu *p);
/* Reads one PDU within |timeout_ms|; 0, or -1 on timeout/EOF/bad PDU.
 * Pointer fields of |p| point into c->pdu until the next call. */
int tc_recv(struct tc_conn *c, struct flex_smpp_pdu *p, int timeout_ms);
/* bind_transceiver; returns the bind_resp command_status or -1. */
int tc_bind(struct tc_conn *c, const char *system_id, const char *password);

/* Test set-up shared by the integration programs: the smscsim path under
 * $BUILD into |bin|, a fresh directory from |tmpl| (".../name-XXXXXX")
 * into |dir|, SIGPIPE ignored.  tc_env_end removes the directory.  Both
 * return 0 or -1. */
int tc_env_begin(char *bin, size_t binsz, char *dir, size_t dirsz, const char *tmpl);
int tc_env_end(const char *dir);

/* Reads a whole file (NUL-terminated; free with free()), or NULL. */
char *tc_slurp(const char *path);
/* The value of "key":N in a JSON object text, or -1. */
long tc_json_num(const char *json, const char *key);

#endif
