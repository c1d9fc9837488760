/*
 * NAME
 *	delivery_impl - what the delivery engine's files share (private to core/delivery)
 * DESCRIPTION
 *	The engine is described in delivery.c's header. Its state - the
 *	delivery, its destinations (dest.c), their connections (dconn.c) and
 *	the jobs' results and log lines (job.c) - is defined here, with the
 *	functions one of those files calls in another. Nothing outside
 *	core/delivery includes this header.
 */
#ifndef TERN_DELIVERY_DELIVERY_IMPL_H
#define TERN_DELIVERY_DELIVERY_IMPL_H

#include "core/delivery/delivery.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop/conn.h"
#include "core/delivery/delivery_tls.h"
#include "core/delivery/smtpc.h"
#include "core/redis/redis_lease.h"

#define DEST_DNS_TTL_MS 60000u    /* addresses of a lookup are reused this long */
#define DEST_DEAD_HOLD_MS 1000u   /* a dead verdict applies to jobs arriving this soon */
#define DEST_IDLE_GC_MS 60000u    /* an unused destination is forgotten after this */
#define DELIVERY_SWEEP_MS 30000u  /* how often unused destinations are looked for */
#define DEST_MAX_ADDRS 5          /* like Postfix's smtp_mx_address_limit */
#define DCONN_QUIT_GRACE_MS 5000u /* wait this long for the 221 to QUIT */

struct delivery;
struct dest;

struct delivery_dane;
struct dest_dane_lookup;
struct dest_mtasts;
struct mtasts_fetch;
struct policy_mtasts;

struct dest_addr {
    char host[256];
    char addr[64];
    char cname[256];            /* the name its address was found at through a CNAME, or "" */
    bool secure;                /* the MX and address records of it were DNSSEC-validated */
    enum tls_level dane_level;  /* the policy's level for it when dane or dane-only, else none */
    struct delivery_dane *dane; /* its host's TLSA state (dest_dane.c); NULL: not looked up */
};

enum dconn_state { DC_CONNECTING, DC_HANDSHAKE, DC_READY, DC_BUSY, DC_QUITTING, DC_CLOSING };

struct dconn {
    struct dconn *next;
    struct dest *dst;
    struct conn *conn;
    struct smtpc_session *s;
    enum dconn_state state;
    struct loop_timer timer;
    size_t addr_index;
    char peer[400];             /* "host[addr]:port" */
    struct queue_delivery *job; /* the open transaction */
    char *body;
    size_t blen;
    double t_start, t_ready, t_pickup; /* wall clock */
    double t_open;                     /* wall clock of the connect, for reuse_time_limit */
    bool fresh;                        /* setup time not yet charged to a job */
    bool failed;                       /* going away because of an error */
    bool was_ready;                    /* reached READY at least once */
    bool connect_failed;               /* no address answered */
    int ntxn;
    char *reason;          /* why it failed */
    const char *fail_dsn;  /* dsn for the queue when it failed; NULL: 4.4.2 */
    char *prior_reason;    /* an earlier address failed after connecting (e.g. TLS) */
    const char *prior_dsn; /* ... with this dsn (static string) */

    char host[256], addr[64];        /* the address it connected to (dst->addrs may change) */
    struct tern_runtime *rt;         /* config generation of this connection; own reference */
    enum tls_level tls_level;        /* none when rt has no client TLS */
    bool tls_handshaking;            /* conn_start_tls() called, done() not yet */
    bool tls_up;                     /* handshake done and level met */
    bool tls_verified;               /* ... and the peer verified ("Verified" in the log) */
    bool sts;                        /* MTA-STS enforce: secure, the MX host name the reference */
    bool sts_testing;                /* MTA-STS testing: what would fail is logged */
    bool tls_saved;                  /* session stored in the cache (or nowhere to store it) */
    char tls_key[800];               /* cache key, "" when there is no cache */
    struct policy_tls_site tls_site; /* per-site policy of this attempt (match list, table, key) */
    struct delivery_dane *dane;      /* level dane: the TLSA records this attempt checks */
    char tlsa_digest[17];            /* ... their digest, in the session cache key */
    struct delivery_auth *auth;      /* SASL credentials for this server, NULL: no AUTH */
    struct queue_delivery *rtls_job; /* a REQUIRETLS job handed over, started first when READY:
                                      * set only until then (dconn_requiretls.c) */
};

struct dest {
    struct dest *hnext;
    struct delivery *dv;
    char *key; /* the next hop; two destinations have it when one is tls_optional */
    char host[256];
    int port;
    bool no_mx, discard, invalid;
    /* jobs of "TLS-Required: No" messages (dest_for_job), apart from the others of the next hop
     * because their TLS policy differs; leases and rate tokens in Redis go by the next hop, so
     * the cluster's limits count both (per node, each has its own connections and tokens) */
    bool tls_optional;

    struct queue_delivery *qhead, *qtail; /* FIFO through owner_data */
    size_t nqueued;
    struct dconn *conns;
    int nconns;

    struct dest_addr *addrs;
    size_t naddr;
    uint64_t addrs_expire; /* monotonic ms; UINT64_MAX for a numeric literal */
    bool resolving;
    double t_lookup; /* wall clock when the pending lookup started, for delays= c */
    struct dest_dane_lookup *dane_q; /* TLSA lookups of the MX hosts (dest_dane.c) */
    struct dest_mtasts *sts_q;       /* the MTA-STS policy being found (dest_mtasts.c) */
    struct policy_mtasts *sts;       /* the MTA-STS policy in force, NULL: none */
    size_t ndane_q, dane_pending;

    uint64_t dead_until;
    int dead_status;    /* RCPT_DEFERRED or RCPT_BOUNCED */
    bool dead_notfound; /* DNS said no such name: bounce only the domain's own recipients */
    char dead_dsn[8];
    char *dead_reason;
    uint64_t last_used;

    /* cluster leases (dest_lease.c): one per connection, while delivery_params.leases is set */
    uint64_t *lease;
    size_t nlease;
    bool lease_asked;              /* a request is out */
    struct loop_timer lease_timer; /* refused: ask again */

    /* default_destination_rate_limit (dest_rate.c) */
    uint64_t rate_sec;            /* the second rate_tokens are for (epoch seconds) */
    int rate_tokens;              /* job starts left in it */
    bool rate_asked;              /* with leases: this second's share was asked for */
    struct loop_timer rate_timer; /* no token: the next second */
};

struct delivery {
    struct delivery_params p;
    char *helo_name;
    struct dest **bucket;
    size_t nbucket, ndest;
    size_t ndest_tls_optional; /* "TLS-Required: No" destinations: none, no sibling to look up */
    size_t nconns, nlookups, njobs;
    bool shutting;
    struct loop_timer sweep;
    struct delivery_tls_failmem *failmem; /* where a may handshake failed lately */
    struct delivery_self *self;           /* tern's own addresses (mail loops); NULL: none known */
    struct mtasts_fetch *mtasts;          /* MTA-STS policy fetches, made with the first one */
    uint64_t lease_local_until;           /* Redis away: limits per node until then (mono ms) */
    bool share_kicking;                   /* in dest_share_kick(): not again */
};

/* delivery.c - the engine */
/* delivery_grow - double the hash table when it gets crowded (failure is harmless) */
void delivery_grow(struct delivery *dv);

/* dest.c - destinations */
/* dest_pop - the oldest queued job, or NULL */
struct queue_delivery *dest_pop(struct dest *dst);
/* dest_push - append a job to the FIFO */
void dest_push(struct dest *dst, struct queue_delivery *d);
/* dest_fail_queue - give every queued job this result */
void dest_fail_queue(struct dest *dst, int status, const char *dsn, const char *reason);
/* dest_job_dead - a job gets the destination's dead verdict */
void dest_job_dead(struct dest *dst, struct queue_delivery *d);
/* dest_set_dead - fail the queue now, and jobs that arrive shortly, with this result */
void dest_set_dead(struct dest *dst, int status, const char *dsn, const char *reason);
/* dest_for_job - the destination of a job, found or made: its next hop, and apart from the others
 * when the message says "TLS-Required: No" (dest->tls_optional); NULL when out of memory */
struct dest *dest_for_job(struct delivery *dv, const struct queue_delivery *d);
/* dest_tls_resolve - delivery_tls_resolve() for an attempt of dst, where dane and dane-only
 * become may for a "TLS-Required: No" destination (RFC 8689 5: the recipient's policy yields) */
int dest_tls_resolve(const struct tern_runtime *rt, const struct dest *dst,
                     const struct delivery_tls_peer *p, struct policy_tls_site *r,
                     enum tls_level *level);
/* dest_free - forget a destination (unlinked by the caller) */
void dest_free(struct dest *dst);
/* dest_alive - connections other than skip that are (or may become) usable */
int dest_alive(const struct dest *dst, const struct dconn *skip);
/* dest_kick - give idle connections work, open new ones while jobs wait */
void dest_kick(struct dest *dst);
/* dest_find - the destination of next hop key (its "TLS-Required: No" one if tls_optional), or
 * NULL */
struct dest *dest_find(struct delivery *dv, const char *key, bool tls_optional);

/* dest_share.c: the two destinations of a next hop share its connection limit */
/* dest_share_used - the connections that count against dst's limit: alive (dst's usable ones)
 * alone, or with a sibling every connection of both */
int dest_share_used(const struct dest *dst, int alive);
/* dest_share_room - dst waits at the limit: an idle connection of a sibling with nothing queued
 * says QUIT */
void dest_share_room(struct dest *dst);
/* dest_share_yield - should c, done with its job, leave for a sibling that has mail and no
 * connection? */
bool dest_share_yield(const struct dconn *c);
/* dest_share_kick - dest_kick() the sibling, if there is one (not from within another: its
 * failed connect would kick back) */
void dest_share_kick(struct dest *dst);

/* dest_ask.c: a question to the cluster (redis_lease), answered on the worker */
struct dest_ask;
/* dest_ask_fn - the answer on the worker; dst NULL: the destination is gone. A lease kept
 * clears a->lease (otherwise it is given back) */
typedef void dest_ask_fn(struct dest *dst, struct dest_ask *a);
struct dest_ask {
    struct delivery *dv;
    dest_ask_fn *apply;
    enum redis_lease_result result;
    uint64_t value;    /* the lease id, or the tokens granted */
    uint64_t second;   /* dest_rate: the second asked for */
    bool lease;        /* value is a lease, given back unless apply() keeps it */
    bool tls_optional; /* the destination's */
    char key[];        /* the destination's */
};
/* dest_ask_new - a question for dst (then pass dest_ask_answer and it to redis_lease) */
struct dest_ask *dest_ask_new(struct dest *dst, dest_ask_fn *apply);
/* dest_ask_answer - the redis_lease_fn of every question: posts it to the worker */
void dest_ask_answer(void *arg, enum redis_lease_result result, uint64_t value);

/* dest_lease.c: connections under a limit the nodes share */
void dest_lease_init(struct dest *dst);
/* dest_lease_ok - may dst open one more connection under limit? asks for a lease when not */
bool dest_lease_ok(struct dest *dst, int limit);
/* dest_lease_trim - give back the leases that back no connection */
void dest_lease_trim(struct dest *dst);
/* dest_lease_free - give back every lease (dest_free) */
void dest_lease_free(struct dest *dst);
/* Redis away: limits hold per node for this long (dest_lease.c, dest_rate.c) */
#define DEST_LEASE_LOCAL_MS 5000

/* dest_rate.c: deliveries per second */
void dest_rate_init(struct dest *dst);
/* dest_rate_take - may a connection start a job now? (takes this second's token) */
bool dest_rate_take(struct dest *dst);
void dest_rate_free(struct dest *dst);
/* dest_addrs_set - replace the address list (n may be 0, a NULL); frees the old one */
void dest_addrs_set(struct dest *dst, struct dest_addr *a, size_t n);

/* dest_dane.c - TLSA lookups of a destination's MX hosts, for the dane levels */
/* dest_dane_start - look up the TLSA records of every host the policy puts at dane or
 * dane-only and whose records were validated; true when lookups are out (dest_kick follows) */
bool dest_dane_start(struct dest *dst);
/* dest_dane_blocked - must this address not be tried, because what DNSSEC said about its host
 * defers it at its dane level (delivery_dane_level)? why then says so; a comparison when the
 * address is at no dane level */
bool dest_dane_blocked(const struct dest_addr *a, char *why, size_t len);
/* dest_dane_applies - does a have usable TLSA records at a dane level (DANE wins over MTA-STS)? */
bool dest_dane_applies(const struct dest_addr *a);
/* dest_mtasts.c: see its header */
/* dest_mtasts_start - find the policy of the destination's domain after its MX lookup; true when
 * it took over (it then starts dest_dane_start() or kicks the destination itself) */
bool dest_mtasts_start(struct dest *dst);
/* dest_mtasts_cancel - drop the lookup or fetch under way and the policy (dest_free) */
void dest_mtasts_cancel(struct dest *dst);
/* dest_mtasts_blocked - enforce: must this MX host not be tried? why says so */
bool dest_mtasts_blocked(const struct dest *dst, const struct dest_addr *a, char *why, size_t len);
/* dest_dane_cancel - drop the lookups still out (dest_free) */
void dest_dane_cancel(struct dest *dst);

/* dconn.c - connections */
/* dconn_alloc - a new connection of dst that will start at address idx */
struct dconn *dconn_alloc(struct dest *dst, size_t idx);
/* dconn_connect - try addresses from c->addr_index on; false when none is left */
bool dconn_connect(struct dconn *c);
/* dconn_gone - the connection is over: free it, then decide what the queue needs */
void dconn_gone(struct dconn *c);
/* dconn_quit - say QUIT and wait briefly for the reply */
void dconn_quit(struct dconn *c);
/* dconn_take_next - READY: start the next queued job, or idle */
void dconn_take_next(struct dconn *c);
/* dconn_requiretls_ok - may a REQUIRETLS message go over c? If not, why into reason */
bool dconn_requiretls_ok(const struct dconn *c, char *reason, size_t len);
/* dconn_requiretls_next - hand d to a successor at the next MX host and QUIT (true), or bounce
 * it with 5.7.30 when there is none (false) (dconn_requiretls.c) */
bool dconn_requiretls_next(struct dconn *c, struct queue_delivery *d, const char *reason);

/* job.c - results and log lines */
/* job_set_pending - give every recipient without a result this one */
void job_set_pending(struct queue_delivery *d, int status, const char *dsn, const char *reason);
/* job_finish - log every recipient, return the job to the queue */
void job_finish(struct delivery *dv, struct queue_delivery *d, double pickup, double setup);
/* job_fail - a job that was never sent: every recipient gets this result */
void job_fail(struct delivery *dv, struct queue_delivery *d, int status, const char *dsn,
              const char *reason);
/* job_fail_notfound - DNS does not know dst->host: only a recipient of that very
 *	domain (MX lookup) bounces; a configured next hop ([host], or a host that is
 *	not the recipient's domain) defers, as Postfix treats it as a configuration
 *	error that must not turn into bounces */
void job_fail_notfound(struct dest *dst, struct queue_delivery *d, const char *reason);
/* job_discard - the discard transport: every recipient is done */
void job_discard(struct delivery *dv, struct queue_delivery *d);

#endif
