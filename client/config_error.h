/* A configuration refused: one line in why, and UNIBUS_ERR_CONFIG. */
#ifndef UNIBUS_CONFIG_ERROR_H
#define UNIBUS_CONFIG_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include "unibus.h"

static inline unibus_status config_refused(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline unibus_status config_refused(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return UNIBUS_ERR_CONFIG;
}

#endif
