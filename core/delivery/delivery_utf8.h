/*
 * NAME
 *	delivery_utf8 - does a message need SMTPUTF8 on the way out?
 * SYNOPSIS
 *	#include "core/delivery/delivery_utf8.h"
 *
 *	if (d->smtputf8 && !smtpc_offers(s, "SMTPUTF8") && delivery_utf8_needed(d, body, blen))
 *	        bounce 5.6.7 "SMTPUTF8 is required, but was not offered by host X";
 * DESCRIPTION
 *	RFC 6531 and Postfix: a message received with SMTPUTF8 may go to a
 *	server that does not offer SMTPUTF8 only when nothing in it needs
 *	UTF-8: the envelope sender, the recipients of this delivery and the
 *	primary header section are all ASCII (the body may carry 8-bit text
 *	with BODY=8BITMIME). Then it is sent without the parameter (a
 *	downgrade); otherwise it bounces, 5.6.7.
 *
 *	The scan reads the header section only (up to the first empty line,
 *	never past blen).
 * DIAGNOSTICS
 *	None: true or false.
 */
#ifndef TERN_DELIVERY_DELIVERY_UTF8_H
#define TERN_DELIVERY_DELIVERY_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"

bool delivery_utf8_needed(const struct queue_delivery *d, const char *body, size_t blen);

#endif
