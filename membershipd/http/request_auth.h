/*
 * Authenticating signed requests (dev/signed-requests.md), in two steps:
 * what needs only the headers runs before the body is read, the signature
 * and the replay check once the body's hash is known.  In enforce mode a
 * failure fills a 401 reply; in soft mode it is logged and the request goes
 * on; in off mode nothing is checked.  Either way req->has_caller says
 * whether an active user is making the request.
 */
#ifndef MEMBERSHIPD_REQUEST_AUTH_H
#define MEMBERSHIPD_REQUEST_AUTH_H

#include <microhttpd.h>
#include "membershipd/http/server.h"

/* Returns false with out filled when the request must be refused now. */
bool auth_check_headers(server *srv, struct MHD_Connection *conn, request *req, reply *out);
bool auth_check_signature(server *srv, request *req, reply *out);

/* For routes that need no caller (GET /v1/health, /v1/info): the headers
 * noted, then the signature verified only to know what the answer is to
 * (req->verified); nothing is refused. */
void auth_note_headers(server *srv, struct MHD_Connection *conn, request *req);
bool auth_verify_for_reply(server *srv, request *req);
/* For a request whose signature verified: its time is after the floor and
 * its nonce unseen (then recorded), as for any signed route; false with
 * out filled otherwise.  Public routes that act on a signature (POST
 * /v1/join) call it themselves. */
bool auth_check_once(server *srv, request *req, reply *out);

#endif
