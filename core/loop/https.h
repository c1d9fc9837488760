/*
 * NAME
 *	https - one HTTPS request with libcurl, to the address tern's resolver gave
 * SYNOPSIS
 *	#include "core/loop/https.h"
 *	https_init(err, sizeof(err));          // libcurl's global set-up, before threads use it
 *	struct https_request q = {.url = "https://mta-sts.example.com/.well-known/mta-sts.txt",
 *	                          .host = "mta-sts.example.com", .port = 443, .addr = "192.0.2.1",
 *	                          .timeout = 10, .body = &body, .body_max = 65536};
 *	struct https_answer a;
 *	https_perform(&q, &a, err, sizeof(err));   // then judge a.status and a.type
 * DESCRIPTION
 *	The one place tern sets up libcurl, for the MTA-STS policy fetch
 *	(delivery/mtasts_fetch.c) and the TLS-RPT report POST
 *	(daemon/tlsrpt.c), so both get the same rules: https: only, no
 *	redirects, the host reached at the address the caller resolved with
 *	tern's DNS (CURLOPT_RESOLVE, never the system's resolver), the server's
 *	certificate verified for host against cafile/capath (libcurl's default
 *	store when both are NULL), no signals, User-Agent "tern".
 *	https_perform blocks for up to req->timeout seconds: call it from a
 *	thread of its own or the control thread, never from a loop. A request
 *	with a type POSTs data[len] as that Content-Type; one without GETs.
 *	Whether the answer's status and Content-Type will do is the caller's
 *	to decide. https_init runs curl_global_init once per process (later
 *	calls say how that went); https_perform runs it too when nobody did.
 *	Bounds: req->timeout seconds per request; at most req->body_max
 *	octets of the answer's body are kept (more: -EFBIG). With body NULL
 *	the answer's body is left to libcurl's default, written to stdout.
 *	Threads: requests may run at once on several threads, each with a
 *	request and an answer of its own.
 * DIAGNOSTICS
 *	https_init: 0, or -EIO with err (curl_global_init failed).
 *	https_perform: 0 when an answer came (whatever its status), or -errno
 *	with err: -ENOMEM, -EINVAL (host, address or type too long), -EFBIG
 *	(the body is longer than body_max), -EIO (connection, TLS, timeout:
 *	err has libcurl's words).
 */
#ifndef TERN_LOOP_HTTPS_H
#define TERN_LOOP_HTTPS_H

#include <stddef.h>

struct buf;

struct https_request {
    const char *url;             /* https://HOST[:PORT]/PATH */
    const char *host;            /* HOST of url */
    int port;                    /* PORT of url, 443 when it names none */
    const char *addr;            /* a numeric address of host, from tern's resolver */
    const char *cafile, *capath; /* the CAs to verify the server with; NULL: libcurl's */
    long timeout;                /* seconds for the whole request */
    const char *type;            /* POST data[len] as this Content-Type; NULL: a GET */
    const void *data;
    size_t len;
    struct buf *body; /* the answer's body appended here; NULL: to stdout */
    size_t body_max;  /* octets of it at most */
};

struct https_answer {
    long status;    /* the HTTP status */
    char type[256]; /* the Content-Type, cut to fit; "" when there was none */
};

/* https_init - libcurl's global set-up, once per process; 0 or -EIO with err */
int https_init(char *err, size_t errlen);
/* https_perform - one request, waiting for its answer; 0 or -errno with err */
int https_perform(const struct https_request *req, struct https_answer *ans, char *err,
                  size_t errlen);

#endif
