#!/usr/bin/env bash
# The test command (README, docs/setup.md and .ci/run): test what users install, not the source tree, on every backend.
#
#   1. build every distribution, each from its sdist (as pip would from PyPI): lossreg-core (the library, the
#      repository root), lossreg (the meta-distribution: lossreg-core[tensorflow], packaging/lossreg) and both plugins;
#   2. install them in a fresh virtual environment (.venv-ci) with all three backends and the dev tools:
#      torch==2.13.0 first (the CPU build; a bare `torch` requirement would fetch the CUDA one, several GB),
#      then the wheels, lossreg-core with its tensorflow, jax, torch and dev extras;
#   3. ruff check, ruff format --check and mypy on the source, once;
#   3b. the documentation site, `mkdocs build --strict` against the installed packages (warnings are errors: every
#      executed example runs, every internal link and anchor resolves, every generated loss page builds);
#   4. pytest once per backend (KERAS_BACKEND=tensorflow, jax, torch), each in a fresh process, from an empty
#      directory so that `lossreg` is importable only from site-packages: the tests in tests/ and plugins/*/tests,
#      and the doctests of the installed modules (--pyargs). Each run's time is printed; every backend runs even
#      when one fails, and the script fails if any did.
#
# LOSSREG_BACKENDS selects the backends pytest runs on (default "tensorflow jax torch"), e.g.
# `LOSSREG_BACKENDS=jax bash .ci/test.sh`; steps 1-3 are the same. Extra arguments go to each pytest run
# (`bash .ci/test.sh -x -k cli`). Needs only python3 (>= 3.10) and an index pip can reach. Any failure fails
# the script, pytest's exit status 5 (no tests collected) included.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
unset PYTHONPATH  # nothing but the virtual environment decides what is importable
read -r -a backends <<<"${LOSSREG_BACKENDS:-tensorflow jax torch}"
for backend in "${backends[@]}"; do
    case "$backend" in
        tensorflow | jax | torch) ;;
        *) echo "LOSSREG_BACKENDS: unknown backend '$backend' (expected some of: tensorflow jax torch)" >&2; exit 2 ;;
    esac
done
[ "${#backends[@]}" -gt 0 ] || { echo "LOSSREG_BACKENDS names no backend (expected some of: tensorflow jax torch)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
projects=(. packaging/lossreg plugins/lossreg-segmentation plugins/lossreg-generative)
step=$SECONDS
took() { echo "   took $((SECONDS - step))s"; step=$SECONDS; }
pip_install() {  # quietly; without the line per package that a pip configured with an absent index folder prints
    python -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

echo "== fresh virtual environment: .venv-ci (${SECONDS}s)"
python3 -m venv --clear .venv-ci
. .venv-ci/bin/activate
pip_install build
took

echo "== build: ${projects[*]} (${SECONDS}s)"
for project in "${projects[@]}"; do
    # sdist first, then the wheel from the unpacked sdist: a file missing from the sdist fails here.
    python -m build --outdir "$work/dist" "$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
ls "$work/dist"
took

echo "== install: torch==2.13.0 (CPU), then the wheels with jax, jaxlib, TensorFlow and the dev tools (${SECONDS}s)"
pip_install "torch==2.13.0"
core_wheel=("$work"/dist/lossreg_core-[0-9]*.whl)
other_wheels=()
for wheel in "$work"/dist/*.whl; do
    [ "$wheel" = "${core_wheel[0]}" ] || other_wheels+=("$wheel")
done
pip_install "${core_wheel[0]}[tensorflow,jax,torch,dev,docs]" "${other_wheels[@]}"
python -m pip list 2>/dev/null | grep -iE '^(lossreg[-a-z]*|keras|tensorflow|jax|jaxlib|torch|numpy|mkdocs|matplotlib) ' || true
took

echo "== ruff, mypy (on the source) (${SECONDS}s)"
ruff check lossreg tests plugins examples bench docs/_scripts
ruff format --check lossreg tests plugins examples bench docs/_scripts  # (docs/*.md wrap their code at 88 for the page)
mypy
took

echo "== docs: mkdocs build --strict, examples executed, links checked (${SECONDS}s)"
# From the source tree (mkdocs.yml, docs/), importing lossreg from site-packages; Keras on TensorFlow.
if NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true KERAS_BACKEND=tensorflow \
    mkdocs build --strict --site-dir "$work/site" >"$work/docs.log" 2>&1; then
    echo "   built $(find "$work/site" -name index.html | wc -l) pages"
else
    cat "$work/docs.log"
    echo "   the docs build failed"
    exit 1
fi
took

failed=()
summary=()
for backend in "${backends[@]}"; do
    echo "== pytest on $backend (against the installed packages) (${SECONDS}s)"
    status=0
    (
        cd "$work"
        KERAS_BACKEND=$backend python -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
            "$root/tests" "$root/plugins/lossreg-segmentation/tests" "$root/plugins/lossreg-generative/tests" \
            --pyargs lossreg lossreg_segmentation lossreg_generative "$@"
    ) || status=$?
    if [ "$status" -eq 0 ]; then
        summary+=("$backend: passed in $((SECONDS - step))s")
    else
        summary+=("$backend: FAILED (pytest exit status $status) in $((SECONDS - step))s")
        failed+=("$backend")
    fi
    echo "   ${summary[-1]}"
    step=$SECONDS
done

echo "== pytest per backend:"
printf '   %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "== FAILED on: ${failed[*]} (${SECONDS}s)"
    exit 1
fi
echo "== passed on: ${backends[*]} (${SECONDS}s)"
