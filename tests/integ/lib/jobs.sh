# Sourced by integration scripts: message jobs as JSON lines.
# message_jobs PREFIX FIRST COUNT: ids PREFIX-FIRST.., locations loc-1..5 in
# turn, patients p-N, fictional numbers +1202555NNNN (N mod 10,000).
message_jobs() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
prefix, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(first, first + count):
    print(json.dumps({"type": "message", "id": f"{prefix}-{i}", "location": f"loc-{i % 5 + 1}",
                      "patient": f"p-{i}", "phone": f"+1202555{i % 10000:04d}",
                      "body": "Your cleaning is tomorrow at 9:30. Reply C to confirm."}))
PY
}
