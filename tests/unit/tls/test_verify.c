/*
 * test_verify - RFC 6125 name matching as Postfix does it, and the Postfix
 * protocol-list syntax; tables of cases
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tls/tls_ctx.h"
#include "tls/tls_verify.h"

/* test_name_table - one certificate name against one reference name */
static void test_name_table(void **state)
{
    (void)state;
    static const struct {
        const char *cert, *ref;
        bool match;
    } cases[] = {
        {"mail.example.com", "mail.example.com", true},
        {"MAIL.Example.COM", "mail.example.com", true},
        {"mail.example.com", "MAIL.EXAMPLE.COM", true},
        {"mail.example.com.", "mail.example.com", true},
        {"mail.example.com", "mail.example.com.", true},
        {"mail.example.com", "mail.example.org", false},
        {"mail.example.com", "example.com", false},
        {"example.com", "mail.example.com", false},
        {"mail.example.com", "mail.example.co", false},
        /* wildcards: the whole left-most label, exactly one label */
        {"*.example.com", "mx.example.com", true},
        {"*.example.com", "MX.example.COM", true},
        {"*.example.com", "example.com", false},
        {"*.example.com", "a.b.example.com", false},
        {"*.com", "example.com", false},
        {"*", "example", false},
        {"m*.example.com", "mx.example.com", false},
        {"*x.example.com", "mx.example.com", false},
        {"mx.*.example.com", "mx.a.example.com", false},
        {"*.*.example.com", "a.b.example.com", false},
        {"mx.example.*", "mx.example.com", false},
        {"**.example.com", "ab.example.com", false},
        /* dot-nexthop: any proper subdomain */
        {"mx.example.com", ".example.com", true},
        {"a.b.example.com", ".example.com", true},
        {"*.example.com", ".example.com", true},
        {"example.com", ".example.com", false},
        {"badexample.com", ".example.com", false},
        {"mx.example.com", ".", false},
        /* empty and NULL */
        {"", "mx.example.com", false},
        {"mx.example.com", "", false},
        {NULL, "mx.example.com", false},
        {"mx.example.com", NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (tls_verify_name_match(cases[i].cert, cases[i].ref) != cases[i].match)
            fail_msg("case %zu: cert \"%s\" ref \"%s\": want %s", i,
                     cases[i].cert ? cases[i].cert : "(null)",
                     cases[i].ref ? cases[i].ref : "(null)", cases[i].match ? "match" : "no match");
}

/* test_cert_table - SANs when present, CN only without DNS SANs */
static void test_cert_table(void **state)
{
    (void)state;
    static const char *const sans_mx[] = {"mx1.example.com", "*.relay.example.com"};
    static const char *const sans_other[] = {"other.example.net"};
    static const struct {
        const char *const *sans;
        size_t nsans;
        const char *cn;
        const char *ref;
        bool match;
    } cases[] = {
        {sans_mx, 2, "mx1.example.com", "mx1.example.com", true},
        {sans_mx, 2, NULL, "a.relay.example.com", true},
        {sans_mx, 2, "mx1.example.com", "relay.example.com", false},
        /* CN is ignored when there are DNS SANs */
        {sans_other, 1, "mx1.example.com", "mx1.example.com", false},
        {sans_other, 1, "mx1.example.com", "other.example.net", true},
        /* CN used without SANs, wildcards too */
        {NULL, 0, "mx1.example.com", "mx1.example.com", true},
        {NULL, 0, "*.example.com", "mx1.example.com", true},
        {NULL, 0, "mx1.example.com", "mx2.example.com", false},
        {NULL, 0, NULL, "mx1.example.com", false},
        {NULL, 0, "", "mx1.example.com", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (tls_verify_cert_match(cases[i].sans, cases[i].nsans, cases[i].cn, cases[i].ref) !=
            cases[i].match)
            fail_msg("case %zu: ref \"%s\": want %s", i, cases[i].ref,
                     cases[i].match ? "match" : "no match");
}

/* test_protocols_table - Postfix smtp(d)_tls_protocols syntax */
static void test_protocols_table(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        unsigned mask;
    } cases[] = {
        {NULL, 0, TLS_PROTO_ALL},
        {"", 0, TLS_PROTO_ALL},
        {"!SSLv2, !SSLv3", 0,
         TLS_PROTO_TLSv1 | TLS_PROTO_TLSv1_1 | TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3},
        {"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", 0, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3},
        {"!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", 0, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3},
        {"TLSv1.2 TLSv1.3", 0, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3},
        {"TLSv1.3", 0, TLS_PROTO_TLSv1_3},
        {"tlsv1.2", 0, TLS_PROTO_TLSv1_2},
        {">=TLSv1.2", 0, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3},
        {">=TLSv1", 0, TLS_PROTO_TLSv1 | TLS_PROTO_TLSv1_1 | TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3},
        {"<=TLSv1.2", 0,
         TLS_PROTO_SSLv2 | TLS_PROTO_SSLv3 | TLS_PROTO_TLSv1 | TLS_PROTO_TLSv1_1 |
             TLS_PROTO_TLSv1_2},
        {">=TLSv1.1 <=TLSv1.2", 0, TLS_PROTO_TLSv1_1 | TLS_PROTO_TLSv1_2},
        {">=TLSv1.2, !TLSv1.3", 0, TLS_PROTO_TLSv1_2},
        {"TLSv1.2 TLSv1.3 !TLSv1.3", 0, TLS_PROTO_TLSv1_2},
        {"!TLSv1.2 !TLSv1.3 !TLSv1.1 !TLSv1 !SSLv3 !SSLv2", -EINVAL, 0},
        {">=TLSv1.3 <=TLSv1.2", -EINVAL, 0},
        {"TLSv1.4", -EINVAL, 0},
        {"!TLSv1.2x", -EINVAL, 0},
        {"=>TLSv1.2", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned mask = 0;
        char err[200] = "";
        int rc = tls_protocols_parse(cases[i].text, &mask, err, sizeof(err));
        if (rc != cases[i].rc || (rc == 0 && mask != cases[i].mask))
            fail_msg("case %zu \"%s\": rc %d mask %#x, want %d %#x (%s)", i,
                     cases[i].text ? cases[i].text : "(null)", rc, mask, cases[i].rc, cases[i].mask,
                     err);
        if (rc < 0 && !*err)
            fail_msg("case %zu: no message", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_table),
        cmocka_unit_test(test_cert_table),
        cmocka_unit_test(test_protocols_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
