/* busauth status codes: every busauth call returns one. */
#ifndef BUSAUTH_STATUS_H
#define BUSAUTH_STATUS_H

typedef enum {
    BUSAUTH_OK = 0,
    BUSAUTH_ERR_LENGTH,      /* wrong number of characters or bytes */
    BUSAUTH_ERR_BASE32,      /* a character outside the nkey base32 alphabet */
    BUSAUTH_ERR_CHECKSUM,    /* CRC16 does not match: mistyped or truncated */
    BUSAUTH_ERR_PREFIX,      /* not a user key (account, operator, server...) */
    BUSAUTH_ERR_IS_SEED,     /* a secret seed where a public key belongs */
    BUSAUTH_ERR_NOT_SEED,    /* a public key where a seed belongs */
    BUSAUTH_ERR_HEX,         /* not hexadecimal */
    BUSAUTH_ERR_SIGNATURE,   /* signature does not verify */
    BUSAUTH_ERR_EXISTS,      /* refusing to overwrite an existing file */
    BUSAUTH_ERR_PERMISSIONS, /* key file readable by group or others */
    BUSAUTH_ERR_OWNER,       /* key file owned by another user */
    BUSAUTH_ERR_NOT_FILE,    /* key path is not a regular file */
    BUSAUTH_ERR_FORMAT,      /* key file holds no seed */
    BUSAUTH_ERR_IO,          /* system call failed: see errno */
    BUSAUTH_ERR_NOMEM,
    BUSAUTH_ERR_BASE64,      /* not base64url without padding */
    BUSAUTH_ERR_CRYPTO       /* libsodium failed to initialise */
} busauth_status;

/* A static, human-readable sentence for a status; never NULL. */
const char *busauth_strerror(busauth_status status);

#endif
