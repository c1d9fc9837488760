/*
 * NAME
 *	deadline - Postfix's smtpd_per_request_deadline and smtpd_min_data_rate as arithmetic
 * SYNOPSIS
 *	struct deadline_params p = {.timeout_ms = 300000, .per_request = true, .min_data_rate =
 *500}; due = deadline_next(&p, now, due, new_request, in_data, n);   // after n octets arrived
 * DESCRIPTION
 *	When the read deadline of an SMTP server session falls (monotonic ms),
 *	after input arrived. Without per_request, as Postfix's default:
 *	smtpd_timeout from the last input, whatever it was (a time limit per read).
 *	With per_request (Postfix's smtpd_per_request_deadline, tern's default):
 *	a request - a command line, an AUTH response - must arrive within
 *	smtpd_timeout of the previous one's end, however it trickles in; inside
 *	DATA the deadline starts at the DATA command and every n octets of
 *	content buy n / smtpd_min_data_rate seconds more, never more than
 *	smtpd_timeout from now. So a client sending one octet a second is dropped
 *	at smtpd_timeout; one sending faster than min_data_rate never is.
 *
 *	Pure functions: no clock, no state; the caller (smtpd/server.c) keeps the
 *	deadline and arms its timer.
 */
#ifndef TERN_SMTPD_DEADLINE_H
#define TERN_SMTPD_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct deadline_params {
    uint64_t timeout_ms;    /* smtpd_timeout */
    bool per_request;       /* smtpd_per_request_deadline */
    unsigned min_data_rate; /* smtpd_min_data_rate, octets per second; 0: no credit */
};

/* deadline_next - the deadline after n octets arrived at now; new_request: a request ended with
 * them (a new one starts), in_data: they were message content, due: the deadline until now */
uint64_t deadline_next(const struct deadline_params *p, uint64_t now, uint64_t due,
                       bool new_request, bool in_data, size_t n);

#endif
