#!/bin/bash
# Layers point one way, each rank only to lower ranks:
#   cli (7) -> http (6) -> pipeline (5) -> eval (4) -> models (3) -> ann, ingest (2)
#     -> store, cache (1) -> core (0)
# models sits above ann because the content model searches the index; eval above models because
# it scores them; pipeline (training runs, jobs, versions) above eval because a run evaluates
# what it trains. store and cache are peers of rank 1 and must not use each other. ingest (the
# importers and the generator) writes through the store interface and is a peer of ann.
#
# A file may include or call only its own folder or a strictly lower layer. Checked, in src/
# (every .c, .cpp, .h) and include/tt/:
#   - includes of public headers, "tt/x.h" or <tt/x.h>; each public header has a layer in the
#     table below (an unlisted header is an error), and a header may include only its own layer
#     or lower ones;
#   - relative includes ("../http/app.h"): folder-internal headers stay in their folder;
#   - calls of tt_* and tt__* functions, resolved to the folder whose src/ file defines them
#     (a definition starts at column 0); comments and string literals are ignored;
#   - backend headers: libpq-fe.h only in src/store/store_pg.c, hiredis only in
#     src/cache/cache_redis.c.
# Prints one line per violation, "check_layers: FILE:LINE: ...", and exits 1 if there is any.
#
# usage: scripts/check_layers.sh [ROOT]    (ROOT: the tree to check; default: this repository)
set -u
export LC_ALL=C

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" 2>/dev/null && [ -d src ] && [ -d include/tt ] ||
    { echo "check_layers: $root has no src/ and include/tt/"; exit 2; }

# The rank of each folder of src/.
ranks='core=0 store=1 cache=1 ann=2 ingest=2 models=3 eval=4 pipeline=5 http=6 cli=7'

# The layer of each public header of include/tt/ (every header must be listed). modelfile.h,
# the model-file container, is core: models, the index and their tests all write and read it.
headers='
core:   core err config cron ids csr csv fileio kernels modelfile progress tfevents tz version byteorder npy factors
store:  store dataset journal logcache
ingest: import generate
cache:  cache
ann:    ann
models: model models als ease blend popularity content hybrid catalog recommend radio mix nn neumf deep_content hybrid_deep taste
eval:   eval
pipeline: pipeline registry
http:   server
'

files=$(find src include/tt -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.h' \) | sort)
awk -v ranks="$ranks" -v headers="$headers" -v listing="$files" '
function say(msg) { print "check_layers: " msg; bad = 1 }

# The layer a file belongs to: its folder under src/, or the table for include/tt/.
function layer_of(path,    p, n) {
    n = split(path, p, "/")
    if (p[1] == "src") return p[2]
    if (p[1] == "include" && p[2] == "tt" && n == 3) {
        sub(/\.h$/, "", p[3])
        return (p[3] in hlayer) ? hlayer[p[3]] : ""
    }
    return ""
}

function allowed(from, to) { return from == to || rank[to] < rank[from] }

function describe(l) { return l " (" rank[l] ")" }

# Why a file of layer flayer (the file being read) may not use layer to.
function why(to) {
    return rank[to] == rank[flayer] ? "a peer folder of the same rank" : "an upper layer"
}

# Removes "." and ".." from a relative path.
function normalize(path,    p, n, i, out, k, s) {
    n = split(path, p, "/"); k = 0
    for (i = 1; i <= n; i++) {
        if (p[i] == "." || p[i] == "") continue
        if (p[i] == "..") { if (k > 0) k--; else return ""; continue }
        out[++k] = p[i]
    }
    s = out[1]
    for (i = 2; i <= k; i++) s = s "/" out[i]
    return s
}

function check_include(f, line, inc, angle,    dir, to, tl, h) {
    if (inc ~ /(^|\/)libpq-fe\.h$/ && f != "src/store/store_pg.c")
        say(f ":" line ": includes libpq-fe.h (only src/store/store_pg.c may)")
    if (inc ~ /^hiredis/ && f != "src/cache/cache_redis.c")
        say(f ":" line ": includes hiredis (only src/cache/cache_redis.c may)")
    # Resolve as the compiler does (-Iinclude): beside the file first, then include/.
    dir = f; sub(/\/[^\/]*$/, "", dir)
    to = ""
    if (!angle && (normalize(dir "/" inc) in exists)) to = normalize(dir "/" inc)
    else if (normalize("include/" inc) in exists) to = normalize("include/" inc)
    else if (inc ~ /^tt\/[a-z0-9_]*\.h$/) to = "include/" inc
    if (to == "") return
    if (to ~ /^include\/tt\/[^\/]*$/) {
        tl = layer_of(to); h = to; sub(/^include\//, "", h)
        if (tl == "") {
            say(f ":" line ": includes " h ", which is not in the header table of scripts/check_layers.sh")
            return
        }
        if (!allowed(flayer, tl))
            say(f ":" line ": " describe(flayer) " includes " h " of " describe(tl) ": " why(tl))
        return
    }
    if (to ~ /^src\//) {
        tl = layer_of(to)
        if (f ~ /^include\// || tl != flayer)
            say(f ":" line ": " describe(flayer) " includes \"" inc "\" of src/" tl "/ " describe(tl) \
                ": folder-internal headers stay in their folder")
    }
}

# Blanks comments, string and character literals; keeps the state of a /* comment across lines.
function strip(s,    i) {
    if (incomment) {
        i = index(s, "*/")
        if (!i) return ""
        s = substr(s, i + 2); incomment = 0
    }
    gsub(/\047(\\.|[^\047\\])\047/, "0", s)
    gsub(/"(\\.|[^"\\])*"/, "\"\"", s)
    gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, " ", s)
    i = index(s, "//"); if (i) s = substr(s, 1, i - 1)
    i = index(s, "/*"); if (i) { s = substr(s, 1, i - 1); incomment = 1 }
    return s
}

# The first tt_ name followed by "(" in s (whole identifiers only); sets rest to the text after it.
function next_call(s,    name, pre) {
    while (match(s, /tt_[a-z0-9_]*[ \t]*\(/)) {
        pre = RSTART > 1 ? substr(s, RSTART - 1, 1) : ""
        name = substr(s, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
        s = substr(s, RSTART + RLENGTH)
        if (pre !~ /[A-Za-z0-9_]/) { rest = s; return name }
    }
    rest = ""
    return ""
}

BEGIN {
    n = split(ranks, r, " ")
    for (i = 1; i <= n; i++) { split(r[i], kv, "="); rank[kv[1]] = kv[2] + 0 }
    n = split(headers, hl, "\n")
    for (i = 1; i <= n; i++) {
        m = split(hl[i], w, /[ \t:]+/)
        for (j = 2; j <= m; j++) if (w[j] != "") hlayer[w[j]] = w[1]
    }
    nf = split(listing, file, "\n")
    for (i = 1; i <= nf; i++) exists[file[i]] = 1

    # Public headers and src/ folders must each have a layer.
    for (i = 1; i <= nf; i++) {
        f = file[i]; split(f, p, "/")
        if (f ~ /^include\/tt\/[^\/]*\.h$/ && layer_of(f) == "")
            say(f ": not in the header table: add it to the table in scripts/check_layers.sh")
        if (p[1] == "src" && !(p[2] in rank) && !(p[2] in unranked)) {
            unranked[p[2]] = 1
            say("src/" p[2] "/: not in the layer table: add it to ranks in scripts/check_layers.sh")
        }
    }

    # Pass 1: where each function is defined (src/ .c and .cpp, a name at column 0 followed by
    # a body, not a prototype).
    for (i = 1; i <= nf; i++) {
        f = file[i]
        if (f !~ /^src\/.*\.(c|cpp)$/) continue
        d = layer_of(f); pending = ""; incomment = 0
        while ((getline raw < f) > 0) {
            s = strip(raw)
            if (pending != "") {
                if (index(s, "{") && (!index(s, ";") || index(s, "{") < index(s, ";")))
                    { defined[pending, d] = 1; home[pending] = d; pending = "" }
                else if (index(s, ";")) pending = ""
                continue
            }
            if (s !~ /^[a-z]/) continue
            name = next_call(s)
            if (name == "") continue
            if (index(rest, "{") && (!index(rest, ";") || index(rest, "{") < index(rest, ";")))
                { defined[name, d] = 1; home[name] = d }
            else if (!index(rest, ";"))
                pending = name
        }
        close(f)
    }

    # Pass 2: includes and calls of every file.
    for (i = 1; i <= nf; i++) {
        f = file[i]
        flayer = layer_of(f)
        if (flayer == "" || !(flayer in rank)) continue
                line = 0; incomment = 0
        while ((getline raw < f) > 0) {
            line++
            if (!incomment && raw ~ /^[ \t]*#[ \t]*include[ \t]*["<]/) {
                inc = raw; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", inc)
                angle = (substr(inc, 1, 1) == "<")
                inc = substr(inc, 2); sub(/[">].*$/, "", inc)
                check_include(f, line, inc, angle)
                continue
            }
            s = strip(raw)
            # A name at column 0 is declared or defined here, not called.
            if (s ~ /^[a-z]/) { name = next_call(s); s = rest }
            while ((name = next_call(s)) != "") {
                s = rest
                if (!(name in home) || ((name, flayer) in defined)) continue
                to = home[name]
                if (allowed(flayer, to) || seen[f, line, name]++) continue
                say(f ":" line ": " describe(flayer) " calls " name "() of " describe(to) ": " why(to))
            }
        }
        close(f)
    }
    exit bad
}'
