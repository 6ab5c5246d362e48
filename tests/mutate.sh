#!/bin/sh
# Mutation testing (issue 13): small realistic bugs planted one at a time in
# the engine, each with the test that must catch it.  Run by hand, not by
# make test:
#
#   sh tests/mutate.sh [-l] [ID|PATTERN...]
#
# It copies this tree as it is (tracked and new files, not build/ or what
# .gitignore names; MUTATE_BASE=HEAD: the last commit's files with tests/ as
# it is, when engine work in progress does not build) into a scratch git
# repository, MUTATE_DIR (default /tmp/flex-mutate; its objects are kept
# between runs and only what changed is rebuilt), builds and runs
# every test of the table once unmutated (all must pass), then for each
# mutation: applies the one-line edit (its original text must occur exactly
# once in its file), builds what its test needs (BUILD=build/mut inside the
# scratch copy), runs the test (FLEX_FAIL_FAST=1 for integration scripts:
# the first failed check ends it), records caught (the test failed, or ran
# out of time) or SURVIVED, and restores the file.  It refuses to start on a
# scratch copy with changes (a mutation left by an interrupted run: look at
# `git -C $MUTATE_DIR/src diff`, or remove the directory).  Nothing in this
# tree is written.
#
# -l lists the table.  IDs or shell patterns choose mutations ("writer-*").
# Prints one line per mutation, then the score: caught / (caught + survived);
# "stale" (the original text is not in the file any more) and "nobuild" are
# not scored but make the exit status 1, as does any survivor.
# Results also go to $MUTATE_DIR/results.txt (and .tsv); a survivor's test
# output to survived-ID.log there.  Run it with nice -n 19.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
MUTATE_DIR=${MUTATE_DIR:-/tmp/flex-mutate}
MUTATE_JOBS=${MUTATE_JOBS:-2}
BUILD=build/mut
export BUILD

# The table: ID ;; FILE ;; ORIGINAL TEXT ;; REPLACEMENT ;; TEST
# TEST: unit:NAME (build/mut/tests/NAME) or integ:SCRIPT [ARGS] (sh
# tests/integ/SCRIPT ARGS with flexd, flexctl and the simulators built).
table() {
    cat <<'TABLE'
# intake: opt-outs, expiry at read, idempotency
intake-optout-error ;; engine/run/intake_checks.c ;; out[i] = flex_reply_is_error(r) || flex_reply_integer(r) == 1; ;; out[i] = flex_reply_integer(r) == 1; ;; integ:decisions.sh optout
intake-release-optout ;; engine/run/intake_checks.c ;; if ((from == IN_FROM_HELD && drop_optouts( ;; if ((from != IN_FROM_HELD && drop_optouts( ;; integ:decisions.sh optout
intake-expired-at-read ;; engine/run/intake_jobs.c ;; if (now > exp) { ;; if (false) { ;; integ:decisions.sh expiry
intake-dedup ;; engine/core/idem.c ;; *v = same_entry(g, entry) ? FLEX_IDEM_OWN : FLEX_IDEM_OTHER; ;; *v = FLEX_IDEM_OWN; ;; integ:decisions.sh idem
intake-dedup-prev ;; engine/core/idem.c ;; *v = same_entry(r, entry) ? FLEX_IDEM_OWN : FLEX_IDEM_OTHER; ;; *v = FLEX_IDEM_OWN; ;; integ:decisions.sh idem
idem-sweep-cut ;; engine/core/idem.c ;; if ms and ms < cut then ;; if ms and ms <= cut + 86400000 * 2 then ;; integ:decisions.sh idem
jobbatch-marks-ignored ;; engine/run/intake_jobs.c ;; if (flex_jobbatch_bit(bits, blen, k)) ;; if (false) ;; integ:jobbatch.sh
jobbatch-writer-marks ;; engine/run/writer.c ;; if (recs[i]->kind == FLEX_REC_RESULT && flex_entry_batch(recs[i]->entry)) ;; if (false) ;; integ:jobbatch.sh
jobbatch-hold-ttl ;; engine/run/intake.c ;; flex_store_appendf(in->st, "EXPIRE %s %d", key, FLEX_JOBBATCH_TTL_S); ;; flex_store_appendf(in->st, "TTL %s", key); ;; integ:jobbatch.sh
jobbatch-reclaim ;; engine/run/intake_jobs.c ;; if (flex_entry_batch(r->entry)) /* its outcome is stored */ ;; if (false) ;; integ:jobbatch.sh
jobbatch-sweep ;; engine/core/idem.c ;; '(%d+)%-%d+#?%d*$' ;; '(%d+)%-%d+$' ;; integ:decisions.sh idem
idem-bucket ;; engine/core/idem.c ;; return h % FLEX_IDEM_BUCKETS; ;; return (h >> 1) % FLEX_IDEM_BUCKETS; ;; unit:test_idem
smpp-answer-at-once ;; adapters/smpp_carrier.c ;; c.defer_deliver_resp = true; ;; c.defer_deliver_resp = false; ;; integ:decisions.sh answer
smpp-parts-local ;; adapters/smpp_carrier.c ;; c.parts_up = true; ;; c.parts_up = false; ;; integ:mo_parts.sh
reply-parts-kept ;; engine/core/reply.c ;; if (in->parts_key && in->parts_key[0]) { ;; if (false) { ;; integ:mo_parts.sh
reply-parts-copy ;; engine/core/reply.c ;; redis.call('HSETNX', k, ARGV[1], ARGV[3]) ;; redis.call('HSET', k, ARGV[1], ARGV[3]) ;; unit:integ_moparts
reply-parts-ttl ;; engine/core/reply.c ;; redis.call('PEXPIRE', k, ARGV[4], 'NX') ;; redis.call('PEXPIRE', k, ARGV[4]) ;; unit:integ_moparts
reply-parts-cut ;; engine/core/reply.c ;; if cut == 1 then break end ;; if n > max then break end ;; unit:integ_moparts
reply-parts-budget ;; engine/core/reply.c ;; if (b->used + cost > max) ;; if (b->used > max) ;; unit:integ_moparts
sms-decode-nul ;; engine/text/sms.c ;; o += flex_utf8_put(b[i] ? b[i] : 0xFFFD, (unsigned char *)out + o); ;; o += flex_utf8_put(b[i], (unsigned char *)out + o); ;; unit:test_sms
writer-acks ;; engine/run/writer.c ;; if (!recs[i]->ack) ;; if (recs[i]->ack) ;; integ:decisions.sh answer
tmpl-section-kept ;; engine/text/tmpl.c ;; if (!section_whole(op, vars)) ;; if (false && !section_whole(op, vars)) ;; integ:schedule.sh
tmpl-section-merge ;; engine/text/tmpl.c ;; t->sealed = t->nops; ;; t->sealed = 0; ;; unit:test_tmpl
reply-patients-cap ;; engine/core/reply.h ;; char patients[FLEX_REPLY_CONTEXT * 66]; ;; char patients[4 * 66]; ;; unit:test_convlog
http-answer-at-once ;; engine/run/http.c ;; MHD_suspend_connection(c); ;; u->state = UP_ANSWERED, u->answer = 200; ;; integ:http.sh
http-max-parts ;; adapters/http.c ;; int prc = flex_sms_encode(h->sms, m->text, m->len, h->max_parts, &terr); ;; int prc = 0 * flex_sms_encode(h->sms, m->text, m->len, h->max_parts, &terr); ;; integ:http.sh
# dispatch: the checks at the carrier's door, limits, failover
dispatch-backpressure-all ;; engine/run/dispatch.c ;; d->results_out - atomic_load_explicit(&d->p->results_stored, memory_order_relaxed) > ;; flex_ring_count(&d->p->results) + 0 * atomic_load_explicit(&d->p->results_stored, memory_order_relaxed) > ;; integ:flexbench.sh
dispatch-news-stale ;; engine/run/dispatch.c ;; bool stale = news_ns == 0 || now - news_ns > NEWS_MAX_AGE_NS; ;; bool stale = news_ns == 0; ;; integ:stale.sh
dispatch-expiry ;; engine/run/dispatch.c ;; if (clock_ms(d) > r->expires_ms) { ;; if (false) { ;; integ:decisions.sh expiry
dispatch-carrier-limit ;; engine/run/dispatch.c ;; if (d->limit_car && limit_take(d, 'c', c->name, now_ns)) ;; if (d->limit_car && !limit_take(d, 'c', c->name, now_ns)) ;; integ:decisions.sh expiry
dispatch-burst ;; engine/run/dispatch.c ;; (uint32_t)(mps / 10) + 1 ;; (uint32_t)(mps * 10) + 1 ;; integ:decisions.sh expiry
dispatch-failover-permanent ;; engine/run/dispatch.c ;; if (again && r->route_pos + 1u < route->n) { ;; if ((again || !ev->temporary) && r->route_pos + 1u < route->n) { ;; integ:decisions.sh carriers
dispatch-confirm-optout ;; engine/run/dispatch.c ;; } else if (!r->to_optout && flex_live_opted_out(d->live, r->phone)) { ;; } else if (flex_live_opted_out(d->live, r->phone)) { ;; integ:decisions.sh replies
# writer: receipts, outcomes
writer-lookup-carrier ;; engine/run/writer.c ;; if (strcmp(rc[i]->carrier, plan[p].carrier) != 0) ;; if (0) ;; integ:decisions.sh batch
writer-receipt-state ;; engine/run/writer.c ;; bool ok = r->delivered; /* r->reason ;; bool ok = !r->delivered; /* r->reason ;; integ:decisions.sh receipts
writer-later-part ;; engine/run/writer.c ;; return val && !memchr(val, '#', len); ;; return val != NULL; ;; integ:decisions.sh receipts
writer-duplicate ;; engine/run/writer.c ;; w->dup[i] = flex_recent_add_undo(&w->receipted, r->id, &undo[nundo]); ;; w->dup[i] = (flex_recent_add_undo(&w->receipted, r->id, &undo[nundo]), false); ;; integ:decisions.sh receipts
writer-xack ;; engine/run/writer.c ;; if (recs[i]->kind == FLEX_REC_RESULT && !flex_entry_urgent(recs[i]->entry) && ;; if (recs[i]->kind == FLEX_REC_RESULT && flex_entry_urgent(recs[i]->entry) && ;; integ:decisions.sh receipts
intake-reload-reread ;; engine/run/intake.c ;; if (in->cfg_gen && in->nspilled > 0) { ;; if (false && in->nspilled > 0) { ;; integ:reloadheld.sh
intake-take-back-bound ;; engine/run/intake_checks.c ;; while (rc == 0 && taken < 2 * BATCH && ;; while (rc == 0 && taken < 200 * BATCH && ;; integ:reloadheld.sh
writer-carrier-optout ;; engine/run/writer.c ;; r->outcome != FLEX_OUT_FAILED || !r->carrier_optout) ;; r->outcome != FLEX_OUT_FAILED) ;; integ:decisions.sh carriers
# config
config-route-limit ;; engine/core/config_check.c ;; } else if (out->n == FLEX_CFG_MAX_ROUTE) { ;; } else if (out->n == FLEX_CFG_MAX_ROUTE + 1) { ;; unit:test_config
config-route-twice ;; engine/core/config_check.c ;; if (out->idx[k] == found) ;; if (out->idx[k] != found) ;; unit:test_config
config-route-for ;; engine/core/config.c ;; return loc && loc->route.n ? &loc->route : &cfg->route.def; ;; return loc && loc->route.n > 1 ? &loc->route : &cfg->route.def; ;; unit:test_config
config-allow-prefix ;; engine/core/config.c ;; if (strncmp(e164, l->v[i], strlen(l->v[i])) == 0) ;; if (strcmp(e164, l->v[i]) == 0) ;; unit:test_config
# timing
timing-quiet-end ;; engine/core/timing.c ;; bool quiet = s < e ? (m >= s && m < e) : (m >= s || m < e); ;; bool quiet = s < e ? (m >= s && m < e) : (m >= s || m <= e); ;; unit:test_timing
timing-quiet-start-day ;; engine/core/timing.c ;; if (s > e && m >= s) ;; if (s > e && m > s) ;; unit:test_timing
timing-quiet-in-day ;; engine/core/timing.c ;; bool quiet = s < e ? (m >= s && m < e) ;; bool quiet = s < e ? (m > s && m < e) ;; unit:test_timing
timing-week-start ;; engine/core/timing.c ;; *week = floor_div(*day + 3, 7); ;; *week = floor_div(*day + 4, 7); ;; unit:test_timing
timing-catch-up-lead ;; engine/core/timing.c ;; last_past >= 0 && start - now >= CATCH_UP_MIN_LEAD_MS && ;; last_past >= 0 && start - now >= 0 && ;; unit:test_timing
# ratelimit
ratelimit-burst-edge ;; engine/base/ratelimit.c ;; if (next - now > g->burst_ns) ;; if (next - now >= g->burst_ns) ;; unit:test_ratelimit
ratelimit-base ;; engine/base/ratelimit.c ;; uint64_t base = *tat > now ? *tat : now; ;; uint64_t base = *tat < now ? *tat : now; ;; unit:test_ratelimit
ratelimit-grow ;; engine/base/ratelimit.c ;; if ((rl->used + 1) * 4 > (rl->mask + 1) * 3) { ;; if ((rl->used + 1) * 4 > (rl->mask + 1) * 5) { ;; unit:test_ratelimit
# live: news at the carrier's door
live-prune-newer ;; engine/core/live.c ;; if (flex_idmap_get(m, a->key, &c) && c == a->cookie) ;; if (flex_idmap_get(m, a->key, &c)) ;; unit:test_live
live-prune-edge ;; engine/core/live.c ;; while (l->n > 0 && l->fifo[l->head].at_ms < before_ms) { ;; while (l->n > 0 && l->fifo[l->head].at_ms <= before_ms) { ;; unit:test_live
live-parent-earlier ;; engine/core/live.c ;; return *now != version; ;; return *now > version; ;; unit:test_live
live-optin ;; engine/core/live.c ;; flex_idmap_take(l->optouts, phone, &c); ;; flex_idmap_get(l->optouts, phone, &c); ;; unit:test_live
# store: replies
store-drain-errors ;; engine/core/store.c ;; errors += r->type == REDIS_REPLY_ERROR; ;; errors += r->type == REDIS_REPLY_STATUS; ;; integ:decisions.sh optout
store-is-error ;; engine/core/store.c ;; return r && r->type == REDIS_REPLY_ERROR; ;; return r && r->type == REDIS_REPLY_STATUS; ;; integ:decisions.sh optout
# jobstatus: flexctl status
jobstatus-receipt-key ;; engine/core/jobstatus.c ;; {"r", "receipt"}, ;; {"r", "reason"}, ;; integ:decisions.sh receipts
jobstatus-reason-rest ;; engine/core/jobstatus.c ;; bool rest = eq - p == 6 && memcmp(p, "reason", 6) == 0; ;; bool rest = eq - p == 7 && memcmp(p, "reason", 6) == 0; ;; integ:decisions.sh expiry
jobstatus-held ;; engine/core/jobstatus.c ;; json_string(paused ? "held" : "in_flight") ;; json_string(paused ? "in_flight" : "held") ;; integ:decisions.sh expiry
# SMPP receipts
smpp-state-bound ;; adapters/smpp_payload.c ;; if (r->state == 0 || r->state > FLEX_SMPP_STATE_REJECTED) ;; if (r->state == 0 || r->state >= FLEX_SMPP_STATE_REJECTED) ;; unit:test_receipt
smpp-state-names ;; adapters/smpp_payload.c ;; for (size_t i = 0; i < 8; i++) ;; for (size_t i = 0; i < 7; i++) ;; unit:test_smpp_payload
smpp-rejectd-state ;; adapters/smpp_payload.c ;; {"REJECTD", FLEX_SMPP_STATE_REJECTED}, ;; {"REJECTD", FLEX_SMPP_STATE_UNKNOWN}, ;; unit:test_receipt
smpp-text-stat ;; adapters/smpp_payload.c ;; if (r->state == 0 && (v = field(t, len, "stat:", &vl))) ;; if (r->state != 0 && (v = field(t, len, "stat:", &vl))) ;; unit:test_receipt
smpp-not-final ;; adapters/smpp_flow.c ;; if (r.state == FLEX_SMPP_STATE_ENROUTE || r.state == FLEX_SMPP_STATE_ACCEPTED) ;; if (r.state == FLEX_SMPP_STATE_ENROUTE) ;; unit:test_receipt
smpp-delivered ;; adapters/smpp_carrier.c ;; out.delivered = ev->receipt_state == FLEX_SMPP_STATE_DELIVERED; ;; out.delivered = ev->receipt_state != FLEX_SMPP_STATE_REJECTED; ;; unit:test_receipt
# replies and intents
reply-cap ;; engine/core/reply.c ;; capok = c <= tonumber(ARGV[b + 6]) ;; capok = c < tonumber(ARGV[b + 6]) ;; integ:decisions.sh replies
reply-inbound-scored-as-sent ;; engine/core/reply.c ;; if (cfg->engine.history_days == 0 || flex_conv_score_in(in->from, score, sizeof(score)) != 0) ;; if (cfg->engine.history_days == 0 || flex_conv_score(in->from, score, sizeof(score)) != 0) ;; integ:replies.sh
reply-context-reads-received ;; engine/core/reply.c ;; 'flex:log:' .. d, s, s, 'LIMIT' ;; 'flex:log:' .. d, s + 0.5, s, 'LIMIT' ;; integ:replies.sh
reply-text-isolation ;; engine/core/reply.c ;; local ok, r = pcall(apply, i, n) ;; local ok, r = true, apply(i, n) ;; unit:integ_replies
reply-counters-written ;; engine/core/reply.c ;; for f, c in pairs(stats) do redis.call('HINCRBY', 'flex:stats', f, c) end ;; for f, c in pairs(stats) do end ;; integ:replies.sh
reply-confirm-once ;; engine/core/reply.c ;; reply_job(p, it == FLEX_INTENT_HELP ? "R" : "C", in, loc, ctx, t, mo_hash); ;; reply_job(p, it == FLEX_INTENT_HELP ? "R" : "F", in, loc, ctx, t, mo_hash); ;; integ:decisions.sh replies
reply-score-digits ;; engine/core/reply.c ;; if (n == 0 || n > 15 || ;; if (n == 0 || n > 16 || ;; unit:test_convlog
reply-keep-days ;; engine/core/reply.c ;; uint32_t d = cfg->engine.history_days > cfg->engine.reply_context_days ;; uint32_t d = cfg->engine.history_days < cfg->engine.reply_context_days ;; unit:test_convlog
reply-plain-unwatched ;; engine/core/reply.c ;; ps->watch[w] = "WATCH", ps->watch_lens[w++] = 5; ;; ps->watch[w] = "EXISTS", ps->watch_lens[w++] = 6; ;; unit:integ_replies
reply-plain-copy-in-batch ;; engine/core/reply.c ;; if (ps->pt[j].fresh && jl == dl && memcmp(o, dup, dl) == 0) ;; if (ps->pt[j].fresh && jl == dl + 1 && memcmp(o, dup, dl) == 0) ;; unit:integ_replies
reply-plain-log-cap ;; engine/core/reply.c ;; log_ok = have < strtol(hv(p, at, H_LOG_CAP, NULL), NULL, 10); ;; log_ok = have <= strtol(hv(p, at, H_LOG_CAP, NULL), NULL, 10); ;; unit:integ_replies
reply-plain-drop-tag ;; engine/core/reply.c ;; dropped = tags[c] == ',' && tags[c + gl + 1] == ',' && ;; dropped = true || ;; unit:integ_replies
reply-plain-aborted-exec ;; engine/core/reply.c ;; if (flex_reply_is_nil(r)) { /* a watched key changed: nothing written */ ;; if (false) { ;; unit:integ_replies
reply-plain-stop ;; engine/core/reply.c ;; return it != FLEX_INTENT_STOP && it != FLEX_INTENT_START && it != FLEX_INTENT_HELP; ;; return it != FLEX_INTENT_START && it != FLEX_INTENT_HELP; ;; integ:replies.sh
writer-plain-applied ;; engine/run/writer.c ;; int prc = flex_reply_plain_apply(w->st, &w->rq); ;; int prc = 0; ;; integ:replies.sh
intent-negation ;; engine/text/intent.c ;; if (++between > 3) ;; if (++between > 0) ;; unit:test_intent
intent-fuzzy-length ;; engine/text/intent.c ;; return t->len >= 6 && one_edit(a, al, t->word, t->len); ;; return t->len >= 4 && one_edit(a, al, t->word, t->len); ;; unit:test_intent
intent-one-letter ;; engine/text/intent.c ;; if ((t->flags & F_LISTS) && (t->len >= 2 || a == 0)) ;; if ((t->flags & F_LISTS) && (t->len >= 2 || a != 0)) ;; unit:test_intent
intent-stop-frontdesk ;; engine/text/intent.c ;; out->frontdesk = (m & B(FLEX_KW_FRONTDESK_OPTOUT)) || urgent || more; ;; out->frontdesk = (m & B(FLEX_KW_FRONTDESK_OPTOUT)) || urgent; ;; unit:test_intent
intent-lookalike-word ;; engine/text/intent.c ;; r = foreign ? CP_SEP : 1; ;; r = foreign && false ? CP_SEP : 1; ;; unit:test_intent
intent-lookalike-styled ;; engine/text/intent.c ;; return (char)('a' + (i < 26 ? i : i - 26)); ;; return (char)('a' + (i < 26 ? i : i - 25)); ;; unit:test_intent
smpp-ton-strict ;; adapters/smpp_flow.c ;; if (c->cfg.ton_strict && ton == 1 && n > 0 ;; if (c->cfg.ton_strict && ton == 2 && n > 0 ;; integ:replies.sh
log-entry-unmasked ;; engine/base/log.c ;; mask && !is_entry_id(ctx->entry)); ;; mask || !is_entry_id(ctx->entry)); ;; unit:test_log
http-framing ;; engine/run/http.c ;; return n[0] <= 1 && n[1] <= 1 && !(n[0] && n[1]); ;; return n[0] <= 2 && n[1] <= 1; ;; integ:http.sh
sched-supersede ;; engine/core/schedq.c ;; if new[i] < o[i] then return -1 end ;; if false then return -1 end ;; integ:supersede.sh
timing-expire-next ;; engine/core/timing.c ;; p->steps[i].expires_at_ms = p->steps[i + 1].send_at_ms; ;; (void)p; ;; unit:test_timing
carrier-sig-ton ;; adapters/carriers.c ;; cc->ambiguous_retry, cfg->engine.max_parts, cc->ton_strict); ;; cc->ambiguous_retry, cfg->engine.max_parts, 0); ;; unit:test_config
intake-reply-to-guard ;; engine/run/intake_jobs.c ;; else if (job->reply_to && job->reply_to[0] && !flex_entry_urgent(entry)) ;; else if (false && job->reply_to && !flex_entry_urgent(entry)) ;; integ:jobbatch.sh
intake-nojob-payload ;; engine/run/intake_jobs.c ;; in_dead_letter(in, w, entry, kept, n, NULL, ;; in_dead_letter(in, w, entry, kept, 0 * n, NULL, ;; integ:jobbatch.sh
intake-trim-exact ;; engine/run/intake.c ;; "XTRIM %s MINID %s", FLEX_KEY_JOBS, minid ;; "XTRIM %s MINID ~ %s", FLEX_KEY_JOBS, minid ;; integ:retention.sh
flexctl-bom ;; engine/run/flexctl.c ;; if (lineno == 1 && strncmp(l, "\xef\xbb\xbf", 3) == 0) ;; if (lineno == 0 && strncmp(l, "\xef\xbb\xbf", 3) == 0) ;; integ:replies.sh
smpp-up-flag ;; adapters/smpp.c ;; bool was_bound = s->up; ;; bool was_bound = s->up || s->state == S_UNBINDING; ;; unit:integ_smpp
smpp-part-ambiguous ;; adapters/smpp_flow.c ;; if (m->acked > 0 || m->inflight > 0) { ;; if (m->acked > 0 && m->inflight > 9) { ;; unit:integ_smpp
smpp-dead-path ;; adapters/smpp_flow.c ;; dead |= s->resp_ns < taken.sent_ns; ;; dead |= s->resp_ns < taken.sent_ns && false; ;; unit:integ_smpp
smpp-refusals-cap ;; adapters/smpp_flow.c ;; if (++m->refused >= SMPP_REFUSALS_MAX) { ;; if (++m->refused >= SMPP_REFUSALS_MAX && false) { ;; unit:integ_smpp
smpp-receipt-keys ;; adapters/smpp_flow.c ;; if (other[k] && (k == 1 ? has_hex_letter(other[k]) : has_hex_letter(own))) { ;; if (other[k] && (k == 1 ? !has_hex_letter(own) : has_hex_letter(own))) { ;; unit:integ_smpp
deadletter-replay-end ;; engine/core/deadletter.c ;; if (each(st, "-", last, replay_one, &c, why, whysz) < 0) ;; if (each(st, "-", "+", replay_one, &c, why, whysz) < 0) ;; integ:operator.sh
jobstatus-urgent-id ;; engine/core/store.h ;; if (*c == ':') ;; if (*c == '#') ;; integ:replies.sh
job-field-caps ;; engine/core/job.c ;; {"first_name", job->first_name, FLEX_JOB_VAR_MAX}, ;; {"first_name", job->first_name, 100000}, ;; integ:operator.sh
forget-queued ;; engine/core/history.c ;; long a = forget_stream(st, FLEX_KEY_JOBS, phone, patient); ;; long a = 0 * forget_stream(st, FLEX_KEY_URGENT, phone, patient); ;; integ:forget.sh
httpresp-length ;; engine/base/httpresp.c ;; if (len - at < cl) ;; if (len - at + 1 < cl) ;; unit:test_httpresp
httpresp-chunk-crlf ;; engine/base/httpresp.c ;; if (n - at < size + 2) ;; if (n - at < size) ;; unit:test_httpresp
httpresp-close ;; engine/base/httpresp.c ;; if (has_token(v, vn, "close")) ;; if (has_token(v, vn, "closed")) ;; unit:test_httpresp
httpsim-reconnect ;; bench/httpsim_send.c ;; bool again = eof && c->rlen == 0 && c->reused && !c->stale; ;; bool again = false; ;; integ:httpsim.sh
httpsim-reconnect-once ;; bench/httpsim_send.c ;; bool again = eof && c->rlen == 0 && c->reused && !c->stale; ;; bool again = eof && c->rlen == 0 && !c->stale; ;; integ:httpsim.sh
httpresp-chunk-framing ;; engine/base/httpresp.c ;; if (at > FLEX_HTTPRESP_BODY_MAX + FLEX_HTTPRESP_HEAD_MAX) /* the framing, capped too */ ;; if (false) ;; unit:test_httpresp
httpsim-keepalive ;; bench/httpsim_send.c ;; c->state = C_IDLE; /* kept for the next webhook to the dest */ ;; conn_close(c); ;; integ:httpsim.sh
TABLE
}

# The table as records of 5 fields separated by the unit separator (\037).
rows() {
    table | python3 -c '
import sys
for n, line in enumerate(sys.stdin, 1):
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    f = [x.strip() for x in line.rstrip("\n").split(" ;; ")]
    if len(f) != 5 or not all(f[:3]) or not f[4]:
        sys.exit("mutate.sh: table line %d: expected ID ;; FILE ;; ORIGINAL ;; REPLACEMENT ;; TEST" % n)
    print("\037".join(f))'
}

list=0
if [ "${1:-}" = -l ]; then
    list=1
    shift
fi
selected() { # ID: chosen by the arguments (all when none)
    [ $# -gt 1 ] || return 0
    id=$1
    shift
    for pat in "$@"; do
        # shellcheck disable=SC2254
        case $id in $pat) return 0 ;; esac
    done
    return 1
}
ROWS=$(rows) || exit 2
US=$(printf '\037')
if [ $list = 1 ]; then
    echo "$ROWS" | while IFS=$US read -r id file from to test; do
        selected "$id" "$@" && printf '%-28s %-28s %s\n' "$id" "$file" "$test"
    done
    exit 0
fi

case $MUTATE_DIR/ in
"$SRC"/*) echo "mutate.sh: MUTATE_DIR must be outside $SRC" >&2; exit 2 ;;
esac
S=$MUTATE_DIR/src
results=$MUTATE_DIR/results.txt
t0=$(date +%s)

# --- the scratch copy -------------------------------------------------------------
if [ -d "$S/.git" ]; then
    if [ -n "$(git -C "$S" status --porcelain)" ]; then
        echo "mutate.sh: refusing to run: the scratch copy $S has changes" >&2
        echo "(a mutation left by an interrupted run?):" >&2
        git -C "$S" status --short >&2
        echo "look at git -C $S diff, then git -C $S checkout -- . or remove $MUTATE_DIR" >&2
        exit 2
    fi
else
    mkdir -p "$S" || exit 2
    git -C "$S" init -q || exit 2
    printf 'build/\n' >"$S/.git/info/exclude"
fi
# The files of the tree (MUTATE_BASE=worktree: as they are, new ones too;
# else that revision's, with tests/ as it is in the tree) into the scratch
# copy: a file is written only when its bytes differ (so make rebuilds what
# changed and only that), and one the tree no longer has is removed.
python3 - "$SRC" "$S" "${MUTATE_BASE:-worktree}" <<'PY' || exit 2
import io, os, subprocess, sys, tarfile
src, dst, base = sys.argv[1:4]
files = {}

def tree(paths):
    out = subprocess.run(["git", "-C", src, "ls-files", "-z", "-co", "--exclude-standard", "--"]
                         + paths, capture_output=True, check=True).stdout.decode()
    for p in out.split("\0"):
        f = os.path.join(src, p)
        if p and not p.startswith("build/") and os.path.isfile(f) and not os.path.islink(f):
            with open(f, "rb") as fh:
                files[p] = (fh.read(), os.stat(f).st_mode & 0o777)

if base == "worktree":
    tree([])
else:
    data = subprocess.run(["git", "-C", src, "archive", "--format=tar", base],
                          capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            if m.isfile():
                files[m.name] = (t.extractfile(m).read(), m.mode & 0o777)
    for p in [p for p in files if p.startswith("tests/")]:
        del files[p]
    tree(["tests"])
old = subprocess.run(["git", "-C", dst, "ls-files", "-z"], capture_output=True,
                     check=True).stdout.decode().split("\0")
gone = [p for p in old if p and p not in files]
for p in gone:
    os.remove(os.path.join(dst, p))
# a source added or removed: the library is archived again (make would keep
# the members of a removed one), without the removed one's object
new = [p for p in files if p.endswith(".c") and not os.path.exists(os.path.join(dst, p))]
if new or any(p.endswith(".c") for p in gone):
    for p in [os.path.join(dst, "build/mut/libflex.a")] + [
            os.path.join(dst, "build/mut/obj", p[:-2] + ".o") for p in gone if p.endswith(".c")]:
        if os.path.exists(p):
            os.remove(p)
for p, (data, mode) in files.items():
    f = os.path.join(dst, p)
    try:
        with open(f, "rb") as fh:
            same = fh.read() == data
    except OSError:
        same = False
    if not same:
        os.makedirs(os.path.dirname(f), exist_ok=True)
        with open(f, "wb") as fh:
            fh.write(data)
    os.chmod(f, mode)
PY
git -C "$S" add -A
git -C "$S" -c user.name=mutate -c user.email=mutate@localhost commit -q --allow-empty \
    -m "baseline from $SRC (${MUTATE_BASE:-worktree} at $(git -C "$SRC" rev-parse --short HEAD))" ||
    exit 2
base_commit=$(git -C "$S" rev-parse --short HEAD)
cd "$S" || exit 2

targets_of() { # TEST: the make targets it needs
    case $1 in
    unit:*) echo "$BUILD/tests/${1#unit:}" ;;
    integ:*) echo "$BUILD/flexd $BUILD/flexctl $BUILD/smscsim $BUILD/httpsim $BUILD/flexbench" ;;
    esac
}
build() { # TEST
    # shellcheck disable=SC2046
    nice -n 19 make -j"$MUTATE_JOBS" --no-print-directory BUILD=$BUILD $(targets_of "$1") \
        >"$MUTATE_DIR/build.log" 2>&1
}
run_test() { # TEST: its exit status (124/137: out of time)
    case $1 in
    unit:*) FLEX_SRCDIR=. timeout --kill-after=10 120 nice -n 19 "$BUILD/tests/${1#unit:}" \
        >"$MUTATE_DIR/test.log" 2>&1 ;;
    integ:*)
        # shellcheck disable=SC2086
        FLEX_FAIL_FAST=1 timeout --kill-after=10 300 nice -n 19 sh tests/integ/${1#integ:} \
            >"$MUTATE_DIR/test.log" 2>&1 ;;
    *) echo "unknown test kind: $1" >"$MUTATE_DIR/test.log"; return 2 ;;
    esac
}
# The object files made from FILE (removed before the file is restored, so
# that nothing built from a mutation outlives it).
objects_of() { echo "$BUILD/obj/${1%.c}.o"; }

# --- every test once, unmutated ----------------------------------------------------
tests=$(echo "$ROWS" | while IFS=$US read -r id file from to test; do
    selected "$id" "$@" && echo "$test"
done | sort -u)
[ -n "$tests" ] || { echo "mutate.sh: no mutation matches $*" >&2; exit 2; }
echo "scratch copy $S at $base_commit: ${MUTATE_BASE:-worktree} of $SRC (HEAD $(git -C "$SRC" rev-parse --short HEAD))"
echo "baseline: every test unmutated"
echo "$tests" | while IFS= read -r t; do
    build "$t" || { echo "baseline build failed for $t:"; tail -20 "$MUTATE_DIR/build.log"; exit 1; }
    s=$(date +%s)
    if ! run_test "$t"; then
        echo "baseline FAILED: $t (a mutation cannot be judged by a failing test)"
        tail -30 "$MUTATE_DIR/test.log"
        exit 1
    fi
    printf '  pass  %-36s %4ss\n' "$t" $(($(date +%s) - s))
done || exit 1

# --- the mutations --------------------------------------------------------------------
: >"$results"
: >"$results.tsv"
printf '%-28s %-28s %-26s %-8s %4s  %s\n' MUTATION FILE TEST RESULT SECS "FIRST FAILURE" |
    tee -a "$results"
echo "$ROWS" | while IFS=$US read -r id file from to test; do
    selected "$id" "$@" || continue
    if [ -n "$(git status --porcelain)" ]; then
        echo "mutate.sh: the scratch copy is not clean before $id: stopping" >&2
        git status --short >&2
        exit 2
    fi
    s=$(date +%s) rc=
    MFROM=$from MTO=$to python3 -c '
import os, sys
path, a, b = sys.argv[1], os.environ["MFROM"], os.environ["MTO"]
try:
    text = open(path).read()
except OSError:
    sys.exit(3)
if text.count(a) != 1:
    sys.exit(3)
open(path, "w").write(text.replace(a, b))' "$file"
    if [ $? -ne 0 ]; then
        result=stale
    elif ! build "$test"; then
        result=nobuild
        cp "$MUTATE_DIR/build.log" "$MUTATE_DIR/nobuild-$id.log"
    else
        run_test "$test"
        rc=$?
        if [ $rc -eq 0 ]; then
            result=SURVIVED
            cp "$MUTATE_DIR/test.log" "$MUTATE_DIR/survived-$id.log"
        else
            result=caught
        fi
    fi
    # shellcheck disable=SC2046
    rm -f $(objects_of "$file")
    git checkout -q -- "$file"
    why=
    if [ $result = caught ]; then # what noticed it: the first failed check or test
        why=$(grep -m1 -a -e '^FAIL ' -e '\[  FAILED  \] test_' "$MUTATE_DIR/test.log" |
            sed 's/^FAIL *//; s/^\[  FAILED  \] *//' | cut -c1-60)
        case $rc in
        124 | 137) why="out of time${why:+: $why}" ;;
        *) [ -n "$why" ] || why="exit status $rc" ;;
        esac
    fi
    secs=$(($(date +%s) - s))
    printf '%-28s %-28s %-26s %-8s %4s  %s\n' "$id" "$file" "$test" "$result" "$secs" "$why" |
        tee -a "$results"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$file" "$test" "$result" "$secs" "$why" \
        >>"$results.tsv"
done || exit 2

# (build/mut may still hold the last mutation in its programs: its object is
# gone, so the next build makes them again)
caught=$(awk -F'\t' '$4 == "caught"' "$results.tsv" | wc -l)
survived=$(awk -F'\t' '$4 == "SURVIVED"' "$results.tsv" | wc -l)
other=$(awk -F'\t' '$4 != "caught" && $4 != "SURVIVED"' "$results.tsv" | wc -l)
scored=$((caught + survived))
secs=$(($(date +%s) - t0))
if [ $scored -gt 0 ]; then
    score=$(awk -v c="$caught" -v n="$scored" 'BEGIN { printf "%.1f", 100 * c / n }')
else
    score=0
fi
summary="score: $caught of $scored caught ($score%), $survived survived, $other not scored (stale or nobuild); $secs s in all"
echo "$summary" | tee -a "$results"
[ "$survived" -eq 0 ] && [ "$other" -eq 0 ]
