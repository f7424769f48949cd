/* The cluster's checks hold their place in the report until the cluster
 * issue lands: routes and their TLS, follower lag, clock skew against the
 * primary. */
#include "membershipd/doctor/doctor.h"

void doctor_cluster(doctor *d)
{
    static const char *const ids[] = {"cluster.routes", "cluster.route_tls", "cluster.follower_lag",
                                      "cluster.clock_skew"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        doctor_add(d, ids[i], DOCTOR_SKIP, "no cluster configured", NULL);
}
