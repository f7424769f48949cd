/*
 * What each node of a bus says every second on its bus log's account
 * (dev/control-log.md, "In force everywhere"): up to which log entry its
 * data plane runs, its wall clock, and where it serves peers.  Written by
 * the bus log (membershipd/ctllog), read there, by doctor and, through the
 * server, by GET /v1/info and /metrics.
 */
#ifndef EMBEDDED_NODE_REPORT_H
#define EMBEDDED_NODE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define NODE_REPORT_PREFIX "unibus.inforce." /* + the node's name */
#define NODE_REPORT_NAME_MAX 65
#define NODE_REPORT_URL_MAX 256
#define NODE_REPORT_EVERY_MS 1000  /* each node says where it is this often */
#define NODE_REPORT_LIVE_MS 3000   /* not heard from for longer: not counted as reachable */
#define NODE_REPORT_NODES_MAX 64   /* the most nodes a bus has */

typedef struct {
    int64_t seq;                /* the data plane runs every entry up to it */
    int64_t time_ms;            /* the node's wall clock when it said so (Unix ms) */
    char api[NODE_REPORT_URL_MAX], nats[NODE_REPORT_URL_MAX]; /* "" when not said */
} node_report;

/* A report as another node heard it. */
typedef struct {
    char name[NODE_REPORT_NAME_MAX];
    node_report report;
    int64_t heard_ms_ago;
    int64_t skew_ms;            /* its clock minus the hearer's when heard (transit included) */
} node_heard;

/* The message text (JSON; malloc'd), or NULL. */
char *node_report_format(const node_report *r);
/* 0, or -1 when data is not a report. */
int node_report_parse(const char *data, size_t len, node_report *out);

#endif
