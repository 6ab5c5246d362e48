/* Reassembly of inbound texts (deliver_sm without the receipt bit): parts
 * joined by (sender, reference, count), from a UDH or the sar_* parameters,
 * decoded to UTF-8 by data_coding.
 *
 * Whatever a carrier sends, what this holds is bounded (the counters are in
 * struct flex_smpp_stats, inbound_*):
 *   - a part keeps at most PART_MAX bytes of user data; the rest is dropped
 *     (inbound_parts_cut);
 *   - a text keeps at most TEXT_MAX source bytes, all its parts joined in
 *     order; a longer one is cut at a character boundary and delivered
 *     flagged truncated (inbound_truncated), never dropped or emptied;
 *   - all pending sets together hold at most MEM_MAX bytes: a part that
 *     would pass it gives up the oldest other sets (inbound_evicted), as
 *     does a new set when all MAX_SETS slots are taken;
 *   - a set still incomplete after SET_TTL_NS is given up
 *     (inbound_expired).
 * A text is always the first bytes of what the handset sent, whatever order
 * the parts come in: a part kept whole may be trimmed later when an earlier
 * part arrives and takes its room.  Nothing dropped is needed again, since
 * the room left before a part only shrinks as parts arrive. */
#include <string.h>

#include "err.h"
#include "gsm7.h"
#include "mem.h"
#include "smpp_int.h"
#include "smpp_payload.h"
#include "sms.h"
#include "utf.h"
#include "str.h"

#define MAX_SETS 256
#define SET_TTL_NS (300ULL * 1000000000ULL) /* a part alone for 5 min is given up */
/* A part is at most 140 octets on the air (160 septets, which SMPP carries
 * unpacked, one per byte); 1,600 is ten times that: room for any carrier's
 * quirks, and small enough that a hostile one gains nothing. */
#define PART_MAX 1600
/* The longest real text is FLEX_SMS_MAX_PARTS (10) parts of 140 octets:
 * 1,530 GSM-7 septets (153 per part after the UDH) or 1,340 UCS-2 bytes.
 * A handset may send more parts than Flex sends; 4,096 keeps 26 GSM-7
 * parts whole, beyond what handsets commonly send before they switch to
 * MMS.  This also bounds a whole text arriving in one message_payload. */
#define TEXT_MAX 4096
/* 1 MiB: 256 sets of 4 KiB, or thousands of real 2- and 3-part texts.
 * Counted: each set's part table and each part's bytes plus PART_COST. */
#define MEM_MAX (1024 * 1024)
/* Counted per stored part on top of its bytes: the allocator's overhead,
 * so that many tiny parts cannot hold more memory than MEM_MAX says. */
#define PART_COST 32
/* UTF-8 written per source byte, at most: a GSM-7 septet gives 2 (an
 * escape pair 3 for 2 bytes), a Latin-1 byte 2, a UCS-2 unit 3 for 2 bytes
 * (4 for a 4-byte pair, 3 for an odd trailing byte).  3 is a safe bound. */
#define TEXT_BUF (TEXT_MAX * 3 + 1)

struct part {
    uint8_t *b;   /* len bytes; NULL when len is 0 */
    uint16_t len; /* bytes kept (at most PART_MAX) */
    bool got;     /* arrived; a duplicate is ignored */
    bool cut;     /* bytes of it were dropped: parts after it add nothing */
};

struct set {
    bool used;
    bool truncated; /* bytes were dropped: the text is delivered flagged */
    char from[21];
    uint16_t ref;
    uint8_t total, have, dcs;
    uint64_t first_ns;
    size_t bytes;       /* counted against MEM_MAX: the table and the parts */
    struct part *parts; /* total + 1 entries, by 1-based seq */
};

struct inbound_set {
    struct set sets[MAX_SETS];
    size_t bytes;              /* sum of sets[].bytes */
    struct flex_smpp_stats st; /* the inbound_* reassembly counters only */
    uint8_t joined[TEXT_MAX];
    char text[TEXT_BUF];
};

struct inbound_set *flex_smpp_inbound_new(void)
{
    return flex_calloc(1, sizeof(struct inbound_set));
}

static size_t part_cost(size_t len)
{
    return len ? len + PART_COST : 0;
}

/* Moves the set's charge from |before| to |after| bytes. */
static void charge(struct inbound_set *in, struct set *s, size_t before, size_t after)
{
    s->bytes = s->bytes - before + after;
    in->bytes = in->bytes - before + after;
}

static void set_clear(struct inbound_set *in, struct set *s)
{
    if (s->parts)
        for (unsigned i = 0; i <= s->total; i++)
            flex_free(s->parts[i].b);
    flex_free(s->parts);
    in->bytes -= s->bytes;
    memset(s, 0, sizeof(*s));
}

void flex_smpp_inbound_del(struct inbound_set *in)
{
    if (!in)
        return;
    for (unsigned i = 0; i < MAX_SETS; i++)
        set_clear(in, &in->sets[i]);
    flex_free(in);
}

void flex_smpp_inbound_stats(const struct inbound_set *in, struct flex_smpp_stats *out)
{
    out->inbound_truncated += in->st.inbound_truncated;
    out->inbound_parts_cut += in->st.inbound_parts_cut;
    out->inbound_evicted += in->st.inbound_evicted;
    out->inbound_expired += in->st.inbound_expired;
    out->inbound_decode_errors += in->st.inbound_decode_errors;
}

/* The text of |n| source bytes at |b|, |cut| when bytes were dropped
 * already.  A text over TEXT_MAX is cut here; a cut text ends on a
 * character boundary and is flagged in |*truncated| (may be NULL) and
 * counted. */
static const char *finish(struct inbound_set *in, uint8_t dcs, const uint8_t *b, size_t n, bool cut,
                          bool *truncated)
{
    if (n > TEXT_MAX) {
        n = TEXT_MAX;
        cut = true;
    }
    if (cut)
        n = flex_sms_char_boundary(dcs, b, n);
    if (flex_sms_decode(dcs, b, n, in->text, sizeof(in->text)) < 0) {
        /* TEXT_BUF fits the worst case, so this is a decoder that changed:
         * still, a text from a handset is shown, not dropped silently. */
        in->st.inbound_decode_errors++;
        flex_strlcpy(in->text, "\xEF\xBF\xBD", sizeof(in->text)); /* U+FFFD */
        cut = true;
    }
    if (cut)
        in->st.inbound_truncated++;
    if (truncated)
        *truncated = cut;
    return in->text;
}

/* The used set, other than |keep|, that started first; NULL if none. */
static struct set *oldest_other(struct inbound_set *in, const struct set *keep)
{
    struct set *oldest = NULL;
    for (unsigned i = 0; i < MAX_SETS; i++) {
        struct set *s = &in->sets[i];
        if (s->used && s != keep && (!oldest || s->first_ns < oldest->first_ns))
            oldest = s;
    }
    return oldest;
}

/* Gives up the oldest sets other than |keep| until |need| more bytes fit
 * MEM_MAX.  |keep| alone always fits: it holds at most its table (256
 * entries), TEXT_MAX bytes and PART_COST per part, far under MEM_MAX. */
static void make_room(struct inbound_set *in, struct set *keep, size_t need)
{
    while (in->bytes + need > MEM_MAX) {
        struct set *victim = oldest_other(in, keep);
        if (!victim)
            return;
        set_clear(in, victim);
        in->st.inbound_evicted++;
    }
}

static void set_open(struct inbound_set *in, struct set *s, const struct flex_smpp_pdu *p,
                     const struct flex_smpp_concat *cc, uint64_t now)
{
    s->used = true;
    flex_strlcpy(s->from, p->source_addr, sizeof(s->from));
    s->ref = cc->ref;
    s->total = cc->total;
    s->dcs = p->data_coding;
    s->first_ns = now;
    size_t table = ((size_t)cc->total + 1) * sizeof(struct part);
    make_room(in, s, table);
    s->parts = flex_calloc((size_t)cc->total + 1, sizeof(struct part));
    charge(in, s, 0, table);
}

/* The set |p| belongs to, opened if new.  Expires sets past their TTL on
 * the way; with every slot taken, the oldest set is given up. */
static struct set *find_set(struct inbound_set *in, const struct flex_smpp_pdu *p,
                            const struct flex_smpp_concat *cc, uint64_t now)
{
    struct set *free_one = NULL;
    for (unsigned i = 0; i < MAX_SETS; i++) {
        struct set *s = &in->sets[i];
        if (s->used && now - s->first_ns > SET_TTL_NS) {
            set_clear(in, s);
            in->st.inbound_expired++;
        }
        if (!s->used) {
            free_one = free_one ? free_one : s;
            continue;
        }
        if (s->ref == cc->ref && s->total == cc->total && strcmp(s->from, p->source_addr) == 0)
            return s;
    }
    struct set *s = free_one;
    if (!s) {
        s = oldest_other(in, NULL);
        set_clear(in, s);
        in->st.inbound_evicted++;
    }
    set_open(in, s, p, cc, now);
    return s;
}

/* Cuts |pt| to |keep| bytes (fewer than it has) and marks it cut. */
static void trim(struct inbound_set *in, struct set *s, struct part *pt, size_t keep)
{
    size_t before = part_cost(pt->len);
    if (keep == 0) {
        flex_free(pt->b);
        pt->b = NULL;
    } else {
        pt->b = flex_realloc(pt->b, keep);
    }
    pt->len = (uint16_t)keep;
    pt->cut = true;
    s->truncated = true;
    charge(in, s, before, part_cost(keep));
}

/* Bytes part |seq| may keep: TEXT_MAX less what the parts before it hold,
 * or 0 after a part that was cut. */
static size_t room_at(const struct set *s, unsigned seq)
{
    size_t used = 0;
    for (unsigned i = 1; i < seq; i++) {
        if (s->parts[i].cut)
            return 0;
        used += s->parts[i].len;
    }
    return used < TEXT_MAX ? TEXT_MAX - used : 0;
}

/* Trims the parts after |seq| to what is left of TEXT_MAX once |seq| has
 * its bytes. */
static void trim_after(struct inbound_set *in, struct set *s, unsigned seq)
{
    size_t room = room_at(s, seq + 1);
    bool stop = room == 0;
    for (unsigned i = seq + 1; i <= s->total; i++) {
        struct part *pt = &s->parts[i];
        size_t keep = stop ? 0 : (pt->len < room ? pt->len : room);
        if (keep < pt->len)
            trim(in, s, pt, keep);
        room -= keep;
        stop |= pt->cut;
    }
}

static void store_part(struct inbound_set *in, struct set *s, unsigned seq, const uint8_t *b,
                       size_t n)
{
    struct part *pt = &s->parts[seq];
    if (pt->got)
        return; /* a duplicate: the first copy stands */
    pt->got = true;
    s->have++;
    if (n > PART_MAX) {
        n = PART_MAX;
        pt->cut = true;
        s->truncated = true;
        in->st.inbound_parts_cut++;
    }
    size_t room = room_at(s, seq);
    if (n > room) {
        n = room;
        pt->cut = true;
        s->truncated = true;
    }
    if (n > 0) {
        make_room(in, s, part_cost(n));
        pt->b = flex_malloc(n);
        memcpy(pt->b, b, n);
        pt->len = (uint16_t)n;
        charge(in, s, 0, part_cost(n));
    }
    trim_after(in, s, seq);
}

/* Joins the complete set |s| into in->joined; returns its length. */
static size_t join(struct inbound_set *in, const struct set *s, bool *cut)
{
    size_t o = 0;
    *cut = s->truncated;
    for (unsigned i = 1; i <= s->total; i++) {
        const struct part *pt = &s->parts[i];
        if (pt->len > sizeof(in->joined) - o) {
            *cut = true; /* not reached: the parts keep TEXT_MAX in all */
            break;
        }
        if (pt->len)
            memcpy(in->joined + o, pt->b, pt->len);
        o += pt->len;
    }
    return o;
}

bool flex_smpp_inbound_part(struct inbound_set *in, const struct flex_smpp_pdu *p,
                            const uint8_t **data, size_t *len, bool *cut,
                            struct flex_smpp_concat *cc)
{
    flex_smpp_user_data(p, data, len, cc); /* a bad UDH: all of it is text */
    if (cc->total < 2 || cc->seq < 1 || cc->seq > cc->total)
        return false;
    *cut = *len > PART_MAX;
    if (*cut) {
        *len = PART_MAX;
        in->st.inbound_parts_cut++;
    }
    return true;
}

const char *flex_smpp_inbound_add(struct inbound_set *in, const struct flex_smpp_pdu *p,
                                  uint64_t now_ns, bool *truncated)
{
    const uint8_t *b;
    size_t n;
    struct flex_smpp_concat cc;
    if (truncated)
        *truncated = false;
    flex_smpp_user_data(p, &b, &n, &cc); /* a bad UDH: all of it is text */
    if (cc.total < 2 || cc.seq < 1 || cc.seq > cc.total)
        return finish(in, p->data_coding, b, n, false, truncated);
    struct set *s = find_set(in, p, &cc, now_ns);
    store_part(in, s, cc.seq, b, n);
    if (s->have < s->total)
        return NULL;
    bool cut;
    size_t o = join(in, s, &cut);
    uint8_t dcs = s->dcs;
    set_clear(in, s);
    return finish(in, dcs, in->joined, o, cut, truncated);
}
