/*
 * flexd's HTTP listener on [http] listen: /metrics (Prometheus text),
 * /healthz (the process answers), /readyz (Redis reachable and at least
 * one carrier session bound) and the carriers' webhooks (POST
 * /webhooks/NAME/status|inbound, docs/operations.md).  libmicrohttpd runs
 * it on its own thread (epoll); it reads atomics of the pipeline and the
 * config snapshot, and hands webhooks to the writer through a ring.
 */
#ifndef FLEX_HTTP_H
#define FLEX_HTTP_H

#define FLEX_HTTP_MAX_CONNECTIONS 2048 /* open at once, all clients */
#define FLEX_HTTP_MAX_PER_ADDRESS 256  /* ... from one client address */
#define FLEX_HTTP_TIMEOUT_S 10         /* idle or slow connections closed after it */

struct flex_pipeline;
struct flex_http;

/* Listens on |hostport| ("127.0.0.1:9100").  Returns 0 and |*out|, or
 * -errno / FLEX_E_INVAL (bad address, port taken). */
int flex_http_start(struct flex_http **out, const char *hostport, struct flex_pipeline *p);
/* /healthz, /readyz and /metrics also on |hostport|, a listener of their
 * own (at most 64 connections) that the public one's clients, slow or
 * many, cannot fill: for the health checks and Prometheus.  Returns 0 or
 * as flex_http_start. */
int flex_http_admin_start(struct flex_http *h, const char *hostport);
void flex_http_stop(struct flex_http *h);

#endif
