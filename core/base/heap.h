/*
 * NAME
 *	heap - the malloc settings of a process that runs conns (loop/conn.h)
 * SYNOPSIS
 *	heap_tune();    // first thing in main(), before any thread starts
 * DESCRIPTION
 *	A conn frees each of its buffers as soon as it is empty (an idle
 *	session holds none), so a busy one frees and allocates them again at
 *	every reply. glibc trims the top of an arena whenever a free leaves
 *	more than M_TRIM_THRESHOLD (128 KiB by default) there: an
 *	madvise(MADV_DONTNEED), a TLB shootdown on the other CPUs, and page
 *	faults when the next allocation grows the arena again (strace:
 *	madvise from free() in conn_send_cb; perf: about 7% of ternd's CPU,
 *	and tern-bench's ceiling fell by a third, issue 13). heap_tune() sets
 *	a trim threshold of 32 MiB per arena, leaving the memory in the free
 *	lists. Setting it turns off glibc's adaptive mmap threshold, so that
 *	is set to 4 MiB: message buffers below it come from the heap as they
 *	would once the adaptive threshold had grown, larger ones are mapped.
 *	Both ternd and tern-bench call it.
 */
#ifndef TERN_BASE_HEAP_H
#define TERN_BASE_HEAP_H

void heap_tune(void);

#endif
