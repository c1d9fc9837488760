/*
 * dest_ask - a destination's question to the cluster, answered back on its worker
 *
 * dest_lease and dest_rate ask core/redis/redis_lease, whose answer arrives on the lease thread.
 * A question carries the destination's key, not the destination, which may be gone when the
 * answer comes: dest_ask_answer() posts the answer to the worker (loop_post), and there the
 * destination is found again, the asker's apply() runs (with NULL when it is gone) and the
 * destination is kicked. A granted lease that apply() did not keep, or whose answer could not
 * reach the worker, is given back here, so none outlives its question.
 *
 * BOUNDS: one allocation per question, freed when its answer was applied (or dropped).
 */
#include "core/delivery/delivery_impl.h"

#include <stdlib.h>
#include <string.h>

struct dest_ask *dest_ask_new(struct dest *dst, dest_ask_fn *apply)
{
    size_t n = strlen(dst->key);
    struct dest_ask *a = calloc(1, sizeof(*a) + n + 1);
    if (!a)
        return NULL;
    a->dv = dst->dv;
    a->apply = apply;
    a->tls_optional = dst->tls_optional;
    memcpy(a->key, dst->key, n + 1);
    return a;
}

/* dest_ask_give_back - the answer's lease, if it granted one nobody kept */
static void dest_ask_give_back(struct dest_ask *a)
{
    if (a->lease && a->result == REDIS_LEASE_GRANTED)
        redis_lease_release(a->dv->p.leases, a->value);
}

/* dest_ask_apply - on the worker */
static void dest_ask_apply(void *arg)
{
    struct dest_ask *a = arg;
    struct delivery *dv = a->dv;
    struct dest *dst = dv->shutting ? NULL : dest_find(dv, a->key, a->tls_optional);
    a->apply(dst, a);
    dest_ask_give_back(a);
    free(a);
    if (dst)
        dest_kick(dst);
}

void dest_ask_answer(void *arg, enum redis_lease_result result, uint64_t value)
{
    struct dest_ask *a = arg;
    if (result == REDIS_LEASE_STOPPED) { /* the daemon is stopping: nobody waits for it */
        free(a);
        return;
    }
    a->result = result;
    a->value = value;
    if (loop_post(a->dv->p.loop, dest_ask_apply, a) < 0) {
        dest_ask_give_back(a);
        free(a);
    }
}
