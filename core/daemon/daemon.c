/*
 * daemon - glue between the queue thread and the workers; see daemon/daemon.h.
 */
#include "core/daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "policy/policy_nexthop.h"

struct tern_runtime *daemon_runtime(struct tern_daemon *d)
{
    pthread_mutex_lock(&d->rt_lock);
    struct tern_runtime *rt = runtime_ref(d->rt);
    pthread_mutex_unlock(&d->rt_lock);
    return rt;
}

/* daemon_total_limit - smtpd_total_connection_limit, 0 meaning the derived default */
int daemon_total_limit(const struct tern_daemon *d, const struct tern_config *cfg)
{
    return cfg->smtpd_total_connection_limit > 0 ? cfg->smtpd_total_connection_limit
                                                 : d->total_limit;
}

/* daemon_resolve - queue hook: the next-hop key of a recipient */
static int daemon_resolve(void *arg, const char *rcpt, char *key, size_t keylen)
{
    struct tern_daemon *d = arg;
    struct tern_runtime *rt = daemon_runtime(d);
    struct policy_nexthop nh;
    int rc = policy_nexthop_resolve(rt->cfg->relayhost, rt->transport, rcpt, &nh);
    runtime_unref(rt);
    if (rc < 0) {
        log_warn("qmgr", "cannot resolve next hop of <%s>: %s", rcpt, strerror(-rc));
        return rc;
    }
    switch (nh.transport) {
    case NEXTHOP_ERROR:
        snprintf(key, keylen, "%s", nh.error_text[0] ? nh.error_text : "5.0.0 delivery refused by transport_maps");
        return 1;
    case NEXTHOP_DISCARD:
        snprintf(key, keylen, "%s", DELIVERY_DISCARD_KEY);
        return 0;
    case NEXTHOP_SMTP:
        break;
    }
    snprintf(key, keylen, "%s", nh.key);
    return 0;
}

/* daemon_dispatch_apply - on the owning worker: queue the job */
static void daemon_dispatch_apply(void *arg)
{
    struct queue_delivery *qd = arg;
    struct worker *w = qd->owner_data;
    qd->owner_data = NULL;
    delivery_enqueue(w->delivery, qd);
}

/* daemon_dispatch - queue hook (queue thread): send the job to its worker */
static void daemon_dispatch(void *arg, struct queue_delivery *qd)
{
    struct tern_daemon *d = arg;
    struct worker *w = worker_for_nexthop(d, qd->nexthop);
    qd->owner_data = w;
    while (loop_post(w->loop, daemon_dispatch_apply, qd) < 0)
        usleep(1000); /* out of memory for a moment; the job must not be lost */
}

void daemon_queue_hooks(struct tern_daemon *d, struct queue_hooks *h)
{
    h->arg = d;
    h->resolve = daemon_resolve;
    h->dispatch = daemon_dispatch;
}
