/*
 * NAME
 *	tern-bench - SMTP load source and sink for measuring relays
 * SYNOPSIS
 *	tern-bench source --server HOST:PORT [options]     (see bench_source.h)
 *	tern-bench sink --listen ADDR:PORT [options]       (see bench_sink.h)
 * DESCRIPTION
 *	One program, two roles, both on core's io_uring loop and tls's wolfSSL
 *	sessions. It links tern's libraries but is never linked into ternd.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 when the run failed, 2 for usage errors.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench_sink.h"
#include "bench/bench_source.h"
#include "core/base/heap.h"

/* main - dispatch on the role */
int main(int argc, char **argv)
{
    heap_tune(); /* conns free their buffers when empty: base/heap.h */
    if (argc >= 2 && strcmp(argv[1], "source") == 0)
        return bench_source_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sink") == 0)
        return bench_sink_main(argc - 1, argv + 1);
    fprintf(stderr, "usage: tern-bench source|sink [options]   (--help for each)\n");
    return 2;
}
