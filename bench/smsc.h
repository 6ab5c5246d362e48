/*
 * The SMSC simulator's engine (bench/smscsim.c is its command line).
 */
#ifndef FLEX_SMSC_H
#define FLEX_SMSC_H

#include <signal.h>
#include <stdint.h>

/* How a receipt names its message (--receipt-ids); the submit_sm_resp
 * always has the id in hex. */
enum smsc_ids { SMSC_IDS_SAME, SMSC_IDS_NOTLV, SMSC_IDS_DEC, SMSC_IDS_DEC_TLV, SMSC_IDS_UPPER };

struct smsc_opts {
    const char *listen;
    const char *system_id;
    const char *password;
    unsigned long dlr_delay_ms;
    double throttle_mps;  /* 0 = never throttle */
    double fail_rate;     /* 0..1: answer fail_status at random */
    uint32_t fail_status; /* 0: ESME_RSYSERR (temporary); 0x0B ESME_RINVDSTADR is permanent */
    const char *mo_file;
    const char *mo_follow; /* lines appended later, each sent once to one receiver */
    double mo_rate;        /* patients' replies per second (bench), 0 = none */
    unsigned mo_senders;   /* ... from this many numbers */
    const char *log_path;
    const char *stats_path;
    const char *mo_to;         /* destination of inbound texts */
    unsigned long max_seconds; /* 0 = run until signalled */
    int dlr_before_resp;       /* tests: the receipt overtakes its submit_sm_resp */
    int dlr_enroute;           /* tests: an intermediate ENROUTE receipt before the final */
    int dlr_twice;             /* tests: the final receipt sent twice (some carriers do) */
    int dlr_other;             /* tests: receipts on another bound session when there is one */
    int receipt_ids;           /* enum smsc_ids: how a receipt names its message */
    /* tests of the engine's joining: the parts of a long inbound text go to
     * the bound receivers in turn (mo_spread), |mo_part_gap_ms| apart; each
     * part is then a deliver_sm of its own, delivered again when its session
     * goes unanswered */
    int mo_spread;
    unsigned long mo_part_gap_ms;
    /* --mo-rate: deliver_sm a session may have unanswered (receipts too)
     * before it gets more texts, as an SMSC's window; 0: no limit */
    unsigned mo_window;
    /* --mo-rate: the texts come from the numbers texted so far, in turn,
     * each to the number that last texted it (as a patient answers the
     * text received); none before the first number is texted */
    int mo_reply;
};

struct smsc;

/* Takes |listen_fd| (listening) and the options (borrowed for its life).
 * Returns NULL after printing why (unreadable --mo-file, --log...). */
struct smsc *smsc_new(const struct smsc_opts *o, int listen_fd);
/* Serves until |*stop| is set or max_seconds pass.  Returns 0, or 1 on an
 * io_uring failure. */
int smsc_run(struct smsc *s, volatile sig_atomic_t *stop);
void smsc_del(struct smsc *s);

#endif
