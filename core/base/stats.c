/*
 * stats - process-wide counters; see base/stats.h.
 */
#include "core/base/stats.h"

#include <stdatomic.h>

struct padded_counter {
    _Atomic uint64_t v;
    char pad[64 - sizeof(uint64_t)];
};

static struct padded_counter counters[STAT_COUNT];

static const char *const names[STAT_COUNT] = {
    [STAT_TLS_IN_FULL] = "tls_inbound_full_handshakes",
    [STAT_TLS_IN_RESUMED] = "tls_inbound_resumed_handshakes",
    [STAT_TLS_IN_FAILED] = "tls_inbound_failed_handshakes",
    [STAT_TLS_OUT_FULL] = "tls_outbound_full_handshakes",
    [STAT_TLS_OUT_RESUMED] = "tls_outbound_resumed_handshakes",
    [STAT_TLS_OUT_FAILED] = "tls_outbound_failed_handshakes",
    [STAT_TLS_CACHE_HIT] = "tls_client_cache_hits",
    [STAT_TLS_CACHE_MISS] = "tls_client_cache_misses",
    [STAT_OUT_CONNECTIONS] = "outbound_connections",
    [STAT_PROXY_REFUSED] = "proxy_header_refused",
};

void stats_inc(enum stat_id id)
{
    atomic_fetch_add_explicit(&counters[id].v, 1, memory_order_relaxed);
}

uint64_t stats_get(enum stat_id id)
{
    return atomic_load_explicit(&counters[id].v, memory_order_relaxed);
}

const char *stats_name(enum stat_id id)
{
    return names[id];
}
