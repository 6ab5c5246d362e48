/*
 * smscsim: an SMPP 3.4 SMSC simulator for tests and benchmarks.
 *
 *   smscsim [--listen 127.0.0.1:2775] [--system-id flex] [--password flexpass]
 *           [--dlr-delay-ms N] [--throttle-mps N] [--fail-rate P] [--mo-file FILE]
 *           [--log FILE] [--stats FILE] [--mo-to NUMBER] [--mo-follow FILE] [--max-seconds N]
 *           [--dlr-before-resp] [--fail-status CODE] [--dlr-enroute] [--dlr-twice]
 *           [--receipt-ids same|notlv|dec|dec-tlv|upper] [--dlr-other-session]
 *
 * Beyond the contract: --mo-to sets the destination of inbound texts (a
 * line "FROM<TAB>TO<TAB>TEXT" sets its own); --mo-follow FILE sends each
 * line appended to FILE, once, to one bound session in turn (tests send a
 * patient's reply at the moment they choose); --mo-rate N sends N replies a
 * second from --mo-senders numbers (benchmarks of the inbound path), to
 * sessions with fewer than --mo-window deliver_sm unanswered (128; 0: no
 * limit), as an SMSC's window, and with --mo-reply from the numbers texted
 * so far, each to the number that last texted it (as a patient answers;
 * none before the first is texted);
 * --max-seconds stops it after N seconds (a guard for tests), and
 * --dlr-before-resp sends each receipt before its submit_sm_resp (with
 * --dlr-delay-ms 0), the race an ESME must survive; --fail-status sets the
 * command_status of --fail-rate answers (0x0B: a permanent rejection);
 * --dlr-enroute sends an intermediate ENROUTE receipt before each final one
 * and --dlr-twice sends each final receipt twice, as some carriers do;
 * --receipt-ids sets how a receipt names its message, as carriers differ:
 * same (the submit_sm_resp's hex id in the text and the
 * receipted_message_id TLV), notlv (the text only), dec (the same number
 * in decimal in the text, no TLV), dec-tlv (decimal text, hex TLV), upper
 * (upper case with two leading zeros, in both); --dlr-other-session sends
 * each receipt on another bound session than its submit's when there is
 * one (with two flexd: the other process receives it).
 *
 * One thread, one io_uring: multishot accept, one outstanding recv and at
 * most one outstanding send per session, all PDUs of a read decoded at once
 * and all answers of a read sent at once.  Receipts wait in a FIFO (the
 * delay is the same for all, so it is ordered by due time).  It must never be
 * the bottleneck of a benchmark: see docs/benchmarks.md for its ceiling.
 *
 * --log writes one line per message (concatenated parts joined):
 *   DESTINATION <TAB> SOURCE <TAB> DATA_CODING <TAB> TEXT <TAB> MESSAGE_IDS
 * TEXT is UTF-8 with \t, \n, \r and \\ escaped; MESSAGE_IDS is the ids of its
 * parts, comma-separated.  --stats is a JSON object rewritten every second
 * and at exit.  SIGTERM or SIGINT stops it cleanly (stats written, log
 * flushed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "simcommon.h"
#include "smsc.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char usage_text[] =
    "usage: smscsim [--listen 127.0.0.1:2775] [--system-id flex] [--password flexpass]\n"
    "               [--dlr-delay-ms N] [--throttle-mps N] [--fail-rate P] [--mo-file FILE]\n"
    "               [--log FILE] [--stats FILE] [--mo-to NUMBER] [--mo-follow FILE]\n"
    "               [--mo-rate N] [--mo-senders N] [--max-seconds N]\n"
    "               [--dlr-before-resp] [--fail-status CODE] [--dlr-enroute] [--dlr-twice]\n"
    "               [--receipt-ids same|notlv|dec|dec-tlv|upper] [--dlr-other-session]\n"
    "               [--mo-spread] [--mo-part-gap-ms N] [--mo-window N] [--mo-reply]\n";

static int parse_args(int argc, char **argv, struct smsc_opts *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"system-id", required_argument, NULL, 's'},
        {"password", required_argument, NULL, 'p'},
        {"dlr-delay-ms", required_argument, NULL, 'd'},
        {"throttle-mps", required_argument, NULL, 't'},
        {"fail-rate", required_argument, NULL, 'f'},
        {"mo-file", required_argument, NULL, 'm'},
        {"mo-follow", required_argument, NULL, 'M'},
        {"mo-rate", required_argument, NULL, 'R'},
        {"mo-senders", required_argument, NULL, 'N'},
        {"log", required_argument, NULL, 'L'},
        {"stats", required_argument, NULL, 'S'},
        {"mo-to", required_argument, NULL, 'T'},
        {"max-seconds", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"dlr-before-resp", no_argument, NULL, 'B'},
        {"fail-status", required_argument, NULL, 'F'},
        {"dlr-enroute", no_argument, NULL, 'E'},
        {"dlr-twice", no_argument, NULL, 'W'},
        {"receipt-ids", required_argument, NULL, 'I'},
        {"dlr-other-session", no_argument, NULL, 'O'},
        {"mo-spread", no_argument, NULL, 'P'},
        {"mo-part-gap-ms", required_argument, NULL, 'G'},
        {"mo-window", required_argument, NULL, 'Y'},
        {"mo-reply", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 's': o->system_id = optarg; break;
        case 'p': o->password = optarg; break;
        case 'd': o->dlr_delay_ms = strtoul(optarg, NULL, 10); break;
        case 't': o->throttle_mps = strtod(optarg, NULL); break;
        case 'f': o->fail_rate = strtod(optarg, NULL); break;
        case 'm': o->mo_file = optarg; break;
        case 'M': o->mo_follow = optarg; break;
        case 'R': o->mo_rate = strtod(optarg, NULL); break;
        case 'N': o->mo_senders = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'L': o->log_path = optarg; break;
        case 'S': o->stats_path = optarg; break;
        case 'T': o->mo_to = optarg; break;
        case 'x': o->max_seconds = strtoul(optarg, NULL, 10); break;
        case 'B': o->dlr_before_resp = 1; break;
        case 'F': o->fail_status = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'E': o->dlr_enroute = 1; break;
        case 'W': o->dlr_twice = 1; break;
        case 'O': o->dlr_other = 1; break;
        case 'P': o->mo_spread = 1; break;
        case 'G': o->mo_part_gap_ms = strtoul(optarg, NULL, 10); break;
        case 'Y': o->mo_window = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': o->mo_reply = 1; break;
        case 'I':
            o->receipt_ids = strcmp(optarg, "same") == 0      ? SMSC_IDS_SAME
                             : strcmp(optarg, "notlv") == 0   ? SMSC_IDS_NOTLV
                             : strcmp(optarg, "dec") == 0     ? SMSC_IDS_DEC
                             : strcmp(optarg, "dec-tlv") == 0 ? SMSC_IDS_DEC_TLV
                             : strcmp(optarg, "upper") == 0   ? SMSC_IDS_UPPER
                                                              : -1;
            if (o->receipt_ids < 0) {
                fprintf(stderr, "smscsim: --receipt-ids: same, notlv, dec, dec-tlv or upper\n");
                return -1;
            }
            break;
        case 'h': fputs(usage_text, stdout); exit(0);
        default: fputs(usage_text, stderr); return -1;
        }
    }
    if (optind != argc || o->fail_rate < 0 || o->fail_rate > 1 || o->throttle_mps < 0 ||
        o->mo_rate < 0 || o->mo_senders < 1 || o->mo_senders > 100000) {
        fputs(usage_text, stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct smsc_opts o = {
        .listen = "127.0.0.1:2775",
        .system_id = "flex",
        .password = "flexpass",
        .mo_to = "12025550100",
        .mo_senders = 100000,
        .mo_window = 128,
    };
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    int lfd = sim_listen_on("smscsim", o.listen, 0, 128);
    if (lfd < 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct smsc *s = smsc_new(&o, lfd);
    if (!s)
        return 1;
    int rc = smsc_run(s, &stop_flag);
    smsc_del(s);
    close(lfd);
    return rc;
}
