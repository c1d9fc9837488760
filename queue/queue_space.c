/*
 * NAME
 *	queue_space - is there room in the queue file system for one more message?
 * SYNOPSIS
 *	rc = queue_space_check(q, size, queue_minfree, message_size_limit);
 * DESCRIPTION
 *	Postfix's queue_minfree, checked when a client sends MAIL: the SMTP
 *	server refuses the transaction (452 4.3.1 Insufficient system storage)
 *	while the free space in queue_directory's file system (for an
 *	unprivileged user: f_bavail) is below any of
 *	  queue_minfree,
 *	  1.5 x message_size_limit (when there is a limit),
 *	  the client's SIZE= plus queue_minfree.
 *	Refusing at MAIL is kinder than accepting a message and failing its
 *	commit at the end of DATA (which still answers 452 4.3.1, and loses
 *	nothing either). One statvfs() per MAIL command; a warning is logged
 *	at most once per QUEUE_SPACE_LOG_EVERY seconds, like Postfix's
 *	"not enough free space in mail queue".
 *
 *	queue_space_low() lets the queue thread call a failed write what it
 *	is: LMDB reports a short write (the disk filled up during it) as EIO.
 * DIAGNOSTICS
 *	0, or -ENOSPC; 0 too when statvfs() fails (the commit still answers
 *	for what it cannot write).
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/statvfs.h>
#include <time.h>

#include "core/base/log.h"
#include "queue/queue_impl.h"

#define QUEUE_SPACE_LOG_EVERY 10

static _Atomic long long queue_space_logged;

/* queue_space_low - does the queue file system have less than need octets free? */
bool queue_space_low(struct queue *q, unsigned long long need)
{
    struct statvfs sv;
    return q && statvfs(q->directory, &sv) == 0 &&
           (unsigned long long)sv.f_bavail * sv.f_frsize < need;
}

/* queue_space_check - 0 when the queue file system has room for a message of size octets */
int queue_space_check(struct queue *q, unsigned long long size, long minfree, long size_limit)
{
    struct statvfs sv;
    if (!q || statvfs(q->directory, &sv) < 0)
        return 0;
    unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    unsigned long long mf = minfree > 0 ? (unsigned long long)minfree : 0;
    unsigned long long need = mf;
    if (size_limit > 0 && (unsigned long long)size_limit / 2 * 3 > need)
        need = (unsigned long long)size_limit / 2 * 3;
    if (size + mf > need)
        need = size + mf;
    if (avail >= need)
        return 0;
    long long now = (long long)time(NULL), last = atomic_load(&queue_space_logged);
    if (now - last >= QUEUE_SPACE_LOG_EVERY &&
        atomic_compare_exchange_strong(&queue_space_logged, &last, now))
        log_warn("smtpd",
                 "not enough free space in mail queue: %llu bytes < %llu (queue_minfree %llu, "
                 "1.5 x message_size_limit, SIZE %llu)",
                 avail, need, mf, size);
    return -ENOSPC;
}
