/*
 * NAME
 *	bench_util - option parsing and output helpers shared by tern-bench's source and sink
 * SYNOPSIS
 *	#include "bench/bench_util.h"
 *
 *	struct sockaddr_storage ss; socklen_t len;
 *	bench_parse_hostport("127.0.0.1:2525", &ss, &len);
 *	size_t n; bench_parse_size("4k", &n);                  // 4096
 *	struct bench_mix m; bench_parse_mix("1k:50,10k:30,1m:20", &m);
 *	size_t s = bench_mix_pick(&m, message_index);
 *	bench_body_make(&body, 4096, "bench@example.test");  // a message of exactly 4096 bytes
 *	bench_json_str(&out, text);  bench_write_atomic(path, &out);
 * DESCRIPTION
 *	Sizes take k, m, g suffixes (powers of 1024). A size mix is up to
 *	BENCH_MIX_MAX "size:weight" pairs; bench_mix_pick() spreads the sizes
 *	so that every run of `total weight` consecutive message indexes holds
 *	each size exactly `weight` times, interleaved rather than in blocks.
 *
 *	bench_parse_hostport() takes "host:port" or "[v6addr]:port"; the host
 *	is resolved with getaddrinfo (numeric addresses need no DNS).
 *
 *	bench_write_atomic() writes to PATH.tmp and renames it, so a reader
 *	never sees half a file.
 * DIAGNOSTICS
 *	0 or -EINVAL for bad text, -errno for I/O; -ENOMEM.
 */
#ifndef TERN_BENCH_UTIL_H
#define TERN_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/base/buf.h"

#define BENCH_MIX_MAX 16

struct bench_mix {
    unsigned n;
    size_t size[BENCH_MIX_MAX];
    unsigned weight[BENCH_MIX_MAX];
    unsigned total;  /* sum of weights */
    unsigned stride; /* coprime with total: spreads the picks */
};

int bench_parse_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len);
int bench_parse_size(const char *text, size_t *out);
int bench_parse_mix(const char *text, struct bench_mix *m);
size_t bench_mix_pick(const struct bench_mix *m, uint64_t index);
/* bench_body_make - append a message (headers, filler lines, CRLF ends) of exactly size bytes (>=
 * 64) */
int bench_body_make(struct buf *out, size_t size, const char *from);
/* bench_json_str - append text as a JSON string literal */
int bench_json_str(struct buf *out, const char *text);
/* bench_write_atomic - replace path with the buffer's contents */
int bench_write_atomic(const char *path, const struct buf *b);
/* bench_now_us - CLOCK_MONOTONIC in microseconds */
uint64_t bench_now_us(void);

#endif
