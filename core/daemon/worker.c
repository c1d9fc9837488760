/*
 * worker - worker threads; see daemon/worker.h.
 */
#include "core/daemon/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/daemon/daemon.h"
#include "core/base/hash.h"
#include "core/base/error.h"
#include "core/delivery/delivery_self.h"
#include "core/smtpd/listen.h"
#include "core/base/log.h"
#include "core/smtpd/server.h"
#include "core/base/time.h"
#include "tls/tls_wolf.h"

/* worker_dns_cb - the resolver's fd is readable: let it run callbacks */
static void worker_dns_cb(struct loop_op *op, int res, unsigned flags)
{
    struct worker *w = (struct worker *)((char *)op - offsetof(struct worker, dns_op));
    if (res >= 0 || res == -EINTR)
        dns_resolver_process(w->dns);
    if (!(flags & IORING_CQE_F_MORE) && res != -ECANCELED) {
        struct io_uring_sqe *sqe = loop_sqe(w->loop);
        io_uring_prep_poll_multishot(sqe, dns_resolver_fd(w->dns), POLLIN);
        loop_op_arm(sqe, &w->dns_op);
    }
}

/* worker_open_listeners - one socket per configured address, bound now */
static int worker_open_listeners(struct worker *w, const struct tern_config *cfg, char **err)
{
    const struct {
        const struct config_list *list;
        enum listen_kind kind;
    } sets[] = {
        {&cfg->smtpd_listen, LISTEN_SMTPD},
        {&cfg->submission_listen, LISTEN_SUBMISSION},
        {&cfg->smtps_listen, LISTEN_SMTPS},
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        for (size_t j = 0; j < sets[i].list->n; j++) {
            struct listener *ln;
            int rc = listen_open(&ln, sets[i].list->item[j], sets[i].kind, err);
            if (rc < 0)
                return rc;
            ln->next = w->listeners;
            w->listeners = ln;
        }
    }
    return 0;
}

/* worker_self - give the delivery engine the addresses of the bound listeners (mail loops) */
static int worker_self(struct worker *w, const struct tern_config *cfg, char **err)
{
    size_t n = 0;
    for (struct listener *ln = w->listeners; ln; ln = ln->next)
        n++;
    int *fds = n ? calloc(n, sizeof(*fds)) : NULL;
    if (n && !fds)
        return -ENOMEM;
    n = 0;
    for (struct listener *ln = w->listeners; ln; ln = ln->next)
        fds[n++] = ln->fd;
    struct delivery_self *me = NULL;
    int rc = delivery_self_new(&me, fds, n, &cfg->proxy_interfaces, err);
    free(fds);
    if (rc < 0)
        return rc;
    delivery_set_self(w->delivery, me);
    return 0;
}

/* worker_init - ring, resolver, delivery engine, listeners (main thread, as root) */
int worker_init(struct worker *w, struct tern_daemon *d, int index, char **err)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    w->daemon = d;
    w->rt = daemon_runtime(d);
    const struct tern_config *cfg = w->rt->cfg;
    int rc = loop_new(&w->loop, 4096);
    if (rc < 0) {
        error_set(err, "io_uring setup: %s", strerror(-rc));
        return rc;
    }
    rc = dns_resolver_new(&w->dns, cfg->dns_servers.item, cfg->dns_servers.n);
    if (rc < 0) {
        error_set(err, "DNS resolver setup: %s", strerror(-rc));
        return rc;
    }
    if (!strcasecmp(cfg->smtp_dns_support_level, "dnssec") &&
        (rc = dns_resolver_trust(w->dns, cfg->dnssec_trust_anchor_file)) < 0) {
        error_set(err, "smtp_dns_support_level = dnssec: cannot use dnssec_trust_anchor_file %s",
                  cfg->dnssec_trust_anchor_file);
        return rc;
    }
    w->dns_op.cb = worker_dns_cb;
    struct io_uring_sqe *sqe = loop_sqe(w->loop);
    io_uring_prep_poll_multishot(sqe, dns_resolver_fd(w->dns), POLLIN);
    loop_op_arm(sqe, &w->dns_op);

    struct delivery_params dp = {
        .loop = w->loop,
        .dns = w->dns,
        .queue = d->queue,
        .helo_name = cfg->smtp_helo_name,
        .concurrency_limit = cfg->default_destination_concurrency_limit,
        .rate_limit = cfg->default_destination_rate_limit,
        .leases = w->daemon->leases,
        .reuse_count_limit = cfg->smtp_connection_reuse_count_limit,
        .idle_time_limit = cfg->smtp_connection_cache_time_limit,
        .reuse_time_limit = cfg->smtp_connection_reuse_time_limit,
        .connect_timeout = cfg->smtp_connect_timeout,
        .helo_timeout = cfg->smtp_helo_timeout,
        .data_done_timeout = cfg->smtp_data_done_timeout,
        .pipelining = cfg->smtp_pipelining,
        .rt = w->rt,
    };
    rc = delivery_new(&w->delivery, &dp);
    if (rc < 0) {
        error_set(err, "delivery setup: %s", strerror(-rc));
        return rc;
    }
    if ((rc = worker_open_listeners(w, cfg, err)) < 0)
        return rc;
    return worker_self(w, cfg, err);
}

/* worker_alive - timer: the ring turns; stamp it for the watchdog (daemon/notify.h) */
static void worker_alive(struct loop_timer *t)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, alive_timer));
    atomic_store(&w->alive_ms, time_mono_ms());
    loop_timer_arm(w->loop, &w->alive_timer, w->alive_every_ms);
}

void worker_watchdog(struct worker *w, uint64_t every_ms)
{
    w->alive_every_ms = every_ms;
    atomic_store(&w->alive_ms, time_mono_ms());
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->alive_every_ms) {
        loop_timer_init(&w->alive_timer, worker_alive);
        loop_timer_arm(w->loop, &w->alive_timer, 0);
    }
    for (struct listener *ln = w->listeners; ln; ln = ln->next)
        listen_start(ln, w);
    int rc = loop_run(w->loop);
    if (rc < 0)
        log_error("master", "worker %d: event loop failed: %s", w->index, strerror(-rc));
    tls_wolf_thread_done();
    return NULL;
}

/* worker_start - run the loop on a new thread (signals stay blocked there) */
int worker_start(struct worker *w)
{
    return -pthread_create(&w->thread, NULL, worker_main, w);
}

struct runtime_swap {
    struct worker *w;
    struct tern_runtime *rt;
};

static void worker_swap_runtime(void *arg)
{
    struct runtime_swap *rs = arg;
    runtime_unref(rs->w->rt);
    rs->w->rt = rs->rt;
    delivery_set_runtime(rs->w->delivery, rs->rt);
    free(rs);
}

/* worker_post_runtime - hand the worker a new config generation (takes a reference) */
void worker_post_runtime(struct worker *w, struct tern_runtime *rt)
{
    struct runtime_swap *rs = malloc(sizeof(*rs));
    if (!rs)
        return;
    rs->w = w;
    rs->rt = runtime_ref(rt);
    if (loop_post(w->loop, worker_swap_runtime, rs) < 0) {
        runtime_unref(rt);
        free(rs);
    }
}

/* worker_drain_check - while draining, publish whether anything is left */
static void worker_drain_check(struct loop_timer *t)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, drain_timer));
    bool done = w->sessions == 0 && !delivery_busy(w->delivery);
    atomic_store(&w->drained, done);
    if (!done)
        loop_timer_arm(w->loop, &w->drain_timer, 20);
}

/* worker_do_drain - on the worker: stop listening, end idle sessions, stop delivering */
static void worker_do_drain(void *arg)
{
    struct worker *w = arg;
    w->draining = true;
    struct listener *ln = w->listeners;
    w->listeners = NULL;
    while (ln) {
        struct listener *next = ln->next;
        listen_stop(ln);
        ln = next;
    }
    server_drain_all(w);
    delivery_shutdown(w->delivery);
    loop_timer_init(&w->drain_timer, worker_drain_check);
    loop_timer_arm(w->loop, &w->drain_timer, 0);
}

void worker_drain(struct worker *w)
{
    loop_post(w->loop, worker_do_drain, w);
}

/* worker_idle - the drained flag the worker publishes */
bool worker_idle(struct worker *w)
{
    return atomic_load(&w->drained);
}

void worker_stop_and_join(struct worker *w)
{
    loop_stop(w->loop);
    pthread_join(w->thread, NULL);
}

void worker_free(struct worker *w)
{
    struct listener *ln = w->listeners;
    while (ln) {
        struct listener *next = ln->next;
        listen_free(ln);
        ln = next;
    }
    runtime_unref(w->rt);
    /* delivery, resolver and ring are freed at process exit only if idle */
    if (!delivery_busy(w->delivery))
        delivery_free(w->delivery);
    dns_resolver_free(w->dns);
    loop_free(w->loop);
}

/* worker_for_nexthop - the worker that owns a destination (FNV-1a hash) */
struct worker *worker_for_nexthop(struct tern_daemon *d, const char *nexthop)
{
    uint32_t h = hash_fnv32_str(HASH_FNV32_START, nexthop);
    return &d->workers[h % (uint32_t)d->nworkers];
}
