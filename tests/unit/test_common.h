/* Shared by the unit tests: cmocka's required includes in their order. */
#ifndef FLEX_TEST_COMMON_H
#define FLEX_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
