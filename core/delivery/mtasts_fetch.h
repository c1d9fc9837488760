/*
 * NAME
 *	mtasts_fetch - HTTPS fetches of MTA-STS policy files (RFC 8461 3.3), off the worker's loop
 * SYNOPSIS
 *	#include "core/delivery/mtasts_fetch.h"
 *	struct mtasts_fetch *f;
 *	mtasts_fetch_new(&f, loop);
 *	mtasts_fetch_start(f, "example.com", "192.0.2.1", cafile, capath, cb, arg);
 *	... later, on the loop's thread: cb(arg, &res) ...
 *	mtasts_fetch_cancel(f, arg);   // the callbacks for arg never run
 *	mtasts_fetch_free(f);
 * DESCRIPTION
 *	One thread per fetcher, started with the first request, runs the
 *	fetches one after the other (loop/https.h, libcurl): GET
 *	https://mta-sts.DOMAIN/.well-known/mta-sts.txt at the address the
 *	caller resolved (tern's resolver, not the system's), HTTPS only, no
 *	redirects (RFC 8461 3.3), the server certificate verified against
 *	cafile/capath (libcurl's default store when both are NULL) and the
 *	name mta-sts.DOMAIN. The answer must be 200 with a text/plain body.
 *	The result is posted to the loop, where cb runs with the body; the
 *	body is freed after cb returns.
 *	Bounds: MTASTS_FETCH_QUEUE_MAX requests waiting (more: -EAGAIN), a
 *	body of at most POLICY_MTASTS_SIZE_MAX octets (a longer one is cut
 *	off: -EFBIG), MTASTS_FETCH_TIMEOUT_S per fetch.
 * DIAGNOSTICS
 *	mtasts_fetch_new, mtasts_fetch_start: 0 or -errno (-EAGAIN: queue
 *	full, -EINVAL: a name or address too long). The callback's status: 0,
 *	-EFBIG (over the size limit), -EPROTO (not 200 or not text/plain),
 *	-EIO (connection, TLS or timeout: res->error says which).
 */
#ifndef TERN_DELIVERY_MTASTS_FETCH_H
#define TERN_DELIVERY_MTASTS_FETCH_H

#include <stddef.h>

#define MTASTS_FETCH_QUEUE_MAX 64
#define MTASTS_FETCH_TIMEOUT_S 10

struct loop;
struct mtasts_fetch;

struct mtasts_fetch_result {
    const char *domain;
    int status;
    char error[256];
    const char *body; /* status 0: the policy file, body[len] == 0 */
    size_t len;
};

typedef void mtasts_fetch_cb(void *arg, const struct mtasts_fetch_result *res);

/* mtasts_fetch_new - a fetcher posting its results to loop; its thread starts with the first fetch
 */
int mtasts_fetch_new(struct mtasts_fetch **out, struct loop *loop);
/* mtasts_fetch_free - stop the thread (the fetch under way ends at its timeout); NULL is fine.
 * Callbacks still due never run. */
void mtasts_fetch_free(struct mtasts_fetch *f);
/* mtasts_fetch_start - queue the fetch of domain's policy from addr (numeric) */
int mtasts_fetch_start(struct mtasts_fetch *f, const char *domain, const char *addr,
                       const char *cafile, const char *capath, mtasts_fetch_cb *cb, void *arg);
/* mtasts_fetch_cancel - the callbacks of arg's requests, waiting or under way, never run */
void mtasts_fetch_cancel(struct mtasts_fetch *f, void *arg);

#endif
