#!/bin/sh
# The dashboards-and-alerts kit: deploy/prometheus/flex-rules.yml passes
# `promtool check rules` and its unit tests (flex-rules.test.yml: every alert
# fires on a failure and stays silent on healthy series); deploy/grafana/flex.json
# is valid JSON whose panels each query something, through the datasource
# variable, in PromQL promtool can parse; and every flex_* metric the rules and
# the dashboard use is listed in docs/operations.md ("HTTP: /metrics...") and
# named in the source, so renaming a metric breaks this test.
# Exit 0 pass, 77 skip (no promtool or python3).
set -u
RULES=deploy/prometheus/flex-rules.yml
TESTS=deploy/prometheus/flex-rules.test.yml
DASH=deploy/grafana/flex.json
DOC=docs/operations.md
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus): sh deploy/install-deps.sh"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: sh deploy/install-deps.sh"; exit 77; }
tmp=$(mktemp -d /tmp/flex-promkit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. tests/integ/lib/check.sh
# Runs a command, its output shown only when it fails.
quiet() {
    "$@" >"$tmp/out" 2>&1 && return 0
    sed 's/^/     | /' "$tmp/out"
    return 1
}

check "promtool check rules $RULES" quiet promtool check rules "$RULES"
check "promtool test rules $TESTS" quiet promtool test rules "$TESTS"

# Every alert: severity, for:, summary, description, and a runbook anchor
# (docs/operations.md#alert-NAME in lower case) that docs/operations.md has
# as a heading "Alert NAME".
cat >"$tmp/rules.py" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
docs = "".join(open(p).read() for p in sys.argv[2:])
heads = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
         for h in re.findall(r"^#+ (.*)$", docs, re.M)}
bad = 0
alerts = re.split(r"^\s*- alert: ", text, flags=re.M)[1:]
for a in alerts:
    name = a.split()[0]
    for need in (r"^\s+for: ", r"^\s+severity: (critical|warning)", r"^\s+summary: ",
                 r"^\s+description: "):
        if not re.search(need, a, re.M):
            print(f"{name}: no {need}"); bad += 1
    m = re.search(r"runbook_url: \"docs/operations\.md#(alert-[a-z0-9]+)\"", a)
    if not m or m.group(1) != "alert-" + name.lower():
        print(f"{name}: runbook_url is not docs/operations.md#alert-{name.lower()}"); bad += 1
    elif m.group(1) not in heads:
        print(f"{name}: no heading 'Alert {name}' in the docs"); bad += 1
print(f"{len(alerts)} alerts")
sys.exit(1 if bad or not alerts else 0)
EOF
check "every alert has for, severity, summary, description and a runbook section" \
    quiet python3 "$tmp/rules.py" "$RULES" "$DOC"

# The dashboard: JSON, unique ids, a datasource variable used by every panel and
# target (no data source uid written in), the job/instance and location
# variables, a PromQL expression in each panel; the expressions (variables
# replaced) go to a rule file for promtool to parse.
cat >"$tmp/dash.py" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
bad = 0
def err(m):
    global bad
    print(m); bad += 1
names = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
if names.get("datasource", {}).get("type") != "datasource" or names["datasource"].get("query") != "prometheus":
    err("no datasource variable of type prometheus")
if "job" not in names and "instance" not in names:
    err("no job or instance variable")
if "flex_location_messages_total" not in str(names.get("location", {}).get("query", "")):
    err("no location variable from flex_location_messages_total")
ids, exprs = set(), []
def uid_ok(ds):
    return isinstance(ds, dict) and ds.get("uid") in ("${datasource}", "$datasource")
panels = list(d.get("panels", []))
for p in d.get("panels", []):
    panels += p.get("panels", [])  # collapsed rows
for p in panels:
    if p.get("id") in ids:
        err(f"panel id {p.get('id')} twice")
    ids.add(p.get("id"))
    if p.get("type") == "row":
        continue
    t = [t for t in p.get("targets", []) if t.get("expr", "").strip()]
    if not t:
        err(f"panel {p.get('id')} '{p.get('title')}' has no target with an expr")
    if not uid_ok(p.get("datasource")) or not all(uid_ok(x.get("datasource", p.get("datasource"))) for x in p.get("targets", [])):
        err(f"panel {p.get('id')} does not use the datasource variable")
    exprs += [x["expr"] for x in t]
for v in names.values():
    if v.get("type") == "query" and not uid_ok(v.get("datasource")):
        err(f"variable {v['name']} does not use the datasource variable")
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = (e.replace("$__rate_interval", "1m").replace("$__interval", "1m")
              .replace("$job", "flexd").replace("$instance", ".*").replace("$location", ".*"))
        f.write(f"      - record: dashboard_expr_{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(panels)} panels, {len(exprs)} expressions")
sys.exit(1 if bad or not exprs else 0)
EOF
check "$DASH: valid JSON, unique ids, datasource variable, an expr in every panel" \
    quiet python3 "$tmp/dash.py" "$DASH" "$tmp/dash-rules.yml"
check "$DASH: every expression parses (promtool)" quiet promtool check rules "$tmp/dash-rules.yml"

# Metric names: flex_ words not inside a recording rule's name (job:flex_x:rate5m),
# less the _bucket/_sum/_count of a histogram.
metrics() {
    cat "$@" | grep -oE '(^|[^a-zA-Z0-9_:])flex_[a-z0-9_]+' | sed -E 's/^[^f]//' |
        sed -E 's/_(bucket|sum|count)$//' | sort -u
}
metrics "$RULES" "$TESTS" "$DASH" >"$tmp/used"
# docs/operations.md less its runbooks (sections headed "Alert..."), which name
# metrics without documenting them.
awk '/^#+ /{skip = ($2 ~ /^Alert/)} !skip' "$DOC" >"$tmp/documented"
check "the rules and dashboard use flex_ metrics ($(wc -l <"$tmp/used"))" test -s "$tmp/used"
missing_doc="" missing_src=""
while read -r m; do
    grep -qE "(^|[^a-z0-9_])$m([^a-z0-9_]|\$)" "$tmp/documented" || missing_doc="$missing_doc $m"
    grep -rqw --include='*.c' -- "$m" engine adapters || missing_src="$missing_src $m"
done <"$tmp/used"
[ -n "$missing_doc" ] && echo "     | not in $DOC (its runbooks aside):$missing_doc"
check "every metric used is documented in $DOC" test -z "$missing_doc"
[ -n "$missing_src" ] && echo "     | not in engine/*.c or adapters/*.c:$missing_src"
check "every metric used is named in the source (engine/, adapters/)" test -z "$missing_src"

echo "$fails failed"
[ "$fails" -eq 0 ]
