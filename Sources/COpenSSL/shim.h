#ifndef MULTIPROC_EXPORTER_COPENSSL_SHIM_H
#define MULTIPROC_EXPORTER_COPENSSL_SHIM_H

/* Same order as CLibevent's shim: system headers before anything that may define _GNU_SOURCE. */
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* OpenSSL spells these as macros over SSL_CTX_ctrl / OPENSSL_sk_*, which Swift cannot import. */

static inline int multiproc_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int multiproc_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}

static inline int multiproc_ssl_ctx_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

static inline int multiproc_ssl_ctx_add_extra_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add_extra_chain_cert(ctx, cert);
}

static inline int multiproc_ssl_ctx_set_ex_data(SSL_CTX *ctx, int index, void *data) {
    return SSL_CTX_set_ex_data(ctx, index, data);
}

static inline int multiproc_ssl_ctx_get_ex_new_index(CRYPTO_EX_free *free_func) {
    return SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_func);
}

static inline BIO *multiproc_bio_new_memory(const void *bytes, int length) {
    return BIO_new_mem_buf(bytes, length);
}

/* Subject alternative names of a certificate: a stack of GENERAL_NAME, or NULL. */
static inline GENERAL_NAMES *multiproc_x509_subject_alt_names(X509 *cert) {
    return (GENERAL_NAMES *)X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
}

static inline int multiproc_general_names_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

static inline GENERAL_NAME *multiproc_general_names_at(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

static inline void multiproc_general_names_free(GENERAL_NAMES *names) {
    GENERAL_NAMES_free(names);
}

/* The type of a GENERAL_NAME (GEN_DNS, GEN_IPADD, GEN_EMAIL, GEN_URI, ...) and its string. */
static inline int multiproc_general_name_type(const GENERAL_NAME *name) {
    return name->type;
}

static inline const ASN1_STRING *multiproc_general_name_string(const GENERAL_NAME *name) {
    switch (name->type) {
    case GEN_DNS: return name->d.dNSName;
    case GEN_EMAIL: return name->d.rfc822Name;
    case GEN_URI: return name->d.uniformResourceIdentifier;
    case GEN_IPADD: return name->d.iPAddress;
    default: return NULL;
    }
}

/* SSL_OP_* are built by a function-like macro (SSL_OP_BIT). */
static const uint64_t multiproc_ssl_op_no_renegotiation = SSL_OP_NO_RENEGOTIATION;
static const uint64_t multiproc_ssl_op_cipher_server_preference = SSL_OP_CIPHER_SERVER_PREFERENCE;
static const uint64_t multiproc_ssl_op_no_compression = SSL_OP_NO_COMPRESSION;

/* SNI for a client connection (a macro over SSL_ctrl). */
static inline int multiproc_ssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline int multiproc_ssl_get_verify_result_ok(const SSL *ssl) {
    return SSL_get_verify_result(ssl) == X509_V_OK;
}

#endif
