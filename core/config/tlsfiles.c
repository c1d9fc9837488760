/*
 * tlsfiles - what the TLS files of a configuration held; see config/tlsfiles.h.
 *
 * The hash is FNV-1a (64 bits): it detects a change, it authenticates
 * nothing. Identity alone (inode, size, times) was the rejected
 * alternative for readable files: a `touch` or a same-bytes copy would
 * rebuild every context for nothing.
 */
#include "core/config/tlsfiles.h"
#include "core/base/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const file_params[TLSFILES_MAX] = {
    "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_eccert_file", "smtpd_tls_eckey_file",
    "smtpd_tls_CAfile",    "smtpd_tls_CApath",   "smtp_tls_cert_file",    "smtp_tls_key_file",
    "smtp_tls_CAfile",     "smtp_tls_CApath",
};

/* stat_hash - continue h with what identifies a file version (absent: errno) */
static uint64_t stat_hash(uint64_t h, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        return hash_fnv64(h, &e, sizeof(e));
    }
    uint64_t v[] = {(uint64_t)st.st_dev,          (uint64_t)st.st_ino,
                    (uint64_t)st.st_size,         (uint64_t)st.st_mtim.tv_sec,
                    (uint64_t)st.st_mtim.tv_nsec, (uint64_t)st.st_ctim.tv_sec,
                    (uint64_t)st.st_ctim.tv_nsec, (uint64_t)st.st_mode};
    return hash_fnv64(h, v, sizeof(v));
}

/* content_hash - hash of a regular file's bytes; false when it cannot be read */
static bool content_hash(const char *path, uint64_t *out)
{
    char b[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint64_t h = HASH_FNV64_START;
    for (;;) {
        ssize_t r = read(fd, b, sizeof(b));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return false;
        }
        if (r == 0)
            break;
        h = hash_fnv64(h, b, (size_t)r);
    }
    close(fd);
    *out = h;
    return true;
}

/* dir_hash - identity of a directory: its entries' names and identities, in name order */
static uint64_t dir_hash(const char *path)
{
    struct dirent **names = NULL;
    uint64_t h = stat_hash(HASH_FNV64_START, path);
    int n = scandir(path, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        bool dots = !strcmp(nm, ".") || !strcmp(nm, ".."); /* ".." changes with its parent */
        if (i < TLSFILES_DIR_MAX && !dots) {
            char full[4096];
            size_t len = strlen(names[i]->d_name);
            h = hash_fnv64(h, names[i]->d_name, len + 1);
            if (strlen(path) + len + 2 <= sizeof(full)) {
                strcpy(full, path);
                strcat(full, "/");
                strcat(full, names[i]->d_name);
                h = stat_hash(h, full);
            }
        }
        free(names[i]);
    }
    free(names);
    return h;
}

/* tlsfiles_snapshot - record the TLS files cfg names */
int tlsfiles_snapshot(struct tlsfiles *out, const struct tern_config *cfg)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < TLSFILES_MAX; i++) {
        struct tlsfile *f = &out->f[out->n++];
        const char *v = config_get(cfg, file_params[i]);
        f->param = file_params[i];
        if (!v || !*v)
            continue;
        if (!(f->path = strdup(v))) {
            tlsfiles_free(out);
            return -ENOMEM;
        }
        struct stat st;
        if (stat(v, &st) == 0 && S_ISDIR(st.st_mode)) {
            f->id = dir_hash(v);
        } else {
            f->id = stat_hash(HASH_FNV64_START, v);
            f->has_content = content_hash(v, &f->content);
        }
    }
    return 0;
}

/* same_path - both unset or both the same path */
static bool same_path(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* tlsfiles_changed - the parameter of the first file that differs, or NULL */
const char *tlsfiles_changed(const struct tlsfiles *then, const struct tlsfiles *now)
{
    for (int i = 0; i < then->n && i < now->n; i++) {
        const struct tlsfile *a = &then->f[i], *b = &now->f[i];
        if (!same_path(a->path, b->path))
            return b->param;
        if (!a->path || a->id == b->id)
            continue;
        if (a->has_content && b->has_content && a->content == b->content)
            continue; /* touched, or copied with the same bytes */
        return b->param;
    }
    return NULL;
}

/* tlsfiles_path - the path of parameter param in s, or "" */
const char *tlsfiles_path(const struct tlsfiles *s, const char *param)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->f[i].param, param) == 0)
            return s->f[i].path ? s->f[i].path : "";
    return "";
}

/* tlsfiles_free - release the paths */
void tlsfiles_free(struct tlsfiles *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->f[i].path);
        s->f[i].path = NULL;
    }
    s->n = 0;
}
