/*
 * NAME
 *	bench_hist - log-linear latency histogram in microseconds
 * SYNOPSIS
 *	#include "bench/bench_hist.h"
 *
 *	struct bench_hist h;
 *	bench_hist_init(&h);
 *	bench_hist_add(&h, 812);                  // one sample, microseconds
 *	bench_hist_merge(&total, &h);             // threads keep their own, merged at the end
 *	uint64_t p99 = bench_hist_quantile(&h, 0.99);
 *	bench_hist_json(&h, &buf);                //
 *{"count":..,"p50":..,...,"buckets":[[le,n],...]} DESCRIPTION Values below 16 us have a bucket
 *each; above, every power of two is split into 16 equal buckets, so a reported quantile (the upper
 *bound of the bucket it falls in, clamped to the exact maximum) is at most 1/16 (6.25%) above the
 *true value. Values up to 2^40 us (12 days) are kept; larger ones land in the last bucket. Fixed
 *size, no allocation: one per thread, merged after the threads are done. Not thread-safe.
 * DIAGNOSTICS
 *	bench_hist_json: 0 or -ENOMEM.
 */
#ifndef TERN_BENCH_HIST_H
#define TERN_BENCH_HIST_H

#include <stdint.h>

#include "core/base/buf.h"

#define BENCH_HIST_SUB_BITS 4
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_MAX_BITS 40
#define BENCH_HIST_BUCKETS ((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
    uint64_t count, sum, min, max;
    uint64_t bucket[BENCH_HIST_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t us);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* bench_hist_quantile - q in [0,1]; 0 when empty */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
/* bench_hist_index / bench_hist_upper - bucket of a value, and the largest value in a bucket */
unsigned bench_hist_index(uint64_t us);
uint64_t bench_hist_upper(unsigned idx);
/* bench_hist_json - append the histogram as one JSON object */
int bench_hist_json(const struct bench_hist *h, struct buf *out);

#endif
