/*
 * flexd, the dispatch engine.
 *
 * This build validates configuration (--check-config) and reports its
 * version and libraries; the dispatch pipeline itself lands with its own
 * issue (see docs/architecture.md for the design it is built toward).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <hiredis.h>
#include <liburing.h>
#include <openssl/crypto.h>
#include <protobuf-c/protobuf-c.h>
#ifndef FLEX_NO_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "config.h"
#include "err.h"
#include "flex.pb-c.h"
#include "mem.h"
#include "sms.h"
#include "tmpl.h"
#include "version.h"

static const char usage_text[] =
    "usage: flexd -c FILE [-D SECTION.KEY=VALUE]... [--check-config] [--version] [--help]\n"
    "\n"
    "  -c FILE           configuration file (INI)\n"
    "  -D S.KEY=VALUE    override one key after the file is read; named sections\n"
    "                    as S.NAME.KEY (-D carrier.primary.port=2776)\n"
    "  --check-config    validate the configuration and exit: 0 valid, 2 not\n"
    "  --preview         render every template for every location with sample\n"
    "                    values, showing coding and SMS parts, and exit\n"
    "  --version         print the version and the libraries in use\n"
    "  --help            this text\n";

static void print_diag(void *arg, const char *file, unsigned line, const char *msg)
{
    (void)arg;
    fprintf(stderr, "%s:%u: %s\n", file, line, msg);
}

static const char *allocator_version(void)
{
#ifndef FLEX_NO_JEMALLOC
    static const char *v = "jemalloc";
    size_t sz = sizeof(v);
    const char *jv;
    if (mallctl("version", &jv, &sz, NULL, 0) == 0)
        return jv;
    return v;
#else
    return "libc malloc (sanitizer build)";
#endif
}

static void print_version(void)
{
    struct io_uring ring;
    int uring = io_uring_queue_init(2, &ring, 0);
    if (uring == 0)
        io_uring_queue_exit(&ring);
    /* Packing an empty Job proves the generated schema code is linked. */
    Flex__V1__Job job = FLEX__V1__JOB__INIT;
    printf("flexd %s\n", FLEX_VERSION);
    printf("  liburing    io_uring %s\n", uring == 0 ? "available" : "unavailable");
    printf("  hiredis     %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("  protobuf-c  %s (flex.v1 Job empty size %zu)\n", protobuf_c_version(),
           flex__v1__job__get_packed_size(&job));
    printf("  libcurl     %s\n", curl_version());
    printf("  openssl     %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  allocator   %s\n", allocator_version());
}

static int check_config(const char *path, const struct flex_cfg_override *ov, size_t nov)
{
    struct flex_cfg *cfg;
    int rc = flex_cfg_load(&cfg, path, ov, nov, print_diag, NULL);
    if (rc == 0) {
        printf("%s: configuration ok (%zu carriers, %zu locations, %zu templates)\n", path,
               cfg->ncarriers, cfg->nlocations, cfg->ntemplates);
        flex_cfg_del(cfg);
        return 0;
    }
    if (rc != FLEX_E_CONFIG)
        fprintf(stderr, "%s:0: cannot read: %s\n", path, flex_strerror(rc));
    return 2;
}

/* Renders |t| for |loc| with fictional sample values and prints its cost. */
static void preview_one(const struct flex_cfg_template *t, const struct flex_cfg_location *loc,
                        struct flex_sms *sms)
{
    const char *vals[FLEX_TMPL_NVARS] = {"Alexandra",   loc->name,  loc->phone,
                                         "Wed, Dec 10", "10:30 AM", "Dr. Martinez"};
    struct flex_tmpl_vars v = {0};
    for (int i = 0; i < FLEX_TMPL_NVARS; i++) {
        v.v[i] = vals[i];
        v.len[i] = strlen(vals[i]);
    }
    char out[4096];
    struct flex_text_error err;
    long n = flex_tmpl_render(t->tmpl, &v, out, sizeof(out), NULL);
    if (n < 0 || flex_sms_encode(sms, out, (size_t)n, FLEX_SMS_MAX_PARTS, &err) != 0) {
        printf("  %-15s %-6s cannot render: %s\n", t->name, loc->id,
               flex_strerror(n < 0 ? (int)n : err.code));
        return;
    }
    printf("  %-15s %-6s %-5s %u part%s %3u %s | %s\n", t->name, loc->id,
           sms->coding == FLEX_SMS_GSM7 ? "GSM-7" : "UCS-2", sms->nparts,
           sms->nparts == 1 ? " " : "s", sms->units,
           sms->coding == FLEX_SMS_GSM7 ? "septets" : "units  ", out);
}

static int preview(const char *path, const struct flex_cfg_override *ov, size_t nov)
{
    struct flex_cfg *cfg;
    if (flex_cfg_load(&cfg, path, ov, nov, print_diag, NULL) != 0)
        return check_config(path, ov, nov);
    struct flex_sms *sms = flex_malloc(sizeof(*sms));
    for (size_t t = 0; t < cfg->ntemplates; t++)
        for (size_t l = 0; l < cfg->nlocations; l++)
            preview_one(&cfg->templates[t], &cfg->locations[l], sms);
    flex_free(sms);
    flex_cfg_del(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"check-config", no_argument, NULL, 'k'},
        {"preview", no_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    struct flex_cfg_override *ov = flex_calloc((size_t)argc, sizeof(*ov));
    size_t nov = 0;
    int check = 0, c; /* 1: --check-config, 2: --preview */
    while ((c = getopt_long(argc, argv, "c:D:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'D': ov[nov++].text = optarg; break;
        case 'k': check = 1; break;
        case 'p': check = 2; break;
        case 'V':
            print_version();
            flex_free(ov);
            return 0;
        case 'h':
            fputs(usage_text, stdout);
            flex_free(ov);
            return 0;
        default:
            fputs(usage_text, stderr);
            flex_free(ov);
            return 2;
        }
    }
    int rc;
    if (optind != argc || !path) {
        fputs(usage_text, stderr);
        rc = 2;
    } else if (check == 1) {
        rc = check_config(path, ov, nov);
    } else if (check == 2) {
        rc = preview(path, ov, nov);
    } else {
        fputs(usage_text, stderr);
        fprintf(stderr,
                "\nflexd %s: the dispatch engine is not built yet; "
                "--check-config and --version work.\n",
                FLEX_VERSION);
        rc = 2;
    }
    flex_free(ov);
    return rc;
}
