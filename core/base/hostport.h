/*
 * NAME
 *	hostport - "host:port" values and numeric socket addresses
 * SYNOPSIS
 *	char host[256]; int port;
 *	hostport_split("[::1]:2525", 25, host, sizeof(host), &port);   // "::1", 2525
 *	struct sockaddr_storage ss; socklen_t len;
 *	hostport_sockaddr(host, port, &ss, &len);                      // AF_INET6
 *	hostport_is_numeric("mail.example.com");                       // false
 * DESCRIPTION
 *	hostport_split() reads the forms main.cf uses for a listener, a
 *	resolver, metrics_listen or a relayhost's address: "127.0.0.1:25",
 *	"[::1]:25", "host:port", "host" (the port is then default_port) and a bare
 *	IPv6 address ("::1"). The port is a number from 1 to 65535 or a TCP
 *	service name ("smtp"). -EINVAL for anything else, for an empty host,
 *	for a host with white space, brackets, commas or slashes, and for a host
 *	longer than hostlen - 1.
 *
 *	hostport_sockaddr() makes the socket address of a numeric IPv4 or IPv6
 *	address (never a name lookup); -EINVAL when host is not numeric.
 */
#ifndef TERN_BASE_HOSTPORT_H
#define TERN_BASE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* hostport_split - host and port of s; 0 or -EINVAL */
int hostport_split(const char *s, int default_port, char *host, size_t hostlen, int *port);

/* hostport_is_numeric - host is an IPv4 or IPv6 address, not a name */
bool hostport_is_numeric(const char *host);

/* hostport_sockaddr - the socket address of a numeric host and a port; 0 or -EINVAL */
int hostport_sockaddr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len);

#endif
