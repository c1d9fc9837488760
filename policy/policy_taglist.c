/*
 * NAME
 *	policy_taglist - the "k=v; k=v" fields of a DNS TXT policy record
 * DESCRIPTION
 *	See policy/policy_taglist.h.
 */
#include "policy/policy_taglist.h"

#include <errno.h>
#include <string.h>

/* policy_taglist_next - the next field, blanks trimmed */
int policy_taglist_next(struct policy_taglist *t, struct policy_tag *tag)
{
    while (t->s < t->end) {
        const char *s = t->s;
        const char *semi = memchr(s, ';', (size_t)(t->end - s));
        size_t fn = (size_t)((semi ? semi : t->end) - s);
        t->s = semi ? semi + 1 : t->end;
        while (fn > 0 && (*s == ' ' || *s == '\t'))
            s++, fn--;
        while (fn > 0 && (s[fn - 1] == ' ' || s[fn - 1] == '\t'))
            fn--;
        if (fn == 0 && !semi)
            return 0; /* after the last ";" */
        const char *eq = memchr(s, '=', fn);
        if (!eq || eq == s)
            return -EINVAL;
        tag->key = s;
        tag->kn = (size_t)(eq - s);
        tag->value = eq + 1;
        tag->vn = fn - tag->kn - 1;
        return 1;
    }
    return 0;
}
