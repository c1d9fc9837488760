/*
 * deadline - per-request read deadlines; see smtpd/deadline.h.
 *
 * Postfix keeps the remaining time of a stream and adds n / min_data_rate
 * seconds after each read of n plaintext octets, capped at the timeout
 * (vstream's VSTREAM_CTL_MIN_DATA_RATE). An absolute deadline with the same
 * credit and the same cap is the same rule, and suits a timer heap.
 */
#include "core/smtpd/deadline.h"

/* deadline_next - when the read deadline falls after input arrived */
uint64_t deadline_next(const struct deadline_params *p, uint64_t now, uint64_t due,
                       bool new_request, bool in_data, size_t n)
{
    uint64_t full = now + p->timeout_ms;
    if (!p->per_request || new_request)
        return full;
    if (in_data && p->min_data_rate > 0) {
        uint64_t credit = (uint64_t)n * 1000u / p->min_data_rate;
        due += credit;
    }
    return due < full ? due : full;
}
