#include "err.h"

#include <string.h>

const char *flex_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case FLEX_E_INVAL: return "invalid value";
    case FLEX_E_SYNTAX: return "syntax error";
    case FLEX_E_RANGE: return "value out of range";
    case FLEX_E_TOOLONG: return "too long";
    case FLEX_E_TOOSHORT: return "too short";
    case FLEX_E_NOSPACE: return "output buffer too small";
    case FLEX_E_LETTERS: return "contains letters";
    case FLEX_E_AREACODE: return "invalid NANP area code";
    case FLEX_E_EXCHANGE: return "invalid NANP exchange code";
    case FLEX_E_COUNTRY: return "invalid country code";
    case FLEX_E_UTF8: return "invalid UTF-8";
    case FLEX_E_NOTGSM: return "not representable in GSM 03.38";
    case FLEX_E_PLACEHOLDER: return "unknown template placeholder";
    case FLEX_E_NOTFOUND: return "not found";
    case FLEX_E_FULL: return "full";
    case FLEX_E_CORRUPT: return "corrupt data";
    case FLEX_E_KEY: return "made with another key";
    case FLEX_E_CONFIG: return "configuration has errors";
    case FLEX_E_TOOMANY: return "too many parts";
    default: break;
    }
    if (err < 0 && err > FLEX_E_BASE)
        return strerror(-err);
    return "unknown error";
}
