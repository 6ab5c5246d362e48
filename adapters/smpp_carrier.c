/*
 * The SMPP ESME behind the carrier interface (engine/core/carrier.h): the
 * client's events, normalized.  Message ids become canonical keys (lower
 * case, no leading zeros: flex_smpp_id_key), a receipt's candidates add
 * the same number read the other way (flex_smpp_id_alts: decimal in the
 * receipt text for a hex submit_sm_resp id, or the reverse), and receipt
 * states become delivered or not with their SMPP names.
 */
#include <string.h>

#include "carrier.h"
#include "config.h"
#include "mem.h"
#include "smpp.h"
#include "smpp_payload.h"
#include "str.h"

struct smpp_carrier {
    struct flex_carrier base; /* first: the interface's pointer is ours */
    struct flex_smpp_client *client;
};

static struct smpp_carrier *sc_of(struct flex_carrier *c)
{
    return (struct smpp_carrier *)c;
}

static const struct smpp_carrier *csc_of(const struct flex_carrier *c)
{
    return (const struct smpp_carrier *)c;
}

/* A receipt's candidate keys, in the order to try them: those the client
 * says it may match (flex_smpp_receipt_keys: a form not its own only when
 * certain or learned from this SMSC). */
static unsigned receipt_keys(const struct flex_smpp_client *c, const char *id,
                             char keys[][FLEX_CARRIER_KEY_SZ])
{
    char k3[3][65];
    uint8_t kinds[3];
    unsigned n = flex_smpp_receipt_keys(c, id, k3, kinds);
    for (unsigned i = 0; i < n; i++)
        flex_strlcpy(keys[i], k3[i], FLEX_CARRIER_KEY_SZ);
    return n;
}

static void on_smpp_event(void *arg, const struct flex_smpp_event *ev)
{
    struct smpp_carrier *sc = arg;
    struct flex_carrier_event out;
    memset(&out, 0, offsetof(struct flex_carrier_event, keys));
    switch (ev->kind) {
    case FLEX_SMPP_EV_ACCEPTED:
        out.kind = FLEX_CEV_ACCEPTED;
        out.cookie = ev->cookie;
        out.nkeys = ev->nparts;
        for (unsigned k = 0; k < ev->nparts && k < FLEX_SMS_MAX_PARTS; k++)
            flex_smpp_id_key(ev->part_ids[k], out.keys[k]);
        break;
    case FLEX_SMPP_EV_FAILED:
        out.kind = FLEX_CEV_FAILED;
        out.cookie = ev->cookie;
        out.code = ev->status;
        out.temporary = ev->temporary;
        out.ambiguous = ev->ambiguous;
        out.reason = ev->reason;
        break;
    case FLEX_SMPP_EV_RECEIPT:
        out.kind = FLEX_CEV_RECEIPT;
        out.nkeys = receipt_keys(sc->client, ev->receipt_id, out.keys);
        if (out.nkeys == 0) { /* no id: nothing to match (the client counted it) */
            if (ev->ack)
                flex_smpp_ack(sc->client, ev->ack);
            return;
        }
        out.ack = ev->ack;
        out.delivered = ev->receipt_state == FLEX_SMPP_STATE_DELIVERED;
        out.state = flex_smpp_stat_name(ev->receipt_state);
        out.err = ev->receipt_err;
        break;
    case FLEX_SMPP_EV_INBOUND:
    case FLEX_SMPP_EV_INBOUND_PART: /* (a whole text's part fields are empty) */
        out.kind = ev->kind == FLEX_SMPP_EV_INBOUND ? FLEX_CEV_INBOUND : FLEX_CEV_INBOUND_PART;
        memcpy(out.from, ev->from, sizeof(out.from));
        memcpy(out.to, ev->to, sizeof(out.to));
        out.text = ev->text;
        out.part = ev->part;
        out.part_len = ev->part_len;
        out.dcs = ev->dcs;
        out.part_total = ev->part_total;
        out.part_seq = ev->part_seq;
        out.part_ref = ev->part_ref;
        out.truncated = ev->truncated;
        out.ack = ev->ack;
        break;
    case FLEX_SMPP_EV_SESSION:
        out.kind = FLEX_CEV_SESSION;
        out.up = ev->bound;
        break;
    }
    flex_carrier_emit(&sc->base, &out);
}

static int sc_submit(struct flex_carrier *c, const struct flex_carrier_msg *m)
{
    struct flex_smpp_msg sm = {.cookie = m->cookie,
                               .src = m->src,
                               .dst = m->dst,
                               .text = m->text,
                               .len = m->len,
                               .receipt = m->receipt};
    return flex_smpp_submit(sc_of(c)->client, &sm);
}

static int sc_run(struct flex_carrier *c, int timeout_ms)
{
    return flex_smpp_client_run(sc_of(c)->client, timeout_ms);
}

static bool sc_ready(const struct flex_carrier *c)
{
    return flex_smpp_client_ready(csc_of(c)->client);
}

static size_t sc_in_flight(const struct flex_carrier *c)
{
    return flex_smpp_client_pending(csc_of(c)->client);
}

static void sc_drain(struct flex_carrier *c, int timeout_ms)
{
    flex_smpp_client_shutdown(sc_of(c)->client, timeout_ms);
}

static void sc_destroy(struct flex_carrier *c)
{
    flex_smpp_client_del(sc_of(c)->client);
    flex_free(c);
}

static void sc_ack(struct flex_carrier *c, uint64_t token)
{
    flex_smpp_ack(sc_of(c)->client, token);
}

static void sc_counters(const struct flex_carrier *c, uint64_t out[FLEX_CC_N])
{
    struct flex_smpp_stats st;
    flex_smpp_client_stats(csc_of(c)->client, &st);
    out[FLEX_CC_THROTTLED] = st.throttled;
    out[FLEX_CC_AMBIGUOUS] = st.ambiguous;
    out[FLEX_CC_RECONNECTS] = st.reconnects;
    out[FLEX_CC_INBOUND_CUT] = st.inbound_truncated + st.inbound_parts_cut;
    out[FLEX_CC_INBOUND_LOST] = st.inbound_evicted + st.inbound_expired;
    out[FLEX_CC_IDS_EVICTED] = st.ids_evicted;
    out[FLEX_CC_EARLY_UNMATCHED] = st.early_evicted + st.early_expired;
}

static const struct flex_carrier_ops smpp_ops = {
    .ack = sc_ack,
    .counters = sc_counters,
    .submit = sc_submit,
    .run = sc_run,
    .ready = sc_ready,
    .in_flight = sc_in_flight,
    .drain = sc_drain,
    .destroy = sc_destroy,
};

struct flex_carrier *flex_smpp_carrier_new(const struct flex_cfg *cfg,
                                           const struct flex_cfg_carrier *cc, flex_carrier_cb cb,
                                           void *arg)
{
    struct flex_smpp_config c;
    flex_smpp_config_defaults(&c);
    c.name = cc->name;
    c.host = cc->host;
    c.port = (uint16_t)cc->port;
    c.system_id = cc->system_id;
    c.password = cc->password;
    c.tls = cc->tls;
    c.tls_verify = cc->tls_verify;
    c.tls_ca = cc->tls_ca;
    c.window = cc->window;
    c.binds = cc->binds;
    c.connect_timeout_ms = (uint32_t)cc->connect_timeout_ms;
    c.response_timeout_ms = (uint32_t)cc->response_timeout_ms;
    c.enquire_link_ms = (uint32_t)cc->enquire_link_ms;
    c.reconnect_max_ms = (uint32_t)cc->reconnect_max_ms;
    c.ambiguous_retry = cc->ambiguous_retry;
    c.ton_strict = cc->ton_strict;
    c.max_parts = cfg->engine.max_parts;
    /* a receipt or a text is answered once the writer has stored it */
    c.defer_deliver_resp = true;
    /* the parts of a patient's long text are joined in Redis (writer.c),
     * wherever the SMSC delivers each */
    c.parts_up = true;
    struct smpp_carrier *sc = flex_calloc(1, sizeof(*sc));
    sc->base.ops = &smpp_ops;
    flex_strlcpy(sc->base.name, cc->name, sizeof(sc->base.name));
    sc->base.cb = cb;
    sc->base.arg = arg;
    sc->client = flex_smpp_client_new(&c, on_smpp_event, sc);
    return &sc->base;
}
