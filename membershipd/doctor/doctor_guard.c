/* The boot guard's rules as checks (guard.<rule>), and how strict the
 * accepted authentication mode is (posture.bus_auth). */
#include "membershipd/doctor/doctor.h"

#include <stdio.h>
#include "membershipd/config/guard.h"

static void bus_auth_strictness(doctor *d)
{
    const serve_config *cfg = d->cfg;
    if (cfg->bus_auth == BUS_AUTH_ENFORCE)
        doctor_add(d, "posture.bus_auth", DOCTOR_OK, "--bus-auth enforce: every request and login is verified", NULL);
    else if (cfg->bus_auth == BUS_AUTH_SOFT)
        doctor_add(d, "posture.bus_auth", DOCTOR_WARN,
                   "--bus-auth soft: bad request signatures are logged, not refused (loopback only)",
                   "drop --bus-auth (enforce is the default) once clients sign correctly");
    else
        doctor_add(d, "posture.bus_auth", DOCTOR_WARN,
                   "--bus-auth off: any local process may act as any active user and use the data plane without a key",
                   "drop --bus-auth (enforce is the default) outside development");
}

/* The ports rule is left to serve: a running server holds its own ports. */
void doctor_guard(doctor *d)
{
    char why[GUARD_REASON_MAX], id[64];
    for (size_t i = 0; i < GUARD_RULE_COUNT; i++) {
        const guard_rule *rule = &GUARD_RULES[i];
        if (rule->at_start_only)
            continue;
        snprintf(id, sizeof id, "guard.%s", rule->id);
        if (rule->check(d->cfg, why, sizeof why) == 0)
            doctor_add(d, id, DOCTOR_OK, rule->rule, NULL);
        else
            doctor_addf(d, id, DOCTOR_FAIL, NULL, "serve would refuse to start: %s", why);
    }
    bus_auth_strictness(d);
}
