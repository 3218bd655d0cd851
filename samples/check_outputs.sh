#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end check of what a training sample leaves behind, on real Fashion-MNIST:
#   - softmax_regression trained 2 epochs straight, and 1 epoch then --resume for the 2nd, end
#     with byte-identical model and optimizer checkpoints and the same curves;
#   - a third, fresh 2-epoch run (a new process, a new folder) ends with the same model and curves
#     as the first, byte for byte: the same seed gives the same parameters, the same data order
#     and the same training curve, run to run;
#   - the run folder holds TensorBoard events that an independent reader accepts (every CRC
#     checked), curves.csv/.svg with the logged tags, and the graph as DOT (and SVG with Graphviz).
# Usage: check_outputs.sh SAMPLE_EXE TESTS_IO_DIR
set -euo pipefail
exe=$1
tests_io=$2
data=/usr/share/datasets/fashion-mnist
if [[ ! -d $data ]]; then
  echo "SKIP: Fashion-MNIST is not installed ($data); apt-get install dataset-fashion-mnist"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$exe" --epochs 2 --logdir "$work/straight" >"$work/straight.log"
"$exe" --epochs 1 --logdir "$work/resumed" >"$work/first.log"
"$exe" --epochs 2 --logdir "$work/resumed" --resume >"$work/second.log"
grep -q "resumed from $work/resumed after epoch 1" "$work/second.log" || fail "the second run did not resume"
for f in model.safetensors optimizer.safetensors curves.csv; do
  cmp "$work/straight/$f" "$work/resumed/$f" || fail "$f differs between the straight and the resumed run"
done
# The same final accuracy line, to the last digit.
diff <(grep "final test accuracy" "$work/straight.log" | cut -d, -f1) \
     <(grep "final test accuracy" "$work/second.log" | cut -d, -f1) || fail "final accuracy differs"

# Run to run: a fresh process with the same (default) seed retraces the first run exactly.
"$exe" --epochs 2 --logdir "$work/again" >"$work/again.log"
for f in model.safetensors curves.csv; do
  cmp "$work/straight/$f" "$work/again/$f" || fail "$f differs between two fresh runs with the same seed"
done
diff <(grep "final test accuracy" "$work/straight.log" | cut -d, -f1) \
     <(grep "final test accuracy" "$work/again.log" | cut -d, -f1) || fail "final accuracy differs run to run"

run=$work/straight
events=("$run"/events.out.tfevents.*)
[[ -f ${events[0]} ]] || fail "no event file in $run"
/usr/bin/python3 "$tests_io/read_events.py" "${events[0]}" >"$work/events.txt" || fail "the event reader rejected ${events[0]}"
for tag in loss/train accuracy/test learning_rate weights/weight weights/bias; do
  grep -q "$tag" "$work/events.txt" || fail "tag $tag missing from the events"
done
head -1 "$run/curves.csv" | grep -q "^tag,step,value" || fail "curves.csv has no header"
grep -q "^accuracy/test," "$run/curves.csv" || fail "curves.csv lacks accuracy/test"
grep -q "^loss/train," "$run/curves.csv" || fail "curves.csv lacks loss/train"
grep -q "<svg" "$run/curves.svg" || fail "curves.svg is not an SVG"
grep -q "matmul" "$run/graph.dot" || fail "graph.dot does not show the matmul"
if command -v dot >/dev/null; then
  grep -q "<svg" "$run/graph.svg" || fail "graph.svg missing although Graphviz is installed"
else
  echo "note: Graphviz is not installed, graph.svg not checked"
fi
echo "ok: resume is exact, a second fresh run is identical, and $run holds events, curves, graph and checkpoints"
