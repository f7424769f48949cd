#include "embedded/wiped_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sodium.h>

#define STDIO_BUFFER 16384

struct wiped_text {
    char *data;
    size_t len, cap;
    bool failed;
    char stdio[STDIO_BUFFER];
};

static bool grow(wiped_text *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *grown = malloc(cap);
    if (!grown)
        return false;
    if (w->data) { /* NULL before the first block */
        memcpy(grown, w->data, w->len);
        sodium_memzero(w->data, w->len);
        free(w->data);
    }
    w->data = grown;
    w->cap = cap;
    return true;
}

static ssize_t append(void *cookie, const char *bytes, size_t n)
{
    wiped_text *w = cookie;
    if (w->len + n + 1 > w->cap && !grow(w, w->len + n + 1)) {
        w->failed = true;
        return 0;
    }
    memcpy(w->data + w->len, bytes, n);
    w->len += n;
    return (ssize_t)n;
}

FILE *wiped_text_open(wiped_text **out, size_t size_hint)
{
    wiped_text *w = calloc(1, sizeof *w);
    FILE *f = NULL;
    if (w && grow(w, size_hint + 1))
        f = fopencookie(w, "w", (cookie_io_functions_t){.write = append});
    if (f && setvbuf(f, w->stdio, _IOFBF, sizeof w->stdio) == 0) {
        *out = w;
        return f;
    }
    if (f)
        fclose(f);
    if (w)
        free(w->data);
    free(w);
    return NULL;
}

char *wiped_text_close(FILE *f, wiped_text *w)
{
    bool ok = fclose(f) == 0 && !w->failed;
    sodium_memzero(w->stdio, sizeof w->stdio);
    char *text = w->data;
    if (ok) {
        text[w->len] = '\0';
    } else {
        sodium_memzero(text, w->len);
        free(text);
        text = NULL;
    }
    free(w);
    return text;
}
