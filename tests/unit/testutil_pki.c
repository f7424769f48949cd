/* PKI helpers shared by the unit and integration tests. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>

char *test_csr_with_broken_signature(const char *pem)
{
    BIO *in = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = in ? PEM_read_bio_X509_REQ(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    unsigned char *der = NULL;
    int len = req ? i2d_X509_REQ(req, &der) : 0;
    X509_REQ_free(req);
    if (len <= 16) {
        OPENSSL_free(der);
        return NULL;
    }
    der[len - 1] ^= 0x01; /* the last byte of the ECDSA signature's s */
    const unsigned char *p = der;
    req = d2i_X509_REQ(NULL, &p, len);
    OPENSSL_free(der);
    BIO *out = BIO_new(BIO_s_mem());
    char *data = NULL, *text = NULL;
    long n = req && out && PEM_write_bio_X509_REQ(out, req) == 1 ? BIO_get_mem_data(out, &data) : 0;
    /* A BIO's memory is not NUL-ended: copied by its length. */
    if (n > 0 && (text = malloc((size_t)n + 1))) {
        memcpy(text, data, (size_t)n);
        text[n] = '\0';
    }
    X509_REQ_free(req);
    BIO_free(out);
    return text;
}
