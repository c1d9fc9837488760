/*
 * NAME
 *	stats - process-wide counters for `ternctl stats` and metrics_listen (daemon/metrics)
 * SYNOPSIS
 *	stats_inc(STAT_TLS_IN_FULL);
 *	uint64_t n = stats_get(STAT_TLS_IN_FULL);
 * DESCRIPTION
 *	Relaxed atomics, one cache line apart so that workers counting at once
 *	do not fight over a line. Counters only go up.
 */
#ifndef TERN_BASE_STATS_H
#define TERN_BASE_STATS_H

#include <stdint.h>

enum stat_id {
    STAT_TLS_IN_FULL,    /* inbound handshakes, full */
    STAT_TLS_IN_RESUMED, /* inbound handshakes, resumed */
    STAT_TLS_IN_FAILED,
    STAT_TLS_OUT_FULL,    /* outbound handshakes, full */
    STAT_TLS_OUT_RESUMED, /* outbound handshakes, resumed */
    STAT_TLS_OUT_FAILED,
    STAT_TLS_CACHE_HIT, /* client session found in the cache */
    STAT_TLS_CACHE_MISS,
    STAT_OUT_CONNECTIONS, /* outbound connections opened */
    STAT_PROXY_REFUSED,   /* inbound connections closed for their PROXY header */
    STAT_COUNT
};

void stats_inc(enum stat_id id);
uint64_t stats_get(enum stat_id id);
const char *stats_name(enum stat_id id);

#endif
