/* GET /v1/health, GET /v1/info, GET /v1/me */
#include "membershipd/api/api.h"

#include <string.h>
#include "membershipd/dataplane/dataplane.h"

void api_health(server *srv, request *req, reply *out)
{
    (void)srv, (void)req;
    reply_json(out, 200, json_pack("{s:s}", "status", "ok"));
}

/* A cluster's nodes as they said lately; the live ones' data-plane URLs
 * join this node's in nats_urls, so a peer can fail over to them. */
static json_t *cluster_nodes(server *srv, json_t *nats_urls)
{
    node_heard heard[NODE_REPORT_NODES_MAX];
    size_t n = srv->cluster_nodes(srv, heard, NODE_REPORT_NODES_MAX);
    json_t *nodes = json_array();
    for (size_t i = 0; i < n && i < NODE_REPORT_NODES_MAX; i++) {
        const node_heard *h = &heard[i];
        bool live = h->heard_ms_ago <= NODE_REPORT_LIVE_MS;
        json_array_append_new(nodes, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "name", h->name, "api",
                                               h->report.api, "nats", h->report.nats, "applied",
                                               (json_int_t)h->report.seq, "heard_ms_ago",
                                               (json_int_t)h->heard_ms_ago, "live", live));
        if (live && h->report.nats[0] && strcmp(h->name, srv->cfg.cluster.server_name) != 0)
            json_array_append_new(nats_urls, json_string(h->report.nats));
    }
    return nodes;
}

void api_info(server *srv, request *req, reply *out)
{
    (void)req;
    char url[128];
    dataplane_url(srv->dataplane, url, sizeof url);
    json_t *nats_urls = json_pack("[s]", url);
    json_t *info = json_pack("{s:s, s:s, s:s, s:b}", "server_key", srv->identity_nkey, "version", UNIBUS_VERSION,
                             "auth_mode", bus_auth_name(srv->cfg.bus_auth), "tls", serve_config_tls(&srv->cfg));
    if (srv->cluster_nodes) {
        char leader[NODE_REPORT_NAME_MAX];
        srv->log_leader(srv, leader, sizeof leader);
        json_object_set_new(info, "nodes", cluster_nodes(srv, nats_urls));
        json_object_set_new(info, "bus_log_leader", json_string(leader));
    }
    json_object_set_new(info, "nats_urls", nats_urls);
    reply_json(out, 200, info);
}

void api_me(server *srv, request *req, reply *out)
{
    (void)srv;
    reply_json(out, 200, api_user_json(&req->caller));
}
