/*
 * NAME
 *	time - clocks
 * DESCRIPTION
 *	time_mono_ms() for timers and timeouts (CLOCK_MONOTONIC), time_now()
 *	for wall-clock stamps in seconds with fractions (delays in maillog),
 *	time_mono() for measured durations in seconds.
 */
#ifndef TERN_BASE_TIME_H
#define TERN_BASE_TIME_H

#include <stdint.h>
#include <time.h>

static inline uint64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline double time_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
