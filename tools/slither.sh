#!/usr/bin/env bash
# Slither gate: static analysis of the project's contracts; exits non-zero on any High or Medium
# finding.
#
#   tools/slither.sh            (from anywhere; works on the repository this file lives in)
#
# 1. Keeps its own virtualenv, .venv-slither (Slither's eth-* pins clash with Brownie's .venv),
#    installed from tools/slither-requirements.txt; the install is skipped while the sha256 of
#    that file matches the stamp left in the venv by the last install.
# 2. Runs Slither's brownie route (`slither . --compile-force-framework brownie`) on a complete
#    artifact set. Brownie's own build/ cannot be fed to it: Brownie keeps no artifact for sources
#    in interfaces/ under build/contracts, so Slither stops at the first `import "../interfaces/..."`
#    ("interfaces/ICrmRegistry.sol does not exist"), and the ASTs in build/interfaces come from
#    another solc run whose node ids do not match. tools/slither_brownie_build.py (run with the
#    Brownie venv) compiles contracts/ and interfaces/ in one solc run with the project's compiler
#    settings, ASTs only, into .venv-slither/brownie-build; tools/slither_brownie.py points the
#    brownie route there. Rebuilt only when a source it read, the config or the compiler changed.
#    Slither is told --ignore-compile: its brownie route would otherwise run `brownie compile`
#    itself (ignoring its exit status) and write into the project's build/.
# 3. Findings: slither.config.json keeps a finding when any of its locations is in the project's
#    own contracts/ (not contracts/testing/, whose hostile mocks are bad on purpose) or
#    interfaces/; findings only in node_modules/@openzeppelin or the test mocks are dropped.
#    (include_paths rather than filter_paths: filter_paths drops a finding as soon as ONE of its
#    locations matches, so a finding in our code that touches an OpenZeppelin variable would
#    vanish.) Suppress a reviewed false positive with `// slither-disable-next-line <detector>`
#    on the line above, under a comment that says why it is false.
# 4. Writes reports/slither.json (Slither's JSON) and reports/slither.txt (its full text output),
#    prints a summary by impact, and exits non-zero on a High or Medium finding (--fail-medium)
#    or any error. Low, Informational and Optimization findings are reported, not gated.
#
# Environment: PYTHON (interpreter for the venv, default python3), SLITHER_REBUILD=1 (rebuild the
# artifacts even if nothing changed), SLITHER_ARGS (extra arguments for slither, word-split).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-slither"
REQUIREMENTS="$ROOT/tools/slither-requirements.txt"
STAMP="$VENV/.requirements.sha256"
ARTIFACTS="$VENV/brownie-build"
ARTIFACTS_KEY="$ARTIFACTS/.key"
BROWNIE_PYTHON="$ROOT/.venv/bin/python"
REPORT_JSON="$ROOT/reports/slither.json"
REPORT_TXT="$ROOT/reports/slither.txt"

log() { printf 'slither.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# One run at a time per checkout: runs share the venv, the artifacts and the reports.
mkdir -p "$VENV"
exec 9>"$VENV/.lock"
flock 9

# ------------------------------------------------------------------ 1. the venv
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" != "$have" || ! -x "$VENV/bin/slither" ]]; then
    log "installing Slither into $VENV (requirements changed or venv missing)"
    rm -f "$STAMP"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    pip_log="$(mktemp)"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
            -r "$REQUIREMENTS" >"$pip_log" 2>&1; then
        cat "$pip_log" >&2
        rm -f "$pip_log"
        die "pip install -r tools/slither-requirements.txt failed"
    fi
    rm -f "$pip_log"
    printf '%s\n' "$want" >"$STAMP"
fi

# ------------------------------------------------------------------ 2. the artifacts
# Same environment as `brownie compile`: the offline solc front and node tools.
export SOLCX_BINARY_PATH="${SOLCX_BINARY_PATH:-$ROOT/tools/solc}"
export PATH="$ROOT/.venv/bin:$ROOT/node_modules/.bin:$PATH"

# The key covers every Solidity file in contracts/ and interfaces/ (added or removed files too),
# every file the last compile read (node_modules imports), the config and the compiler front.
artifacts_key() {
    {
        find contracts interfaces -type f \( -name '*.sol' -o -name '*.vy' -o -name '*.json' \) \
            -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 -r sha256sum
        if [[ -f "$ARTIFACTS/sources.txt" ]]; then
            while IFS= read -r source; do
                sha256sum "$source" 2>/dev/null || echo "missing $source"
            done <"$ARTIFACTS/sources.txt"
        fi
        sha256sum brownie-config.yaml tools/slither_brownie_build.py
        find tools/solc -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
        printf '%s\n' "$SOLCX_BINARY_PATH"
    } | sha256sum | cut -d' ' -f1
}
if [[ "${SLITHER_REBUILD:-0}" == 1 || ! -f "$ARTIFACTS_KEY" \
      || "$(cat "$ARTIFACTS_KEY")" != "$(artifacts_key)" ]]; then
    [[ -x "$BROWNIE_PYTHON" ]] || die "$BROWNIE_PYTHON not found: set up the Brownie venv (.venv) first"
    "$BROWNIE_PYTHON" tools/slither_brownie_build.py "$ARTIFACTS" >&2 \
        || die "compiling the sources for Slither failed (see above)"
    artifacts_key >"$ARTIFACTS_KEY"
else
    log "sources unchanged since the last run: reusing $ARTIFACTS"
fi

# ------------------------------------------------------------------ 3. Slither
"$VENV/bin/python" -c 'import json, sys; c = json.load(open("slither.config.json")); sys.exit(0 if c.get("include_paths") else "slither.config.json has no include_paths")' \
    || die "slither.config.json is not valid JSON with include_paths (Slither would silently ignore it)"

mkdir -p "$(dirname "$REPORT_JSON")"
rm -f "$REPORT_JSON"   # Slither refuses to overwrite, and a stale report must not survive a crash
set +e
# shellcheck disable=SC2086  # SLITHER_ARGS is meant to be word-split
SLITHER_BROWNIE_BUILD_DIR="$ARTIFACTS" "$VENV/bin/python" tools/slither_brownie.py . \
    --compile-force-framework brownie --ignore-compile \
    --config-file slither.config.json \
    --fail-medium \
    --disable-color \
    --json "$REPORT_JSON" \
    ${SLITHER_ARGS:-} >"$REPORT_TXT" 2>&1
slither_rc=$?
set -e

# ------------------------------------------------------------------ 4. summary
summary_rc=0
"$VENV/bin/python" - "$REPORT_JSON" <<'PY' || summary_rc=$?
import json, sys
from collections import Counter
from importlib.metadata import version as dist_version

path, version = sys.argv[1], dist_version("slither-analyzer")
try:
    with open(path, encoding="utf8") as fp:
        report = json.load(fp)
except (OSError, ValueError) as exc:
    print(f"slither {version}: no usable JSON report ({exc})")
    sys.exit(3)
if not report.get("success"):
    print(f"slither {version}: FAILED: {report.get('error')}")
    sys.exit(3)

order = ["High", "Medium", "Low", "Informational", "Optimization"]
findings = report.get("results", {}).get("detectors", [])
counts = Counter(f["impact"] for f in findings)
print(f"slither {version}: " + ", ".join(f"{counts.get(i, 0)} {i}" for i in order)
      + f"  (report: {path})")
for impact in order:
    for f in findings:
        if f["impact"] != impact:
            continue
        where = next((e["source_mapping"] for e in f["elements"] if e.get("source_mapping")), None)
        loc = f"{where['filename_relative']}#{where['lines'][0]}" if where and where.get("lines") else "?"
        first = f["description"].strip().splitlines()[0]
        if len(first) > 150:
            first = first[:147] + "..."
        print(f"  [{impact}/{f['confidence']}] {f['check']} at {loc}: {first}")
if counts.get("High") or counts.get("Medium"):
    print("High- or Medium-impact findings: failing (full text in reports/slither.txt)")
PY

if (( summary_rc != 0 )); then
    tail -n 30 "$REPORT_TXT" >&2
    exit 1
fi
if (( slither_rc != 0 )); then
    log "slither exited $slither_rc (High- or Medium-impact finding, or analysis error); full output: $REPORT_TXT"
    exit 1
fi
