/*
 * Signing domains: every text or byte string that unibus signs with an
 * identity key starts with exactly one of these lines (the table is in
 * dev/signed-requests.md, "Domains").  Each ends in '\n', which a NATS login
 * nonce never holds (nats-server 2.9 sends 15 base64url characters:
 * server/nkey.go nonceLen), and the data-plane login signs nothing but such
 * nonces (embedded/nats_auth.c).  So no signature unibus makes is ever valid
 * for two purposes: not as a NATS login, not across two of these domains.
 * A new signed format gets a new line here, never a reuse of one.
 */
#ifndef BUSAUTH_DOMAIN_H
#define BUSAUTH_DOMAIN_H

#define BUSAUTH_DOMAIN_REQUEST  "unibus-v2-request\n"  /* a signed control-plane request */
#define BUSAUTH_DOMAIN_RESPONSE "unibus-v2-response\n" /* the server's signature of its answer */
#define BUSAUTH_DOMAIN_MESSAGE  "unibus-v2-message\n"  /* a signed end-to-end envelope */
#define BUSAUTH_DOMAIN_JOIN     "unibus-v2-join\n"     /* a join token's proof (dev/pki.md) */

#endif
