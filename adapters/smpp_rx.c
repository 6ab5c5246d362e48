/* Reassembly of inbound texts (deliver_sm without the receipt bit): parts
 * joined by (sender, reference, count), from a UDH or the sar_* parameters,
 * decoded to UTF-8 by data_coding. */
#include <stdio.h>
#include <string.h>

#include "gsm7.h"
#include "mem.h"
#include "smpp_int.h"
#include "smpp_msg.h"
#include "utf.h"
#include "str.h"

#define MAX_SETS 256
#define SET_TTL_NS (300ULL * 1000000000ULL) /* a part alone for 5 min is given up */

struct set {
    bool used;
    char from[21];
    uint16_t ref;
    uint8_t total, have, dcs;
    uint64_t first_ns;
    uint16_t len[256];
    uint8_t *part[256];
};

struct inbound_set {
    struct set sets[MAX_SETS];
    char text[FLEX_SMS_BUF * 4 + 4 * 256];
    uint8_t joined[256 * 160];
};

struct inbound_set *flex_smpp_inbound_new(void)
{
    return flex_calloc(1, sizeof(struct inbound_set));
}

static void set_clear(struct set *s)
{
    for (unsigned i = 0; i < 256; i++)
        flex_free(s->part[i]);
    memset(s, 0, sizeof(*s));
}

void flex_smpp_inbound_del(struct inbound_set *set)
{
    if (!set)
        return;
    for (unsigned i = 0; i < MAX_SETS; i++)
        set_clear(&set->sets[i]);
    flex_free(set);
}

static const char *decode(struct inbound_set *set, uint8_t dcs, const uint8_t *b, size_t n)
{
    long r;
    if (dcs == 8) {
        r = flex_utf16be_to_utf8(b, n, set->text, sizeof(set->text));
    } else if ((dcs & 0x0f) == 0 || dcs == 1) {
        r = flex_gsm7_decode(b, n, set->text, sizeof(set->text));
    } else { /* Latin-1 (3) and the rest: bytes as Latin-1 */
        size_t o = 0;
        for (size_t i = 0; i < n && o + 4 < sizeof(set->text); i++)
            o += flex_utf8_put(b[i], (unsigned char *)set->text + o);
        set->text[o] = '\0';
        r = (long)o;
    }
    if (r < 0)
        set->text[0] = '\0';
    return set->text;
}

static struct set *find_set(struct inbound_set *set, const struct flex_smpp_pdu *p,
                            const struct flex_smpp_concat *cc, uint64_t now)
{
    struct set *free_one = NULL, *oldest = NULL;
    for (unsigned i = 0; i < MAX_SETS; i++) {
        struct set *s = &set->sets[i];
        if (s->used && now - s->first_ns > SET_TTL_NS)
            set_clear(s);
        if (!s->used) {
            free_one = free_one ? free_one : s;
            continue;
        }
        if (s->ref == cc->ref && s->total == cc->total && strcmp(s->from, p->source_addr) == 0)
            return s;
        if (!oldest || s->first_ns < oldest->first_ns)
            oldest = s;
    }
    struct set *s = free_one ? free_one : oldest;
    set_clear(s);
    s->used = true;
    flex_strlcpy(s->from, p->source_addr, sizeof(s->from));
    s->ref = cc->ref;
    s->total = cc->total;
    s->dcs = p->data_coding;
    s->first_ns = now;
    return s;
}

const char *flex_smpp_inbound_add(struct inbound_set *set, const struct flex_smpp_pdu *p,
                                  uint64_t now_ns)
{
    const uint8_t *b;
    size_t n;
    struct flex_smpp_concat cc;
    flex_smpp_user_data(p, &b, &n, &cc); /* a bad UDH: all of it is text */
    if (cc.total < 2 || cc.seq < 1 || cc.seq > cc.total)
        return decode(set, p->data_coding, b, n);
    struct set *s = find_set(set, p, &cc, now_ns);
    if (!s->part[cc.seq]) {
        s->part[cc.seq] = flex_malloc(n ? n : 1);
        memcpy(s->part[cc.seq], b, n);
        s->len[cc.seq] = (uint16_t)n;
        s->have++;
    }
    if (s->have < s->total)
        return NULL;
    size_t o = 0;
    for (unsigned i = 1; i <= s->total; i++) {
        memcpy(set->joined + o, s->part[i], s->len[i]);
        o += s->len[i];
    }
    uint8_t dcs = s->dcs;
    set_clear(s);
    return decode(set, dcs, set->joined, o);
}
