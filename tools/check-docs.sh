#!/usr/bin/env bash
# check-docs.sh: checks README.md and docs/*.md against the code (`make check-docs`; also run
# by the `deploy` test suite).
#
#   env       every variable the code reads (tools/env-vars.sh, plus the announced ones of
#             tools/pending-env-vars.txt) has a row in docs/SELF_HOSTING_ADVANCED.md under
#             the heading of the program that reads it ("### multica-migrate topics" for
#             tools/migrate/topics.c), with the code's default; no row documents a variable
#             that program does not read
#   commands  every `make <target>` in code spans and blocks is a Makefile target; every
#             multica-* command (a code line or span starting with it, or after `--`,
#             `exec <container>`, `run --rm <container>`, or as build/bin/ or /usr/local/bin/
#             path) is a binary the Makefile builds, and its --flags are in its source
#   links     every relative link (and #anchor, GitHub's heading slugs) in README.md and
#             docs/*.md resolves
#   names     every schema object (usage.x, scheduler.x, ...) the docs name exists in
#             migrations/, and every multica_* metric they name is registered by a service
# This script reports with `test && ok ... || fail ...`; ok always succeeds (SC2015). Word
# lists (variable scopes, metric names) hold no spaces (SC2013).
# shellcheck disable=SC2015,SC2013
# No pipefail: many checks end in `... | grep -q`, and grep -q exits at its first match, which
# can kill the writer with SIGPIPE; pipefail would turn that success into a failure.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
ADV=docs/SELF_HOSTING_ADVANCED.md
DOCS=(README.md docs/*.md)

# shellcheck source=tools/check-lib.sh
. "$ROOT/tools/check-lib.sh"

# code_of FILE: the code of a markdown file, one item per line: each line of a fenced block
# and each inline `span` outside blocks, prefixed with "FILE:LINE: ".
code_of() {
    perl -ne '
        if (/^\s*```/) { $in = !$in; next }
        if ($in) { chomp; print "$ARGV:$.: $_\n"; next }
        while (/`([^`]+)`/g) { print "$ARGV:$.: $1\n" }
    ' "$1"
}

# ------------------------------------------------------------------ env
section "environment variables ($ADV)"
tools/env-vars.sh --pending >"$TMP/vars" 2>"$TMP/vars.err" || {
    cat "$TMP/vars.err"
    exit 2
}
[ -s "$TMP/vars.err" ] && sed 's/^/note /' "$TMP/vars.err"
if [ ! -f "$ADV" ]; then
    fail "$ADV is missing"
else
    # Rows of the variable tables: heading<TAB>name<TAB>default cell.
    perl -ne '
        if (/^###\s+(.*?)\s*$/) { $h = $1; next }
        if (/^##\s/) { $h = ""; next }
        if (/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*([^|]*?)\s*\|/) { print "$h\t$1\t$2\n" }
    ' "$ADV" >"$TMP/rows"
    heading_of() {
        case "$1" in
        service) echo "Every service" ;;
        api-gateway | task-dispatcher | usage-ingester | rollup-scheduler) echo "$1" ;;
        topics) echo "multica-migrate topics" ;; # tools/migrate/topics.c (tools/env-vars.sh)
        *) echo "multica-$1" ;;
        esac
    }
    # A heading belongs to a program when it is the program's heading, alone or followed by a
    # remark in parentheses ("multica-migrate" is not "multica-migrate topics").
    under() { [[ $1 == "$2" || $1 == "$2 ("* ]]; }
    norm() { # a default as the docs write it
        case "$1" in
        "" | "(empty)") echo "(empty)" ;;
        "<required>" | required) echo required ;;
        *) echo "$1" | tr -d '`' ;;
        esac
    }
    n=0
    while IFS=$'\t' read -r scope name def origin; do
        n=$((n + 1))
        h=$(heading_of "$scope")
        # shellcheck disable=SC2016 # an awk condition: awk expands it
        match='($1 == h || index($1, h " (") == 1) && $2 == n'
        row=$(awk -F'\t' -v n="$name" -v h="$h" "$match { print \$3; exit }" "$TMP/rows")
        if ! awk -F'\t' -v n="$name" -v h="$h" "$match { f = 1 } END { exit !f }" "$TMP/rows"; then
            fail "$name ($scope, $origin) has no row under '### $h'"
            continue
        fi
        case "$def" in "<none>" | "<computed>") continue ;; esac
        want=$(norm "$def")
        got=$(norm "$row")
        [ "$want" = "$got" ] || fail "$name ($scope): the docs say default '$got', the code says '$want' ($origin)"
    done <"$TMP/vars"
    ok "checked $n variables against their rows and defaults"
    # Rows without a variable behind them.
    while IFS=$'\t' read -r h name _; do
        known=0
        for scope in $(cut -f1 "$TMP/vars" | sort -u); do
            hs=$(heading_of "$scope")
            under "$h" "$hs" || continue
            awk -F'\t' -v s="$scope" -v n="$name" '$1 == s && $2 == n { f = 1 } END { exit !f }' "$TMP/vars" && known=1
        done
        [ "$known" = 1 ] || fail "$ADV documents $name under '### $h', which no code of that program reads"
    done <"$TMP/rows"
    ok "no documented variable is stale ($(wc -l <"$TMP/rows") rows)"
fi

# ------------------------------------------------------------------ commands
section "make targets and multica-* commands"
for f in "${DOCS[@]}"; do code_of "$f"; done >"$TMP/code"
targets=$(make -pnq 2>/dev/null | grep -oE '^[a-z][a-z0-9_-]*:' | tr -d : | sort -u)
binaries=$(make -pnq 2>/dev/null | sed -n 's/^\(BINARIES\|BENCH_BINS\) := //p' | tr ' ' '\n' |
    xargs -n1 basename | sort -u)
# Names that look like commands but are not: the Secret, the image, chart objects, and the
# image's entrypoint script (deploy/docker-entrypoint.sh).
NOT_BINARIES="multica-secrets multica-c multica-entrypoint multica-postgresql multica-create-topics"
nm=0
while IFS= read -r line; do
    where=${line%%: *}
    code=${line#*: }
    # every `make ...` in the item: skip VAR=value and -flags, take the target
    while read -r rest; do
        t=$(echo "$rest" | tr ' ' '\n' | grep -vE '^(-|[A-Z_]+=)' | head -n1)
        [ -z "$t" ] && continue
        [[ $t =~ ^[a-z][a-z0-9_-]*$ ]] || continue
        nm=$((nm + 1))
        grep -qx "$t" <<<"$targets" || fail "$where: 'make $t': no such Makefile target"
    done < <(echo "$code" | grep -oE '(^|[;&|(] *|^[A-Z_]+=[^ ]* +)make( +[^ ;&|)]+)*' | sed -E 's/.*make//')
done <"$TMP/code"
ok "$nm make invocations name existing targets"

nc=0
while IFS= read -r line; do
    where=${line%%: *}
    code=${line#*: }
    code=${code#\$ }
    # command positions: start (after VAR=value words), after `--`, `exec X`, `run --rm X`,
    # or a build/bin/ or /usr/local/bin/ path
    perl -ne '
        chomp;
        s/^\s*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*//;
        print "$1$2\n" if /^(multica-[a-z0-9-]+)((?:\s+[^|;&]*)?)/;
        while (/(?:\s--\s+|\bexec\s+(?:-\S+\s+)*\S+\s+|\brun\s+--rm\s+(?:-\S+\s+)*\S+\s+|(?:build\/bin|\/usr\/local\/bin)\/)(multica-[a-z0-9-]+)((?:\s+[^|;&]*)?)/g) {
            print "$1$2\n";
        }
    ' <<<"$code" | while read -r cmd args; do
        [[ " $NOT_BINARIES " == *" $cmd "* ]] && continue
        echo "$cmd" >>"$TMP/cmds"
        if ! grep -qx "$cmd" <<<"$binaries"; then
            echo "FAIL $where: '$cmd' is not a binary the Makefile builds ($(echo "$binaries" | tr '\n' ' '))"
            continue
        fi
        src=
        for d in services/"${cmd#multica-}" tools/"${cmd#multica-}" bench/"${cmd#multica-bench-}".c; do
            [ -e "$d" ] && src=$d
        done
        [ "$cmd" = multica-bench-naive ] && src=bench/naive_consumer.c
        for flag in $(echo "$args" | grep -oE '(^|\s)--[a-z][a-z-]*' | tr -d ' '); do
            grep -rqF "\"$flag" "$src" || echo "FAIL $where: '$cmd $flag': the flag is not in $src"
        done
    done
done <"$TMP/code" >"$TMP/cmdfails"
nc=$(sort -u "$TMP/cmds" 2>/dev/null | wc -l)
if [ -s "$TMP/cmdfails" ]; then
    failures=$((failures + $(wc -l <"$TMP/cmdfails")))
    checks=$((checks + $(wc -l <"$TMP/cmdfails")))
    cat "$TMP/cmdfails"
fi
ok "$(wc -l <"$TMP/cmds" 2>/dev/null || echo 0) command mentions of $nc programs checked ($(sort -u "$TMP/cmds" 2>/dev/null | tr '\n' ' '))"

# ------------------------------------------------------------------ links
section "relative links and anchors"
# slugs FILE: GitHub's heading anchors of a markdown file
slugs() {
    perl -ne '
        if (/^\s*```/) { $in = !$in; next }
        next if $in;
        next unless /^#{1,6}\s+(.*?)\s*#*\s*$/;
        my $s = lc $1;
        $s =~ s/`//g;
        $s =~ s/\[([^\]]*)\]\([^)]*\)/$1/g;
        $s =~ s/[^a-z0-9 _-]//g;
        $s =~ s/ /-/g;
        my $n = $seen{$s}++;
        print $n ? "$s-$n\n" : "$s\n";
    ' "$1"
}
nl=0
for f in "${DOCS[@]}"; do
    dir=$(dirname "$f")
    while IFS=$'\t' read -r lineno target; do
        nl=$((nl + 1))
        path=${target%%#*}
        anchor=
        [[ $target == *"#"* ]] && anchor=${target#*#}
        if [ -z "$path" ]; then
            dest=$f
        else
            dest=$dir/$path
        fi
        if [ ! -e "$dest" ]; then
            fail "$f:$lineno: link '$target': $dest does not exist"
            continue
        fi
        if [ -n "$anchor" ]; then
            if [[ $dest != *.md ]]; then
                fail "$f:$lineno: link '$target': anchors only resolve in markdown files"
            elif ! slugs "$dest" | grep -qxF "$anchor"; then
                fail "$f:$lineno: link '$target': no heading of $dest has the anchor #$anchor"
            fi
        fi
    done < <(perl -ne '
        if (/^\s*```/) { $in = !$in; next }
        next if $in;
        s/`[^`]*`//g;
        while (/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g) {
            my $t = $1;
            next if $t =~ m{^[a-z][a-z0-9+.-]*:}i;
            print "$.\t$t\n";
        }
    ' "$f")
done
ok "$nl relative links in ${DOCS[*]} checked"

# ------------------------------------------------------------------ names
section "schema objects and metrics named in the docs"
objects=$(perl -ne 'print "$1.$2\n" while /CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|FUNCTION|SEQUENCE|VIEW|TYPE|INDEX(?:\s+CONCURRENTLY)?)\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_]+)\.([a-z_]+)/gi' migrations/*/*.up.sql migrations/*/functions/*.sql | sort -u)
no=0
for f in "${DOCS[@]}"; do
    while read -r obj; do
        no=$((no + 1))
        grep -qx "$obj" <<<"$objects" || fail "$f names $obj, which no migration or function file creates"
    done < <(perl -ne 'print "$1\n" while /(?<![\w.\/-])((?:usage|scheduler|gateway|dispatch)\.[a-z_]+)(?![\w.-]*\.(?:md|c|sql|sh))/g' "$f" | sort -u |
        grep -vE '\.(schema_migrations)$')
done
ok "$no schema objects named in the docs exist in migrations/"
metrics=$(grep -rhoE 'mc_(counter|gauge|gauge_fn|gauge_family_fn|counter_fn|histogram)\("multica_[a-z_]+"' services libs | cut -d'"' -f2 | sort -u)
roles="multica_gateway multica_dispatch multica_usage multica_scheduler multica_grafana"
nmet=0
for f in "${DOCS[@]}"; do
    for mname in $(grep -oE '\bmultica_[a-z_]+' "$f" | sort -u); do
        [[ " $roles " == *" $mname "* ]] && continue
        nmet=$((nmet + 1))
        base=$(echo "$mname" | sed -E 's/_(bucket|sum|count)$//')
        grep -qxE "$mname|$base" <<<"$metrics" || fail "$f names metric $mname, which no service registers"
    done
done
ok "$nmet metric names in the docs are registered by the services"

summary check-docs
