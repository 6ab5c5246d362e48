/*
 * flexd's HTTP listener on [http] listen: /metrics (Prometheus text),
 * /healthz (the process answers) and /readyz (Redis reachable and at least
 * one carrier session bound).  libmicrohttpd runs it on its own thread;
 * it only reads atomics of the pipeline.  Carrier webhooks will be served
 * here too (HTTP carrier issue).
 */
#ifndef FLEX_HTTP_H
#define FLEX_HTTP_H

struct flex_pipeline;
struct flex_http;

/* Listens on |hostport| ("127.0.0.1:9100").  Returns 0 and |*out|, or
 * -errno / FLEX_E_INVAL (bad address, port taken). */
int flex_http_start(struct flex_http **out, const char *hostport, struct flex_pipeline *p);
void flex_http_stop(struct flex_http *h);

#endif
