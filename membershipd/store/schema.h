#ifndef MEMBERSHIPD_SCHEMA_H
#define MEMBERSHIPD_SCHEMA_H

/* The schema version this build writes. */
int schema_version_latest(void);
/* SQL that takes a database from version - 1 to version, or NULL. */
const char *schema_migration(int version);

#endif
