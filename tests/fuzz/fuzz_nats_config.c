/*
 * The nats-server configuration generator fed hostile users, room names
 * and room ids: through the store's API, and written straight into the
 * database with its CHECK constraints off (a tampered or corrupted file).
 * dataplane_render, what the reloader runs, must produce exactly the
 * grammar fuzz_config_check.c accepts, or refuse a bad room id.
 * Input: a program of operations, each an opcode byte and operands; names
 * run to a 0x00 byte.
 */
#include <sqlite3.h>
#include <string.h>
#include "fuzz.h"
#include "fuzz_world.h"

typedef struct {
    const uint8_t *p, *end;
} program;

static uint8_t next_byte(program *pg)
{
    return pg->p < pg->end ? *pg->p++ : 0;
}

/* The bytes up to a NUL (or the end), as a string and its length. */
static const char *next_text(program *pg, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    while (pg->p < pg->end && *pg->p && n + 1 < cap)
        buf[n++] = (char)*pg->p++;
    if (pg->p < pg->end)
        pg->p++;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One statement on a connection of its own, CHECK constraints off. */
static void raw_sql(fuzz_world *w, const char *sql, const char *a, size_t a_len, const void *b, size_t b_len,
                    int64_t c)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    FUZZ_CHECK(sqlite3_open(w->db_path, &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA ignore_check_constraints = ON", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, a, (int)a_len, SQLITE_TRANSIENT);
        sqlite3_bind_blob(stmt, 2, b, (int)b_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 3, c);
        sqlite3_step(stmt);
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
}

static int64_t user_id(const fuzz_world *w, uint8_t pick)
{
    return w->users[pick % WORLD_USERS].id + (pick >= WORLD_USERS ? pick : 0);
}

static void run_op(fuzz_world *w, program *pg)
{
    store_actor by = {"fuzz", NULL, NULL};
    char text[300];
    size_t len;
    uint8_t op = next_byte(pg), a = next_byte(pg);
    switch (op % 7) {
    case 0: /* a user through the API: the name is validated there */
        store_user_add(w->st, next_text(pg, text, sizeof text, &len), fuzz_world_key(a), STORE_ROLE_MEMBER, &by);
        break;
    case 1: { /* a user written raw: any name, a key of any length */
        uint8_t key[40];
        size_t key_len = next_byte(pg) % sizeof key;
        memcpy(key, fuzz_world_key(a), 32);
        memset(key + 32, a, sizeof key - 32);
        next_text(pg, text, sizeof text, &len);
        raw_sql(w, "INSERT INTO users (name, public_key, role, created_at) VALUES (?1, ?2, 'member', ?3)", text, len,
                key, key_len, 1);
        break;
    }
    case 2: { /* a room through the API: any name */
        store_room room;
        store_room_create(w->st, next_text(pg, text, sizeof text, &len), STORE_ROOM_CLEARTEXT, false, user_id(w, a),
                          0, NULL, 0, &by, &room);
        break;
    }
    case 3: /* a room id written raw, with its owner as member */
        next_text(pg, text, sizeof text, &len);
        raw_sql(w, "INSERT INTO rooms (id, name, mode, owner_id, created_at) VALUES (?1, CAST(?2 AS TEXT), 'cleartext', ?3, 1)",
                text, len, text, len, user_id(w, a));
        raw_sql(w, "INSERT INTO room_members (room_id, user_id, added_at) VALUES (?1, ?3, length(?2))", text, len,
                "", 0, user_id(w, a));
        break;
    case 4: { /* a member added to one of the fixture rooms */
        store_sealed_key key = {user_id(w, a), NULL, 0};
        store_room_add_member(w->st, next_byte(pg) & 1 ? w->e2e.id : w->cleartext.id, &key, 0, &by);
        break;
    }
    case 5:
        store_user_revoke(w->st, user_id(w, a), &by, NULL);
        break;
    default: { /* a member added raw to any room id */
        next_text(pg, text, sizeof text, &len);
        raw_sql(w, "INSERT INTO room_members (room_id, user_id, added_at) VALUES (?1, ?3, length(?2))", text, len,
                "", 0, user_id(w, a));
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_world w;
    fuzz_world_open(&w);
    program pg = {data, data + size};
    for (int ops = 0; pg.p < pg.end && ops < 32; ops++)
        run_op(&w, &pg);
    fuzz_world_render_and_check(&w);
    return 0;
}
