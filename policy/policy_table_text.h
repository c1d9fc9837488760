/*
 * NAME
 *	policy_table_text - the postmap text format of table sources
 * SYNOPSIS
 *	#include "policy/policy_table_text.h"
 *
 *	struct policy_table_kv l = {0};
 *	int rc = policy_table_text_read("/etc/tern/transport", &l, false, &err);
 *	char *s = policy_table_text_trim(buf);
 *	char *inner = policy_table_text_unbrace(buf);   // "{ text }" -> "text"
 *	rc = policy_table_text_list(spec, "{ a=1, { b = 2 } }", "inline:{ key=value, ... }",
 *	                            " \t,\r\n", add_item, ctx, &err);
 * DESCRIPTION
 *	The source format of texthash:, cidr:FILE and ternmap, as Postfix's
 *	postmap reads it:
 *
 *	  # comment                  (first non-blank character is '#')
 *	  key    value text          (key ends at the first blank)
 *	      more value text        (a line starting with a blank continues
 *	                              the previous logical line)
 *
 *	policy_table_text_read() appends one entry per logical line to l, in
 *	file order: key lowercased, value as written, trimmed, continuation
 *	lines joined with one space. A line without a value is logged and
 *	skipped unless allow_empty (pattern tables keep it, value ""). A NUL
 *	byte in the file stops the read. Memory is bounded by the file.
 *
 *	policy_table_text_trim() strips blanks at both ends in place and
 *	returns the new start; policy_table_text_unbrace() does the same inside
 *	"{ ... }" and returns NULL when the braces are not at both ends.
 *
 *	policy_table_text_list() calls fn(ctx, item, braced, err) for each
 *	item of a braced list, the body of inline:{ ... } and cidr:{ ... }:
 *	blanks and commas separate items; "{ text }" is one item (text,
 *	trimmed, braced true); any other item ends at a character of `ends`
 *	and is trimmed. fn may change the item in place (it is a copy); a
 *	negative return from fn ends the walk with that error (fn sets *err).
 * DIAGNOSTICS
 *	policy_table_text_read: 0, or -errno with *err (malloc'd, naming the
 *	file and line) and l freed; -ENOENT for a missing file.
 *	policy_table_text_list: 0, or -errno with *err set naming spec: -EINVAL
 *	for a body not in braces (the message shows `usage`) or a '{' without
 *	its '}', or fn's error.
 */
#ifndef TERN_POLICY_TABLE_TEXT_H
#define TERN_POLICY_TABLE_TEXT_H

#include <stdbool.h>

#include "policy/policy_table_kv.h"

int policy_table_text_read(const char *path, struct policy_table_kv *l, bool allow_empty,
                           char **err);
char *policy_table_text_trim(char *s);
char *policy_table_text_unbrace(char *s);
/* fn of policy_table_text_list: 0, or -errno with *err set */
typedef int policy_table_text_item_fn(void *ctx, char *item, bool braced, char **err);
int policy_table_text_list(const char *spec, const char *body, const char *usage, const char *ends,
                           policy_table_text_item_fn *fn, void *ctx, char **err);

#endif
