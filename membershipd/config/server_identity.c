#include "membershipd/config/server_identity.h"

#include <errno.h>
#include <stdio.h>
#include "busauth/seedfile.h"
#include "common/cli_args.h"
#include "common/log.h"

void server_identity_path(const char *data_dir, char out[PATH_MAX])
{
    snprintf(out, PATH_MAX, "%s/server.seed", data_dir);
}

static busauth_identity *create(const char *path)
{
    busauth_identity *id = NULL;
    busauth_status status = busauth_identity_generate(&id);
    if (status == BUSAUTH_OK)
        status = busauth_seedfile_create(path, id);
    if (status == BUSAUTH_OK) {
        log_event(LOG_INFO, "server_identity_created", "path=%s", path);
        return id;
    }
    busauth_identity_free(id);
    /* Another process may have made it first: load that one. */
    if (status == BUSAUTH_ERR_EXISTS && busauth_seedfile_load(path, &id) == BUSAUTH_OK)
        return id;
    char why[2 * PATH_MAX];
    busauth_seedfile_describe_error(why, sizeof why, path, status, errno);
    cli_error("cannot create the server identity: %s", why);
    return NULL;
}

static busauth_identity *derived(const busauth_identity *server, const char context[8])
{
    busauth_identity *id = NULL;
    return busauth_identity_derive(server, context, &id) == BUSAUTH_OK ? id : NULL;
}

busauth_identity *server_identity_system_user(const busauth_identity *server)
{
    return derived(server, SERVER_IDENTITY_SYSTEM_CONTEXT);
}

busauth_identity *server_identity_log_user(const busauth_identity *server)
{
    return derived(server, SERVER_IDENTITY_LOG_CONTEXT);
}

busauth_identity *server_identity_load_or_create(const char *data_dir)
{
    char path[PATH_MAX];
    server_identity_path(data_dir, path);
    busauth_identity *id = NULL;
    busauth_status status = busauth_seedfile_load(path, &id);
    if (status == BUSAUTH_OK)
        return id;
    if (status == BUSAUTH_ERR_IO && errno == ENOENT)
        return create(path);
    char why[2 * PATH_MAX];
    busauth_seedfile_describe_error(why, sizeof why, path, status, errno);
    cli_error("refusing to start: %s", why);
    return NULL;
}
