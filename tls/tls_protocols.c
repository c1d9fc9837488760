/*
 * NAME
 *	tls_protocols - Postfix's TLS protocol lists: parsed to bits, applied to wolfSSL
 * DESCRIPTION
 *	See tls_protocols.h. Parsing is pure; applying sets either a whole
 *	context (w) or one session (ssl), never both.
 * DIAGNOSTICS
 *	0, or -EINVAL with the offending list and name in err.
 */
#include "tls/tls_protocols.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "tls/tls_internal.h"

static const struct {
    const char *name;
    unsigned bit;
} protocol_names[] = {
    {"SSLv2", TLS_PROTO_SSLv2},     {"SSLv3", TLS_PROTO_SSLv3},     {"TLSv1", TLS_PROTO_TLSv1},
    {"TLSv1.1", TLS_PROTO_TLSv1_1}, {"TLSv1.2", TLS_PROTO_TLSv1_2}, {"TLSv1.3", TLS_PROTO_TLSv1_3},
};
#define NPROTOCOLS (sizeof(protocol_names) / sizeof(protocol_names[0]))

/* protocol_bit - bit of one protocol name (case-insensitive), 0 if unknown */
static unsigned protocol_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < NPROTOCOLS; i++)
        if (strlen(protocol_names[i].name) == len &&
            strncasecmp(protocol_names[i].name, name, len) == 0)
            return protocol_names[i].bit;
    return 0;
}

/* tls_protocols_parse - Postfix protocol list to TLS_PROTO_* bits; -EINVAL with err */
int tls_protocols_parse(const char *text, unsigned *mask, char *err, size_t errlen)
{
    unsigned include = 0, exclude = 0, lower = TLS_PROTO_ALL, upper = TLS_PROTO_ALL;
    const char *p = text ? text : "";
    for (;;) {
        p += strspn(p, " \t\r\n,:");
        if (!*p)
            break;
        size_t len = strcspn(p, " \t\r\n,:");
        const char *name = p;
        size_t nlen = len;
        int kind = 0; /* 0 include, 1 exclude, 2 >=, 3 <= */
        if (name[0] == '!') {
            kind = 1, name++, nlen--;
        } else if (nlen >= 2 && name[0] == '>' && name[1] == '=') {
            kind = 2, name += 2, nlen -= 2;
        } else if (nlen >= 2 && name[0] == '<' && name[1] == '=') {
            kind = 3, name += 2, nlen -= 2;
        }
        unsigned bit = protocol_bit(name, nlen);
        if (!bit) {
            tls_wolf_seterr(err, errlen, "invalid TLS protocol \"%.*s\" in \"%s\"", (int)len, p,
                            text);
            return -EINVAL;
        }
        switch (kind) {
        case 0:
            include |= bit;
            break;
        case 1:
            exclude |= bit;
            break;
        case 2:
            lower &= ~(bit - 1);
            break; /* bit and above */
        case 3:
            upper &= (bit << 1) - 1;
            break; /* bit and below */
        }
        p += len;
    }
    unsigned m = (include ? include : TLS_PROTO_ALL) & ~exclude & lower & upper;
    if (!m) {
        tls_wolf_seterr(err, errlen, "TLS protocol list \"%s\" enables no protocol", text);
        return -EINVAL;
    }
    *mask = m;
    return 0;
}

/* tls_protocols_apply - set min/max version and holes on a context (w) or one session (ssl) */
int tls_protocols_apply(WOLFSSL_CTX *w, WOLFSSL *ssl, unsigned mask, const char *text, char *err,
                        size_t errlen)
{
    /* wolfSSL knows TLSv1 .. TLSv1.3; SSLv2/SSLv3 are not built in */
    static const struct {
        unsigned bit;
        int version;
        long op;
    } v[] = {
        {TLS_PROTO_TLSv1, TLS1_VERSION, WOLFSSL_OP_NO_TLSv1},
        {TLS_PROTO_TLSv1_1, TLS1_1_VERSION, WOLFSSL_OP_NO_TLSv1_1},
        {TLS_PROTO_TLSv1_2, TLS1_2_VERSION, WOLFSSL_OP_NO_TLSv1_2},
        {TLS_PROTO_TLSv1_3, TLS1_3_VERSION, WOLFSSL_OP_NO_TLSv1_3},
    };
    int lo = -1, hi = -1;
    for (int i = 0; i < 4; i++)
        if (mask & v[i].bit) {
            if (lo < 0)
                lo = i;
            hi = i;
        }
    if (lo < 0) {
        tls_wolf_seterr(err, errlen,
                        "TLS protocol list \"%s\" enables no protocol this TLS library has",
                        text ? text : "");
        return -EINVAL;
    }
    /* a minimum below what the library supports is fine: try upwards */
    int i = lo;
    while (i <= hi && (ssl ? wolfSSL_set_min_proto_version(ssl, v[i].version)
                           : wolfSSL_CTX_set_min_proto_version(w, v[i].version)) != WOLFSSL_SUCCESS)
        i++;
    if (i > hi) {
        tls_wolf_seterr(err, errlen, "TLS protocol list \"%s\": no enabled protocol is supported",
                        text);
        return -EINVAL;
    }
    if ((ssl ? wolfSSL_set_max_proto_version(ssl, v[hi].version)
             : wolfSSL_CTX_set_max_proto_version(w, v[hi].version)) != WOLFSSL_SUCCESS) {
        tls_wolf_seterr(err, errlen, "TLS protocol list \"%s\": cannot set the maximum", text);
        return -EINVAL;
    }
    long ops = 0;
    for (int j = lo; j <= hi; j++)
        if (!(mask & v[j].bit))
            ops |= v[j].op;
    if (ops && ssl)
        wolfSSL_set_options(ssl, ops);
    else if (ops)
        wolfSSL_CTX_set_options(w, ops);
    return 0;
}
