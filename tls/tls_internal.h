/*
 * NAME
 *	tls_internal - glue shared by the files of tls/ only (not for other folders)
 * DESCRIPTION
 *	Includes wolfSSL in the one right order (options.h first, or the struct
 *	layouts disagree with the library) and declares the callbacks one file
 *	installs and another implements.
 */
#ifndef TERN_TLS_INTERNAL_H
#define TERN_TLS_INTERNAL_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/ecc.h>

/* ex_data slot of a WOLFSSL that points at its struct tls_session */
#define TLS_EX_SESSION 0
/* ex_data slot of a WOLFSSL_CTX that points at its struct tls_ctx */
#define TLS_EX_CTX 0

/* tls_session_verify_cb - records the chain's verification outcome in the session */
int tls_session_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
/* tls_session_verify_strict_cb - the same, but a failure aborts (req_ccert) */
int tls_session_verify_strict_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);

/* tls_ticket_cb - SessionTicketEncCb over the cache's rotating keys (userCtx: struct tls_ctx) */
int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                  unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
                  int enc, unsigned char *ticket, int in_len, int *out_len, void *user);

struct buf;
/* tls_session_identity - ticket hook: append the client certificate identity of ssl's handshake
 * (this handshake's chain, or the identity a ticket brought back); -ENOENT when there is none */
int tls_session_identity(WOLFSSL *ssl, struct buf *out);
/* tls_session_identity_restore - ticket hook: the identity kept for the ticket ssl resumes from;
 * -EINVAL (and the session stays anonymous) when rec is not one */
int tls_session_identity_restore(WOLFSSL *ssl, const void *rec, size_t len);

struct tls_ctx;
/* tls_ctx_cache_timeout - the session timeout given to tls_ctx_use_cache */
unsigned tls_ctx_cache_timeout(const struct tls_ctx *ctx);

/* tls_ctx_ssl_restrict - Postfix protocols/cipher grade/exclusions on one WOLFSSL made from a
 * tls_ctx (what is unset is the context's); 0 or -EINVAL */
int tls_ctx_ssl_restrict(WOLFSSL *ssl, const char *protocols, const char *grade,
                         const char *exclude, char *err, size_t errlen);

/* tls_protocols_apply - set min/max version and holes on a context (w) or one session (ssl) */
int tls_protocols_apply(WOLFSSL_CTX *w, WOLFSSL *ssl, unsigned mask, const char *text, char *err,
                        size_t errlen);

/* tls_wolf_init - wolfSSL_Init once per process */
void tls_wolf_init(void);

/* tls_wolf_seterr - format an error message into err (NULL or errlen 0: nothing) */
__attribute__((format(printf, 3, 4))) void tls_wolf_seterr(char *err, size_t errlen,
                                                           const char *fmt, ...);

#endif
