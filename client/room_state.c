#include "room_state.h"
#include "embedded/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "busauth/sealing.h"

#define KEYS_MAX 64

typedef struct {
    uint32_t epoch; /* 0: free */
    uint8_t key[32];
} epoch_key;

typedef struct {
    uint8_t pk[32];
    char name[65];
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1]; /* pk as text, made once per read, not per message */
} member;

struct room_state {
    char id[33];
    uint8_t id_bin[16];
    char subject[64]; /* of its messages, made once */
    /* The name this room was asked for by, when the server found exactly
     * one room of that name: a name resolves from here only that way.  A
     * room cached by its id must not answer for its name, which another
     * room may share, or be (a room named after another's id). */
    char asked_as[129];
    bool e2e, sign;
    uint32_t epoch;
    bool key_pending; /* the server said: the current epoch has no key yet */
    int64_t refreshed_ms;
    int64_t probed_ms;    /* the last re-read for a newer epoch that found none */
    unsigned listened;    /* bit per envelope kind this client subscribes to */
    epoch_key *keys; /* sodium_malloc: KEYS_MAX slots */
    member *members;
    size_t nmembers;
    room_state *next;
};

const char *room_state_id(const room_state *rs) { return rs->id; }
const uint8_t *room_state_id_bin(const room_state *rs) { return rs->id_bin; }
const char *room_state_subject(const room_state *rs) { return rs->subject; }
bool room_state_e2e(const room_state *rs) { return rs->e2e; }
bool room_state_signed(const room_state *rs) { return rs->sign; }
uint32_t room_state_epoch(const room_state *rs) { return rs->epoch; }
bool room_state_key_pending(const room_state *rs) { return rs->key_pending; }

bool room_state_listen(room_state *rs, int kind)
{
    if (rs->listened & (1u << kind))
        return false;
    rs->listened |= 1u << kind;
    return true;
}

void room_state_unlisten(room_state *rs, int kind) { rs->listened &= ~(1u << kind); }

static room_state *find_by_id(unibus_client *c, const char *id)
{
    for (room_state *rs = c->rooms; rs; rs = rs->next)
        if (strcmp(rs->id, id) == 0)
            return rs;
    return NULL;
}

/* An id first, whichever room was cached first (adversarial pass 8). */
room_state *room_state_find(unibus_client *c, const char *room)
{
    room_state *found = find_by_id(c, room);
    for (room_state *rs = c->rooms; rs && !found; rs = rs->next)
        if (rs->asked_as[0] && strcmp(rs->asked_as, room) == 0)
            found = rs;
    return found;
}

static void note_asked_as(room_state *rs, const char *room)
{
    if (strcmp(rs->id, room) != 0)
        snprintf(rs->asked_as, sizeof rs->asked_as, "%s", room);
}

unibus_status room_state_resolve(unibus_client *c, const char *room, room_state **out)
{
    *out = room_state_find(c, room);
    if (*out)
        return UNIBUS_OK;
    unibus_room info;
    unibus_status s = unibus_room_find(c, room, &info);
    if (s == UNIBUS_OK && (*out = find_by_id(c, info.id))) { /* cached by its id */
        note_asked_as(*out, room);
        return UNIBUS_OK;
    }
    room_state *rs = s == UNIBUS_OK ? calloc(1, sizeof *rs) : NULL;
    if (s == UNIBUS_OK && (!rs || !(rs->keys = sodium_malloc(KEYS_MAX * sizeof *rs->keys)))) {
        free(rs);
        return UNIBUS_ERR_NOMEM;
    }
    if (s != UNIBUS_OK)
        return s;
    memset(rs->keys, 0, KEYS_MAX * sizeof *rs->keys);
    snprintf(rs->id, sizeof rs->id, "%s", info.id);
    if (strlen(rs->id) != 2 * sizeof rs->id_bin ||
        sodium_hex2bin(rs->id_bin, sizeof rs->id_bin, rs->id, strlen(rs->id), NULL, NULL, NULL) != 0) {
        room_states_free(rs);
        return client_fail(c, UNIBUS_ERR_PROTOCOL, "room id %s is not 32 hex digits", info.id);
    }
    snprintf(rs->subject, sizeof rs->subject, "unibus.room.%s.msg", rs->id);
    note_asked_as(rs, room);
    rs->e2e = info.e2e;
    rs->sign = info.sign;
    rs->epoch = info.epoch;
    rs->next = c->rooms;
    c->rooms = rs;
    *out = rs;
    return room_state_refresh(c, rs, 0);
}

static unibus_status read_members(unibus_client *c, room_state *rs, json_t *list)
{
    member *members = calloc(json_array_size(list) + 1, sizeof *members);
    if (!members)
        return UNIBUS_ERR_NOMEM;
    size_t i, n = 0;
    json_t *m;
    json_array_foreach(list, i, m) {
        const char *nkey = json_string_value(json_object_get(m, "nkey"));
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *status = json_string_value(json_object_get(m, "status"));
        if (!nkey || !name || !status || busauth_nkey_decode_public(nkey, members[n].pk) != BUSAUTH_OK) {
            free(members);
            return client_fail(c, UNIBUS_ERR_PROTOCOL, "room %s lists a malformed member", rs->id);
        }
        /* A revoked user is no member: it neither sends nor gets a key
         * (servers that revoked without removing still list them). */
        if (strcmp(status, "active") == 0) {
            busauth_nkey_encode_public(members[n].pk, members[n].nkey);
            snprintf(members[n++].name, sizeof members[0].name, "%s", name);
        }
    }
    free(rs->members);
    rs->members = members;
    rs->nmembers = n;
    return UNIBUS_OK;
}

unibus_status room_state_refresh(unibus_client *c, room_state *rs, int max_age_ms)
{
    if (max_age_ms > 0 && clock_mono_ms() - rs->refreshed_ms < max_age_ms)
        return UNIBUS_OK;
    char target[64];
    snprintf(target, sizeof target, "/v1/rooms/%s", rs->id);
    json_t *body = NULL;
    unibus_status s = client_call(c, "GET", target, NULL, &body);
    s = client_answer_about(c, s, body, "id", rs->id, "room");
    json_int_t epoch = json_integer_value(json_object_get(body, "key_epoch"));
    if (s == UNIBUS_OK && (epoch < 1 || epoch > UINT32_MAX))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "room %s has no key epoch", rs->id);
    if (s == UNIBUS_OK)
        s = read_members(c, rs, json_object_get(body, "members"));
    if (s == UNIBUS_OK && (uint32_t)epoch >= rs->epoch) {
        rs->epoch = (uint32_t)epoch;
        rs->key_pending = json_is_true(json_object_get(body, "key_pending"));
    }
    if (s == UNIBUS_OK)
        rs->refreshed_ms = clock_mono_ms();
    json_decref(body);
    return s;
}

unibus_status room_state_refresh_for(unibus_client *c, room_state *rs, uint32_t epoch)
{
    int64_t now = clock_mono_ms();
    if (epoch != (uint64_t)rs->epoch + 1 || now - rs->probed_ms < ROOM_EPOCH_PROBE_MS)
        return room_state_refresh(c, rs, ROOM_INFO_TTL_MS);
    unibus_status s = room_state_refresh(c, rs, 0);
    /* Only a claim the server did not bear out (or could not answer) uses
     * up the allowance: back-to-back genuine rotations are each seen at once. */
    if (s != UNIBUS_OK || rs->epoch < epoch)
        rs->probed_ms = now;
    return s;
}

static epoch_key *slot_of(room_state *rs, uint32_t epoch)
{
    for (size_t i = 0; i < KEYS_MAX; i++)
        if (rs->keys[i].epoch == epoch)
            return &rs->keys[i];
    return NULL;
}

static void add_key(room_state *rs, uint32_t epoch, const uint8_t key[32])
{
    epoch_key *slot = slot_of(rs, epoch);
    if (!slot)
        slot = slot_of(rs, 0);
    if (!slot) { /* full: the oldest epoch makes way */
        slot = &rs->keys[0];
        for (size_t i = 1; i < KEYS_MAX; i++)
            if (rs->keys[i].epoch < slot->epoch)
                slot = &rs->keys[i];
    }
    slot->epoch = epoch;
    memcpy(slot->key, key, 32);
}

unibus_status room_state_key(unibus_client *c, room_state *rs, uint32_t epoch, uint8_t key[32])
{
    epoch_key *slot = epoch ? slot_of(rs, epoch) : NULL;
    if (slot) {
        memcpy(key, slot->key, 32);
        return UNIBUS_OK;
    }
    uint32_t got = 0;
    unibus_status s = client_room_key(c, rs->id, epoch, key, &got);
    if (s == UNIBUS_OK && got != epoch)
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "asked for epoch %u of room %s, got %u", epoch, rs->id, got);
    if (s == UNIBUS_OK)
        add_key(rs, epoch, key);
    return s;
}

void room_state_keyed(room_state *rs, uint32_t epoch, const uint8_t key[32])
{
    add_key(rs, epoch, key);
    if (epoch == rs->epoch)
        rs->key_pending = false;
}

const uint8_t *room_state_member_pk(const room_state *rs, size_t i)
{
    return i < rs->nmembers ? rs->members[i].pk : NULL;
}

static const member *find_member(const room_state *rs, const uint8_t pk[32])
{
    for (size_t i = 0; i < rs->nmembers; i++)
        if (memcmp(rs->members[i].pk, pk, 32) == 0)
            return &rs->members[i];
    return NULL;
}

const char *room_state_member(const room_state *rs, const uint8_t pk[32])
{
    const member *m = find_member(rs, pk);
    return m ? m->name : NULL;
}

const char *room_state_member_nkey(const room_state *rs, const uint8_t pk[32])
{
    const member *m = find_member(rs, pk);
    return m ? m->nkey : NULL;
}

char *room_key_sealed_b64(const uint8_t recipient[32], const uint8_t key[32])
{
    uint8_t sealed[32 + BUSAUTH_SEAL_OVERHEAD];
    size_t cap = sodium_base64_ENCODED_LEN(sizeof sealed, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = busauth_seal_to(recipient, key, 32, sealed) == BUSAUTH_OK ? malloc(cap) : NULL;
    if (text)
        sodium_bin2base64(text, cap, sealed, sizeof sealed, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

void room_states_free(room_state *list)
{
    while (list) {
        room_state *next = list->next;
        sodium_free(list->keys);
        free(list->members);
        free(list);
        list = next;
    }
}
