/* What smpp_flow.c (messages on sessions: queues, the window, throttling,
 * the id map, receipts, inbound texts) offers smpp.c (the client: sessions,
 * I/O, timers).  Internal.  Calls go one way, smpp.c -> smpp_flow.c:
 * smpp_flow.c reports through the client's event callback (flex_smpp_emit)
 * and never resets, closes or flushes a session; smpp.c does that from the
 * state the session is left in. */
#ifndef FLEX_SMPP_FLOW_H
#define FLEX_SMPP_FLOW_H

#include "smpp_int.h"

/* Encodes |p| onto |s|'s plain output (sent at smpp.c's next flush). */
void flex_smpp_queue_pdu(struct session *s, const struct flex_smpp_pdu *p);
void flex_smpp_queue_resp(struct session *s, uint32_t cmd, uint32_t status, uint32_t seq);

void flex_smpp_msgs_init(struct flex_smpp_client *c);
void flex_smpp_msgs_free(struct flex_smpp_client *c);
/* A submit_sm_resp, or a generic_nack of a bound session: the part's
 * outcome.  A deliver_sm: answered, then a receipt or an inbound text. */
void flex_smpp_on_submit_resp(struct flex_smpp_client *c, struct session *s,
                              const struct flex_smpp_pdu *p);
void flex_smpp_on_deliver(struct flex_smpp_client *c, struct session *s,
                          const struct flex_smpp_pdu *p);
void flex_smpp_pump(struct flex_smpp_client *c, uint64_t now);
/* Fails the window's parts unanswered past the response timeout (as
 * ambiguous).  Returns true when the session's submit path is dead: a part
 * timed out with no submit_sm_resp at all since it was sent (an SMSC that
 * still answers enquire_link but swallows submits): the caller resets it,
 * so that no more go into it and the carrier is not ready meanwhile. */
bool flex_smpp_window_timeouts(struct flex_smpp_client *c, struct session *s, uint64_t now);
void flex_smpp_window_fail_all(struct flex_smpp_client *c, struct session *s);
void flex_smpp_requeue_session(struct flex_smpp_client *c, struct session *s);
/* The session's adaptive rate (engine/base/ratelimit.h's flex_aimd):
 * afresh at each bind, and probed upwards each loop. */
void flex_smpp_throttle_reset(struct session *s);
void flex_smpp_throttle_probe(struct session *s, uint64_t now);
void flex_smpp_fail_unsent(struct flex_smpp_client *c, const char *why);
/* Reports early receipts held past the response timeout as unmatched;
 * called from the client's loop while any is held. */
void flex_smpp_early_expire(struct flex_smpp_client *c, uint64_t now);

#endif
