#!/bin/bash
# The layering check (dev/layout.md) fails, with one line naming the file
# and what is wrong, on a forbidden include, a CMake link the table does not
# allow, a cycle in the table, a folder in no layer and a README layout
# table that does not match the tree; it passes on an untouched copy of the
# tree.  Each case runs on its own copy.
# usage: layout.sh CHECK_SCRIPT SOURCE_DIR
. "$(dirname "$0")/lib.sh"
SRC="$2"

# fresh NAME: a copy of the layers and the table in $WORK/NAME.
fresh() {
    T="$WORK/$1"
    mkdir -p "$T/dev"
    (cd "$SRC" && tar cf - busauth common embedded client membershipd) | (cd "$T" && tar xf -)
    cp "$SRC/dev/layout.md" "$T/dev/"
    cp "$SRC/README.md" "$SRC/.gitignore" "$T/"
    mkdir -p "$T/tests" "$T/bench" "$T/dist" "$T/scripts"
}

fresh clean
t "an untouched copy passes" 0 "" "$M" "$T"
check "says ok" contains "$OUT" "layout: ok"

fresh upward
sed -i '0,/#include "membershipd\/store\/store_internal.h"/s//&\n#include "membershipd\/api\/api.h"/' \
    "$T/membershipd/store/store_users.c"
t "the store including the API fails" 1 \
    'membershipd/store/store_users.c:3: #include "membershipd/api/api.h": layer membershipd/store may not depend on membershipd/api' \
    "$M" "$T"

fresh relative
echo '#include "../http/server.h"' >>"$T/membershipd/dataplane/dataplane.h"
t "a relative include is resolved and refused" 1 \
    'membershipd/dataplane/dataplane.h' "$M" "$T"
check "it names the layer it may not use" contains "$ERR" "may not depend on membershipd/http"

fresh embedded
sed -i 's|#include "embedded/clock.h"|#include "membershipd/store/store.h"|' "$T/embedded/supervisor.c"
t "embedded including membershipd fails" 1 \
    'embedded/supervisor.c:15: #include "membershipd/store/store.h": layer embedded may not depend on membershipd/store' \
    "$M" "$T"

fresh link
sed -i 's/target_link_libraries(membershipd_store PUBLIC busauth/& membershipd_api/' \
    "$T/membershipd/store/CMakeLists.txt"
t "the store linking the API fails" 1 \
    'membershipd/store/CMakeLists.txt: membershipd_store links membershipd_api (layer membershipd/api)' "$M" "$T"

fresh cycle
sed -i 's/^| `membershipd\/store` | `membershipd_store` | `busauth` |$/| `membershipd\/store` | `membershipd_store` | `busauth`, `membershipd\/cli` |/' \
    "$T/dev/layout.md"
run "$M" "$T"
check "a cycle in the table fails" [ "$RC" -eq 1 ]
check "and is named" contains "$ERR" "the layers form a cycle: membershipd/store -> membershipd/cli"

fresh folder
mkdir "$T/membershipd/quux"
echo 'int quux;' >"$T/membershipd/quux/q.c"
t "a folder in no layer fails" 1 'membershipd/quux/: a folder of layer membershipd that is not a layer' "$M" "$T"

fresh readme
sed -i '/^| `membershipd\/http\/` |/d' "$T/README.md"
t "a layer missing from the README's layout table fails" 1 \
    'README.md: the layout table does not mention membershipd/http/' "$M" "$T"

fresh readme_extra
sed -i 's/^| `bench\/` |/| `bench\/` and `gone\/` |/' "$T/README.md"
t "a path of the README's layout table that is not in the tree fails" 1 \
    'the layout table names gone/, which is not in the tree' "$M" "$T"

finish
