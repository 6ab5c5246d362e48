/* UTF-8 -> GSM 03.38 / UCS-2 with segmentation.  Oracle: an accepted text
 * decodes back to exactly the input (a U+0000, which only UCS-2 carries,
 * to U+FFFD: the decoder never ends a text early), and parts respect the
 * limits and never split an escape or surrogate pair. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gsm7.h"
#include "sms.h"
#include "utf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flex_sms sms;
static char back[FLEX_SMS_BUF * 4 + 1];
static char want[FLEX_SMS_BUF * 4 * 3 + 1];

static void check_parts(void)
{
    size_t unit = sms.coding == FLEX_SMS_GSM7 ? 1 : 2;
    size_t limit = sms.nparts == 1 ? (unit == 1 ? 160 : 140) : (unit == 1 ? 153 : 134);
    for (unsigned i = 0; i < sms.nparts; i++) {
        size_t start = flex_sms_part_start(&sms, i), end = sms.part_end[i];
        if (end <= start || end - start > limit || end > sms.len)
            abort();
        if (i + 1 < sms.nparts) {
            const unsigned char *last = sms.data + end - unit;
            if (unit == 1 && last[0] == FLEX_GSM7_ESC)
                abort();
            if (unit == 2 && last[0] >= 0xD8 && last[0] <= 0xDB)
                abort();
        }
    }
    if (sms.part_end[sms.nparts - 1] != sms.len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_text_error err;
    int rc = flex_sms_encode(&sms, (const char *)data, size, FLEX_SMS_MAX_PARTS, &err);
    if (rc != 0) {
        if (err.offset > size)
            abort();
        return 0;
    }
    check_parts();
    long n = sms.coding == FLEX_SMS_GSM7
                 ? flex_gsm7_decode(sms.data, sms.len, back, sizeof(back))
                 : flex_utf16be_to_utf8(sms.data, sms.len, back, sizeof(back));
    size_t wl = 0; /* the input, its NULs as U+FFFD (valid UTF-8: a 0 byte is only U+0000) */
    for (size_t i = 0; i < size && wl + 3 < sizeof(want); i++) {
        if (data[i] == 0 && sms.coding == FLEX_SMS_UCS2) {
            memcpy(want + wl, "\xEF\xBF\xBD", 3);
            wl += 3;
        } else {
            want[wl++] = (char)data[i];
        }
    }
    if (n < 0 || (size_t)n != wl || memcmp(back, want, wl) != 0)
        abort();
    return 0;
}
