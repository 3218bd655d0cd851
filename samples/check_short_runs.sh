#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The three larger samples, end to end but short: mlp and cnn for one epoch over the first 1024
# training and 256 test images of the real Fashion-MNIST, char_rnn for 100 steps of a small LSTM
# (enough to pass its own check: a loss under 75% of the text's unigram entropy).
# Cheap in the release build (a few seconds); its point is the sanitizer build, where each
# process exiting 0 means no leak (LeakSanitizer), no memory error and no undefined behaviour.
# Usage: check_short_runs.sh MLP_EXE CNN_EXE CHAR_RNN_EXE
set -euo pipefail
mlp=$1 cnn=$2 char_rnn=$3
data=/usr/share/datasets/fashion-mnist
if [[ ! -d $data ]]; then
  echo "SKIP: Fashion-MNIST is not installed ($data); apt-get install dataset-fashion-mnist"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The first N records of each IDX file: its header with the count set to N, then N records.
/usr/bin/python3 - "$data" "$work/data" <<'PY'
import gzip, os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
for name, n in [("train-images-idx3-ubyte", 1024), ("train-labels-idx1-ubyte", 1024),
                ("t10k-images-idx3-ubyte", 256), ("t10k-labels-idx1-ubyte", 256)]:
    raw = gzip.open(os.path.join(src, name + ".gz")).read()
    ndim = raw[3]
    dims = list(struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim]))
    record = 1
    for d in dims[1:]:
        record *= d
    start = 4 + 4 * ndim
    dims[0] = n
    out = raw[:4] + struct.pack(">" + "I" * ndim, *dims) + raw[start:start + n * record]
    with gzip.open(os.path.join(dst, name + ".gz"), "wb") as f:
        f.write(out)
PY

run() {
  local name=$1
  shift
  echo "--- $name $*"
  local status=0
  "$@" >"$work/$name.log" 2>&1 || status=$?
  if ((status != 0)); then
    cat "$work/$name.log"
    fail "$name exited with status $status"
  fi
  grep -E "final (test accuracy|loss)" "$work/$name.log" || true
}
run mlp "$mlp" --epochs 1 --data "$work/data" --logdir "$work/mlp"
grep -q "final test accuracy" "$work/mlp.log" || fail "mlp printed no final accuracy"
run cnn "$cnn" --epochs 1 --data "$work/data" --logdir "$work/cnn"
grep -q "final test accuracy" "$work/cnn.log" || fail "cnn printed no final accuracy"
run char_rnn "$char_rnn" --steps 100 --hidden 64 --seq-len 32 --batch-size 16 --lr 0.01 \
  --sample-every 50 --logdir "$work/char_rnn"
grep -q "final loss" "$work/char_rnn.log" || fail "char_rnn printed no final loss"
echo "short runs: all three samples finished"
