/*
 * NAME
 *	delivery_self - is a next hop's address tern itself? (mail loops)
 * SYNOPSIS
 *	#include "core/delivery/delivery_self.h"
 *
 *	struct delivery_self *me = NULL;
 *	rc = delivery_self_new(&me, listener_fds, n, &cfg->proxy_interfaces, &err);
 *	if (delivery_self_is_me(me, &cfg->proxy_interfaces, "127.0.0.1", 2525)) ...
 *	delivery_self_free(me);
 * DESCRIPTION
 *	Holds the addresses tern listens on, read back from its bound
 *	listening sockets (getsockname), so that whatever configured them
 *	(smtpd_listen, submission_listen, smtps_listen, inet_interfaces) the
 *	answer is what the kernel delivers to tern. A listener on a wildcard
 *	address (0.0.0.0, ::) stands for every local address with its port:
 *	the loopback networks and the interface addresses seen when the set
 *	is made (getifaddrs, once, at start-up).
 *
 *	proxy_interfaces (Postfix's meaning: addresses on which a proxy or NAT
 *	forwards mail to tern) is passed at each call, so that a reload takes
 *	effect; an entry "addr" means port 25, "addr:port" or "[addr]:port"
 *	that port. Only numeric addresses: delivery_self_check() (run by
 *	runtime_build, so by start-up, reload and `ternd check`) and
 *	delivery_self_new() refuse anything else with a message naming it.
 *
 *	IPv4-mapped IPv6 addresses are compared as IPv4. The set is made once
 *	per worker and never changes; it is read only on that worker's thread.
 * DIAGNOSTICS
 *	delivery_self_new, delivery_self_check: 0; -ENOMEM; -EINVAL with *err set (malloc'd) for an
 *entry of proxy_interfaces that is not a numeric address.
 */
#ifndef TERN_DELIVERY_DELIVERY_SELF_H
#define TERN_DELIVERY_DELIVERY_SELF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config/config.h"

struct delivery_self;

int delivery_self_new(struct delivery_self **out, const int *fds, size_t nfd,
                      const struct config_list *proxy, char **err);
int delivery_self_check(const struct config_list *proxy,
                        char **err); /* for ternd check and reload */
bool delivery_self_is_me(const struct delivery_self *me, const struct config_list *proxy,
                         const char *addr, int port);
void delivery_self_free(struct delivery_self *me); /* NULL is fine */

#endif
