/*
 * The HTTP carrier (adapters/http.c): its constructor for
 * adapters/carriers.c, its id keys, and its webhooks normalized.
 */
#ifndef FLEX_HTTP_CARRIER_H
#define FLEX_HTTP_CARRIER_H

#include <stdbool.h>
#include <stddef.h>

#include "carrier.h"

struct flex_webhook_form;

struct flex_carrier *flex_http_carrier_new(const struct flex_cfg *cfg,
                                           const struct flex_cfg_carrier *cc, flex_carrier_cb cb,
                                           void *arg);

/* The key of a message id (a Twilio sid): lower case, at most 64 bytes. */
void flex_http_id_key(const char *id, size_t len, char out[FLEX_CARRIER_KEY_SZ]);

/* A webhook's form (status callback, or |inbound| text), normalized into
 * |ev| (strings point into |f|).  Returns 1 with |ev| set, 0 for a status
 * that is not final (queued, sent...: nothing to do), or FLEX_E_INVAL for a
 * form without the fields its kind needs. */
int flex_http_webhook_event(bool inbound, const struct flex_webhook_form *f,
                            struct flex_carrier_event *ev);

#endif
