/* Reply classification: the decided hard cases, the normalizer, and the
 * [keywords] lists (extension, removal, what can never be removed). */
#include "test_common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "intent.h"

#define STOP FLEX_INTENT_STOP
#define START FLEX_INTENT_START
#define HELP FLEX_INTENT_HELP
#define CONF FLEX_INTENT_CONFIRM
#define RESC FLEX_INTENT_RESCHEDULE
#define EMER FLEX_INTENT_EMERGENCY
#define OTHR FLEX_INTENT_OTHER

struct tcase {
    const char *text;
    enum flex_intent intent;
    bool frontdesk, urgent;
};

/* Real phrasings and what they must give.  fd = also for the front desk:
 * always for other, reschedule and emergency; for CANCEL-like opt-outs;
 * and whenever the text says more than its keywords. */
static const struct tcase cases[] = {
    /* The contract's words, any case, spaces and punctuation ignored. */
    {"STOP", STOP, false, false},
    {"Stop.", STOP, false, false},
    {" stop!! ", STOP, false, false},
    {"STOP 🛑", STOP, false, false},
    {"STOPALL", STOP, false, false},
    {"Unsubscribe", STOP, false, false},
    {"END", STOP, false, false},
    {"quit", STOP, false, false},
    {"REVOKE", STOP, false, false},
    {"ＳＴＯＰ", STOP, false, false}, /* fullwidth */
    /* Look-alike letters: styled alphabets, small capitals, Cyrillic and
     * Greek letters drawn as Latin ones (engine/text/intent.c). */
    {"𝐒𝐓𝐎𝐏", STOP, false, false},                     /* mathematical bold */
    {"𝕊𝕋𝕆ℙ", STOP, false, false},                     /* double-struck, P from letterlike */
    {"𝓈𝓉ℴ𝓅", STOP, false, false},                     /* script, o from letterlike */
    {"ⓈⓉⓄⓅ", STOP, false, false},                     /* circled */
    {"🆂🆃🅾🅿", STOP, false, false},                     /* negative squared */
    {"ꜱᴛᴏᴘ", STOP, false, false},                     /* small capitals */
    {"\u0405\u0422\u041e\u0420", STOP, false, false}, /* Cyrillic DZE, TE, O, ER */
    {"ST\u041eP", STOP, false, false},                /* one Cyrillic O among Latin letters */
    {"\u0399 \u03bfpt \u03bfut", STOP, false, false}, /* Greek iota, omicron */
    {"𝗖", CONF, false, false},                        /* sans-serif bold C */
    {"\u0421\u0422\u041e\u041f", OTHR, true, false},  /* Russian STOP, not look-alikes */
    /* CANCEL opts out (contract) but may mean the visit: the desk sees it. */
    {"CANCEL", STOP, true, false},
    {"Cancel.", STOP, true, false},
    {"Cancelar", STOP, true, false},
    /* ... while a cancellation of the visit is a reschedule request. */
    {"cancel my appointment", RESC, true, false},
    {"I need to cancel my appt", RESC, true, false},
    /* Opt-out wins over anything said with it. */
    {"Yes please stop", STOP, false, false},
    {"ok stop", STOP, false, false},
    {"Stop. I moved to Ohio", STOP, true, false},
    {"Stop. I have severe pain", STOP, true, true},
    {"STOP!!! Wrong number", STOP, true, false},
    /* FCC 2024: any reasonable opt-out wording. */
    {"Stop texting me", STOP, false, false},
    {"please stop texting me", STOP, false, false},
    {"stop sending me these", STOP, false, false},
    {"opt out", STOP, false, false},
    {"opt-out", STOP, false, false},
    {"Remove me from your list", STOP, true, false},
    {"unsubscribe me", STOP, false, false},
    {"Don't text me!", STOP, false, false},
    {"Do not text me", STOP, false, false},
    {"no more texts", STOP, false, false},
    {"No texts please", STOP, false, false},
    {"leave me alone", STOP, false, false},
    {"I said STOP", STOP, false, false},
    {"No, stop texting me", STOP, true, false}, /* "no" is not a negation of an opt-out */
    {"Wrong number", STOP, true, false},
    {"PARAR", STOP, false, false},
    {"Alto", STOP, false, false},
    {"Basta ya", STOP, false, false},
    {"Ya no me manden mensajes", STOP, false, false},
    /* Unpunctuated: a STOP at the end of what a patient says, a negation
     * that belongs to an earlier clause (review of 2026-12-01). */
    {"no stop", STOP, false, false},
    {"nope stop", STOP, false, false},
    {"Not me stop", STOP, true, false},
    {"not interested stop", STOP, true, false},
    {"This is not Maria stop", STOP, true, false},
    {"I dont know who this is stop", STOP, true, false},
    {"I'm not Bob please stop texting me", STOP, true, false},
    {"I'm not your patient stop texting me", STOP, true, false},
    {"I didn't sign up stop sending me messages", STOP, true, false},
    {"Not interested stop texting me", STOP, true, false},
    {"Not now, I just want you to stop", STOP, true, false},
    /* More wordings of the FCC's "reasonable means". */
    {"Do not text this number", STOP, false, false},
    {"Dont text this number", STOP, false, false},
    {"Never text me again", STOP, true, false},
    {"Don't ever text me again", STOP, true, false},
    {"Unsubscribe from these texts", STOP, false, false},
    {"Please remove this number", STOP, false, false},
    {"Stop the spam", STOP, false, false},
    {"Take me off", STOP, false, false},
    {"take me off your list", STOP, false, false},
    {"No quiero mas mensajes", STOP, false, false},
    {"Dejen de mandar mensajes", STOP, false, false},
    {"No envien mas mensajes", STOP, true, false},
    {"Paren", STOP, false, false},
    {"Desuscribir", STOP, false, false},
    /* Negated or another meaning: not an opt-out. */
    {"I got no texts about my appointment", OTHR, true, false},
    {"No messages received", OTHR, true, false},
    {"no messages from you yet", OTHR, true, false},
    {"Take me off the waitlist", OTHR, true, false},
    {"Take me off the cancellation list", OTHR, true, false},
    {"When will the pain stop?", OTHR, true, false},
    {"How do I make it stop", OTHR, true, false},
    {"I don't want you to stop", OTHR, true, false},
    {"I didn't say stop", OTHR, true, false},
    {"don't stop", OTHR, true, false},
    {"dont stop", OTHR, true, false},
    {"Please don't stop texting me", OTHR, true, false},
    {"Please don't ever stop texting me", OTHR, true, false}, /* two words between */
    {"dont you ever stop", OTHR, true, false},                /* the negation 3 words back */
    {"stop by at 3?", OTHR, true, false},
    {"Can I stop by the office later?", OTHR, true, false},
    {"the end", OTHR, true, false},
    {"I never said stop", OTHR, true, false},
    /* Typos of a one-word opt-out: taken, and shown to the desk. */
    {"Stpo", STOP, true, false},
    {"sotp", STOP, true, false},
    {"stoooop", STOP, true, false},
    {"STOPP!", STOP, true, false},
    {"unsubcribe", STOP, true, false},
    {"Cancle", STOP, true, false},
    /* ... but real words nearby are not. */
    {"spot", OTHR, true, false},
    {"top", OTHR, true, false},
    {"step", OTHR, true, false},
    {"shop", OTHR, true, false},
    {"cancer", OTHR, true, false},
    {"stopped", OTHR, true, false},
    /* Opt back in; "yes" is not an opt-in. */
    {"START", START, false, false},
    {"unstop", START, false, false},
    {"Start please", START, false, false},
    /* Help. */
    {"HELP", HELP, false, false},
    {"info", HELP, false, false},
    {"ayuda", HELP, false, false},
    {"Who is this?", HELP, false, false},
    /* Confirm. */
    {"Yes", CONF, false, false},
    {"y", CONF, false, false},
    {"C", CONF, false, false},
    {"c.", CONF, false, false},
    {"Confirmed!", CONF, false, false},
    {"Sí", CONF, false, false},
    {"SÍ", CONF, false, false},
    {"si confirmo", CONF, false, false},
    {"Yes I will be there", CONF, false, false},
    {"OK see you then", CONF, false, false},
    {"Yes 👍", CONF, false, false},
    {"C. Can I bring my son?", CONF, true, false},
    {"Yes, confirmed for 9:30", CONF, true, false},
    {"Dr. C. Smith is great", OTHR, true, false}, /* a lone letter mid-text is not a reply */
    {"I can't confirm", OTHR, true, false},
    /* Reschedule. */
    {"R", RESC, true, false},
    {"can I reschedule?", RESC, true, false},
    {"need to change my appointment", RESC, true, false},
    {"I can't make it", RESC, true, false},
    {"Yes, but I'd like to reschedule", RESC, true, false},
    {"Can we do a different day?", RESC, true, false},
    {"Necesito cambiar mi cita", RESC, true, false},
    {"Don't cancel my appointment", OTHR, true, false},
    {"No quiero cancelar mi cita", OTHR, true, false},
    {"no need to reschedule", OTHR, true, false},
    /* Emergency: urgent, for the desk; a negation close before cancels it. */
    {"my tooth is broken and bleeding", EMER, true, true},
    {"severe pain", EMER, true, true},
    {"swelling", EMER, true, true},
    {"emergency", EMER, true, true},
    {"My face is swollen", EMER, true, true},
    {"It won't stop bleeding", EMER, true, true},
    {"Help! My tooth got knocked out", EMER, true, true},
    {"tengo mucho dolor", EMER, true, true},
    {"No swelling, just a little sensitive", OTHR, true, false},
    {"Not urgent, but can I reschedule?", RESC, true, false},
    /* Everything else goes to the desk. */
    {"Thanks!", OTHR, true, false},
    {"", OTHR, true, false},
    {"   ", OTHR, true, false},
    {"👍", OTHR, true, false}, /* emoji are stripped: nothing is left */
    {"No", OTHR, true, false},
    {"What time is my appointment?", OTHR, true, false},
    {"S T O P", OTHR, true, false},
    {"\xff\xfe stop \xc0", STOP, false, false}, /* invalid bytes separate words */
};

/* A long complaint (over what a scan reads) ending in STOP opts out; one
 * that does not, does not. */
static void test_intent_long_text_tail(void **state)
{
    (void)state;
    struct flex_keywords *kw = NULL;
    char err[256] = "";
    assert_int_equal(flex_keywords_new(&kw, NULL, err, sizeof(err)), 0);
    char text[2400] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, "I waited an hour at the office and nobody called me back. ");
    size_t base = strlen(text);
    struct flex_intent_result r;
    strcat(text, "STOP");
    flex_intent_classify(kw, text, strlen(text), &r);
    assert_int_equal(r.intent, STOP);
    assert_true(r.frontdesk);
    text[base] = '\0';
    strcat(text, "Please call me.");
    flex_intent_classify(kw, text, strlen(text), &r);
    assert_int_equal(r.intent, OTHR);
    text[base] = '\0';
    strcat(text, "Stop texting me");
    flex_intent_classify(kw, text, strlen(text), &r);
    assert_int_equal(r.intent, STOP);
    flex_keywords_del(kw);
}

static struct flex_keywords *defaults(void)
{
    struct flex_keywords *kw = NULL;
    char err[256] = "";
    int rc = flex_keywords_new(&kw, NULL, err, sizeof(err));
    if (rc != 0)
        fail_msg("built-in lists refused: %s", err);
    return kw;
}

static void expect(const struct flex_keywords *kw, const struct tcase *c)
{
    struct flex_intent_result r;
    flex_intent_classify(kw, c->text, strlen(c->text), &r);
    if (r.intent != c->intent || r.frontdesk != c->frontdesk || r.urgent != c->urgent)
        fail_msg("'%s': got %s fd=%d urgent=%d, want %s fd=%d urgent=%d", c->text,
                 flex_intent_name(r.intent), r.frontdesk, r.urgent, flex_intent_name(c->intent),
                 c->frontdesk, c->urgent);
}

static void test_intent_table(void **state)
{
    (void)state;
    struct flex_keywords *kw = defaults();
    assert_true(sizeof(cases) / sizeof(cases[0]) >= 60);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(kw, &cases[i]);
    flex_keywords_del(kw);
}

static void norm_is(const char *in, size_t outsz, const char *want)
{
    char out[256];
    memset(out, 'X', sizeof(out));
    size_t n = flex_intent_normalize(in, strlen(in), out, outsz);
    if (strcmp(out, want) != 0 || n != strlen(want))
        fail_msg("normalize('%s', %zu) = '%s' (%zu), want '%s'", in, outsz, out, n, want);
    assert_int_equal(out[outsz], 'X'); /* nothing written past outsz */
}

static void test_intent_normalize(void **state)
{
    (void)state;
    norm_is("  STOP!!  ", 64, "stop");
    norm_is("Don't   stop\t\nnow", 64, "dont stop now");
    norm_is("Don’t", 64, "dont");           /* U+2019 as an apostrophe */
    norm_is("opt-out", 64, "optout");       /* a hyphen joins letters */
    norm_is("stop -- now", 64, "stop now"); /* ... not anything else */
    norm_is("SÍ, CONFIRMO", 64, "si confirmo");
    norm_is("Ñandú Çava Œuvre Straße ÆØÅ Łódź", 64, "nandu cava oeuvre strasse aeoa lodz");
    norm_is("si\xcc\x81", 64, "si"); /* combining acute dropped */
    norm_is("¿Qué? ¡Sí!", 64, "que si");
    norm_is("ＹＥＳ", 64, "yes");
    norm_is("STOP 🛑🛑 now", 64, "stop now");
    norm_is("st\xe2\x80\x8bop", 64, "stop"); /* zero-width space */
    norm_is("a\xff\xfe"
            "b\xc3",
            64, "a b"); /* invalid bytes separate */
    norm_is("2×3", 64, "2 3");
    norm_is("СТОП stop", 64, "stop");                /* other scripts separate */
    norm_is("Спасибо, ок", 64, "ok");                /* a Russian word stays whole: not "c ac o" */
    norm_is("ΟΚ Ευχαριστώ", 64, "ok");               /* Greek: "OK" folds, a Greek word does not */
    norm_is("𝐒𝐓𝐎𝐏 ꜱᴛᴏᴘ ⓢⓣⓞⓟ", 64, "stop stop stop"); /* styles fold in any word */
    norm_is("", 64, "");
    norm_is("!!!", 64, "");
    /* Bounded: a word that does not fit is dropped whole. */
    norm_is("stop texting me", 5, "stop");
    norm_is("stop texting me", 12, "stop");
    norm_is("stop texting me", 13, "stop texting");
    norm_is("stop texting me", 16, "stop texting me");
    norm_is("Straße", 6, "");
    norm_is("stop", 1, "");
    char out[4] = "abc";
    assert_int_equal(flex_intent_normalize("stop", 4, out, 0), 0);
    assert_string_equal(out, "abc");
}

static void test_intent_names(void **state)
{
    (void)state;
    assert_string_equal(flex_intent_name(FLEX_INTENT_STOP), "stop");
    assert_string_equal(flex_intent_name(FLEX_INTENT_START), "start");
    assert_string_equal(flex_intent_name(FLEX_INTENT_HELP), "help");
    assert_string_equal(flex_intent_name(FLEX_INTENT_CONFIRM), "confirm");
    assert_string_equal(flex_intent_name(FLEX_INTENT_RESCHEDULE), "reschedule");
    assert_string_equal(flex_intent_name(FLEX_INTENT_EMERGENCY), "emergency");
    assert_string_equal(flex_intent_name(FLEX_INTENT_OTHER), "other");
    assert_string_equal(flex_intent_name((enum flex_intent)99), "other");
    assert_string_equal(flex_keywords_list_name(FLEX_KW_FRONTDESK_OPTOUT), "frontdesk_optout");
    assert_string_equal(flex_keywords_list_name(FLEX_KW_N), "?");
}

/* The built-in lists are inserted as written: each entry must already be
 * what the normalizer makes of it, and within the entry limits. */
static void test_intent_defaults_are_normal(void **state)
{
    (void)state;
    for (int l = 0; l < FLEX_KW_N; l++) {
        const char *s = flex_keywords_default((enum flex_kw_list)l);
        assert_true(strlen(s) > 0);
        for (;;) {
            const char *comma = strchr(s, ',');
            size_t len = comma ? (size_t)(comma - s) : strlen(s);
            while (len && *s == ' ')
                s++, len--;
            char norm[128];
            size_t n = flex_intent_normalize(s, len, norm, sizeof(norm));
            unsigned words = 1;
            for (size_t i = 0; i < n; i++)
                words += norm[i] == ' ';
            if (n != len || memcmp(norm, s, n) != 0 || n > FLEX_KW_ENTRY_MAX ||
                words > FLEX_KW_PHRASE_WORDS)
                fail_msg("%s: '%.*s' is not normalized ('%s')",
                         flex_keywords_list_name((enum flex_kw_list)l), (int)len, s, norm);
            if (!comma)
                break;
            s = comma + 1;
        }
    }
    assert_string_equal(flex_keywords_default(FLEX_KW_N), "");
}

static struct flex_keywords *with(enum flex_kw_list l, const char *text)
{
    const char *lists[FLEX_KW_N] = {0};
    char err[256] = "";
    struct flex_keywords *kw = NULL;
    lists[l] = text;
    if (flex_keywords_new(&kw, lists, err, sizeof(err)) != 0)
        fail_msg("'%s' refused: %s", text, err);
    return kw;
}

static void is(const struct flex_keywords *kw, const char *text, enum flex_intent want)
{
    struct flex_intent_result r;
    flex_intent_classify(kw, text, strlen(text), &r);
    if (r.intent != want)
        fail_msg("'%s': got %s, want %s", text, flex_intent_name(r.intent), flex_intent_name(want));
}

static void test_intent_lists_extend(void **state)
{
    (void)state;
    struct flex_keywords *kw = with(FLEX_KW_OPTOUT, "Take me off your list, ENOUGH");
    is(kw, "please take me off your list", STOP);
    is(kw, "Enough!", STOP);
    is(kw, "STOP", STOP); /* defaults still there */
    flex_keywords_del(kw);
    kw = with(FLEX_KW_CONFIRM, " yass , sounds good ,, ");
    is(kw, "Yass", CONF);
    is(kw, "Sounds good, thanks", CONF);
    is(kw, "That never sounds good", OTHR); /* negated */
    is(kw, "c", CONF);
    flex_keywords_del(kw);
    kw = with(FLEX_KW_EMERGENCY, "dry socket");
    is(kw, "I think I have a dry socket", EMER);
    flex_keywords_del(kw);
    kw = with(FLEX_KW_FRONTDESK_OPTOUT, "moved away");
    struct flex_intent_result r;
    flex_intent_classify(kw, "We moved away", 13, &r);
    assert_int_equal(r.intent, STOP);
    assert_true(r.frontdesk);
    flex_keywords_del(kw);
}

static void test_intent_lists_remove(void **state)
{
    (void)state;
    struct flex_keywords *kw = with(FLEX_KW_CONFIRM, "-c, -Y, okey dokey");
    is(kw, "c", OTHR);
    is(kw, "y", OTHR);
    is(kw, "yes", CONF);
    is(kw, "okey dokey", CONF);
    flex_keywords_del(kw);
    kw = with(FLEX_KW_OPTOUT, "-alto, -remove me");
    is(kw, "alto", OTHR);
    is(kw, "remove me", STOP); /* the word "remove" is still there, "me" a filler */
    flex_keywords_del(kw);
    kw = with(FLEX_KW_OPTOUT, "-remove, -remove me");
    is(kw, "remove me", OTHR);
    is(kw, "stop", STOP);
    flex_keywords_del(kw);
    kw = with(FLEX_KW_OPTOUT, "-parar");
    is(kw, "prara", OTHR); /* no longer a typo of an opt-out word */
    flex_keywords_del(kw);
}

static void refused(enum flex_kw_list l, const char *text, int code, const char *reason)
{
    const char *lists[FLEX_KW_N] = {0};
    char err[256] = "", one[256] = "";
    struct flex_keywords *kw = NULL;
    lists[l] = text;
    assert_int_equal(flex_keywords_new(&kw, lists, err, sizeof(err)), code);
    assert_null(kw);
    /* Every reason names its list, but a conflict between two lists. */
    bool named = strncmp(err, flex_keywords_list_name(l), strlen(flex_keywords_list_name(l))) == 0;
    if (!strstr(err, reason) || named == (strstr(err, "cannot be both") != NULL))
        fail_msg("'%s': reason '%s' lacks the list name or '%s'", text, err, reason);
    /* The one-list check gives the same verdict, without the list name. */
    assert_int_equal(flex_keywords_check(l, text, one, sizeof(one)), code);
    assert_non_null(strstr(one, reason));
}

static void test_intent_lists_refused(void **state)
{
    (void)state;
    const char *keep[] = {"-STOP",   "-stopall", "-Unsubscribe", "-end",  "-QUIT",
                          "-revoke", "-opt out", "-opt-out",     "-st-op"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        refused(FLEX_KW_OPTOUT, keep[i], FLEX_E_INVAL, "must always work");
    refused(FLEX_KW_FRONTDESK_OPTOUT, "-cancel", FLEX_E_INVAL, "cannot be removed");
    refused(FLEX_KW_OPTIN, "-START", FLEX_E_INVAL, "cannot be removed");
    refused(FLEX_KW_OPTIN, "-unstop", FLEX_E_INVAL, "cannot be removed");
    refused(FLEX_KW_CONFIRM, "-stop", FLEX_E_INVAL, "cannot be removed");
    refused(FLEX_KW_CONFIRM, "-zz", FLEX_E_NOTFOUND, "not a built-in confirm keyword");
    refused(FLEX_KW_HELP, "-yes", FLEX_E_NOTFOUND, "not a built-in help keyword");
    refused(FLEX_KW_OPTIN, "stop", FLEX_E_INVAL, "another list");
    refused(FLEX_KW_HELP, "YES", FLEX_E_INVAL, "another list");
    refused(FLEX_KW_OPTOUT, "start", FLEX_E_INVAL, "another list");
    refused(FLEX_KW_OPTOUT, "subscribe", FLEX_E_INVAL, "both an opt-out and an opt-in");
    refused(FLEX_KW_CONFIRM, "ok, 🛑", FLEX_E_INVAL, "no letters or digits");
    refused(FLEX_KW_CONFIRM, "-", FLEX_E_INVAL, "no letters or digits");
    refused(FLEX_KW_CONFIRM, "one two three four five six seven eight nine", FLEX_E_TOOLONG,
            "words");
    char many[4096] = "";
    for (int i = 0; i < 300; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "w%d,", i);
    refused(FLEX_KW_CONFIRM, many, FLEX_E_TOOMANY, "more than 256");
    /* Two lists that contradict each other only together. */
    const char *both[FLEX_KW_N] = {[FLEX_KW_OPTOUT] = "zork", [FLEX_KW_OPTIN] = "zork"};
    char err[256];
    struct flex_keywords *kw = NULL;
    assert_int_equal(flex_keywords_new(&kw, both, err, sizeof(err)), FLEX_E_INVAL);
    assert_non_null(strstr(err, "'zork' cannot be both"));
    assert_int_equal(flex_keywords_check(FLEX_KW_N, "x", err, sizeof(err)), FLEX_E_INVAL);
}

/* Immutable after build: many threads classify with one set at once (TSan
 * checks the claim under make tsan). */
static void *classify_all(void *arg)
{
    for (int r = 0; r < 200; r++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            expect(arg, &cases[i]);
    return NULL;
}

static void test_intent_shared_by_threads(void **state)
{
    (void)state;
    struct flex_keywords *kw = defaults();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, classify_all, kw), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    flex_keywords_del(kw);
}

/* A text longer than what is read is never a pure keyword reply. */
static void test_intent_long_texts(void **state)
{
    (void)state;
    struct flex_keywords *kw = defaults();
    static char text[8192];
    size_t n = 0;
    while (n + 7 < sizeof(text))
        n += (size_t)snprintf(text + n, sizeof(text) - n, "thanks ");
    struct flex_intent_result r;
    flex_intent_classify(kw, text, n, &r);
    assert_int_equal(r.intent, OTHR);
    memcpy(text, "STOP.", 5); /* a first sentence still counts */
    flex_intent_classify(kw, text, n, &r);
    assert_int_equal(r.intent, STOP);
    assert_true(r.frontdesk);
    flex_keywords_del(kw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intent_table),
        cmocka_unit_test(test_intent_long_text_tail),
        cmocka_unit_test(test_intent_normalize),
        cmocka_unit_test(test_intent_names),
        cmocka_unit_test(test_intent_defaults_are_normal),
        cmocka_unit_test(test_intent_lists_extend),
        cmocka_unit_test(test_intent_lists_remove),
        cmocka_unit_test(test_intent_lists_refused),
        cmocka_unit_test(test_intent_shared_by_threads),
        cmocka_unit_test(test_intent_long_texts),
    };
    return cmocka_run_group_tests_name("intent", tests, NULL, NULL);
}
