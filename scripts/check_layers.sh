#!/bin/bash
# Layers point one way: cli -> http -> models, eval -> ann -> store, cache -> core (ann sits
# below models: models use indexes, an index never uses a model; both use the core container).
# Fails when a lower layer includes an upper one, or a backend header leaks out of its folder.
set -u
rank() {
    case $1 in
        core) echo 0 ;; store|cache) echo 1 ;; ann) echo 2 ;; models|eval) echo 3 ;; http) echo 4 ;;
        cli) echo 5 ;;
        *) echo -1 ;;
    esac
}
# Which layer each public header belongs to.
header_layer() {
    case $1 in
        err|core|ids|csr|config|fileio|csv|kernels|modelfile) echo core ;;
        store|dataset|import|generate) echo store ;;
        cache) echo cache ;;
        ann) echo ann ;;
        eval|metrics|split) echo eval ;;
        http|server) echo http ;;
        *) echo models ;;
    esac
}
bad=0
for f in $(find src -name '*.c' -o -name '*.cpp' -o -name '*.h'); do
    layer=$(echo "$f" | cut -d/ -f2)
    r=$(rank "$layer")
    while read -r inc; do
        h=${inc#tt/}; h=${h%.h}
        hl=$(header_layer "$h")
        if [ "$(rank "$hl")" -gt "$r" ]; then
            echo "check_layers: $f ($layer) includes tt/$h.h ($hl), an upper layer"; bad=1
        fi
    done < <(sed -n 's/^#include "\(tt\/[a-z_]*\.h\)".*/\1/p' "$f")
    if grep -q '#include <libpq-fe.h>' "$f" && [ "$f" != src/store/store_pg.c ]; then
        echo "check_layers: $f includes libpq-fe.h (only src/store/store_pg.c may)"; bad=1
    fi
    if grep -q '#include <hiredis' "$f" && [ "$f" != src/cache/cache_redis.c ]; then
        echo "check_layers: $f includes hiredis (only src/cache/cache_redis.c may)"; bad=1
    fi
done
exit $bad
