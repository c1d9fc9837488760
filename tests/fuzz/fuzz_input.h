/*
 * NAME
 *	fuzz_input - what every libFuzzer target in tests/fuzz shares
 * SYNOPSIS
 *	struct fuzz_input in = fuzz_input_init(data, size);
 *	unsigned choice = fuzz_input_pick(&in, 4);       // from the back: 0..3
 *	size_t n = fuzz_input_take(&in, 100, &bytes);   // from the front
 *	char *s = fuzz_input_line(&in, 200);            // up to '\n', malloc'd
 *
 *	fuzz_quiet();                                   // maillog to /dev/null
 *	fuzz_tmpdir("table", dir, sizeof(dir));         // private scratch directory
 *	fuzz_write_file(path, bytes, n);
 *	FUZZ_CHECK(cond);                               // an oracle: abort() when false
 * DESCRIPTION
 *	Inputs are split the way LLVM's FuzzedDataProvider splits them: the
 *	payload (SMTP text, file contents) is taken from the front, the small
 *	decisions (where to split the payload, which outcome a hook reports,
 *	which options a session has) from the back. A seed that is plain text
 *	therefore stays readable, and a decision that runs out of bytes is 0:
 *	the plain path (feed the rest at once, the commit succeeds, the TLS
 *	handshake succeeds).
 *
 *	fuzz_quiet() sends the maillog to /dev/null, so every log line is still
 *	formatted (a bad argument to a format is found) but nothing is kept;
 *	TERN_FUZZ_LOG=1 in the environment leaves the log on stderr for
 *	debugging a crashing input. fuzz_tmpdir() makes one directory per
 *	process under $TMPDIR (or /tmp) and removes it at exit; targets that
 *	must give a parser a file (main.cf, table files, Cyrus's smtpd.conf)
 *	write it there.
 *
 *	FUZZ_CHECK is for properties the code promises (a reply line starts
 *	with a code, a parsed address parses again to itself): libFuzzer
 *	reports the abort as a crash, with its input.
 * DIAGNOSTICS
 *	fuzz_tmpdir() and fuzz_write_file() abort on failure: a harness that
 *	cannot set up is not a finding.
 */
#ifndef TERN_FUZZ_INPUT_H
#define TERN_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuzz_input {
    const uint8_t *p;
    size_t n;
};

/* fuzz_input_init - a view of libFuzzer's input */
struct fuzz_input fuzz_input_init(const uint8_t *data, size_t size);
/* fuzz_input_pick - one decision 0..n-1 from the back (0 when the input is used up) */
unsigned fuzz_input_pick(struct fuzz_input *in, unsigned n);
/* fuzz_input_flag - one yes/no from the back */
bool fuzz_input_flag(struct fuzz_input *in);
/* fuzz_input_take - up to max octets from the front; returns how many (*out points into data) */
size_t fuzz_input_take(struct fuzz_input *in, size_t max, const uint8_t **out);
/* fuzz_input_line - the front up to and without the next '\n' (or all), at most max octets,
 * as a malloc'd NUL-terminated string (NULs inside stay); NULL when the input is used up */
char *fuzz_input_line(struct fuzz_input *in, size_t max);
/* fuzz_input_rest - the whole remaining front as a malloc'd NUL-terminated string */
char *fuzz_input_rest(struct fuzz_input *in, size_t *len);

/* LLVMFuzzerTestOneInput - each target's one entry point */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* LLVMFuzzerInitialize - fuzz_input.c's weak default only calls fuzz_quiet() */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* fuzz_quiet - maillog to /dev/null (unless TERN_FUZZ_LOG=1) */
void fuzz_quiet(void);
/* fuzz_tmpdir - a per-process scratch directory "$TMPDIR/tern-fuzz-NAME.XXXXXX", removed at exit */
void fuzz_tmpdir(const char *name, char *out, size_t len);
/* fuzz_write_file - replace path with data[0..len) */
void fuzz_write_file(const char *path, const void *data, size_t len);

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_check_failed(#cond, __FILE__, __LINE__))
_Noreturn void fuzz_check_failed(const char *what, const char *file, int line);

#endif
