/*
 * bench_hist - log-linear latency histogram; see bench_hist.h.
 *
 * The layout is HdrHistogram's idea at a fixed precision of 4 bits: index
 * = value for values < 16, else 16 * (msb - 3) + the 4 bits after the msb.
 * A plain array of counters keeps bench_hist_add() to a few instructions
 * on the hot path (a t-digest or a sorted sample would cost more and need
 * allocation).
 */
#include "bench/bench_hist.h"

#include <string.h>

/* bench_hist_init - empty histogram */
void bench_hist_init(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
}

/* bench_hist_index - bucket of a value */
unsigned bench_hist_index(uint64_t us)
{
    if (us < BENCH_HIST_SUB)
        return (unsigned)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);
    if (msb >= BENCH_HIST_MAX_BITS)
        return BENCH_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(us >> (msb - BENCH_HIST_SUB_BITS)) & (BENCH_HIST_SUB - 1);
    return (msb - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB + sub;
}

/* bench_hist_upper - the largest value that falls in bucket idx */
uint64_t bench_hist_upper(unsigned idx)
{
    if (idx < BENCH_HIST_SUB)
        return idx;
    unsigned msb = idx / BENCH_HIST_SUB + BENCH_HIST_SUB_BITS - 1;
    uint64_t sub = idx % BENCH_HIST_SUB;
    uint64_t width = 1ull << (msb - BENCH_HIST_SUB_BITS);
    return (1ull << msb) + (sub + 1) * width - 1;
}

/* bench_hist_add - count one sample */
void bench_hist_add(struct bench_hist *h, uint64_t us)
{
    if (h->count == 0 || us < h->min)
        h->min = us;
    if (us > h->max)
        h->max = us;
    h->count++;
    h->sum += us;
    h->bucket[bench_hist_index(us)]++;
}

/* bench_hist_merge - add every sample of from to into */
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
}

/* bench_hist_quantile - upper bound of the bucket holding the q-quantile, at most max */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    /* rank of the sample wanted, 1-based: ceil(q * count) */
    double want = q * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t v = bench_hist_upper(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

/* bench_hist_json - {"count","min","mean","p50","p90","p99","p99_9","max","buckets"} */
int bench_hist_json(const struct bench_hist *h, struct buf *out)
{
    int rc =
        buf_printf(out,
                   "{\"count\":%llu,\"min\":%llu,\"mean\":%.1f,\"p50\":%llu,\"p90\":%llu,"
                   "\"p99\":%llu,\"p99_9\":%llu,\"max\":%llu,\"buckets\":[",
                   (unsigned long long)h->count, (unsigned long long)h->min,
                   h->count ? (double)h->sum / (double)h->count : 0.0,
                   (unsigned long long)bench_hist_quantile(h, 0.50),
                   (unsigned long long)bench_hist_quantile(h, 0.90),
                   (unsigned long long)bench_hist_quantile(h, 0.99),
                   (unsigned long long)bench_hist_quantile(h, 0.999), (unsigned long long)h->max);
    int first = 1;
    for (unsigned i = 0; rc == 0 && i < BENCH_HIST_BUCKETS; i++) {
        if (!h->bucket[i])
            continue;
        rc = buf_printf(out, "%s[%llu,%llu]", first ? "" : ",",
                        (unsigned long long)bench_hist_upper(i), (unsigned long long)h->bucket[i]);
        first = 0;
    }
    if (rc == 0)
        rc = buf_puts(out, "]}");
    return rc;
}
