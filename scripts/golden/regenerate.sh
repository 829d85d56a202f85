#!/usr/bin/env bash
# Regenerate every golden fixture under Tests/MultiprocCollectorTests/Fixtures/ — the ONE way
# to make them. Requires python3 with prometheus-client==0.26.0 (pip install prometheus-client==0.26.0).
#
#   scripts/golden/regenerate.sh [--seed N]
#
# What it writes (everything is produced by the real Python client, never by our code):
#   <case>/db/*.db            files written by forked prometheus_client workers (workload.py),
#                             each trimmed to its `used` size rounded up to 8 bytes
#   <case>/expected/          index.json + <slug>.body: what MultiProcessCollector + choose_encoder
#                             serve FROM THE TRIMMED db/ for each Accept header (record.py)
#   dead_and_live_pids/after_mark_dead/   Python's output after mark_process_dead(pid) on a copy
#   corrupt_<name>/           a valid directory with one file damaged; expected/ is Python's output
#                             for the damage repaired to what survives under our rules, plus
#                             problems.json (and setup.json for what git cannot hold) (fixtures.py)
#   floats.tsv                floatToGoString and repr of >= 10,000 doubles (floats.py)
#   negotiation.tsv           choose_encoder for a table of Accept headers (negotiation.py)
#   release_<version>/        files of an OLD release (0.9.0, 0.16.0; virtualenvs of
#                             scripts/clients/venvs.py) and what THAT release served (text 0.0.4)
#   mixed_releases/           0.9.0 + 0.16.0 + 0.26.0 files; 0.26.0 on a copy in today's layout
#
# ORDER RULE: Python merges files in readdir order, and a git checkout does not preserve it.
# So in committed fixtures every series combined across several pids uses values whose
# combination does not depend on order: integers or dyadic fractions (0.5, 0.25, 1.75) of
# modest size for sums; no NaN and no +0.0/-0.0 mix in min/max gauges across pids; distinct
# timestamps for mostrecent gauges (workers run one after another); the same type, help and
# gauge mode for a metric in every pid. Single-pid series (and per-pid `all` gauges) may use any
# float (0.1, NaN, 1e-300...). check_order.py (run below) merges every case in shuffled file
# orders and fails if any output changes. scripts/conformance.py covers arbitrary floats and
# conflicts live.
#
# Process ids, timestamps and so the bytes of the fixtures change on every run; commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
seed=2
if [[ "${1:-}" == "--seed" ]]; then seed="$2"; fi

python3 -c 'import prometheus_client, importlib.metadata as m; v = m.version("prometheus-client"); assert v == "0.26.0", f"prometheus-client {v}, need 0.26.0"'

fixtures=Tests/MultiprocCollectorTests/Fixtures
# Remove generated cases only; README.md stays.
find "$fixtures" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
rm -f "$fixtures/floats.tsv" "$fixtures/negotiation.tsv"

python3 scripts/golden/fixtures.py "$fixtures" --seed "$seed"
python3 scripts/golden/floats.py "$fixtures/floats.tsv" --seed "$seed"
python3 scripts/golden/negotiation.py "$fixtures/negotiation.tsv"
# Enforce the ORDER RULE: Python's output for every case must be the same in any file order.
python3 scripts/golden/check_order.py "$fixtures"
echo "regenerate: $(find "$fixtures" -type f | wc -l) files, $(du -sb "$fixtures" | cut -f1) bytes in $fixtures"
