/*
 * clock: monotonic and wall-clock time, and the RFC 5322 date format,
 * written once for every program.
 */
#include <time.h>
#include "clock.h"

long long
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
date_rfc5322(char *out, size_t len, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0 && len > 0)
		out[0] = '\0';
}
