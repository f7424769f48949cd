/* Turning a reply into a signed HTTP response. */
#ifndef MEMBERSHIPD_REPLY_H
#define MEMBERSHIPD_REPLY_H

#include <microhttpd.h>
#include "membershipd/http/server.h"

/* Queues out on conn, signed with the server identity over the hash of
 * the request it answers (when its signature verified), status and body
 * (a streamed body: its SHA-256 given beforehand); records status and
 * error code in req; releases out's contents.  Returns MHD_NO only when
 * the connection must be dropped. */
enum MHD_Result reply_send(server *srv, struct MHD_Connection *conn, request *req, reply *out);

#endif
