/* The live control plane's TLS floor: a handshake at the minimum version
 * completes, with --tls-cert itself, and one just below it is refused. */
#include "membershipd/doctor/doctor.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "embedded/tls_pin.h"

#define OTHER_CERTIFICATE (-2)

/* 1 when a handshake at exactly version completes with the server
 * presenting cert (--tls-cert) itself, 0 when it does not complete, -1 when
 * nothing answers, OTHER_CERTIFICATE when the server presents another one.
 * The probe is willing (security level 0): only the server may refuse. */
static int handshake_at(const char *host, unsigned port, int version, const char *cert)
{
    int fd = doctor_tcp_connect(host, port);
    if (fd < 0)
        return -1;
    X509 *leaf = NULL;
    SSL_CTX *ctx = tls_pin_client(cert, &leaf);
    SSL *ssl = NULL;
    int done = 0;
    if (ctx) {
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_min_proto_version(ctx, version);
        SSL_CTX_set_max_proto_version(ctx, version);
        ssl = SSL_new(ctx);
    }
    if (ssl && SSL_set_fd(ssl, fd) == 1) {
        done = SSL_connect(ssl) == 1 && tls_pin_matches(ssl, leaf);
        if (!done && SSL_get_verify_result(ssl) != X509_V_OK)
            done = OTHER_CERTIFICATE;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    X509_free(leaf);
    close(fd);
    ERR_clear_error();
    return done;
}

static const char *version_name(int version)
{
    return version == TLS1_3_VERSION ? "1.3" : version == TLS1_2_VERSION ? "1.2" : "1.1";
}

void doctor_controlplane(doctor *d)
{
    const serve_config *cfg = d->cfg;
    char host[64];
    doctor_connect_host(cfg->bind, host);
    if (!serve_config_tls(cfg) || !cfg->tls_cert || !cfg->tls_key) {
        doctor_add(d, "live.controlplane_tls", DOCTOR_SKIP, "TLS is off", NULL);
        return;
    }
    if (cfg->http_port == 0 || doctor_tcp_answers(host, cfg->http_port) != 0) {
        doctor_addf(d, "live.controlplane_tls", DOCTOR_SKIP, NULL, "no server running: nothing answers on %s port %u",
                    host, cfg->http_port);
        return;
    }
    int floor = cfg->tls_min == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    int below = cfg->tls_min == 13 ? TLS1_2_VERSION : TLS1_1_VERSION;
    int at_floor = handshake_at(host, cfg->http_port, floor, cfg->tls_cert);
    int under = handshake_at(host, cfg->http_port, below, cfg->tls_cert);
    if (at_floor == OTHER_CERTIFICATE || under == OTHER_CERTIFICATE)
        doctor_addf(d, "live.controlplane_tls", DOCTOR_FAIL,
                    "find what listens there (ss -ltnp) and restart membershipd with these flags",
                    "%s port %u presents a certificate other than the one in %s: it is not this server", host,
                    cfg->http_port, cfg->tls_cert);
    else if (under == 1)
        doctor_addf(d, "live.controlplane_tls", DOCTOR_FAIL,
                    "restart membershipd with these flags (or find what else holds the port)",
                    "%s port %u completes a TLS %s handshake, below --tls-min %s", host, cfg->http_port,
                    version_name(below), version_name(floor));
    else if (at_floor != 1)
        doctor_addf(d, "live.controlplane_tls", DOCTOR_FAIL,
                    "give doctor the flags the server runs with, or restart it with these",
                    "%s port %u does not complete a TLS %s handshake", host, cfg->http_port, version_name(floor));
    else
        doctor_addf(d, "live.controlplane_tls", DOCTOR_OK, NULL, "%s port %u completes TLS %s and refuses TLS %s",
                    host, cfg->http_port, version_name(floor), version_name(below));
}
