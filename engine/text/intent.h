/*
 * Keyword classifier for patients' replies: sans-I/O, no allocation per call.
 *
 * A reply is first normalized (flex_intent_normalize): UTF-8 in, possibly
 * invalid; lower-case ASCII words out, separated by single spaces.  Latin-1
 * and Latin Extended-A letters are folded to their base letters (SÍ -> si,
 * ß -> ss), fullwidth forms to ASCII; apostrophes, combining marks and
 * zero-width characters are deleted (don't -> dont); a hyphen between two
 * letters or digits is deleted (opt-out -> optout); every other character
 * (punctuation, emoji, symbols, other scripts, invalid bytes) separates words.
 *
 * Then the words are matched against keyword lists (compiled once, at config
 * load, into one hash table).  A list entry is a word or a phrase:
 *
 *   reply word      a single word of the optout, optin, help, confirm and
 *                   frontdesk_optout lists counts only when the reply is made
 *                   of keywords and filler words (please, thanks, ok, all,
 *                   it, me, ...): "STOP", "stop please", "Yes please stop".
 *                   A sentence of its own counts too ("Stop. I moved"),
 *                   unless the word is one letter (C, Y, R).
 *   mention word    a single word of 3+ letters of the reschedule and
 *                   emergency lists counts anywhere: "can I reschedule?",
 *                   "it is bleeding".
 *   phrase          2-8 words, in any list, count anywhere inside one
 *                   sentence: "please stop texting me", "cancel my appointment".
 *
 * A match preceded in its sentence by a negation does not count: "don't
 * stop" and "don't cancel my appointment" (don't, not, never, can't... within
 * 3 words; "no" and "without" too, except before an opt-out: "no, stop
 * texting me" opts out); "no swelling" (no, not, without, never within 2
 * words before an emergency word; "won't stop bleeding" stays urgent).
 * A reply with one word left that matches nothing is compared with the
 * opt-out words (stop, stopall, unsubscribe, quit, revoke, optout, cancel,
 * parar, cancelar): repeated letters are collapsed ("stooop"), one swap of
 * neighbouring letters is forgiven ("stpo", "sotp") and, for words of 6+
 * letters, one letter added, dropped or changed ("unsubcribe").  Real words
 * at that distance (top, spot, step, cancer, ...) never match.
 *
 * Priority when several lists match: opt-out > opt-in > emergency >
 * reschedule > help > confirm.  The hard cases are decided (and tested) in
 * tests/unit/test_intent.c.
 *
 * Thread safety: a struct flex_keywords is immutable once built and may be
 * shared by any number of threads; flex_intent_classify uses only the stack.
 */
#ifndef FLEX_INTENT_H
#define FLEX_INTENT_H

#include <stdbool.h>
#include <stddef.h>

/* Values equal proto/flex.proto's Intent enum. */
enum flex_intent {
    FLEX_INTENT_OTHER = 1,
    FLEX_INTENT_STOP = 2,
    FLEX_INTENT_START = 3,
    FLEX_INTENT_HELP = 4,
    FLEX_INTENT_CONFIRM = 5,
    FLEX_INTENT_RESCHEDULE = 6,
    FLEX_INTENT_EMERGENCY = 7,
};

struct flex_intent_result {
    enum flex_intent intent;
    /* The text belongs on the location's front-desk stream: always for
     * OTHER, RESCHEDULE and EMERGENCY; for an opt-out of the
     * frontdesk_optout list (CANCEL: it may mean the visit); and for any
     * intent when the text says more than its keywords ("C. Can I bring my
     * son?"). */
    bool frontdesk;
    /* Emergency wording, even when another intent wins ("STOP. I have
     * severe pain" is an opt-out, urgent and for the front desk). */
    bool urgent;
};

/* Keyword lists, as the [keywords] keys of the same names. */
enum flex_kw_list {
    FLEX_KW_OPTOUT,
    FLEX_KW_OPTIN,
    FLEX_KW_HELP,
    FLEX_KW_CONFIRM,
    FLEX_KW_RESCHEDULE,
    FLEX_KW_EMERGENCY,
    FLEX_KW_FRONTDESK_OPTOUT, /* opt-outs the front desk must also see */
    FLEX_KW_N
};

#define FLEX_INTENT_NORM_MAX 1024 /* normalized bytes classified; the rest is not read */
#define FLEX_KW_ENTRY_MAX 64      /* bytes of one normalized entry */
#define FLEX_KW_PHRASE_WORDS 8    /* words of one entry */
#define FLEX_KW_LIST_MAX 256      /* entries of one configured list */

struct flex_keywords;

/* Builds the lists: the built-in defaults of each list, extended by
 * |lists|[FLEX_KW_*] (borrowed; |lists| or an element NULL = defaults only).
 * A list is comma-separated entries, each normalized as a text is; an entry
 * "-WORD" removes a built-in default of that list.  The opt-out words STOP,
 * STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPT OUT and the opt-in
 * words START, UNSTOP can never be removed, nor can an entry be both an
 * opt-out and an opt-in.  Returns 0 and |*out| (free with
 * flex_keywords_del), or, with a one-line reason naming the list in |err|
 * (|errsz| bytes): FLEX_E_INVAL (no letters or digits, a protected word
 * removed, opt-out and opt-in at once), FLEX_E_NOTFOUND (removal of a word
 * that is not a default), FLEX_E_TOOLONG (an entry over FLEX_KW_ENTRY_MAX
 * bytes or FLEX_KW_PHRASE_WORDS words), FLEX_E_TOOMANY (a list over
 * FLEX_KW_LIST_MAX entries). */
int flex_keywords_new(struct flex_keywords **out, const char *const *lists, char *err,
                      size_t errsz);
/* Checks one list |text| (borrowed) for list |list| against the defaults of
 * all lists, as flex_keywords_new would; the reason in |err| does not name
 * the list (the caller knows it).  Same return codes. */
int flex_keywords_check(enum flex_kw_list list, const char *text, char *err, size_t errsz);
void flex_keywords_del(struct flex_keywords *kw);
/* "optout", "optin", "help", "confirm", "reschedule", "emergency",
 * "frontdesk_optout"; "?" for anything else. */
const char *flex_keywords_list_name(enum flex_kw_list list);
/* The built-in entries of |list|, comma-separated, normalized (static;
 * "" for anything else): what a [keywords] value extends. */
const char *flex_keywords_default(enum flex_kw_list list);

/* Classifies |len| bytes at |text| (borrowed, any bytes) with |kw| (not
 * NULL) into |*out|.  Only the first FLEX_INTENT_NORM_MAX normalized bytes
 * are read, and of a longer text its end for an opt-out; an empty text is
 * OTHER. */
void flex_intent_classify(const struct flex_keywords *kw, const char *text, size_t len,
                          struct flex_intent_result *out);

/* Normalizes |len| bytes at |text| (borrowed) into |out| (|outsz| bytes),
 * NUL-terminated when |outsz| > 0: only [a-z0-9] and single spaces, none
 * leading or trailing.  A word that does not fit whole is dropped with
 * everything after it.  Returns the length written, without the NUL. */
size_t flex_intent_normalize(const char *text, size_t len, char *out, size_t outsz);

/* "stop", "start", "help", "confirm", "reschedule", "emergency", "other"
 * (also for values outside the enum). */
const char *flex_intent_name(enum flex_intent i);

#endif
