/*
 * NAME
 *	fuzz_addr - libFuzzer target: RFC 5321 paths (policy_addr)
 * DESCRIPTION
 *	The input (up to its first NUL) is the text after "MAIL FROM:" or
 *	"RCPT TO:"; one decision from the back says whether angle brackets may
 *	be left out (Postfix's leniency). Properties, from policy_addr.h:
 *	  - the result is 0, -EINVAL or -E2BIG;
 *	  - on success `consumed` ends the path, and what follows is the end of
 *	    the text or a blank;
 *	  - `addr` is "safe to put on the wire or re-parse": "<addr>" parses
 *	    again, strictly, to the same addr, local part and domain;
 *	  - the domain is lowercased (address literals are kept as written);
 *	  - policy_addr_format() of the parts fits any room it claims to fit,
 *	    and says -ENOSPC otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "policy/policy_addr.h"

/* LLVMFuzzerTestOneInput - parse one path, then check what the header promises */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    bool lenient = fuzz_input_flag(&in);
    size_t room = fuzz_input_pick(&in, POLICY_ADDR_MAX + 2);
    char *text = fuzz_input_rest(&in, NULL);
    struct policy_addr a;
    int rc = policy_addr_parse(text, lenient, &a);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG);
    if (rc == 0) {
        size_t tlen = strlen(text);
        FUZZ_CHECK(a.consumed <= tlen);
        char next = text[a.consumed];
        FUZZ_CHECK(next == 0 || next == ' ' || next == '\t' || next == '\r' || next == '\n');
        FUZZ_CHECK(strlen(a.addr) < sizeof(a.addr));
        if (a.null_path) {
            FUZZ_CHECK(a.addr[0] == 0);
        } else {
            if (a.domain[0] != '[')
                for (const char *p = a.domain; *p; p++)
                    FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
            char wire[POLICY_ADDR_MAX + 3];
            snprintf(wire, sizeof(wire), "<%s>", a.addr);
            struct policy_addr b;
            rc = policy_addr_parse(wire, false, &b);
            if (rc != 0)
                fprintf(stderr, "re-parse of %s: %d\n", wire, rc);
            FUZZ_CHECK(rc == 0);
            FUZZ_CHECK(strcmp(a.addr, b.addr) == 0);
            FUZZ_CHECK(strcmp(a.local, b.local) == 0);
            FUZZ_CHECK(strcmp(a.domain, b.domain) == 0);
            FUZZ_CHECK(a.utf8 == b.utf8);

            char *out = malloc(room ? room : 1);
            FUZZ_CHECK(out != NULL);
            int n = policy_addr_format(a.local, a.domain, out, room);
            if (room > strlen(a.addr))
                FUZZ_CHECK(n >= 0 && (size_t)n == strlen(a.addr) && strcmp(out, a.addr) == 0);
            else
                FUZZ_CHECK(n == -ENOSPC);
            free(out);
        }
    }
    free(text);
    return 0;
}
