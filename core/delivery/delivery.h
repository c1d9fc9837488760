/*
 * NAME
 *	delivery - per-worker outbound delivery: destinations, connection pools
 * SYNOPSIS
 *	struct delivery *dv;
 *	delivery_new(&dv, &params);                 // on the worker's thread
 *	delivery_enqueue(dv, d);                    // on the worker's thread (via loop_post)
 *	delivery_shutdown(dv);                      // drain: QUIT idle connections
 *	delivery_free(dv);
 * DESCRIPTION
 *	The scheduler (queue thread) hands each struct queue_delivery to the
 *	worker that owns its destination (hash of d->nexthop), which queues it
 *	here. A destination is a next-hop key ("[127.0.0.1]:2525", "example.com:25",
 *	"discard:") with a job queue and a pool of up to
 *	default_destination_concurrency_limit connections. A ready connection
 *	takes the next job (several recipients of one message in one
 *	transaction); idle connections are kept for smtp_connection_cache_time_limit
 *	and reused for up to smtp_connection_reuse_count_limit transactions (0 = no limit)
 *	and for up to smtp_connection_reuse_time_limit after the connect (300 s,
 *	Postfix's meaning). After a reload (delivery_set_runtime) a connection
 *	of the older generation finishes its job and takes no other: every new
 *	job is sent with the new generation's TLS policy.
 *
 *	A new connection resolves the next hop (MX, or A/AAAA for [host] forms;
 *	results cached briefly per destination), then tries the addresses in
 *	order until one answers. When none does, every queued job of the
 *	destination is deferred with the last reason ("connect to
 *	host[addr]:port: Connection refused"), as Postfix does for a dead site.
 *	A null MX or a non-existent domain bounces ("5.1.0 ... nullMX" /
 *	"Host or domain name not found"); DNS trouble defers (4.4.3).
 *
 *	For every recipient it logs Postfix's line and then returns the job with
 *	queue_delivery_done():
 *	  QID: to=<u@x>, relay=host[addr]:port, delay=1.2, delays=0.1/0/0.5/0.6,
 *	       dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABC)
 */
#ifndef TERN_DELIVERY_DELIVERY_H
#define TERN_DELIVERY_DELIVERY_H

#include <stdbool.h>

#include "core/loop/dns.h"
#include "core/loop/loop.h"
#include "core/config/runtime.h"
#include "queue/queue.h"

/* The job key of the discard transport. Every next-hop key carries ":port",
 * so no host or domain (not even one named "discard") can have this key. */
#define DELIVERY_DISCARD_KEY "discard"

struct delivery;
struct redis_lease;

struct delivery_params {
    struct loop *loop;
    struct dns_resolver *dns;  /* this worker's */
    struct queue *queue;
    const char *helo_name;
    int concurrency_limit;     /* default_destination_concurrency_limit */
    int rate_limit;            /* default_destination_rate_limit: per second; 0: none */
    struct redis_lease *leases; /* destination_lease_database: the limit holds across the nodes;
                                 * NULL: per node (dest_lease.c) */
    int reuse_count_limit;     /* smtp_connection_reuse_count_limit, 0 = unlimited */
    int idle_time_limit;       /* smtp_connection_cache_time_limit, seconds */
    int reuse_time_limit;      /* smtp_connection_reuse_time_limit, seconds; 0 = unlimited */
    int connect_timeout;       /* smtp_connect_timeout, seconds */
    int helo_timeout;          /* smtp_helo_timeout: greeting/EHLO/command replies, seconds */
    int data_done_timeout;     /* smtp_data_done_timeout, seconds */
    bool pipelining;
    struct tern_runtime *rt;   /* config generation in force (TLS levels, contexts); borrowed */
};

int delivery_new(struct delivery **out, const struct delivery_params *p);
void delivery_enqueue(struct delivery *dv, struct queue_delivery *d);
/* delivery_set_runtime - a reload: new connections use rt (the delivery takes its own reference) */
void delivery_set_runtime(struct delivery *dv, struct tern_runtime *rt);
/* delivery_set_self - tern's own addresses (delivery/delivery_self.h); the delivery takes me */
struct delivery_self;
void delivery_set_self(struct delivery *dv, struct delivery_self *me);
/* delivery_shutdown - stop taking jobs: defer queued ones back to the queue, QUIT idle connections */
void delivery_shutdown(struct delivery *dv);
/* delivery_busy - connections or jobs still outstanding */
bool delivery_busy(const struct delivery *dv);
void delivery_free(struct delivery *dv);

#endif
