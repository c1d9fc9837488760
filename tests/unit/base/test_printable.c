/*
 * test_printable - peer text made safe for logs and headers: tables of inputs and what remains
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/base/printable.h"

enum { A = PRINTABLE_ASCII, U = PRINTABLE_UTF8, T = PRINTABLE_TOKEN, Q = PRINTABLE_QUOTED };

static const struct {
    const char *in;
    unsigned flags;
    const char *out;
} cases[] = {
    {"plain text", A, "plain text"},
    {"", A, ""},
    {"vtff\v\fX-Injected: yes", A, "vtff??X-Injected: yes"},
    {"logesc\x1b[31mRED\x1b[0m\a", U, "logesc?[31mRED?[0m?"},
    {"tab\there\r\nand\x7f", U, "tab?here??and?"},
    /* UTF-8 kept with U, one '?' per character; without U one '?' per octet */
    {"j\xc3\xbcrgen", U, "j\xc3\xbcrgen"},
    {"j\xc3\xbcrgen", A, "j??rgen"},
    {"\xe2\x82\xac 5", U, "\xe2\x82\xac 5"},
    {"\xf0\x9f\x93\xa7", U, "\xf0\x9f\x93\xa7"},
    /* C1 controls, bidi overrides and isolates, zero width, BOM, tags */
    {"ab\xc2\x85"
     "cd",
     U, "ab?cd"},
    {"ab\xc2\x9f"
     "cd",
     U, "ab?cd"},
    {"ab\xc2\xa0"
     "cd",
     U,
     "ab\xc2\xa0"
     "cd"}, /* NBSP is printable */
    {"ab\xe2\x80\xae"
     "cd",
     U, "ab?cd"},
    {"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", U, "????"},
    {"x\xe2\x81\xa6y\xe2\x81\xa9", U, "x?y?"},
    {"x\xe2\x80\x8by\xe2\x80\x8f", U, "x?y?"},
    {"\xef\xbb\xbfx", U, "?x"},
    {"\xf3\xa0\x80\x81x", U, "?x"},
    {"\xe2\x80\xa8", U, "?"},
    /* ill-formed UTF-8: one '?' per octet */
    {"\xc0\xaf", U, "??"},           /* overlong '/' */
    {"\xe0\x80\xaf", U, "???"},      /* overlong */
    {"\xed\xa0\x80", U, "???"},      /* surrogate */
    {"\xf4\x90\x80\x80", U, "????"}, /* above U+10FFFF */
    {"ab\xc3", U, "ab?"},            /* truncated */
    {"\xe2\x82x", U, "??x"},         /* truncated inside */
    {"\x80\xbf", U, "??"},           /* stray continuation octets */
    {"\xff\xfe", U, "??"},
    /* one header token */
    {"evil) by trusted.example (Postfix) with ESMTP id FAKE;", T,
     "evil??by?trusted.example??Postfix??with?ESMTP?id?FAKE?"},
    {"mail.example.org", T, "mail.example.org"},
    {"[192.0.2.1]", T, "[192.0.2.1]"},
    {"[IPv6:2001:db8::1]", T, "[IPv6:2001:db8::1]"},
    {"a<b>\"c\"\\d", T, "a?b??c??d"},
    /* quoted string */
    {"Example \"Corp\" \\ CA", Q, "Example ?Corp? ? CA"},
    {"ctl\x01", Q, "ctl?"},
};

/* test_fix_table - printable_fix, printable_ok and printable_copy agree with the table */
static void test_fix_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        size_t n = printable_fix(buf, cases[i].flags);
        const char *want = cases[i].out;
        if (strcmp(buf, want) != 0)
            print_error("case %zu: \"%s\" -> \"%s\", want \"%s\"\n", i, cases[i].in, buf, want);
        assert_string_equal(buf, want);
        assert_int_equal(n, strlen(want));
        assert_true(printable_ok(buf, cases[i].flags));
        assert_int_equal(printable_ok(cases[i].in, cases[i].flags), strcmp(cases[i].in, want) == 0);
        /* printable_copy gives the same result when it fits */
        char copy[256];
        assert_int_equal(printable_copy(copy, sizeof(copy), cases[i].in, cases[i].flags),
                         strlen(want));
        assert_string_equal(copy, want);
    }
}

/* test_copy_bounds - truncation never splits a character and always terminates */
static void test_copy_bounds(void **state)
{
    (void)state;
    char out[6];
    memset(out, 'Z', sizeof(out));
    assert_int_equal(printable_copy(out, sizeof(out), "abcdefgh", A), 5);
    assert_string_equal(out, "abcde");
    /* "ab" + a 3-octet character does not fit in 4 octets + NUL: stop before it */
    char small[5];
    assert_int_equal(printable_copy(small, sizeof(small), "ab\xe2\x82\xac", U), 2);
    assert_string_equal(small, "ab");
    assert_int_equal(printable_copy(out, 1, "abc", A), 0);
    assert_string_equal(out, "");
    assert_int_equal(printable_copy(out, 0, "abc", A), 0);
    assert_int_equal(printable_copy(out, sizeof(out), NULL, A), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fix_table),
        cmocka_unit_test(test_copy_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
