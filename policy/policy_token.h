/*
 * NAME
 *	policy_token - split Postfix-style lists: words, "{ ... }" kept whole
 * SYNOPSIS
 *	char *cursor = text;   // modified in place
 *	for (char *w; (w = policy_next_token(&cursor)); ) ...
 * DESCRIPTION
 *	Words are separated by blanks and commas, as in restriction lists and
 *	policy table values. A brace group ("{ a = b c }", nested too) is one
 *	word, braces included. The text is cut in place with NULs; each word
 *	points into it.
 */
#ifndef TERN_POLICY_TOKEN_H
#define TERN_POLICY_TOKEN_H

/* policy_next_token - the next word, or NULL at the end */
char *policy_next_token(char **cursor);

#endif
