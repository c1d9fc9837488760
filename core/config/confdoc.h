/*
 * NAME
 *	confdoc - tern.conf(5), written from the parameter table itself
 * SYNOPSIS
 *	confdoc_write(stdout, TERN_VERSION);   // core/ternconfdoc.c, at build time
 *	const char *missing = confdoc_check(); // NULL, or a name not in the table
 * DESCRIPTION
 *	The page lists every entry of config/config_param.c's config_param_table (in table
 *	order, grouped as there), with its type, its default as `postconf -d`
 *	would show it and its help text, and says which Postfix parameter it
 *	is: the same name, a name the 2005 talk used and what replaced it, or
 *	a parameter of tern's own. The build runs core/ternconfdoc.c to make
 *	the page, so it cannot drift from the table; the only hand-kept part
 *	is the short list of tern's own names and old-name aliases below,
 *	which confdoc_check() (run by the unit test) holds to the table.
 */
#ifndef TERN_CONFIG_CONFDOC_H
#define TERN_CONFIG_CONFDOC_H

#include <stdio.h>

/* confdoc_write - the roff source of tern.conf(5); 0 or -errno */
int confdoc_write(FILE *fp, const char *version);
/* confdoc_postfix - what Postfix calls parameter name (static text) */
const char *confdoc_postfix(const char *name);
/* confdoc_check - NULL when every name in the hand-kept lists is in the table, else that name */
const char *confdoc_check(void);

#endif
