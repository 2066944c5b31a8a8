/*
 * clock: the times every program reads. clock_ms() is monotonic (timeouts,
 * rates); clock_us() is wall time (arrival stamps, queue IDs); date_rfc5322()
 * formats a Date:/Received: time stamp. Nothing here sleeps or allocates.
 */
#ifndef POSTERN_CLOCK_H
#define POSTERN_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
long long	 clock_ms(void);
/* Microseconds since the epoch (CLOCK_REALTIME). */
uint64_t	 clock_us(void);
/* "Mon, 30 Nov 2026 05:53:27 +0000" in local time; out >= 40 bytes. */
void		 date_rfc5322(char *out, size_t len, time_t t);

#endif
