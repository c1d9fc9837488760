/*
 * NAME
 *	conn - one TCP connection driven by the ring: buffered send, recv, close
 * SYNOPSIS
 *	struct conn *c;
 *	conn_new(&c, loop, fd, &ops, owner);          // takes fd (accepted or connected)
 *	conn_connect(&c, loop, &sockaddr, len, timeout_ms, &ops, owner);  // async; ops->connected()
 *	conn_write(c, bytes, n);  conn_flush(c);       // append to the send buffer; flush sends
 *	conn_read_pause(c); conn_read_resume(c);
 *	conn_set_write_timeout(c, ms, per_request);    // drop a peer that stops reading
 *	conn_unsent(c);                                // octets not yet taken by the kernel
 *	conn_close(c);                                  // flushes unless conn_abort()
 * DESCRIPTION
 *	A conn owns its socket and buffers. Received bytes go to ops->data(),
 *	valid during the call only (they are in a buffer every conn of the
 *	thread shares); an idle conn holds no buffer at all. End of stream or
 *	an error go to ops->closed() exactly once, after which the owner must
 *	not touch the conn (it is freed when its last op completes).
 *	conn_close() sends what is buffered, then closes; ops->closed() is still
 *	called (err 0). Reading can be paused (no new recv is posted; one
 *	already in flight may still deliver data).
 *
 *	`out` is the buffer protocol code appends to; conn_flush() starts a send
 *	if none is in flight (one send at a time keeps bytes in order).
 *
 *	Backpressure: a conn stops posting receives while its unsent output
 *	(conn_unsent(): `out`, what waits for the wire and what the kernel has
 *	not taken yet, TLS records included) is above CONN_OUT_HIGH, and reads
 *	again once it has fallen to CONN_OUT_LOW, whatever the owner does; so a
 *	peer that sends and never reads stops being read instead of growing the
 *	daemon. ops->drained(), if set, is called after a send whenever the
 *	unsent output is at or below CONN_OUT_LOW: an owner that stopped
 *	producing output (smtpd/server: smtpd_pending()) produces more there.
 *	What one receive can make the owner write is the owner's to bound.
 *
 *	Write timeout (conn_set_write_timeout): while output is unsent, the peer
 *	must take it within the timeout - all of it (per_request, Postfix's
 *	smtpd_per_request_deadline) or at least some octets each time (per
 *	write). Otherwise the conn is dropped with a RST and closed() reports
 *	-ETIMEDOUT. A closing conn gives its last octets at most
 *	CONN_CLOSE_FLUSH_MS (the write timeout if shorter) from conn_close(),
 *	with or without a write timeout; then it is dropped the same way. No
 *	conn waits forever for a send.
 *
 *	conn_start_tls() puts a tls_session between the socket and the owner:
 *	from then on data() sees plaintext and `out` is encrypted on flush.
 *	Plaintext appended before the call (the "220 Ready to start TLS") is
 *	still sent in the clear. The handshake's end is reported once to done()
 *	with 0 or -errno (tls_session_error() has the text); on failure the
 *	owner decides what to do (usually conn_abort()). conn_close() sends
 *	close_notify first. The conn owns the session from the call on.
 */
#ifndef TERN_LOOP_CONN_H
#define TERN_LOOP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/base/buf.h"
#include "core/loop/loop.h"

struct conn;
struct tls_session;

struct conn_ops {
    /* connected - (conn_connect only) err 0 or -errno; on error closed() is not called and the conn
     * is gone */
    void (*connected)(struct conn *c, void *owner, int err);
    void (*data)(struct conn *c, void *owner, const char *data, size_t len);
    void (*closed)(struct conn *c, void *owner, int err);
    /* drained - optional: a send finished and conn_unsent() <= CONN_OUT_LOW (not once closing) */
    void (*drained)(struct conn *c, void *owner);
};

#define CONN_RECV_SIZE 16384                  /* one receive buffer per thread, not per conn */
#define CONN_OUT_HIGH ((size_t)64 << 10)      /* unsent output above this: no receive is posted */
#define CONN_OUT_LOW ((size_t)16 << 10)       /* ... until it is down to this */
#define CONN_CLOSE_FLUSH_MS ((uint64_t)10000) /* what a closing conn waits for its last octets */

int conn_new(struct conn **out, struct loop *l, int fd, const struct conn_ops *ops, void *owner);
int conn_connect(struct conn **out, struct loop *l, const struct sockaddr *sa, socklen_t salen,
                 unsigned timeout_ms, const struct conn_ops *ops, void *owner);
/* conn_out - the send buffer to append to */
struct buf *conn_out(struct conn *c);
void conn_flush(struct conn *c);
void conn_read_pause(struct conn *c);
void conn_read_resume(struct conn *c);
/* conn_unsent - octets in `out`, waiting for the wire and in flight (not yet taken by the kernel)
 */
size_t conn_unsent(const struct conn *c);
/* conn_set_write_timeout - drop the peer (closed() with -ETIMEDOUT) when unsent output is not all
 * sent within ms (per_request) or makes no progress for ms; 0: none (closing is bounded anyway) */
void conn_set_write_timeout(struct conn *c, uint64_t ms, bool per_request);
/* conn_close - flush, then close; closed(c, owner, 0) follows */
void conn_close(struct conn *c);
/* conn_abort - close now, discarding unsent bytes; closed(c, owner, -ECONNABORTED) follows */
void conn_abort(struct conn *c);
int conn_fd(const struct conn *c);

typedef void conn_tls_done_fn(struct conn *c, void *owner, int err);
/* conn_start_tls - start TLS with ts (taken over); done() reports the handshake. 0 or -EINVAL */
int conn_start_tls(struct conn *c, struct tls_session *ts, conn_tls_done_fn *done);
/* conn_tls - the TLS session, or NULL before conn_start_tls() */
struct tls_session *conn_tls(const struct conn *c);
/* conn_peer - numeric address and port of the peer */
void conn_peer(const struct conn *c, char *addr, size_t len, int *port);
/* conn_fd_peer - the same for a socket no conn owns yet ("unknown", 0 if it cannot say) */
void conn_fd_peer(int fd, char *addr, size_t len, int *port);
/* conn_local - numeric address and port of our end ("unknown", 0 if the socket cannot say) */
void conn_local(const struct conn *c, char *addr, size_t len, int *port);

#endif
