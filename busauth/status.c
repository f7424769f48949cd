#include "busauth/status.h"

const char *busauth_strerror(busauth_status status)
{
    switch (status) {
    case BUSAUTH_OK:              return "ok";
    case BUSAUTH_ERR_LENGTH:      return "wrong length";
    case BUSAUTH_ERR_BASE32:      return "character outside the nkey alphabet (A-Z, 2-7)";
    case BUSAUTH_ERR_CHECKSUM:    return "checksum mismatch (mistyped or truncated key)";
    case BUSAUTH_ERR_PREFIX:      return "not a user key (expected the U or SU prefix)";
    case BUSAUTH_ERR_IS_SEED:     return "this is a secret seed, not a public key: keep it private and give the public key (U...)";
    case BUSAUTH_ERR_NOT_SEED:    return "this is a public key, not a seed (SU...)";
    case BUSAUTH_ERR_HEX:         return "not hexadecimal";
    case BUSAUTH_ERR_SIGNATURE:   return "signature does not verify";
    case BUSAUTH_ERR_EXISTS:      return "file exists; refusing to overwrite it";
    case BUSAUTH_ERR_PERMISSIONS: return "key file is readable by group or others";
    case BUSAUTH_ERR_OWNER:       return "key file is owned by another user";
    case BUSAUTH_ERR_NOT_FILE:    return "not a regular file";
    case BUSAUTH_ERR_FORMAT:      return "file holds no user seed (SU...)";
    case BUSAUTH_ERR_IO:          return "input/output error";
    case BUSAUTH_ERR_NOMEM:       return "out of memory";
    case BUSAUTH_ERR_BASE64:      return "not base64url without padding";
    case BUSAUTH_ERR_CRYPTO:      return "libsodium failed to initialise";
    }
    return "unknown busauth status";
}
