/* GET /v1/health, GET /v1/info, GET /v1/me */
#include "membershipd/api/api.h"
#include "membershipd/dataplane/dataplane.h"

void api_health(server *srv, request *req, reply *out)
{
    (void)srv, (void)req;
    reply_json(out, 200, json_pack("{s:s}", "status", "ok"));
}

void api_info(server *srv, request *req, reply *out)
{
    (void)req;
    char url[128];
    dataplane_url(srv->dataplane, url, sizeof url);
    reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:b, s:[s]}", "server_key", srv->identity_nkey,
                                   "version", UNIBUS_VERSION, "auth_mode", bus_auth_name(srv->cfg.bus_auth),
                                   "tls", serve_config_tls(&srv->cfg), "nats_urls", url));
}

void api_me(server *srv, request *req, reply *out)
{
    (void)srv;
    reply_json(out, 200, api_user_json(&req->caller));
}
