/* Functions shared between smpp.c (I/O, sessions) and smpp_flow.c
 * (messages, window, receipts).  Internal. */
#ifndef FLEX_SMPP_SESSION_H
#define FLEX_SMPP_SESSION_H

#include "smpp_int.h"

void flex_smpp_queue_pdu(struct session *s, const struct flex_smpp_pdu *p);
void flex_smpp_queue_resp(struct session *s, uint32_t cmd, uint32_t status, uint32_t seq);
/* Drops the connection after a failure (logged, counted, reconnect
 * scheduled with backoff). */
void flex_smpp_session_reset(struct flex_smpp_client *c, struct session *s, const char *why);
/* Closes a session that unbound cleanly. */
void flex_smpp_session_close(struct flex_smpp_client *c, struct session *s);

void flex_smpp_msgs_init(struct flex_smpp_client *c);
void flex_smpp_msgs_free(struct flex_smpp_client *c);
void flex_smpp_on_pdu(struct flex_smpp_client *c, struct session *s, const struct flex_smpp_pdu *p);
void flex_smpp_pump(struct flex_smpp_client *c, uint64_t now);
void flex_smpp_window_timeouts(struct flex_smpp_client *c, struct session *s, uint64_t now);
void flex_smpp_window_fail_all(struct flex_smpp_client *c, struct session *s);
void flex_smpp_requeue_session(struct flex_smpp_client *c, struct session *s);
void flex_smpp_throttle_probe(struct flex_smpp_client *c, struct session *s, uint64_t now);
void flex_smpp_fail_unsent(struct flex_smpp_client *c, const char *why);
void flex_smpp_tls_ctx_free(struct flex_smpp_client *c);

#endif
