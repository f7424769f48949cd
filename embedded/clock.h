/* Monotonic time for timeouts and deadlines (never the wall clock, which jumps). */
#ifndef EMBEDDED_CLOCK_H
#define EMBEDDED_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t clock_mono_ms(void);
/* Wall-clock ms since the epoch: for times that other machines read (signed
 * request and envelope times), never for measuring a wait. */
int64_t clock_wall_ms(void);
/* now + ms on CLOCK_MONOTONIC, for condition variables set to that clock. */
struct timespec clock_deadline_in(int ms);

#endif
