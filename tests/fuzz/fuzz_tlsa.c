/*
 * NAME
 *	fuzz_tlsa - libFuzzer target: TLSA records (tls_dane) against certificate chains
 * DESCRIPTION
 *	The front of the input is a list of TLSA RDATAs as the DNS hands them
 *	over, each one length octet and that many octets (at most 16). With
 *	the first decision from the back set, a DER certificate comes first
 *	(two length octets, big-endian, then the DER): it replaces the leaf
 *	of the chain, as a hostile server's certificate would. Further
 *	decisions pick the chain (tests/unit/tls/data: the DANE chain, its
 *	expired twin, an RSA chain) and the reference name.
 *
 *	Properties:
 *	  - tls_dane_parse accepts exactly 4..3+TLS_DANE_DATA_MAX octets, and
 *	    the record points into the RDATA;
 *	  - tls_dane_check returns 0; UNUSABLE exactly when no record is
 *	    usable; MATCH names a usable record and a chain position, depth 0
 *	    only for DANE-EE and depth > 0 only for DANE-TA; FAIL gives a reason;
 *	  - tls_dane_describe fits or says -ENOSPC.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_internal.h"

#include <wolfssl/wolfcrypt/asn_public.h>

#include "fuzz_input.h"
#include "tls/tls_dane.h"

#define MAX_RR 16
#define NCHAINS 3

static struct tls_der chains[NCHAINS][4];
static size_t nchain[NCHAINS];

/* load - the certificates of one PEM file, as DER */
static void load(size_t k, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", TLS_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    FUZZ_CHECK(f != NULL);
    static char pem[65536];
    size_t len = fread(pem, 1, sizeof(pem) - 1, f);
    fclose(f);
    pem[len] = 0;
    const char *end_tag = "-----END CERTIFICATE-----";
    for (char *p = strstr(pem, "-----BEGIN"); p && nchain[k] < 4; p = strstr(p, "-----BEGIN")) {
        char *e = strstr(p, end_tag);
        FUZZ_CHECK(e != NULL);
        e += strlen(end_tag);
        unsigned char *der = malloc(8192);
        FUZZ_CHECK(der != NULL);
        int n = wc_CertPemToDer((const unsigned char *)p, (int)(e - p), der, 8192, CERT_TYPE);
        FUZZ_CHECK(n > 0);
        chains[k][nchain[k]++] = (struct tls_der){der, (size_t)n};
        p = e;
    }
}

/* LLVMFuzzerInitialize - the chains */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    wolfSSL_Init();
    load(0, "dane-leaf.pem");
    load(1, "dane-expired.pem");
    load(2, "server-rsa.pem");
    return 0;
}

/* LLVMFuzzerTestOneInput - parse the records, check them against a chain */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const refs[] = {"mx.dane.example", "a.wild.dane.example",
                                       "server.example.com", "mx.other.example"};
    struct fuzz_input in = fuzz_input_init(data, size);
    bool own_leaf = fuzz_input_flag(&in);
    unsigned k = fuzz_input_pick(&in, NCHAINS);
    unsigned ref = fuzz_input_pick(&in, 4);

    struct tls_der chain[4];
    size_t n = nchain[k];
    memcpy(chain, chains[k], n * sizeof(chain[0]));
    if (own_leaf) {
        const uint8_t *len2, *der;
        if (fuzz_input_take(&in, 2, &len2) == 2) {
            size_t want = (size_t)len2[0] << 8 | len2[1];
            size_t got = fuzz_input_take(&in, want, &der);
            chain[0] = (struct tls_der){der, got};
        }
    }

    struct tls_tlsa rrs[MAX_RR];
    size_t nrr = 0;
    bool usable = false;
    while (nrr < MAX_RR && in.n > 0) {
        const uint8_t *lp, *rd;
        fuzz_input_take(&in, 1, &lp);
        size_t got = fuzz_input_take(&in, lp[0], &rd);
        int rc = tls_dane_parse(rd, got, &rrs[nrr]);
        FUZZ_CHECK(rc == 0 || rc == -EINVAL);
        FUZZ_CHECK((rc == 0) == (got >= 4));
        if (rc < 0)
            continue;
        FUZZ_CHECK(rrs[nrr].data == rd + 3 && rrs[nrr].len == got - 3);
        usable |= tls_dane_usable(&rrs[nrr]);
        char out[64];
        int w = tls_dane_describe(&rrs[nrr], out, sizeof(out));
        FUZZ_CHECK(w > 0 && (size_t)w < sizeof(out) && strlen(out) == (size_t)w);
        nrr++;
    }

    struct tls_dane_result r;
    FUZZ_CHECK(tls_dane_check(rrs, nrr, chain, n, &refs[ref], 1, &r) == 0);
    FUZZ_CHECK((r.status == TLS_DANE_UNUSABLE) == !usable);
    if (r.status == TLS_DANE_MATCH) {
        FUZZ_CHECK(r.rr < nrr && tls_dane_usable(&rrs[r.rr]) && r.depth < n);
        FUZZ_CHECK(rrs[r.rr].usage == TLS_DANE_EE ? r.depth == 0 : r.depth > 0);
    } else if (r.status == TLS_DANE_FAIL) {
        FUZZ_CHECK(r.why[0] != 0);
    }
    return 0;
}
