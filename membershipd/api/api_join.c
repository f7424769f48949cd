/* POST /v1/join: a join token buys an allowlist entry or a node certificate
 * (dev/pki.md, "Joining").  The token is never sent: its key signs a proof
 * bound to this server, the role, the name and the joiner's own key.
 * Everything that does not depend on the token is checked first, so every
 * answer about the token reads the same. */
#include "membershipd/api/api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "busauth/join_token.h"
#include "common/log.h"
#include "embedded/clock.h"
#include "membershipd/config/cluster_config.h"
#include "membershipd/config/datadir.h"
#include "membershipd/http/auth_headers.h"
#include "membershipd/http/request_auth.h"
#include "membershipd/store/store_pki.h"
#include "membershipd/pki/pki.h"

#define JOIN_REFUSED "this join token is not valid here (unknown, used, expired, revoked, for another role, " \
                     "server or name); ask the operator for a new one"

static void refuse_token(server *srv, const store_actor *by, const pki_join_request *jr, const char *why, reply *out)
{
    char hex[65], target[96], action[16];
    sodium_bin2hex(hex, sizeof hex, jr->token_key, sizeof jr->token_key);
    snprintf(target, sizeof target, "token:%.16s:%s", hex, why);
    snprintf(action, sizeof action, "join.%s", store_token_role_name(jr->role));
    if (route_audit_budget_take(srv))
        WITH_STORE(srv, store_audit_append(srv->store, by, action, target, "denied"));
    reply_error(out, 403, "join_refused", JOIN_REFUSED);
}

/* The token exists for this role and is usable now, and its key signed
 * this very join; else refused (and audited). */
static bool token_holds(server *srv, const store_actor *by, const pki_join_request *jr, const char *subject,
                        store_token *token, reply *out)
{
    store_redeem_outcome outcome;
    store_status status = WITH_STORE(srv, store_token_check(srv->store, jr->token_key, jr->role, token, &outcome));
    if (status != STORE_OK) {
        reply_store_failure(out, status);
        return false;
    }
    const char *why = outcome != STORE_REDEEM_OK ? store_redeem_outcome_name(outcome)
                    : !busauth_join_proof_verify(jr->token_key, srv->identity_nkey, store_token_role_name(jr->role),
                                                 jr->name, subject, jr->proof) ? "bad_proof"
                    : jr->role == STORE_TOKEN_NODE && token->name[0] && strcmp(token->name, jr->name) != 0
                        ? "name_mismatch" : NULL;
    if (why)
        refuse_token(srv, by, jr, why, out);
    return !why;
}

/* The request's signature proves the joiner holds the key it joins with;
 * like any signed request it is good once, on this server, now. */
static bool proves_key(server *srv, request *req, reply *out)
{
    char reason[256];
    if (!req->verified) {
        reply_error(out, 401, "auth_failed", "sign the join request with the key that joins (X-Unibus-* headers)");
        return false;
    }
    if (auth_time_check(req->signed_time, store_now_ms(), reason, sizeof reason) != AUTH_HEADERS_OK) {
        reply_error(out, 401, "auth_failed", "%s", reason);
        return false;
    }
    if (sodium_memcmp(req->claimed_public_key, busauth_identity_public_key(srv->identity), BUSAUTH_KEY_BYTES) == 0) {
        reply_error(out, 400, "bad_request", "that is the server's own key, which cannot be a user");
        return false;
    }
    return auth_check_once(srv, req, out);
}

/* Whatever the token, a key on the allowlist (active or revoked) cannot
 * join again. */
static bool key_is_new(server *srv, const request *req, reply *out)
{
    store_user user;
    store_status status = WITH_STORE(srv, store_user_get_by_key(srv->store, req->claimed_public_key, &user));
    if (status == STORE_NOT_FOUND)
        return true;
    if (status == STORE_OK)
        reply_error(out, 409, "conflict", "this key is on the allowlist already (revoked keys stay there); join with "
                    "a new identity");
    else
        reply_store_failure(out, status);
    return false;
}

static void join_member(server *srv, request *req, const pki_join_request *jr, reply *out)
{
    store_actor by = request_actor(req);
    store_token token;
    if (!proves_key(srv, req, out) || !key_is_new(srv, req, out) ||
        !token_holds(srv, &by, jr, req->claimed_key, &token, out))
        return;
    store_redeem_outcome outcome;
    store_status status =
        WITH_STORE(srv, store_token_redeem_member(srv->store, jr->token_key, req->claimed_public_key, &by, &outcome));
    if (status != STORE_OK) {
        reply_store_failure(out, status);
        return;
    }
    if (outcome != STORE_REDEEM_OK) {
        refuse_token(srv, &by, jr, store_redeem_outcome_name(outcome), out);
        return;
    }
    store_user user;
    if (!api_dataplane_sync(srv, req, out))
        return;
    status = WITH_STORE(srv, store_user_get_by_key(srv->store, req->claimed_public_key, &user));
    if (status == STORE_OK)
        reply_json(out, 201, json_pack("{s:o, s:s}", "user", api_user_json(&user), "server_key", srv->identity_nkey));
    else
        reply_store_failure(out, status);
}

/* The CA with its key, read for this one signature. */
static bool load_ca(server *srv, pki_ca *ca, reply *out)
{
    char kek_path[PATH_MAX], err[512];
    uint8_t kek[PKI_KEK_BYTES];
    if (srv->cfg.ca_kek_file)
        snprintf(kek_path, sizeof kek_path, "%s", srv->cfg.ca_kek_file);
    else
        snprintf(kek_path, sizeof kek_path, "%s/" PKI_KEK_FILE, cli_data_dir_path(&srv->cfg.store));
    bool ok = pki_kek_load(kek_path, kek, err, sizeof err);
    if (ok) {
        pthread_mutex_lock(&srv->store_lock);
        ok = pki_ca_load(srv->store, kek, ca, err, sizeof err);
        pthread_mutex_unlock(&srv->store_lock);
    }
    sodium_memzero(kek, sizeof kek);
    if (ok && X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0) { /* the operator's to fix, not the joiner's */
        ok = false;
        snprintf(err, sizeof err, "the bus CA has expired: nothing it signs would verify; it needs replacing");
        pki_ca_free(ca);
    }
    if (!ok) {
        log_event(LOG_ERROR, "ca_unavailable", "detail=\"%s\"", err);
        reply_error(out, 503, "ca_unavailable", "this server cannot sign certificates now (its CA or key-encryption "
                    "key is missing, or the CA expired); tell its operator");
    }
    return ok;
}

/* The route keys the bus pins now, this new node's included: what it pins
 * until it has the bus's state (dev/cluster.md, "A node joining"). */
static json_t *route_pins(server *srv)
{
    char pins[CLUSTER_PINS_MAX][STORE_PIN_HEX_LEN + 1];
    size_t n = 0;
    json_t *list = json_array();
    if (WITH_STORE(srv, store_cert_node_pins(srv->store, (int64_t)time(NULL) * 1000, pins, CLUSTER_PINS_MAX, &n)) ==
        STORE_OK)
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, json_string(pins[i]));
    return list;
}

static json_t *node_answer(server *srv, const pki_ca *ca, X509 *cert, const store_cert *record)
{
    char *pem = pki_cert_pem(cert), *ca_pem = pki_cert_pem(ca->cert);
    json_t *answer = pem && ca_pem ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "name", record->name, "serial",
                                               record->serial, "certificate", pem, "ca", ca_pem, "trust_domain",
                                               ca->trust_domain, "server_key", srv->identity_nkey, "not_after_ms",
                                               (json_int_t)record->not_after_ms)
                                   : NULL;
    free(pem);
    free(ca_pem);
    if (answer)
        json_object_set_new(answer, "route_pins", route_pins(srv));
    return answer;
}

/* Signed only for a token that can pay for it, and recorded only if it
 * still can (two joins racing for one token: one certificate). */
static void issue_node(server *srv, const store_actor *by, const pki_join_request *jr, const pki_ca *ca,
                       const pki_profile *p, EVP_PKEY *key, reply *out)
{
    X509 *cert = NULL;
    store_cert record;
    char err[512];
    if (!pki_issue(ca, key, p, &cert, &record, err, sizeof err)) {
        log_event(LOG_ERROR, "join_issue", "detail=\"%s\"", err);
        reply_error(out, 500, "internal", "the certificate could not be made; see the server log");
        return;
    }
    char *pem = pki_cert_pem(cert);
    store_redeem_outcome outcome = STORE_REDEEM_OK;
    store_status status =
        pem ? WITH_STORE(srv, store_token_redeem_node(srv->store, jr->token_key, &record, pem, by, &outcome))
            : STORE_ERROR;
    free(pem);
    json_t *answer = status == STORE_OK && outcome == STORE_REDEEM_OK ? node_answer(srv, ca, cert, &record) : NULL;
    if (status != STORE_OK)
        reply_store_failure(out, status);
    else if (outcome != STORE_REDEEM_OK)
        refuse_token(srv, by, jr, outcome == STORE_REDEEM_TAKEN ? "name_taken" : store_redeem_outcome_name(outcome),
                     out);
    else if (answer)
        reply_json(out, 201, answer);
    else
        reply_error(out, 503, "server_busy", "out of memory");
    X509_free(cert);
}

static void join_node(server *srv, request *req, const pki_join_request *jr, reply *out)
{
    store_actor by = {.actor = "join", .peer_ip = req->ip, .request_id = req->id};
    char err[512], subject[65];
    EVP_PKEY *key = pki_csr_public_key(jr->csr_pem, strlen(jr->csr_pem), err, sizeof err);
    if (!key || !pki_key_spki_sha256_hex(key, subject)) {
        reply_error(out, 400, "bad_request", "%s", key ? "the certificate request's key cannot be encoded" : err);
        EVP_PKEY_free(key);
        return;
    }
    pki_ca ca;
    store_token token;
    if (load_ca(srv, &ca, out)) {
        if (token_holds(srv, &by, jr, subject, &token, out)) {
            pki_profile p = {jr->name, STORE_CERT_NODE, token.dns, token.ip, PKI_CERT_DAYS_DEFAULT};
            issue_node(srv, &by, jr, &ca, &p, key, out);
        }
        pki_ca_free(&ca);
    }
    EVP_PKEY_free(key);
}

/* Per address (JOIN_* in http/server.h). */
static bool join_admitted(server *srv, const request *req, reply *out)
{
    unsigned retry;
    if (ratelimit_take(srv->join_limits, (const struct sockaddr *)&req->peer, clock_mono_ms(), &retry))
        return true;
    reply_error(out, 429, "rate_limited", "too many join attempts from this address; retry in %u s", retry);
    out->retry_after_s = retry;
    return false;
}

void api_join(server *srv, request *req, reply *out)
{
    pki_join_request jr;
    char err[256];
    if (!join_admitted(srv, req, out))
        return;
    if (!pki_join_request_parse((const char *)req->body, req->body_len, &jr, err, sizeof err)) {
        reply_error(out, 400, "bad_request", "%s", err);
        return;
    }
    if (jr.role == STORE_TOKEN_MEMBER)
        join_member(srv, req, &jr, out);
    else
        join_node(srv, req, &jr, out);
    pki_join_request_free(&jr);
}
