/*
 * The adapters' side of engine/core/carrier.h: which adapter builds which
 * carrier type, and what a carrier is built from.
 */
#include <stdio.h>
#include <string.h>

#include "carrier.h"
#include "config.h"
#include "err.h"
#include "hash.h"
#include "http_carrier.h"
#include "smpp.h"

bool flex_carrier_supported(const struct flex_cfg_carrier *cc)
{
    return cc->type == FLEX_CARRIER_SMPP || cc->type == FLEX_CARRIER_HTTP;
}

struct flex_carrier *flex_carrier_new(const struct flex_cfg *cfg, const struct flex_cfg_carrier *cc,
                                      flex_carrier_cb cb, void *arg, char *why, size_t whysz)
{
    switch (cc->type) {
    case FLEX_CARRIER_SMPP: return flex_smpp_carrier_new(cfg, cc, cb, arg);
    case FLEX_CARRIER_HTTP: return flex_http_carrier_new(cfg, cc, cb, arg);
    default:
        snprintf(why, whysz, "the %s adapter is not built yet",
                 cc->type == FLEX_CARRIER_HTTP ? "HTTP" : "carrier type's");
        return NULL;
    }
}

int flex_carrier_webhook(const struct flex_cfg_carrier *cc, bool inbound,
                         const struct flex_webhook_form *f, struct flex_carrier_event *ev)
{
    if (cc->type != FLEX_CARRIER_HTTP)
        return FLEX_E_NOTFOUND;
    return flex_http_webhook_event(inbound, f, ev);
}

/* A secret in a signature: a keyed hash (a change is seen; the secret is
 * not kept in another buffer). */
static unsigned long long secret_tag(const char *s)
{
    static const struct flex_hash_key k = {0x666c65782d736967ULL, 0x2d7365637265742dULL};
    return s ? (unsigned long long)flex_siphash13(&k, s, strlen(s)) : 0ULL;
}

void flex_carrier_sig(const struct flex_cfg *cfg, const struct flex_cfg_carrier *cc, char *buf,
                      size_t bufsz)
{
    snprintf(
        buf, bufsz,
        "%d|%s|%u|%s|%016llx|%s|%s|%016llx|%s|%d|%d|%s|%u|%u|%llu|%llu|%llu|%llu|%d|%u|%d",
        cc->type, cc->host ? cc->host : "", cc->port, cc->system_id ? cc->system_id : "",
        secret_tag(cc->password), cc->url ? cc->url : "", cc->account_sid ? cc->account_sid : "",
        secret_tag(cc->auth_token), cc->status_callback ? cc->status_callback : "", cc->tls,
        cc->tls_verify, cc->tls_ca ? cc->tls_ca : "", cc->window, cc->binds,
        (unsigned long long)cc->connect_timeout_ms, (unsigned long long)cc->response_timeout_ms,
        (unsigned long long)cc->enquire_link_ms, (unsigned long long)cc->reconnect_max_ms,
        cc->ambiguous_retry, cfg->engine.max_parts, cc->ton_strict);
    size_t n = strlen(buf);
    if (cc->type == FLEX_CARRIER_HTTP && n < bufsz)
        snprintf(buf + n, bufsz - n, "|%d|%016llx|%s|%s|%s|%s|%s|%s|%s|%s|%llu", cc->profile,
                 secret_tag(cc->auth_header), cc->json_to ? cc->json_to : "",
                 cc->json_from ? cc->json_from : "", cc->json_body ? cc->json_body : "",
                 cc->json_callback ? cc->json_callback : "", cc->json_id ? cc->json_id : "",
                 cc->json_error_code ? cc->json_error_code : "",
                 cc->json_error_message ? cc->json_error_message : "",
                 cc->webhook_url ? cc->webhook_url : "",
                 (unsigned long long)cc->throttle_timeout_ms);
}
