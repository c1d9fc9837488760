/*
 * NAME
 *	policy_taglist - the "k=v; k=v" fields of a DNS TXT policy record (MTA-STS, TLS-RPT)
 * SYNOPSIS
 *	#include "policy/policy_taglist.h"
 *	struct policy_taglist t = policy_taglist_init(txt, len);
 *	struct policy_tag tag;
 *	int rc;
 *	while ((rc = policy_taglist_next(&t, &tag)) == 1)
 *	        ... tag.key[0..tag.kn), tag.value[0..tag.vn) ...
 * DESCRIPTION
 *	RFC 8461 3.1 and RFC 8460 3 share a grammar: fields separated by ";",
 *	blanks around a field ignored, each field "key=value" with a non-empty
 *	key; an empty field after the last ";" ends the list. The views point
 *	into the record.
 * DIAGNOSTICS
 *	policy_taglist_next: 1 (a field), 0 (the end), -EINVAL (a field that is
 *	not key=value).
 */
#ifndef TERN_POLICY_TAGLIST_H
#define TERN_POLICY_TAGLIST_H

#include <stddef.h>

struct policy_taglist {
    const char *s, *end;
};

struct policy_tag {
    const char *key, *value;
    size_t kn, vn;
};

/* policy_taglist_init - iterate over the fields of txt[0..len) */
static inline struct policy_taglist policy_taglist_init(const char *txt, size_t len)
{
    struct policy_taglist t = {txt, txt + len};
    return t;
}

/* policy_taglist_next - the next field; 1, 0 at the end, -EINVAL */
int policy_taglist_next(struct policy_taglist *t, struct policy_tag *tag);

#endif
