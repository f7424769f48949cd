/*
 * sigtool: busauth's signing and key loading as a command, so the interop
 * tests can hold it against the NATS reference implementation.
 *   sigtool pubkey SEEDFILE            print the identity's nkey
 *   sigtool sign SEEDFILE MSGFILE      print the hex Ed25519 signature of MSGFILE
 *   sigtool verify NKEY HEXSIG MSGFILE exit 0 if the signature verifies, 1 if not
 *   sigtool derive SEEDFILE CONTEXT    print the seed of the identity derived for
 *                                      CONTEXT (8 bytes): what an insider holding a
 *                                      node's server.seed can log in as
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "busauth/seedfile.h"

static size_t read_message(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return (size_t)-1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static int load(const char *path, busauth_identity **id)
{
    busauth_status status = busauth_seedfile_load(path, id);
    if (status != BUSAUTH_OK)
        fprintf(stderr, "sigtool: %s: %s\n", path, busauth_strerror(status));
    return status == BUSAUTH_OK ? 0 : 2;
}

static int cmd_pubkey(const char *seedfile)
{
    busauth_identity *id;
    if (load(seedfile, &id) != 0)
        return 2;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    busauth_identity_free(id);
    puts(nkey);
    return 0;
}

static int cmd_sign(const char *seedfile, const char *msgfile)
{
    static unsigned char msg[65536];
    size_t len = read_message(msgfile, msg, sizeof msg);
    busauth_identity *id;
    if (len == (size_t)-1 || load(seedfile, &id) != 0)
        return 2;
    unsigned char sig[BUSAUTH_SIGNATURE_BYTES];
    char hex[2 * BUSAUTH_SIGNATURE_BYTES + 1];
    busauth_identity_sign(id, msg, len, sig);
    busauth_identity_free(id);
    puts(sodium_bin2hex(hex, sizeof hex, sig, sizeof sig));
    return 0;
}

static int cmd_verify(const char *nkey, const char *hexsig, const char *msgfile)
{
    static unsigned char msg[65536];
    size_t len = read_message(msgfile, msg, sizeof msg);
    uint8_t pk[BUSAUTH_KEY_BYTES], sig[BUSAUTH_SIGNATURE_BYTES];
    size_t siglen = 0;
    if (len == (size_t)-1 || busauth_nkey_decode_public(nkey, pk) != BUSAUTH_OK ||
        sodium_hex2bin(sig, sizeof sig, hexsig, strlen(hexsig), NULL, &siglen, NULL) != 0 ||
        siglen != sizeof sig)
        return 2;
    return busauth_signature_verify(pk, msg, len, sig) == BUSAUTH_OK ? 0 : 1;
}

static int cmd_derive(const char *seedfile, const char *context)
{
    busauth_identity *id, *derived = NULL;
    if (strlen(context) != 8 || load(seedfile, &id) != 0)
        return 2;
    busauth_status status = busauth_identity_derive(id, context, &derived);
    busauth_identity_free(id);
    if (status != BUSAUTH_OK)
        return 2;
    char seed[BUSAUTH_NKEY_SEED_LEN + 1];
    busauth_identity_seed_nkey(derived, seed);
    busauth_identity_free(derived);
    puts(seed);
    sodium_memzero(seed, sizeof seed);
    return 0;
}

int main(int argc, char **argv)
{
    if (busauth_init() != BUSAUTH_OK)
        return 2;
    if (argc == 3 && strcmp(argv[1], "pubkey") == 0)
        return cmd_pubkey(argv[2]);
    if (argc == 4 && strcmp(argv[1], "sign") == 0)
        return cmd_sign(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "derive") == 0)
        return cmd_derive(argv[2], argv[3]);
    fprintf(stderr, "usage: sigtool pubkey SEED | sign SEED MSG | verify NKEY HEXSIG MSG\n");
    return 2;
}
