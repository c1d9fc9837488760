/*
 * NAME
 *	policy_token - split Postfix-style lists: words, "{ ... }" kept whole
 * SYNOPSIS
 *	char *cursor = text;   // modified in place
 *	for (char *w; (w = policy_token_next(&cursor)); ) ...
 *	policy_token_each(items, n, fn, ctx, &err);   // fn(ctx, word, &err) per word
 * DESCRIPTION
 *	Words are separated by blanks and commas, as in restriction lists and
 *	policy table values. A brace group ("{ a = b c }", nested too) is one
 *	word, braces included. The text is cut in place with NULs; each word
 *	points into it.
 */
#ifndef TERN_POLICY_TOKEN_H
#define TERN_POLICY_TOKEN_H

#include <stddef.h>

/* policy_token_next - the next word, or NULL at the end */
char *policy_token_next(char **cursor);
/* policy_token_each - fn(ctx, word, err) for every word of items[0..n) (NULL items skipped), on
 * a private copy; stops at and returns the first negative result; 0 or -ENOMEM otherwise */
int policy_token_each(char *const *items, size_t n,
                      int (*fn)(void *ctx, const char *word, char **err), void *ctx, char **err);

#endif
