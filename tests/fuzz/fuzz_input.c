/*
 * fuzz_input - input splitting and scratch files for the fuzz targets; see fuzz_input.h.
 */
#include "fuzz_input.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/tmpdir.h"

/* fuzz_input_init - a view of libFuzzer's input */
struct fuzz_input fuzz_input_init(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    return in;
}

/* fuzz_input_pick - one decision 0..n-1 from the back */
unsigned fuzz_input_pick(struct fuzz_input *in, unsigned n)
{
    if (n <= 1 || in->n == 0)
        return 0;
    unsigned v = in->p[--in->n];
    if (n > 256 && in->n > 0)
        v = v << 8 | in->p[--in->n];
    return v % n;
}

/* fuzz_input_flag - one yes/no from the back */
bool fuzz_input_flag(struct fuzz_input *in)
{
    return fuzz_input_pick(in, 2) == 1;
}

/* fuzz_input_take - up to max octets from the front */
size_t fuzz_input_take(struct fuzz_input *in, size_t max, const uint8_t **out)
{
    size_t n = in->n < max ? in->n : max;
    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}

/* fuzz_input_line - the front up to the next '\n', malloc'd */
char *fuzz_input_line(struct fuzz_input *in, size_t max)
{
    if (in->n == 0)
        return NULL;
    size_t lim = in->n < max ? in->n : max;
    const uint8_t *nl = memchr(in->p, '\n', lim);
    size_t n = nl ? (size_t)(nl - in->p) : lim;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, in->p, n);
    s[n] = 0;
    size_t used = nl ? n + 1 : n;
    in->p += used;
    in->n -= used;
    return s;
}

/* fuzz_input_rest - the remaining front, malloc'd */
char *fuzz_input_rest(struct fuzz_input *in, size_t *len)
{
    const uint8_t *p;
    size_t n = fuzz_input_take(in, in->n, &p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    if (len)
        *len = n;
    return s;
}

/* LLVMFuzzerInitialize - the default set-up: a quiet maillog (weak: a target with more to set
 * up defines its own and calls fuzz_quiet() itself) */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* fuzz_quiet - maillog to /dev/null unless TERN_FUZZ_LOG=1 */
void fuzz_quiet(void)
{
    const char *v = getenv("TERN_FUZZ_LOG");
    if (v && strcmp(v, "1") == 0)
        return;
    if (log_open("tern", "/dev/null") < 0)
        abort();
}

static char tmp_root[512];

/* rm_entry - nftw callback: remove one entry */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* tmp_cleanup - atexit: remove the scratch directory */
static void tmp_cleanup(void)
{
    if (tmp_root[0])
        nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* fuzz_tmpdir - a per-process scratch directory, removed at exit */
void fuzz_tmpdir(const char *name, char *out, size_t len)
{
    if (!tmp_root[0]) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "tern-fuzz-%s", name);
        if (tmpdir_make(tmp_root, sizeof(tmp_root), prefix) < 0) {
            perror("fuzz_tmpdir");
            abort();
        }
        atexit(tmp_cleanup);
    }
    if ((size_t)snprintf(out, len, "%s", tmp_root) >= len)
        abort();
}

/* fuzz_write_file - replace path with data */
void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

/* fuzz_check_failed - an oracle failed: say which, then crash for libFuzzer */
void fuzz_check_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", file, line, what);
    abort();
}
