/*
 * NAME
 *	fuzz_proxy - libFuzzer target: the PROXY protocol header (proxy_parse)
 * DESCRIPTION
 *	The input is the first octets of a connection to a listener with
 *	smtpd_upstream_proxy_protocol = haproxy. Properties:
 *	  - a header found is at most PROXY_MAX octets and no longer than the
 *	    input; the same octets alone parse to the same header, and a
 *	    prefix of them asks for more or is refused, never parses;
 *	  - "read more" only below PROXY_MAX octets;
 *	  - a client address is numeric (it reaches mynetworks, the
 *	    Received: header and the log) and its ports are 0-65535;
 *	  - a refusal says why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/smtpd/proxy.h"
#include "fuzz_input.h"

/* numeric - an IPv4 or IPv6 address in text */
static bool numeric(const char *s)
{
    unsigned char bin[16];
    return inet_pton(AF_INET, s, bin) == 1 || inet_pton(AF_INET6, s, bin) == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_header h, again;
    const char *why;
    long rc = proxy_parse(data, size, &h, &why);
    FUZZ_CHECK(why != NULL);
    if (rc < 0) {
        FUZZ_CHECK((rc == -EBADMSG || rc == -EMSGSIZE) && why[0] != 0);
        return 0;
    }
    if (rc == 0) {
        FUZZ_CHECK(size < PROXY_MAX);
        return 0;
    }
    FUZZ_CHECK((size_t)rc <= size && rc <= PROXY_MAX);
    FUZZ_CHECK(h.version == 1 || h.version == 2);
    if (!h.local) {
        FUZZ_CHECK(numeric(h.src) && numeric(h.dst));
        FUZZ_CHECK(h.sport >= 0 && h.sport <= 65535 && h.dport >= 0 && h.dport <= 65535);
    }
    FUZZ_CHECK(proxy_parse(data, (size_t)rc, &again, &why) == rc);
    FUZZ_CHECK(memcmp(&h, &again, sizeof(h)) == 0);
    FUZZ_CHECK(proxy_parse(data, (size_t)rc - 1, &again, &why) <= 0);
    return 0;
}
