/*
 * NAME
 *	tlsfiles - what the TLS files of a configuration held when it was built
 * SYNOPSIS
 *	#include "core/config/tlsfiles.h"
 *
 *	struct tlsfiles then, now;
 *	tlsfiles_snapshot(&then, cfg);              // with the contexts
 *	...
 *	tlsfiles_snapshot(&now, cfg);               // on SIGHUP
 *	const char *which = tlsfiles_changed(&then, &now);   // NULL: same files
 *	tlsfiles_free(&now);
 * DESCRIPTION
 *	A SIGHUP must notice a certificate, key or CA file renewed at the same
 *	path (Postfix's reload starts new smtpd processes, which read them
 *	again). A snapshot records, for each file parameter of both legs
 *	(smtpd_tls_cert_file, _key_file, _eccert_file, _eckey_file, _CAfile,
 *	_CApath, smtp_tls_cert_file, _key_file, _CAfile, _CApath), the file's
 *	identity (device, inode, size, modification and change times) and,
 *	when this process can read it, a hash of its content.
 *
 *	Two snapshots differ in a file when its identity changed and its
 *	content is not known to be the same: a file touched or rewritten with
 *	the same bytes is no change; a key readable only by root, whose content
 *	the unprivileged daemon cannot hash, counts as changed when its
 *	identity changed (a rebuild then fails and says so). A CApath
 *	directory is identified by the names and identities of its entries.
 *
 *	Bounds: files are hashed in 64 KiB reads; a CApath contributes at most
 *	TLSFILES_DIR_MAX entries (the rest is ignored for change detection).
 * DIAGNOSTICS
 *	tlsfiles_changed(): the parameter name of the first changed file, or
 *	NULL. A missing file has an identity too ("absent"), so a file that
 *	appears or disappears is a change.
 */
#ifndef TERN_CONFIG_TLSFILES_H
#define TERN_CONFIG_TLSFILES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"

#define TLSFILES_MAX 10
#define TLSFILES_DIR_MAX 10000

struct tlsfile {
    const char *param; /* static parameter name */
    char *path;        /* NULL: parameter unset */
    uint64_t id;       /* hash of device, inode, size, times (of each entry, for a directory) */
    uint64_t content;  /* hash of the bytes, when has_content */
    bool has_content;
};

struct tlsfiles {
    int n;
    struct tlsfile f[TLSFILES_MAX];
};

/* tlsfiles_snapshot - record the TLS files cfg names; 0 or -ENOMEM (then nothing to free) */
int tlsfiles_snapshot(struct tlsfiles *out, const struct tern_config *cfg);
/* tlsfiles_changed - the parameter of the first file that differs, or NULL */
const char *tlsfiles_changed(const struct tlsfiles *then, const struct tlsfiles *now);
/* tlsfiles_path - the path of parameter param in s, or "" */
const char *tlsfiles_path(const struct tlsfiles *s, const char *param);
/* tlsfiles_free - release the paths; the struct may be snapshot again */
void tlsfiles_free(struct tlsfiles *s);

#endif
