/*
 * membershipd doctor: the checks and the report they go into.  doctor.c
 * runs the sections below in order and prints the report (one line per
 * check, or the JSON document of dev/doctor.md).
 */
#ifndef MEMBERSHIPD_DOCTOR_H
#define MEMBERSHIPD_DOCTOR_H

#include <limits.h>
#include <stdbool.h>
#include <jansson.h>
#include "embedded/nats_config.h"
#include "membershipd/config/serve_config.h"

#define DOCTOR_SCHEMA_VERSION 1
#define DOCTOR_PROBE_TIMEOUT_MS 3000
#define DOCTOR_WHAT_MAX (2 * PATH_MAX + 512)

typedef enum { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL, DOCTOR_SKIP } doctor_verdict;

typedef struct {
    const serve_config *cfg;
    const char *advertise;      /* --advertise: names clients dial, comma-separated; may be NULL */
    const char *ca;             /* --ca: the CA clients trust; NULL: the system's */
    char data_dir[PATH_MAX];
    char db_path[PATH_MAX + 32];
    bool data_dir_exists;
    /* The server running on this data dir, as its nats.conf says. */
    bool nats_conf_read;
    natsconf_listeners nats;
    bool dataplane_answers;     /* something accepts TCP on nats.listen */
    char dataplane_host[64];    /* where to connect: the listen address, loopback for a wildcard */
    json_t *checks;             /* the report's array */
} doctor;

/* Adds a check; what and fix (NULL: none) are one line each.  Returns the
 * check's JSON object, for details (json_object_set_new(check, "details", ...)). */
json_t *doctor_add(doctor *d, const char *id, doctor_verdict verdict, const char *what, const char *fix);
/* The same, with what formatted. */
json_t *doctor_addf(doctor *d, const char *id, doctor_verdict verdict, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The URL doctor's own clients dial the data plane at. */
void doctor_nats_url(const doctor *d, char url[128]);
/* The connectable form of a listen address: 0.0.0.0 -> 127.0.0.1, :: -> ::1. */
void doctor_connect_host(const char *listen, char out[64]);
/* A TCP connection to host (an IP literal):port, with the probe timeout on
 * connecting, reading and writing; -1 when none opens. */
int doctor_tcp_connect(const char *host, unsigned port);
/* 0 when a TCP connection to host:port opens within the probe timeout. */
int doctor_tcp_answers(const char *host, unsigned port);

/* The sections, one file each. */
/* membershipd doctor: the subcommand (main.c's table). */
int cmd_doctor(int argc, char **argv);

void doctor_guard(doctor *d);        /* doctor_guard.c: the boot guard's rules */
void doctor_tls(doctor *d);          /* doctor_tls.c: minimum, chain, names, expiry */
void doctor_files(doctor *d);        /* doctor_files.c: modes of everything private */
void doctor_nats(doctor *d);         /* doctor_nats.c: the nats-server binary */
void doctor_store(doctor *d);        /* doctor_store.c: integrity, WAL */
void doctor_pki(doctor *d);          /* doctor_pki.c: the bus CA and its key-encryption key */
void doctor_dataplane(doctor *d);    /* doctor_dataplane.c: live login, revoked connections */
void doctor_controlplane(doctor *d); /* doctor_controlplane.c: live TLS floor */
void doctor_cluster(doctor *d);

#define DOCTOR_NATS_CONF_HEAD 65536 /* listen, tls and the cluster come before the users */
/* The head of the nats.conf membershipd wrote in the data dir: 0, or -1. */
int doctor_read_nats_conf(const doctor *d, char head[DOCTOR_NATS_CONF_HEAD + 1]);      /* doctor_cluster.c: routes, lag, clock */

#endif
