#!/usr/bin/env bash
# Soak test of resumption (not part of CI; minutes to hours): a sweep killed at random moments
# many times and resumed each time must end byte-identical to an uninterrupted run.
#
#   scripts/soak.sh [ROUNDS] [MAX_KILLS]      # defaults: 20 rounds, up to 6 kills per round
#   MORTALSIM=path/to/mortalsim scripts/soak.sh 50
#
# It runs a small sweep (2 learners × 2 devices × 2 learning rates × 2 seeds on 2,000 MNIST
# images, drift evaluations after training, 2 threads) once without interruption, then, in each
# round, starts it in a fresh directory, kills it (SIGKILL, or SIGTERM one time in four) after a
# random delay between 0 and the uninterrupted run's duration, 1 to MAX_KILLS times, and lets the
# last resumption finish. It then compares with the uninterrupted run:
#   - summary.csv and config.resolved.toml: byte for byte;
#   - metrics.csv: byte for byte without its wall-clock metrics (samples_per_s, train_seconds);
#   - points/*.json: byte for byte without their wall-clock fields (wall_seconds, finished_utc,
#     samples_per_s, train_seconds);
#   - manifest.json: status `completed`, no point missing;
#   - log.txt: whole lines only.
# Exit 0 when every round matches; the first difference is printed and the round's directory kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
MAX_KILLS=${2:-6}
BIN=${MORTALSIM:-target/release/mortalsim}
if [[ -z ${MORTALSIM:-} ]]; then cargo build --release --quiet; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mortalsim-soak.XXXXXX")
cat > "$WORK/soak.toml" <<'TOML'
name = "soak"
learners = ["dfa", "bp-oracle"]
devices = ["ideal", "constant-step"]
seeds = [1, 2]
[data]
train_limit = 2000
test_limit = 500
[network]
hidden = [32]
[train]
epochs = 2
batch = 32
[evaluate]
drift_times_s = [1, 3600]
[[sweep]]
path = "train.lr"
values = [0.02, 0.05]
TOML

# The comparable form of a run directory, one file per line group, on stdout.
normalise() {
  python3 - "$1" <<'PY'
import csv, io, json, os, sys
d = sys.argv[1]
wall = {"wall_seconds", "finished_utc", "samples_per_s", "train_seconds"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in wall}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
out = []
for name in ("summary.csv", "config.resolved.toml"):
    out.append(f"== {name}\n" + open(os.path.join(d, name)).read())
rows = list(csv.reader(open(os.path.join(d, "metrics.csv"))))
metric = rows[0].index("metric")
buf = io.StringIO()
csv.writer(buf, lineterminator="\n").writerows(
    r for r in rows if r[metric] not in ("samples_per_s", "train_seconds"))
out.append("== metrics.csv\n" + buf.getvalue())
for f in sorted(os.listdir(os.path.join(d, "points"))):
    rec = json.load(open(os.path.join(d, "points", f)))
    out.append(f"== points/{f}\n" + json.dumps(strip(rec), sort_keys=True))
m = json.load(open(os.path.join(d, "manifest.json")))
out.append(f"== manifest status={m['status']} missing={m['points_missing']}")
for line in open(os.path.join(d, "log.txt")).read().splitlines():
    if len(line.split()) < 6 or not line.endswith(" s)"):
        out.append(f"== torn log line: {line!r}")
print("\n".join(out))
PY
}

echo "uninterrupted run ..."
start=$(date +%s.%N)
"$BIN" run "$WORK/soak.toml" --out "$WORK/reference" --quiet --threads 2 > /dev/null
duration=$(echo "$(date +%s.%N) - $start" | bc)
normalise "$WORK/reference" > "$WORK/reference.txt"
grep -q "status=completed missing=\[\]" "$WORK/reference.txt"
echo "uninterrupted: ${duration} s"

total_kills=0
for round in $(seq 1 "$ROUNDS"); do
  dir="$WORK/round-$round"
  kills=$(( RANDOM % MAX_KILLS + 1 ))
  for k in $(seq 1 "$kills"); do
    "$BIN" run "$WORK/soak.toml" --out "$dir" --quiet --threads 2 > /dev/null 2>>"$WORK/stderr-$round" &
    pid=$!
    delay=$(python3 -c "import random; print(random.uniform(0, $duration))")
    sleep "$delay"
    signal=KILL
    if (( RANDOM % 4 == 0 )); then signal=TERM; fi
    if kill -s "$signal" "$pid" 2>/dev/null; then total_kills=$((total_kills + 1)); fi
    wait "$pid" 2>/dev/null || true
  done
  "$BIN" run "$WORK/soak.toml" --out "$dir" --quiet --threads 2 > /dev/null 2>>"$WORK/stderr-$round"
  normalise "$dir" > "$WORK/round-$round.txt"
  if ! cmp -s "$WORK/reference.txt" "$WORK/round-$round.txt"; then
    echo "round $round: DIFFERS from the uninterrupted run (kept in $dir)"
    diff "$WORK/reference.txt" "$WORK/round-$round.txt" | head -20
    exit 1
  fi
  echo "round $round: $kills kill(s), identical"
  rm -rf "$dir"
done
echo "soak: $ROUNDS rounds, $total_kills kills, every round identical to the uninterrupted run ($WORK)"
