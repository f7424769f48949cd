#include "fuzz.h"

#include <string.h>

void fuzz_vector_seed(uint8_t seed[32])
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
}

void fuzz_room_key(uint8_t key[32])
{
    memset(key, 0x42, 32);
}

static char *copy_field(const uint8_t *start, size_t len)
{
    char *field = malloc(len + 1);
    if (!field)
        abort();
    memcpy(field, start, len);
    field[len] = '\0';
    return field;
}

size_t fuzz_split(const uint8_t *data, size_t size, char sep, char **fields, size_t max, size_t *last_len)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < size && n + 1 < max; i++) {
        if (data[i] == (uint8_t)sep) {
            fields[n++] = copy_field(data + start, i - start);
            start = i + 1;
        }
    }
    fields[n++] = copy_field(data + start, size - start);
    *last_len = size - start;
    return n;
}

void fuzz_fields_free(char **fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(fields[i]);
}
