/*
 * NAME
 *	redis_mirror - a node's TLS cache shared with the other nodes through Redis
 * SYNOPSIS
 *	#include "core/redis/redis_mirror.h"
 *
 *	struct redis_mirror *m;
 *	redis_mirror_start(&m, conf, cache, ticket_timeout);
 *	redis_mirror_stats(m, &st);
 *	redis_mirror_stop(m);
 * DESCRIPTION
 *	With smtpd_tls_session_cache_database = redis:FILE every node keeps its
 *	own LMDB cache (the near cache, FILE's cache_file) and every handshake
 *	reads only that. This thread makes the near caches of all nodes that
 *	name the same Redis and prefix hold the same entries:
 *
 *	  out: every put() of a shared kind (client and server sessions, ticket
 *	      keys, the client certificates behind tickets) is queued by the
 *	      putting thread (tls_cache_set_mirror) and sent from here as
 *	      SET <prefix>tls:<kind>:<hex key> with EXAT at the entry's expiry
 *	      - Redis's TTL ends it - and PUBLISHed on <prefix>tls;
 *	  in: the messages of the other nodes on <prefix>tls go into the near
 *	      cache (tls_cache_put_copy: not sent back); after every connect
 *	      the entries already in Redis are loaded too (SCAN, at most
 *	      REDIS_MIRROR_LOAD_MAX), so a new or restarted node resumes what
 *	      the others made, and the node's own live entries are sent again
 *	      (as many), so a Redis that restarted empty learns them back.
 *
 *	Ticket keys rotate cluster-wide: when the key in use stops encrypting
 *	within half the session timeout (at most REDIS_MIRROR_LEAD_MAX s), one
 *	node - the one whose SET ... NX on <prefix>tls:ticket-next:<start> wins -
 *	makes the next key, starting at that second (tls_ticket_make), and it
 *	reaches every node before any uses it. No node restarts; with Redis
 *	away, each node makes its own keys when it must (tls_ticket_current),
 *	and tickets then resume only on the node that made them.
 *
 *	Redis is never on a message's path: no worker waits for it. When it
 *	is down, slow (every command is bounded by the file's timeout), full
 *	(an error reply) or restarted, the near cache goes on alone: resumption
 *	across nodes degrades to full handshakes, nothing else. The thread
 *	logs the change, retries every REDIS_WORKER_RETRY_MS and loads again
 *	when it is back.
 * BOUNDS
 *	The send queue holds at most REDIS_MIRROR_QUEUE_MAX entries and
 *	REDIS_MIRROR_QUEUE_BYTES; beyond, the oldest is dropped and counted
 *	(a lost entry costs another node a full handshake). A message from
 *	Redis is at most REDIS_MIRROR_MSG_MAX octets, larger ones are ignored.
 */
#ifndef TERN_REDIS_MIRROR_H
#define TERN_REDIS_MIRROR_H

#include <stdbool.h>

#include "core/redis/redis_conf.h"
#include "tls/tls_cache.h"

#define REDIS_MIRROR_QUEUE_MAX 4096
#define REDIS_MIRROR_QUEUE_BYTES ((size_t)4 << 20)
#define REDIS_MIRROR_MSG_MAX (64 * 1024)
#define REDIS_MIRROR_LOAD_MAX 100000
#define REDIS_MIRROR_LEAD_MAX 300

struct redis_mirror;

struct redis_mirror_stats {
    bool up;                     /* connected now */
    unsigned long long sent;     /* entries stored in Redis */
    unsigned long long received; /* entries of other nodes put into the near cache */
    unsigned long long dropped;  /* queued entries dropped (queue full, or Redis away) */
    unsigned long long errors;   /* error replies and broken connections */
};

/* redis_mirror_start - mirror cache through conf (both borrowed: they outlive the mirror);
 * ticket_timeout: the server session timeout when this cache holds the ticket keys, else 0 */
int redis_mirror_start(struct redis_mirror **out, const struct redis_conf *conf,
                       struct tls_cache *cache, unsigned ticket_timeout);
/* redis_mirror_stop - send nothing more, stop the thread, free; NULL is fine */
void redis_mirror_stop(struct redis_mirror *m);
void redis_mirror_stats(struct redis_mirror *m, struct redis_mirror_stats *st);

#endif
