#include "intent.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "mem.h"
#include "utf.h"

/* ---- built-in lists -------------------------------------------------- */

/* Defaults, in the syntax of a [keywords] value.  The opt-out list follows
 * the FCC's 2024 revocation order ("any reasonable means"): the per-se words
 * plus everyday and Spanish wordings.  Phrases must stay specific: a phrase
 * counts anywhere in a sentence. */
static const char *const defaults[FLEX_KW_N] = {
    [FLEX_KW_OPTOUT] =
        "stop, stopall, unsubscribe, end, quit, revoke, optout, opt out, unsub, remove, parar, "
        "alto, basta, stop texting, stop text, stop texts, stop txt, stop txting, stop sending, "
        "stop messaging, stop message, stop messages, stop msg, stop msgs, stop contacting, "
        "stop calling, stop the texts, stop these texts, stop the messages, stop these messages, "
        "stop your texts, stop reminders, stop the reminders, stop these reminders, "
        "stop all texts, stop all messages, stop spamming, stop bothering, said stop, "
        "quit texting, quit sending, quit messaging, opt me out, remove me, remove my number, "
        "take me off, take me off your list, take me off the list, take me off this list, "
        "take me off your texts, take me off your text list, take me off your texting list, "
        "take me off your contact list, take me off your mailing list, take my number off, "
        "unsubscribe me, unsubscribe from, to unsubscribe, i unsubscribe, revoke consent, "
        "revoke my consent, i revoke, dont text me, do not text me, dont message me, "
        "do not message me, dont contact me, do not contact me, dont send me, do not send me, "
        "dont text this number, do not text this number, dont text this phone, "
        "do not text this phone, dont ever text me, do not ever text me, never text me, "
        "never text this number, never message me, remove this number, remove my phone, "
        "stop the spam, stop spam, stop at once, "
        "no more texts, no more text, no more texting, no more messages, no more reminders, "
        "no texts, no text messages, no messages, "
        "leave me alone, go away, no mas mensajes, no mas textos, no me envien, no me manden, "
        "no me escriban, dejen de escribirme, dejen de enviarme, dejen de mandarme, "
        "dejen de mandar, dejen de enviar, dejen de escribir, no envien, no manden, paren, "
        "desuscribir, desuscribirme, cancelar suscripcion, darme de baja, no quiero mensajes, "
        "no quiero mas, no quiero recibir",
    [FLEX_KW_OPTIN] = "start, unstop, subscribe, resubscribe, optin, opt in, opt me in, "
                      "opt back in, start again, start texting, comenzar",
    [FLEX_KW_HELP] = "help, info, ayuda, information, informacion, more info, need help, "
                     "what is this, who is this, quien es, que es esto",
    [FLEX_KW_CONFIRM] = "c, confirm, confirmed, confirming, y, yes, yep, yup, yeah, yea, si, "
                        "confirmo, confirmado, confirmada, confirmar, will be there, "
                        "ill be there, see you then, see you there, see you soon, "
                        "see you tomorrow, ahi estare, alli estare, ahi estaremos, "
                        "alli estaremos, nos vemos",
    [FLEX_KW_RESCHEDULE] =
        "r, reschedule, rescheduling, re schedule, postpone, reprogramar, reagendar, "
        "cancel my appointment, cancel the appointment, cancel appointment, cancel my appt, "
        "cancel appt, cancel my visit, cancel my cleaning, change my appointment, "
        "change the appointment, change appointment, change my appt, change the time, "
        "change the date, move my appointment, move appointment, move my appt, another time, "
        "another day, different time, different day, new time, cant make it, cannot make it, "
        "wont make it, cant come, cannot come, not able to make, unable to make, "
        "wont be able to make, not going to make it, cancelar mi cita, cancelar la cita, "
        "cambiar mi cita, cambiar la cita, cambiar cita, otro dia, otra hora, no puedo ir, "
        "no podre ir",
    [FLEX_KW_EMERGENCY] =
        "emergency, emergencia, urgent, urgente, urgencia, bleeding, bleeds, swelling, swollen, "
        "abscess, absceso, pus, severe, unbearable, excruciating, agony, sangrado, sangrando, "
        "sangra, hinchazon, hinchado, hinchada, severe pain, extreme pain, terrible pain, "
        "lot of pain, so much pain, really bad pain, worst pain, intense pain, broken tooth, "
        "tooth is broken, tooth broke, broke my tooth, broke a tooth, cracked tooth, "
        "knocked out, tooth fell out, cant breathe, cannot breathe, hard to breathe, "
        "trouble breathing, cant swallow, cannot swallow, mucho dolor, dolor fuerte, "
        "dolor severo, dolor terrible",
    [FLEX_KW_FRONTDESK_OPTOUT] =
        "cancel, cancelar, wrong number, wrong person, numero equivocado, not my number",
};

static const char *const list_names[FLEX_KW_N] = {
    [FLEX_KW_OPTOUT] = "optout",
    [FLEX_KW_OPTIN] = "optin",
    [FLEX_KW_HELP] = "help",
    [FLEX_KW_CONFIRM] = "confirm",
    [FLEX_KW_RESCHEDULE] = "reschedule",
    [FLEX_KW_EMERGENCY] = "emergency",
    [FLEX_KW_FRONTDESK_OPTOUT] = "frontdesk_optout",
};

/* Entry flags: bits 0-6 are the lists (1 << FLEX_KW_*). */
#define B(l) (1u << (l))
#define F_LISTS 0x7Fu
#define F_FILLER 0x80u     /* carries no intent: "please", "thanks", "ok" */
#define F_NEG 0x100u       /* negates any match within 3 words: "dont", "not" */
#define F_NEG_SOFT 0x200u  /* negates all but an opt-out within 3 words: "no" */
#define F_NEG_EMERG 0x400u /* negates an emergency match within 2 words */
#define F_PREFIX 0x800u    /* the first words of a longer phrase */
#define F_WHOLE 0x1000u    /* a phrase that counts only alone in its sentence */
#define B_OPTOUT (B(FLEX_KW_OPTOUT) | B(FLEX_KW_FRONTDESK_OPTOUT))
#define B_MENTION (B(FLEX_KW_RESCHEDULE) | B(FLEX_KW_EMERGENCY))
#define B_SOFT (B(FLEX_KW_OPTIN) | B(FLEX_KW_HELP) | B(FLEX_KW_CONFIRM) | B(FLEX_KW_RESCHEDULE))

/* Fixed word classes (not configurable: they shape every list). */
static const struct {
    unsigned flags;
    const char *words;
} fixed[] = {
    {F_FILLER, "please, pls, plz, plez, pleas, now, thanks, thank, thankyou, thx, thnx, tnx, ty, "
               "tks, ok, okay, k, kk, sure, all, it, this, that, these, those, them, me, i, im, u, "
               "you, just, hi, hey, hello, sorry, oh, ah, um, uh, well, asap, immediately, right, "
               "away, anymore, text, texts, message, messages, por, favor, porfa, porfavor, "
               "gracias, hola, ya, mensajes"},
    {F_NEG, "dont, not, never, didnt, doesnt, wont, cant, cannot, shouldnt, wouldnt, isnt, arent, "
            "wasnt, aint, nunca, jamas"},
    {F_NEG_SOFT, "no, nope, without, sin"},
    {F_NEG_EMERG, "no, not, without, never, sin, nunca"},
};

/* Contract keywords: they stay in their own lists (an operator cannot make
 * YES a help word), and the opt-out/opt-in ones can never be removed: the
 * CTIA handbook, TCPA and the FCC's 2024 order require them to work. */
static const struct {
    const char *word;
    unsigned lists; /* where it may be */
    bool keep;      /* cannot be removed */
} contract[] = {
    {"stop", B_OPTOUT, true},
    {"stopall", B_OPTOUT, true},
    {"unsubscribe", B_OPTOUT, true},
    {"cancel", B_OPTOUT, true},
    {"end", B_OPTOUT, true},
    {"quit", B_OPTOUT, true},
    {"revoke", B_OPTOUT, true},
    {"optout", B_OPTOUT, true},
    {"opt out", B_OPTOUT, true},
    {"start", B(FLEX_KW_OPTIN), true},
    {"unstop", B(FLEX_KW_OPTIN), true},
    {"help", B(FLEX_KW_HELP), false},
    {"info", B(FLEX_KW_HELP), false},
    {"c", B(FLEX_KW_CONFIRM), false},
    {"confirm", B(FLEX_KW_CONFIRM), false},
    {"y", B(FLEX_KW_CONFIRM), false},
    {"yes", B(FLEX_KW_CONFIRM), false},
};

/* Phrases that opt out only as a sentence of their own (fillers aside):
 * "No texts please", not "I got no texts about my appointment"; "Take me
 * off", not "take me off the waitlist". */
static const char *const whole_only[] = {"no texts", "no text messages", "no messages",
                                         "take me off"};

/* The per-se opt-out words that opt out as the last word of a sentence,
 * whatever comes before ("This is not Maria stop", "not interested
 * stop"), unless a negation stands before them or the sentence asks
 * something ("When will it stop"). */
static const char *const last_words[] = {"stop", "stopall", "unsubscribe", "optout", "unsub"};
static const char *const question_words[] = {
    "when", "will", "would", "should", "could", "can", "how",   "why",  "what",   "where", "does",
    "do",   "did",  "is",    "are",    "was",   "if",  "until", "till", "cuando", "como",  "que"};

/* Words a negation reaches an opt-out across, fillers aside: "dont you
 * ever stop", "I don't want you to stop", "I never said stop" are not
 * opt-outs; "I'm not Bob please stop texting me" is. */
static const char *const neg_through[] = {"ever", "really", "just",   "even",  "want", "wanna",
                                          "to",   "need",   "going",  "gonna", "mean", "meant",
                                          "said", "say",    "saying", "told",  "yet"};

/* The opt-out words a one-word reply is compared with, typos forgiven, and
 * the real words at that distance that must never opt out. */
static const char *const fuzzy_words[] = {"stop",   "stopall", "unsubscribe", "quit",    "revoke",
                                          "optout", "cancel",  "parar",       "cancelar"};
static const char *const fuzzy_deny[] = {"cancer", "evoke"};
#define FUZZY_MAX (sizeof(fuzzy_words) / sizeof(fuzzy_words[0]))
#define FUZZY_WORD_MAX 24

/* ---- normalizing ------------------------------------------------------ */

/* ASCII byte -> its lower-case letter or digit, or one of these classes. */
enum { A_SEP = 0, A_BREAK = 1, A_DROP = 2, A_HYPHEN = 3 };
#define LC(c) [c] = c, [(c) - 'a' + 'A'] = c
static const unsigned char ascii_fold[128] = {
    LC('a'),
    LC('b'),
    LC('c'),
    LC('d'),
    LC('e'),
    LC('f'),
    LC('g'),
    LC('h'),
    LC('i'),
    LC('j'),
    LC('k'),
    LC('l'),
    LC('m'),
    LC('n'),
    LC('o'),
    LC('p'),
    LC('q'),
    LC('r'),
    LC('s'),
    LC('t'),
    LC('u'),
    LC('v'),
    LC('w'),
    LC('x'),
    LC('y'),
    LC('z'),
    ['0'] = '0',
    ['1'] = '1',
    ['2'] = '2',
    ['3'] = '3',
    ['4'] = '4',
    ['5'] = '5',
    ['6'] = '6',
    ['7'] = '7',
    ['8'] = '8',
    ['9'] = '9',
    /* Sentence ends: a phrase never spans one, a negation stops at one. */
    ['.'] = A_BREAK,
    ['!'] = A_BREAK,
    ['?'] = A_BREAK,
    [';'] = A_BREAK,
    [','] = A_BREAK,
    ['\n'] = A_BREAK,
    ['\r'] = A_BREAK,
    /* don't -> dont; a hyphen joins letters only (opt-out -> optout). */
    ['\''] = A_DROP,
    ['`'] = A_DROP,
    ['-'] = A_HYPHEN,
};

/* U+00C0..U+017F folded to lower-case base letters.  '*' is not a letter
 * (the multiplication and division signs); upper case marks a two-letter
 * fold: A = ae, T = th, S = ss, J = ij, O = oe. */
static const char latin_fold[] =
    "aaaaaaAceeeeiiiidnooooo*ouuuuyTS" /* U+00C0 A-grave .. U+00DF sharp s */
    "aaaaaaAceeeeiiiidnooooo*ouuuuyTy" /* U+00E0 .. U+00FF */
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiJJjjkkkllllllllll" /* U+0100 .. U+0142 */
    "nnnnnnnnnooooooOOrrrrrrsssssssstttttt"                               /* U+0143 .. U+0167 */
    "uuuuuuuuuuuuwwyyyzzzzzzs";                                           /* U+0168 .. U+017F */
_Static_assert(sizeof(latin_fold) == 0x180 - 0xC0 + 1, "one letter per code point");

enum { CP_SEP = 0, CP_BREAK = -1, CP_DROP = -2 };

static int fold_latin(uint32_t cp, char out[2])
{
    static const char two[][3] = {
        {'A', 'a', 'e'}, {'T', 't', 'h'}, {'S', 's', 's'}, {'J', 'i', 'j'}, {'O', 'o', 'e'}};
    char c = latin_fold[cp - 0xC0];
    if (c == '*')
        return CP_SEP;
    for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
        if (two[i][0] == c) {
            out[0] = two[i][1];
            out[1] = two[i][2];
            return 2;
        }
    out[0] = c;
    return 1;
}

/* Letters that look like Latin ones, folded to them, so that a keyword
 * written in look-alikes still reads ("\u0405\u0422\u041e\u0420" in
 * Cyrillic, "\u1d0f\u1d0b" in small capitals): the Cyrillic and Greek
 * capitals and small letters drawn as Latin ones (Cyrillic's small letters
 * drawn as small capitals too: "\u043e\u043a" is "ok"), small capitals, and the
 * letterlike symbols that fill the holes of the mathematical alphabets.
 * Sorted by code point.  (Letters of another look are separators, as
 * before: Cyrillic "\u0421\u0422\u041e\u041f" is not STOP.) */
static const struct {
    uint16_t cp;
    char c;
} lookalike[] = {
    {0x0262, 'g'}, {0x026A, 'i'}, {0x0274, 'n'}, {0x0280, 'r'}, {0x028F, 'y'}, {0x0299, 'b'},
    {0x029C, 'h'}, {0x029F, 'l'}, {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'},
    {0x0397, 'h'}, {0x0399, 'i'}, {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'}, {0x039F, 'o'},
    {0x03A1, 'p'}, {0x03A4, 't'}, {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'}, {0x03B9, 'i'},
    {0x03BA, 'k'}, {0x03BD, 'v'}, {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C5, 'u'}, {0x03F2, 'c'},
    {0x03F3, 'j'}, {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'}, {0x0410, 'a'}, {0x0412, 'b'},
    {0x0415, 'e'}, {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'}, {0x041E, 'o'}, {0x0420, 'p'},
    {0x0421, 'c'}, {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'}, {0x0430, 'a'}, {0x0432, 'b'},
    {0x0435, 'e'}, {0x043A, 'k'}, {0x043C, 'm'}, {0x043D, 'h'}, {0x043E, 'o'}, {0x0440, 'p'},
    {0x0441, 'c'}, {0x0442, 't'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'},
    {0x0458, 'j'}, {0x04AE, 'y'}, {0x04AF, 'y'}, {0x04BA, 'h'}, {0x04BB, 'h'}, {0x04C0, 'l'},
    {0x0501, 'd'}, {0x051B, 'q'}, {0x051C, 'w'}, {0x051D, 'w'}, {0x1D00, 'a'}, {0x1D04, 'c'},
    {0x1D05, 'd'}, {0x1D07, 'e'}, {0x1D0A, 'j'}, {0x1D0B, 'k'}, {0x1D0D, 'm'}, {0x1D0F, 'o'},
    {0x1D18, 'p'}, {0x1D1B, 't'}, {0x1D1C, 'u'}, {0x1D20, 'v'}, {0x1D21, 'w'}, {0x1D22, 'z'},
    {0x2102, 'c'}, {0x210A, 'g'}, {0x210B, 'h'}, {0x210C, 'h'}, {0x210D, 'h'}, {0x210E, 'h'},
    {0x2110, 'i'}, {0x2111, 'i'}, {0x2112, 'l'}, {0x2113, 'l'}, {0x2115, 'n'}, {0x2119, 'p'},
    {0x211A, 'q'}, {0x211B, 'r'}, {0x211C, 'r'}, {0x211D, 'r'}, {0x2124, 'z'}, {0x2128, 'z'},
    {0x212C, 'b'}, {0x212D, 'c'}, {0x212F, 'e'}, {0x2130, 'e'}, {0x2131, 'f'}, {0x2133, 'm'},
    {0x2134, 'o'}, {0xA730, 'f'}, {0xA731, 's'},
};

static bool is_greek_cyrillic(uint32_t cp)
{
    return cp >= 0x370 && cp <= 0x52F;
}

static int fold_lookalike(uint32_t cp, char out[2])
{
    size_t lo = 0, hi = sizeof(lookalike) / sizeof(lookalike[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lookalike[mid].cp == cp) {
            out[0] = lookalike[mid].c;
            return 1;
        }
        if (lookalike[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return CP_SEP;
}

/* The styled alphabets of Unicode's mathematical, enclosed and squared
 * letters (what "fancy text" generators write: bold, italic, script,
 * double-struck, circled...): the plain letter or digit, or 0. */
static char fold_styled(uint32_t cp)
{
    if (cp >= 0x1D400 && cp <= 0x1D6A3) { /* 13 alphabets of A-Z a-z */
        unsigned i = (cp - 0x1D400) % 52;
        return (char)('a' + (i < 26 ? i : i - 26));
    }
    if (cp == 0x1D6A4 || cp == 0x1D6A5) /* dotless i, j */
        return cp == 0x1D6A4 ? 'i' : 'j';
    if (cp >= 0x1D7CE && cp <= 0x1D7FF) /* 5 sets of digits */
        return (char)('0' + (cp - 0x1D7CE) % 10);
    if (cp >= 0x249C && cp <= 0x24B5) /* parenthesized a-z */
        return (char)('a' + (cp - 0x249C));
    if (cp >= 0x24B6 && cp <= 0x24E9) /* circled A-Z a-z */
        return (char)('a' + (cp - 0x24B6) % 26);
    if (cp >= 0x1F130 && cp <= 0x1F189 && (cp - 0x1F130) % 32 < 26) /* squared, negative */
        return (char)('a' + (cp - 0x1F130) % 32);
    return 0;
}

/* One non-ASCII code point: >0 letters written to |out|, or a CP_* class.
 * Only scripts the practices' patients write keywords in are folded; other
 * letters separate words like symbols do (the text still reaches the front
 * desk as it was). */
static int fold_cp(uint32_t cp, char out[2])
{
    if (cp >= 0xC0 && cp <= 0x17F)
        return fold_latin(cp, out);
    if (cp >= 0xFF01 && cp <= 0xFF5E) { /* fullwidth ASCII */
        unsigned char v = ascii_fold[cp - 0xFEE0];
        if (v >= '0') {
            out[0] = (char)v;
            return 1;
        }
        return v == A_BREAK ? CP_BREAK : v == A_DROP ? CP_DROP : CP_SEP;
    }
    if (cp == 0xAD || cp == 0x2B9 || cp == 0x2BC || (cp >= 0x300 && cp <= 0x36F) ||
        (cp >= 0x200B && cp <= 0x200F) || cp == 0x2018 || cp == 0x2019 || cp == 0x201B ||
        cp == 0x2032 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) ||
        (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || (cp >= 0xE0000 && cp <= 0xE007F))
        return CP_DROP; /* soft hyphen, apostrophes, combining, zero-width, bidi, selectors */
    if (cp == 0x85 || cp == 0xA1 || cp == 0xBF || cp == 0x2026 || cp == 0x2028 || cp == 0x2029 ||
        cp == 0x203C || (cp >= 0x2047 && cp <= 0x2049) || cp == 0x3002)
        return CP_BREAK; /* NEL, inverted marks, ellipsis, line/paragraph separators */
    char st = fold_styled(cp);
    if (st) {
        out[0] = st;
        return 1;
    }
    return cp <= 0xFFFF && !is_greek_cyrillic(cp) ? fold_lookalike(cp, out) : CP_SEP;
}

/* What a code point is to a word: 0 ends it, 1 is in it, 2 is a Greek or
 * Cyrillic letter of its own look (not folded). */
static int word_class(uint32_t cp)
{
    char f[2];
    if (cp < 0x80)
        return ascii_fold[cp] >= '0' || ascii_fold[cp] == A_DROP;
    if (is_greek_cyrillic(cp))
        return fold_lookalike(cp, f) > 0 ? 1 : 2;
    int r = fold_cp(cp, f);
    return r > 0 || r == CP_DROP;
}

/* Whether the word around the code point at [at, end) of |s| holds a Greek
 * or Cyrillic letter that looks like no Latin one: then its look-alikes are
 * that script's letters, not a disguised Latin word ("\u0421\u0422\u041e\u041f"
 * stays Russian; "ST\u041eP" is STOP).  |*word_end| gets where the word ends. */
static bool word_is_foreign(const unsigned char *s, size_t len, size_t at, size_t end,
                            size_t *word_end)
{
    bool foreign = false;
    size_t b = at;
    while (b > 0) { /* back to the word's start */
        size_t p = b - 1;
        while (p > 0 && b - p < 4 && (s[p] & 0xC0) == 0x80)
            p--;
        uint32_t cp;
        int k = flex_utf8_next(s + p, b - p, &cp);
        int c = k == (int)(b - p) ? word_class(cp) : 0;
        if (c == 0)
            break;
        foreign |= c == 2;
        b = p;
    }
    size_t e = end;
    while (e < len) { /* and on to its end */
        uint32_t cp;
        int k = flex_utf8_next(s + e, len - e, &cp);
        int c = k > 0 ? word_class(cp) : 0;
        if (c == 0)
            break;
        foreign |= c == 2;
        e += (size_t)k;
    }
    *word_end = e;
    return foreign;
}

struct norm {
    char *out;
    size_t cap;        /* room for text: outsz - 1 */
    size_t o;          /* bytes written */
    size_t word_start; /* where the current word (with its leading space) starts */
    bool sep, brk;     /* a separator / a sentence end since the last letter */
    bool in_word;      /* the last thing read was (part of) a word */
    bool breaks;       /* write '|' for a sentence end, for the classifier */
    bool full;         /* a word did not fit: stop */
};

/* Appends |k| letters; a word that does not fit is taken back whole. */
static void put_text(struct norm *n, const char *s, size_t k)
{
    if (n->o > 0 && (n->sep || n->brk)) {
        if (n->o + 1 + k > n->cap) {
            n->full = true;
            return;
        }
        n->word_start = n->o;
        n->out[n->o++] = n->brk && n->breaks ? '|' : ' ';
    } else if (n->o + k > n->cap) {
        n->o = n->word_start;
        n->full = true;
        return;
    }
    for (size_t i = 0; i < k; i++)
        n->out[n->o++] = s[i];
    n->sep = n->brk = false;
    n->in_word = true;
}

static void put_class(struct norm *n, int cls)
{
    if (cls == CP_DROP)
        return;
    if (cls == CP_BREAK)
        n->brk = true;
    else
        n->sep = true;
    n->in_word = false;
}

static size_t normalize(const char *text, size_t len, char *out, size_t outsz, bool breaks,
                        bool *cut)
{
    if (outsz == 0)
        return 0;
    struct norm n = {.out = out, .cap = outsz - 1, .breaks = breaks};
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, word_end = 0;
    bool foreign = false;
    while (i < len && !n.full) {
        char f[2];
        if (s[i] < 0x80) {
            unsigned char v = ascii_fold[s[i++]];
            if (v >= '0') {
                f[0] = (char)v;
                put_text(&n, f, 1);
            } else if (v == A_HYPHEN) {
                bool joins = n.in_word && i < len && s[i] < 0x80 && ascii_fold[s[i]] >= '0';
                if (!joins)
                    put_class(&n, CP_SEP);
            } else {
                put_class(&n, v == A_BREAK ? CP_BREAK : v == A_DROP ? CP_DROP : CP_SEP);
            }
            continue;
        }
        uint32_t cp;
        int k = flex_utf8_next(s + i, len - i, &cp);
        int r = k < 0 ? CP_SEP : fold_cp(cp, f); /* an invalid byte separates */
        if (k > 0 && is_greek_cyrillic(cp) && fold_lookalike(cp, f) > 0) {
            /* a look-alike: Latin unless its word is Greek or Cyrillic
             * (decided once a word: each is scanned once) */
            if (i >= word_end)
                foreign = word_is_foreign(s, len, i, i + (size_t)k, &word_end);
            r = foreign ? CP_SEP : 1;
        }
        i += k < 0 ? 1 : (size_t)k;
        if (r > 0)
            put_text(&n, f, (size_t)r);
        else
            put_class(&n, r);
    }
    out[n.o] = '\0';
    if (cut)
        *cut = n.full;
    return n.o;
}

size_t flex_intent_normalize(const char *text, size_t len, char *out, size_t outsz)
{
    return normalize(text, len, out, outsz, false, NULL);
}

/* ---- the compiled lists ------------------------------------------------ */

/* One word or phrase; len 0 marks an empty slot. */
struct kw_entry {
    uint32_t tag; /* the hash's high half */
    uint32_t off; /* text in pool */
    uint16_t len;
    uint16_t flags;
};

struct fuzzy_target {
    char word[FUZZY_WORD_MAX]; /* letter runs collapsed: "stopall" -> "stopal" */
    uint8_t len;
    uint8_t bits; /* opt-out list bits */
};

struct flex_keywords {
    struct kw_entry *tab; /* open addressing, linear probing, at most half full */
    uint32_t mask;        /* slots - 1 */
    uint32_t used;
    char *pool;
    size_t poolsz, poolcap;
    unsigned maxw; /* most words in a phrase */
    struct fuzzy_target fuzzy[FUZZY_MAX];
    unsigned nfuzzy;
};

#define FNV_BASIS 0xcbf29ce484222325ULL

/* FNV-1a, continued from |h|: incremental, so a phrase's hash extends its
 * first words' hash.  Not keyed: the table is fixed at build, so no input
 * can lengthen a probe sequence beyond the table's own clusters. */
static inline uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The entry for |len| bytes at |s| with hash |h|, or NULL.  The table is
 * at most half full, so the probe ends. */
static struct kw_entry *kw_find(const struct flex_keywords *kw, uint64_t h, const char *s,
                                size_t len)
{
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)flex_mix64(h) & kw->mask;; i = (i + 1) & kw->mask) {
        struct kw_entry *e = &kw->tab[i];
        if (e->len == 0)
            return NULL;
        if (e->tag == tag && e->len == len && memcmp(kw->pool + e->off, s, len) == 0)
            return e;
    }
}

static void kw_place(struct flex_keywords *kw, struct kw_entry e)
{
    uint64_t h = fnv(FNV_BASIS, kw->pool + e.off, e.len);
    uint32_t i = (uint32_t)flex_mix64(h) & kw->mask;
    while (kw->tab[i].len)
        i = (i + 1) & kw->mask;
    kw->tab[i] = e;
}

/* Doubles the table, or sizes a new one for |hint| entries. */
static void kw_grow(struct flex_keywords *kw, size_t hint)
{
    struct kw_entry *old = kw->tab;
    uint32_t n = kw->tab ? kw->mask + 1 : 0;
    uint32_t slots = n ? n * 2 : 64;
    while ((size_t)slots < hint * 2)
        slots *= 2;
    kw->tab = flex_calloc(slots, sizeof(*kw->tab));
    kw->mask = slots - 1;
    for (uint32_t i = 0; i < n; i++)
        if (old[i].len)
            kw_place(kw, old[i]);
    flex_free(old);
}

/* Finds or inserts |len| bytes at |s| (len <= FLEX_KW_ENTRY_MAX). */
static struct kw_entry *kw_add(struct flex_keywords *kw, const char *s, size_t len)
{
    uint64_t h = fnv(FNV_BASIS, s, len);
    struct kw_entry *found = kw_find(kw, h, s, len);
    if (found)
        return found;
    if ((kw->used + 1) * 2 > kw->mask + 1)
        kw_grow(kw, 0);
    if (kw->poolsz + len > kw->poolcap) {
        kw->poolcap = kw->poolcap * 2 + len + 4096;
        kw->pool = flex_realloc(kw->pool, kw->poolcap);
    }
    memcpy(kw->pool + kw->poolsz, s, len);
    uint32_t i = (uint32_t)flex_mix64(h) & kw->mask;
    while (kw->tab[i].len)
        i = (i + 1) & kw->mask;
    kw->tab[i] = (struct kw_entry){(uint32_t)(h >> 32), (uint32_t)kw->poolsz, (uint16_t)len, 0};
    kw->poolsz += len;
    kw->used++;
    return &kw->tab[i];
}

/* Adds a normalized word or phrase with |flags|; a phrase's first words
 * get F_PREFIX so that matching extends only where a phrase can follow. */
static void kw_add_phrase(struct flex_keywords *kw, const char *s, size_t len, unsigned flags)
{
    unsigned words = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ') {
            kw_add(kw, s, i)->flags |= F_PREFIX;
            words++;
        }
    kw_add(kw, s, len)->flags |= (uint16_t)flags;
    if (words > kw->maxw)
        kw->maxw = words;
}

/* ---- building ---------------------------------------------------------- */

struct kwerr {
    int list; /* FLEX_KW_*, or -1 */
    char msg[192];
};

static int fail(struct kwerr *e, int list, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct kwerr *e, int list, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->list = list;
    return code;
}

/* An entry quoted in a message: at most 40 bytes, control bytes as '?'. */
static const char *shown(const char *s, size_t len, char buf[48])
{
    size_t i = 0;
    for (; i < len && i < 40; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (i < len)
        buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = '\0';
    return buf;
}

static int contract_find(const char *w)
{
    for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++)
        if (strcmp(contract[i].word, w) == 0)
            return (int)i;
    return -1;
}

static int remove_entry(struct flex_keywords *kw, int list, const char *w, size_t len,
                        struct kwerr *e)
{
    int c = contract_find(w);
    if (c >= 0 && contract[c].keep)
        return fail(e, list, FLEX_E_INVAL,
                    "'%s' cannot be removed: the opt-out words STOP, STOPALL, UNSUBSCRIBE, "
                    "CANCEL, END, QUIT, REVOKE, OPT OUT and the opt-in words START, UNSTOP must "
                    "always work (TCPA, CTIA)",
                    w);
    struct kw_entry *k = kw_find(kw, fnv(FNV_BASIS, w, len), w, len);
    if (!k || !(k->flags & B((unsigned)list)))
        return fail(e, list, FLEX_E_NOTFOUND, "'-%s': '%s' is not a built-in %s keyword", w, w,
                    list_names[list]);
    k->flags &= (uint16_t)~B((unsigned)list);
    return 0;
}

/* One entry of a list: applied when its sign matches |removing|. */
static int apply_entry(struct flex_keywords *kw, int list, const char *t, size_t len, bool removing,
                       struct kwerr *e)
{
    char sh[48], w[512];
    bool minus = t[0] == '-';
    if (minus != removing)
        return 0;
    if (len - minus > 256)
        return fail(e, list, FLEX_E_TOOLONG, "'%s': over 256 bytes", shown(t, len, sh));
    size_t n = flex_intent_normalize(t + minus, len - minus, w, sizeof(w));
    unsigned words = 1;
    for (size_t i = 0; i < n; i++)
        words += w[i] == ' ';
    if (n == 0)
        return fail(e, list, FLEX_E_INVAL, "'%s' has no letters or digits", shown(t, len, sh));
    if (n > FLEX_KW_ENTRY_MAX || words > FLEX_KW_PHRASE_WORDS)
        return fail(e, list, FLEX_E_TOOLONG, "'%s': over %d bytes or %d words", shown(t, len, sh),
                    FLEX_KW_ENTRY_MAX, FLEX_KW_PHRASE_WORDS);
    if (minus)
        return remove_entry(kw, list, w, n, e);
    int c = contract_find(w);
    if (c >= 0 && !(contract[c].lists & B((unsigned)list)))
        return fail(e, list, FLEX_E_INVAL,
                    "'%s' is a built-in keyword of another list; it cannot also be a %s keyword", w,
                    list_names[list]);
    kw_add_phrase(kw, w, n, B((unsigned)list));
    return 0;
}

/* Walks the comma-separated |text| of |list|.  |flags| != 0: a built-in
 * list, already normalized (tests/unit/test_intent.c checks), added with
 * |flags| as it is. */
static int apply_list(struct flex_keywords *kw, int list, unsigned flags, const char *text,
                      bool removing, struct kwerr *e)
{
    unsigned count = 0;
    for (const char *s = text;;) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > s && ++count > FLEX_KW_LIST_MAX)
            return fail(e, list, FLEX_E_TOOMANY, "more than %d entries", FLEX_KW_LIST_MAX);
        if (end > s && flags) {
            kw_add_phrase(kw, s, (size_t)(end - s), flags);
        } else if (end > s) {
            int rc = apply_entry(kw, list, s, (size_t)(end - s), removing, e);
            if (rc)
                return rc;
        }
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

static size_t collapse(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        if (o == 0 || out[o - 1] != s[i])
            out[o++] = s[i];
    return o;
}

static void add_fuzzy_targets(struct flex_keywords *kw)
{
    for (size_t i = 0; i < FUZZY_MAX; i++) {
        const char *w = fuzzy_words[i];
        size_t len = strlen(w);
        const struct kw_entry *e = kw_find(kw, fnv(FNV_BASIS, w, len), w, len);
        if (!e || !(e->flags & B_OPTOUT))
            continue; /* removed by the operator */
        struct fuzzy_target *t = &kw->fuzzy[kw->nfuzzy++];
        t->len = (uint8_t)collapse(w, len, t->word);
        t->bits = (uint8_t)(e->flags & B_OPTOUT);
    }
}

static int check_conflicts(const struct flex_keywords *kw, struct kwerr *e)
{
    for (uint32_t i = 0; i <= kw->mask; i++) {
        const struct kw_entry *k = &kw->tab[i];
        if (k->len && (k->flags & B_OPTOUT) && (k->flags & B(FLEX_KW_OPTIN)))
            return fail(e, -1, FLEX_E_INVAL, "'%.*s' cannot be both an opt-out and an opt-in",
                        (int)k->len, kw->pool + k->off);
    }
    return 0;
}

/* At least the number of table entries |text| makes: one per word. */
static size_t words_in(const char *text)
{
    size_t n = 1;
    for (; text && *text; text++)
        n += *text == ',' || *text == ' ';
    return n;
}

/* Defaults, fixed words, then every removal (of defaults only), then every
 * addition, then the cross-list checks. */
static int build(struct flex_keywords **out, const char *const *lists, struct kwerr *e)
{
    struct flex_keywords *kw = flex_calloc(1, sizeof(*kw));
    size_t hint = 0;
    int rc = 0;
    for (int l = 0; l < FLEX_KW_N; l++)
        hint += words_in(defaults[l]) + (lists && lists[l] ? words_in(lists[l]) : 0);
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        hint += words_in(fixed[i].words);
    kw_grow(kw, hint);
    for (int l = 0; l < FLEX_KW_N; l++)
        apply_list(kw, l, B((unsigned)l), defaults[l], false, e);
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        apply_list(kw, -1, fixed[i].flags, fixed[i].words, false, e);
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (int l = 0; l < FLEX_KW_N && rc == 0; l++)
            if (lists && lists[l])
                rc = apply_list(kw, l, 0, lists[l], pass == 0, e);
    if (rc == 0)
        rc = check_conflicts(kw, e);
    if (rc) {
        flex_keywords_del(kw);
        return rc;
    }
    add_fuzzy_targets(kw);
    for (size_t i = 0; i < sizeof(whole_only) / sizeof(whole_only[0]); i++) {
        size_t len = strlen(whole_only[i]);
        struct kw_entry *w = kw_find(kw, fnv(FNV_BASIS, whole_only[i], len), whole_only[i], len);
        if (w)
            w->flags |= F_WHOLE;
    }
    *out = kw;
    return 0;
}

int flex_keywords_new(struct flex_keywords **out, const char *const *lists, char *err, size_t errsz)
{
    struct kwerr e = {-1, ""};
    int rc = build(out, lists, &e);
    if (rc && err && errsz) {
        if (e.list >= 0)
            snprintf(err, errsz, "%s: %s", list_names[e.list], e.msg);
        else
            snprintf(err, errsz, "%s", e.msg);
    }
    return rc;
}

int flex_keywords_check(enum flex_kw_list list, const char *text, char *err, size_t errsz)
{
    const char *lists[FLEX_KW_N] = {0};
    struct kwerr e = {-1, ""};
    struct flex_keywords *kw = NULL;
    if ((unsigned)list >= FLEX_KW_N) {
        if (err && errsz)
            snprintf(err, errsz, "no such keyword list");
        return FLEX_E_INVAL;
    }
    lists[list] = text;
    int rc = build(&kw, lists, &e);
    if (rc && err && errsz)
        snprintf(err, errsz, "%s", e.msg);
    flex_keywords_del(kw);
    return rc;
}

void flex_keywords_del(struct flex_keywords *kw)
{
    if (!kw)
        return;
    flex_free(kw->tab);
    flex_free(kw->pool);
    flex_free(kw);
}

const char *flex_keywords_list_name(enum flex_kw_list list)
{
    return (unsigned)list < FLEX_KW_N ? list_names[list] : "?";
}

const char *flex_keywords_default(enum flex_kw_list list)
{
    return (unsigned)list < FLEX_KW_N ? defaults[list] : "";
}

/* ---- classifying -------------------------------------------------------- */

#define MAX_TOK 128

struct tok {
    uint16_t off, len;
    uint16_t flags;
    bool clause;  /* first word of a sentence */
    bool covered; /* part of a match */
};

struct scan {
    char buf[FLEX_INTENT_NORM_MAX + 1];
    struct tok t[MAX_TOK];
    unsigned n;
    bool more; /* the text went on beyond what was read */
};

static void tokenize(const struct flex_keywords *kw, struct scan *sc, size_t len)
{
    const char *b = sc->buf;
    bool clause = true;
    size_t i = 0;
    sc->n = 0;
    while (i < len) {
        if (b[i] == ' ' || b[i] == '|') {
            clause |= b[i++] == '|';
            continue;
        }
        size_t s = i;
        while (i < len && b[i] != ' ' && b[i] != '|')
            i++;
        if (sc->n == MAX_TOK) {
            sc->more = true;
            return;
        }
        struct tok *t = &sc->t[sc->n++];
        *t = (struct tok){(uint16_t)s, (uint16_t)(i - s), 0, clause, false};
        clause = false;
        if (i - s <= FLEX_KW_ENTRY_MAX) {
            const struct kw_entry *e = kw_find(kw, fnv(FNV_BASIS, b + s, i - s), b + s, i - s);
            t->flags = e ? e->flags : 0;
        }
    }
}

/* True when a word with |neg| flags is among the |window| words before
 * word |i| in its sentence. */
static bool negated(const struct scan *sc, unsigned i, unsigned neg, unsigned window)
{
    for (unsigned k = i; k > 0 && i - k < window && !sc->t[k].clause; k--)
        if (sc->t[k - 1].flags & neg)
            return true;
    return false;
}

static bool tok_in(const struct scan *sc, unsigned i, const char *const *words, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (strlen(words[k]) == sc->t[i].len &&
            memcmp(words[k], sc->buf + sc->t[i].off, sc->t[i].len) == 0)
            return true;
    return false;
}
#define TOK_IN(sc, i, list) tok_in((sc), (i), (list), sizeof(list) / sizeof((list)[0]))

/* An opt-out at word |i| negated: a negation before it in its sentence with
 * at most 3 words between, each a filler or a word a negation reaches
 * across (neg_through); any other word between ends the negation's reach. */
static bool optout_negated(const struct scan *sc, unsigned i)
{
    unsigned between = 0;
    for (unsigned k = i; k > 0 && !sc->t[k].clause; k--) {
        const struct tok *t = &sc->t[k - 1];
        if (t->flags & F_NEG)
            return true;
        if (t->len == 2 && memcmp(sc->buf + t->off, "me", 2) == 0)
            return false; /* "Not me. Stop": the negation is about who */
        if (!(t->flags & F_FILLER) && !TOK_IN(sc, k - 1, neg_through))
            return false;
        if (++between > 3)
            return false;
    }
    return false;
}

/* The first word of word |i|'s sentence. */
static unsigned sentence_start(const struct scan *sc, unsigned i)
{
    while (i > 0 && !sc->t[i].clause)
        i--;
    return i;
}

/* The rest of the sentence of words |i|..|j| is fillers only. */
static bool alone_in_sentence(const struct scan *sc, unsigned i, unsigned j)
{
    for (unsigned k = sentence_start(sc, i); k < i; k++)
        if (!(sc->t[k].flags & F_FILLER))
            return false;
    for (unsigned k = j + 1; k < sc->n && !sc->t[k].clause; k++)
        if (!(sc->t[k].flags & F_FILLER))
            return false;
    return true;
}

/* A match of words |i|..|j| for lists |bits|: the bits that no negation
 * cancels, its words marked covered when any remain. */
static unsigned hit(struct scan *sc, unsigned i, unsigned j, unsigned bits)
{
    if ((bits & B_OPTOUT) && optout_negated(sc, i))
        bits &= ~B_OPTOUT;
    if ((bits & B_SOFT) && negated(sc, i, F_NEG | F_NEG_SOFT, 3))
        bits &= ~B_SOFT;
    if ((bits & B(FLEX_KW_EMERGENCY)) && negated(sc, i, F_NEG_EMERG, 2))
        bits &= ~B(FLEX_KW_EMERGENCY);
    for (unsigned k = i; bits && k <= j; k++)
        sc->t[k].covered = true;
    return bits;
}

/* A reply made only of keywords and fillers: the union of its lists.  A
 * "no" or "nope" among them keeps only an opt-out ("no stop", "Nope,
 * STOP"): it never negates one, and it leaves nothing else meant. */
static unsigned pure_reply(struct scan *sc)
{
    unsigned m = 0;
    bool soft = false;
    if (sc->more)
        return 0;
    for (unsigned i = 0; i < sc->n; i++) {
        if (sc->t[i].flags & F_LISTS)
            m |= sc->t[i].flags & F_LISTS;
        else if (sc->t[i].flags & F_NEG_SOFT)
            soft = true;
        else if (!(sc->t[i].flags & F_FILLER))
            return 0;
    }
    if (soft)
        m &= B_OPTOUT;
    for (unsigned i = 0; m && i < sc->n; i++)
        sc->t[i].covered = true;
    return m;
}

/* Sentences made only of keywords and fillers ("Stop. I moved away"); a
 * one-letter keyword counts only in the first ("C. Can I bring my son?",
 * not "Dr. C. Smith"). */
static unsigned pure_sentences(struct scan *sc)
{
    unsigned m = 0;
    for (unsigned a = 0, b; a < sc->n; a = b) {
        unsigned cm = 0;
        bool pure = true;
        bool soft = false;
        for (b = a; b < sc->n && (b == a || !sc->t[b].clause); b++) {
            const struct tok *t = &sc->t[b];
            if ((t->flags & F_LISTS) && (t->len >= 2 || a == 0))
                cm |= t->flags & F_LISTS;
            else if (t->flags & F_NEG_SOFT)
                soft = true;
            else if (!(t->flags & F_FILLER))
                pure = false;
        }
        if (soft) /* as in pure_reply */
            cm &= B_OPTOUT;
        if (pure && cm) {
            m |= cm;
            for (unsigned k = a; k < b; k++)
                sc->t[k].covered = true;
        }
    }
    return m;
}

/* Phrases starting at word |i|, within its sentence. */
static unsigned extend(const struct flex_keywords *kw, struct scan *sc, unsigned i)
{
    const char *b = sc->buf;
    size_t start = sc->t[i].off, end = start + sc->t[i].len;
    uint64_t h = fnv(FNV_BASIS, b + start, sc->t[i].len);
    unsigned m = 0;
    for (unsigned j = i + 1; j < sc->n && j - i < kw->maxw && !sc->t[j].clause; j++) {
        size_t next = (size_t)sc->t[j].off + sc->t[j].len;
        h = fnv(h, b + end, next - end); /* " word" */
        end = next;
        if (end - start > FLEX_KW_ENTRY_MAX)
            break;
        const struct kw_entry *e = kw_find(kw, h, b + start, end - start);
        if (!e)
            break;
        if ((e->flags & F_LISTS) && (!(e->flags & F_WHOLE) || alone_in_sentence(sc, i, j)))
            m |= hit(sc, i, j, e->flags & F_LISTS);
        if (!(e->flags & F_PREFIX))
            break;
    }
    return m;
}

static unsigned phrases(const struct flex_keywords *kw, struct scan *sc)
{
    unsigned m = 0;
    for (unsigned i = 0; i < sc->n; i++) {
        unsigned f = sc->t[i].flags;
        if ((f & B_MENTION) && sc->t[i].len >= 3)
            m |= hit(sc, i, i, f & B_MENTION);
        if (f & F_PREFIX)
            m |= extend(kw, sc, i);
    }
    return m;
}

/* |a| (collapsed) is |t| with one letter added, dropped or changed. */
static bool one_edit(const char *a, size_t al, const char *t, size_t tl)
{
    if (al > tl + 1 || tl > al + 1)
        return false;
    size_t p = 0;
    while (p < al && p < tl && a[p] == t[p])
        p++;
    if (al == tl)
        return p == al || memcmp(a + p + 1, t + p + 1, al - p - 1) == 0;
    if (al > tl)
        return memcmp(a + p + 1, t + p, tl - p) == 0;
    return memcmp(a + p, t + p + 1, al - p) == 0;
}

static bool near(const char *a, size_t al, const struct fuzzy_target *t)
{
    if (al == t->len) {
        size_t p = 0;
        while (p < al && a[p] == t->word[p])
            p++;
        if (p == al)
            return true;
        if (p + 1 < al && a[p] == t->word[p + 1] && a[p + 1] == t->word[p] &&
            memcmp(a + p + 2, t->word + p + 2, al - p - 2) == 0)
            return true; /* one swap of neighbours: stpo, sotp */
    }
    return t->len >= 6 && one_edit(a, al, t->word, t->len);
}

/* A reply of one unmatched word (fillers aside) that is an opt-out word
 * with a typo: its opt-out list bits, else 0. */
static unsigned fuzzy(const struct flex_keywords *kw, const struct scan *sc)
{
    int w = -1;
    for (unsigned i = 0; i < sc->n; i++)
        if (!(sc->t[i].flags & F_FILLER)) {
            if (w >= 0)
                return 0;
            w = (int)i;
        }
    if (w < 0 || sc->more || sc->t[w].len < 3 || sc->t[w].len > FUZZY_WORD_MAX)
        return 0;
    char c[FUZZY_WORD_MAX];
    size_t cl = collapse(sc->buf + sc->t[w].off, sc->t[w].len, c);
    for (size_t i = 0; i < sizeof(fuzzy_deny) / sizeof(fuzzy_deny[0]); i++)
        if (strlen(fuzzy_deny[i]) == cl && memcmp(fuzzy_deny[i], c, cl) == 0)
            return 0;
    for (unsigned i = 0; i < kw->nfuzzy; i++)
        if (near(c, cl, &kw->fuzzy[i]))
            return kw->fuzzy[i].bits;
    return 0;
}

/* A per-se opt-out word ending a sentence that asks nothing, not negated
 * (last_words): the opt-out list's bits, its words covered. */
static unsigned last_word(struct scan *sc)
{
    unsigned m = 0;
    for (unsigned i = 0; i < sc->n; i++) {
        bool last = i + 1 == sc->n ? !sc->more : sc->t[i + 1].clause;
        if (!last || !TOK_IN(sc, i, last_words) || optout_negated(sc, i))
            continue;
        if (TOK_IN(sc, sentence_start(sc, i), question_words))
            continue;
        sc->t[i].covered = true;
        m |= B(FLEX_KW_OPTOUT);
    }
    return m;
}

/* Words left over that are neither fillers, keywords nor matched. */
static bool says_more(const struct scan *sc)
{
    if (sc->more)
        return true;
    for (unsigned i = 0; i < sc->n; i++)
        if (!sc->t[i].covered && !(sc->t[i].flags & (F_FILLER | F_LISTS)))
            return true;
    return false;
}

/* Opt-out > opt-in > emergency > reschedule > help > confirm. */
static void decide(unsigned m, bool more, struct flex_intent_result *out)
{
    bool urgent = m & B(FLEX_KW_EMERGENCY);
    out->urgent = urgent;
    out->frontdesk = true;
    if (m & B_OPTOUT) {
        out->intent = FLEX_INTENT_STOP;
        out->frontdesk = (m & B(FLEX_KW_FRONTDESK_OPTOUT)) || urgent || more;
    } else if (m & B(FLEX_KW_OPTIN)) {
        out->intent = FLEX_INTENT_START;
        out->frontdesk = urgent || more;
    } else if (urgent) {
        out->intent = FLEX_INTENT_EMERGENCY;
    } else if (m & B(FLEX_KW_RESCHEDULE)) {
        out->intent = FLEX_INTENT_RESCHEDULE;
    } else if (m & (B(FLEX_KW_HELP) | B(FLEX_KW_CONFIRM))) {
        out->intent = (m & B(FLEX_KW_HELP)) ? FLEX_INTENT_HELP : FLEX_INTENT_CONFIRM;
        out->frontdesk = more;
    } else {
        out->intent = FLEX_INTENT_OTHER;
    }
}

/* The opt-out bits of the end of a text longer than one scan reads (its
 * last TAIL_BYTES, from a character's start: fewer words than a scan
 * holds): a long complaint that ends "... STOP" opts out too. */
#define TAIL_BYTES 240
_Static_assert(TAIL_BYTES / 2 < MAX_TOK, "a tail's words fit a scan");
static unsigned tail_optout(const struct flex_keywords *kw, const char *text, size_t len)
{
    size_t from = len > TAIL_BYTES ? len - TAIL_BYTES : 0;
    while (from < len && ((unsigned char)text[from] & 0xC0) == 0x80)
        from++;
    struct scan sc;
    size_t n = normalize(text + from, len - from, sc.buf, sizeof(sc.buf), true, &sc.more);
    tokenize(kw, &sc, n);
    if (sc.n > 0) /* the first word may be a cut one: not a sentence's start */
        sc.t[0].flags &= (uint16_t)~F_LISTS;
    return (pure_sentences(&sc) | phrases(kw, &sc) | last_word(&sc)) & B_OPTOUT;
}

void flex_intent_classify(const struct flex_keywords *kw, const char *text, size_t len,
                          struct flex_intent_result *out)
{
    struct scan sc;
    size_t n = normalize(text, len, sc.buf, sizeof(sc.buf), true, &sc.more);
    tokenize(kw, &sc, n);
    unsigned m = pure_reply(&sc);
    bool more = false;
    if (m == 0) {
        m = pure_sentences(&sc) | phrases(kw, &sc);
        if (!(m & B_OPTOUT))
            m |= last_word(&sc);
        more = says_more(&sc);
        if (m == 0 && (m = fuzzy(kw, &sc)) != 0)
            more = true; /* a typo taken for an opt-out: a person should see it */
    }
    if (sc.more && !(m & B_OPTOUT))
        m |= tail_optout(kw, text, len); /* (more is set: the desk sees it) */
    decide(m, more, out);
}

const char *flex_intent_name(enum flex_intent i)
{
    switch (i) {
    case FLEX_INTENT_STOP: return "stop";
    case FLEX_INTENT_START: return "start";
    case FLEX_INTENT_HELP: return "help";
    case FLEX_INTENT_CONFIRM: return "confirm";
    case FLEX_INTENT_RESCHEDULE: return "reschedule";
    case FLEX_INTENT_EMERGENCY: return "emergency";
    default: return "other";
    }
}
