#!/usr/bin/env bash
# The test command (README "Set up" and .ci/run): test what users install, not the source tree.
#
#   1. build the wheels of lossreg and both plugins (each from its sdist, as pip would from PyPI);
#   2. install them, with lossreg's dev tools, in a fresh virtual environment (.venv-ci);
#   3. ruff check, ruff format --check and mypy on the source;
#   4. pytest from an empty directory, so `lossreg` is importable only from site-packages: the tests in
#      tests/ and plugins/*/tests, and the doctests of the installed modules (--pyargs).
#
# Needs only python3 (>= 3.10) and an index pip can reach. Any failure fails the script, pytest's exit
# status 5 (no tests collected) included.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
unset PYTHONPATH  # nothing but the virtual environment decides what is importable
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
projects=(. plugins/lossreg-segmentation plugins/lossreg-generative)

echo "== fresh virtual environment: .venv-ci (${SECONDS}s)"
python3 -m venv --clear .venv-ci
. .venv-ci/bin/activate
python -m pip install --quiet build

echo "== build: ${projects[*]} (${SECONDS}s)"
for project in "${projects[@]}"; do
    # sdist first, then the wheel from the unpacked sdist: a file missing from the sdist fails here.
    python -m build --outdir "$work/dist" "$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
ls "$work/dist"

echo "== install the wheels (and lossreg's dev tools) (${SECONDS}s)"
wheels=("$work"/dist/*.whl)
lossreg_wheel=("$work"/dist/lossreg-[0-9]*.whl)
python -m pip install --quiet "${lossreg_wheel[0]}[dev]" "${wheels[@]}"

echo "== ruff, mypy (on the source) (${SECONDS}s)"
ruff check lossreg tests plugins examples bench
ruff format --check lossreg tests plugins examples bench
mypy

echo "== pytest (against the installed packages) (${SECONDS}s)"
cd "$work"
python -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
    "$root/tests" "$root/plugins/lossreg-segmentation/tests" "$root/plugins/lossreg-generative/tests" \
    --pyargs lossreg lossreg_segmentation lossreg_generative "$@"
echo "== passed (${SECONDS}s)"
