/*
 * NAME
 *	queueview - the text of `ternctl queue`: list, show, verify
 * DESCRIPTION
 *	The queue returns snapshots (queue.h); these turn them into the text the
 *	control socket sends (mailq-like list, postcat-like show, verify's
 *	report). Called on the control thread; each blocks until the queue
 *	thread made the snapshot. See queueview.c.
 */
#ifndef TERN_DAEMON_QUEUEVIEW_H
#define TERN_DAEMON_QUEUEVIEW_H

#include <stdio.h>

#include "queue/queue.h"

/* queueview_list - the queue like mailq to fp; 0 or -errno */
int queueview_list(struct queue *q, FILE *fp);
/* queueview_show - one message like postcat to fp; -ENOENT when unknown */
int queueview_show(struct queue *q, const char *qid, FILE *fp);
/* queueview_verify - check every record (the damaged go to the corrupt queue); report to fp */
int queueview_verify(struct queue *q, FILE *fp);

/* queueview_print_* - the text of a snapshot in hand (read only; s stays the caller's) */
void queueview_print_list(const struct queue_snapshot *s, FILE *fp);
void queueview_print_show(const struct queue_snapshot *s, FILE *fp); /* content when read */
void queueview_print_verify(const struct queue_snapshot *s, FILE *fp);

#endif
