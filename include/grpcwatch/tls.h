/*
 * tls.h - TLS handshake inventory: ClientHello and ServerHello.
 *
 * The caller hands the first bytes of each direction as reassembled; the
 * parser reads TLS records of content type 22 (handshake), joins handshake
 * fragments across records up to GW_TLS_MAX_HELLO bytes, and fills
 * gw_tls_info. It never decrypts anything and never reads past what it is
 * given.
 *
 * JA4 (FoxIO, "ja4" part a_b_c): protocol 't', TLS version, SNI 'd'/'i',
 * cipher and extension counts, first/last ALPN chars, then truncated
 * SHA-256 (12 hex) of the sorted cipher list and of the sorted extension
 * list (minus SNI and ALPN) with the signature algorithms. GREASE values are
 * ignored everywhere.
 */
#ifndef GRPCWATCH_TLS_H
#define GRPCWATCH_TLS_H

#include "grpcwatch/common.h"

#define GW_TLS_MAX_HELLO 16384   /* largest handshake message we assemble */
#define GW_TLS_SNI_MAX 256
#define GW_TLS_MAX_ALPN 8
#define GW_TLS_ALPN_MAX 32

struct gw_tls_info {
    /* from the ClientHello */
    uint8_t have_client_hello;
    char sni[GW_TLS_SNI_MAX];
    uint8_t sni_truncated;
    char alpn[GW_TLS_MAX_ALPN][GW_TLS_ALPN_MAX];
    uint8_t n_alpn;
    uint16_t client_version;         /* legacy_version field */
    uint16_t offered_versions[8];    /* supported_versions, GREASE removed */
    uint8_t n_offered_versions;
    char ja4[40];                    /* "t13d1516h2_8daaf6152771_e5627efa2ab1" */
    /* from the ServerHello */
    uint8_t have_server_hello;
    uint16_t version;                /* negotiated (supported_versions ext if present) */
    char alpn_selected[GW_TLS_ALPN_MAX];
    uint16_t cipher;
};

/* Parses the start of the client->server stream. Returns GW_OK when a
 * ClientHello was read, GW_ERR_NEED_MORE if more bytes may complete it,
 * GW_ERR_MALFORMED / GW_ERR_UNSUPPORTED / GW_ERR_LIMIT otherwise. */
int gw_tls_parse_client_hello(const uint8_t *p, size_t n, struct gw_tls_info *out);

/* Same for the start of the server->client stream and the ServerHello. */
int gw_tls_parse_server_hello(const uint8_t *p, size_t n, struct gw_tls_info *out);

/* True if p (n >= 1..) could start a TLS handshake record carrying a
 * ClientHello: 0x16 0x03 0x0[0-4] len(2) 0x01, with 1 <= len <= 18432 (a
 * record shorter than the 4-byte handshake header is accepted: the hello
 * may be fragmented over several records). With fewer than 6 bytes
 * answers on what it has. */
bool gw_tls_looks_like_client_hello(const uint8_t *p, size_t n);

/* "1.0", "1.1", "1.2", "1.3", "SSLv3" or "0xXXXX" into buf (>= 8 bytes). */
const char *gw_tls_version_str(uint16_t v, char *buf, size_t buflen);

#endif
