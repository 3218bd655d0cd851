#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs session.repl through clang-repl-19 against a built libtapeflow and checks what it prints,
# so the REPL path (tapeflow.hpp parses under clang 19, the library loads into the JIT, printing
# works) cannot break silently. clang-repl exits 0 after parse errors and unresolved symbols, so
# the output is read, not just the exit status.
#
# Usage: check_session.sh CLANG_REPL LIBTAPEFLOW INCLUDE_ROOT SESSION
#   CLANG_REPL   clang-repl-19 as meson found it; empty when it was not found at configure time
#   LIBTAPEFLOW  the built shared library; INCLUDE_ROOT holds tapeflow/ (the -I a user passes)
#
# The library is loaded with LD_PRELOAD rather than a dlopen() line in the session: the session
# then names no path, so the same file runs against a build tree or an installed library, and
# the library is in the process before the first line is parsed.
set -uo pipefail

clang_repl=$1 lib=$2 include_root=$3 session=$4

fail() {
  echo "sample_repl: FAIL: $*" >&2
  exit 1
}

# Missing clang-repl-19. In CI (.ci/install-deps installs clang-tools-19, and CI systems set CI)
# that is a failure. On a developer machine configured without it, skip (77) and say why: the
# rest of the suite still means something there.
if [[ -z $clang_repl ]]; then
  clang_repl=$(command -v clang-repl-19 || true)
  if [[ -z $clang_repl ]]; then
    if [[ -z ${CI:-} ]]; then
      echo "sample_repl: SKIP: clang-repl-19 was not found when meson was configured, nor on PATH now;"
      echo "  install it (Debian: apt-get install clang-tools-19) and reconfigure. In CI (CI set) this fails."
      exit 77
    fi
    fail "clang-repl-19 is not installed (Debian package clang-tools-19; .ci/install-deps installs it)"
  fi
fi
[[ -x $clang_repl ]] || fail "clang-repl-19 was found at configure time as '$clang_repl' but is not executable now"
[[ -f $lib ]] || fail "library not found: $lib"
[[ -f $include_root/tapeflow/tapeflow.hpp ]] || fail "no tapeflow/tapeflow.hpp under include root $include_root"
[[ -f $session ]] || fail "session script not found: $session"

out=$(mktemp)
trap 'rm -f "$out"' EXIT

start=$(date +%s.%N)
LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" timeout 100 \
  "$clang_repl" --Xcc=-std=c++20 "--Xcc=-I$include_root" <"$session" >"$out" 2>&1
status=$?
end=$(date +%s.%N)

echo "--- clang-repl-19 output (exit status $status) ---"
cat "$out"
echo "--- end of output ---"
echo "sample_repl: session took $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s (header parse included)"

((status == 124)) && fail "clang-repl-19 did not finish within 100 s"
((status == 0)) || fail "clang-repl-19 exited with status $status (134: uncaught exception, 139: crash)"

problems=$(grep -nE '(^|[^[:alpha:]])error:|JIT session error|Not implement yet|terminate called|cannot be preloaded|Symbols not found' "$out")
[[ -z $problems ]] || fail "clang-repl-19 reported problems:"$'\n'"$problems"

# --- expected output, computed here from the inputs session.repl types (keep them in step) ---
# Part 1: y = sum(w * x), so dy/dw = x and dy/dx = w.
# Part 2: Linear(2, 1) with W = [[1, -1]], b = [0.5] on rows X = [[1, 2], [3, 4]], targets t = [0, 1];
#   out_i = W.X_i + b, loss = mean((out - t)^2), dloss/dout_i = 2 (out_i - t_i) / 2,
#   dloss/dW = sum_i dout_i X_i, dloss/db = sum_i dout_i; then SGD with lr 0.1: p -= 0.1 * grad.
# Printing follows tensor/print.cpp: "%.4f" entries right-aligned to the widest, nested brackets.
expected=$(awk '
  function fmt_list(n, v,    i, w, s, r) {  # "[a, b, c]" with entries right-aligned
    w = 0
    for (i = 1; i <= n; i++) { s[i] = sprintf("%.4f", v[i]); if (length(s[i]) > w) w = length(s[i]) }
    r = "["
    for (i = 1; i <= n; i++) r = r (i > 1 ? ", " : "") sprintf("%" w "s", s[i])
    return r "]"
  }
  function tensor(body, shape, extra) { return "tensor(" body ", shape=" shape ", dtype=float32" extra ")" }
  BEGIN {
    n = split("1 2 3", x, " "); split("0.5 -1 2", w, " ")
    y = 0; for (i = 1; i <= n; i++) y += w[i] * x[i]
    print "graph of y: Graph(2 ops, 2 leaves, 3 edges, output op1)"
    print "  op0: mul [3] float32 <- leaf0, leaf1"
    print "  op1: sum [] float32 <- op0"
    print "y = " tensor(sprintf("%.4f", y), "[]", ", grad_fn=sum")
    print "w.grad() = " tensor(fmt_list(n, x), "[3]", "")
    print "x.grad() = " tensor(fmt_list(n, w), "[3]", "")

    W[1] = 1; W[2] = -1; b = 0.5; lr = 0.1
    X[1, 1] = 1; X[1, 2] = 2; X[2, 1] = 3; X[2, 2] = 4; t[1] = 0; t[2] = 1
    loss = 0; gW[1] = gW[2] = gb = 0
    for (i = 1; i <= 2; i++) {
      o = W[1] * X[i, 1] + W[2] * X[i, 2] + b
      loss += (o - t[i]) ^ 2 / 2
      g = 2 * (o - t[i]) / 2
      gW[1] += g * X[i, 1]; gW[2] += g * X[i, 2]; gb += g
    }
    printf "loss = %g\n", loss
    print "fc.weight.grad() = " tensor("[" fmt_list(2, gW) "]", "[1,2]", "")
    gB[1] = gb
    print "fc.bias.grad() = " tensor(fmt_list(1, gB), "[1]", "")
    for (k = 1; k <= 2; k++) W[k] -= lr * gW[k]
    B[1] = b - lr * gb
    print "after one step: fc.weight = " tensor("[" fmt_list(2, W) "]", "[1,2]", ", requires_grad=true")
    print "after one step: fc.bias = " tensor(fmt_list(1, B), "[1]", ", requires_grad=true")
  }')
# The rest follows from the session's own arguments and the documented formats.
expected+=$'\n'"SGD (
Parameter Group 0
    lr: 0.1
    momentum: 0
    dampening: 0
    weight_decay: 0
    nesterov: false
)
Sequential(
  (0): Linear(in_features=2, out_features=4, bias=true)
  (1): Tanh()
  (2): Linear(in_features=4, out_features=1, bias=true)
0.bias: [4] float32
0.weight: [4,2] float32
2.bias: [1] float32
2.weight: [1,4] float32
0.weight: grad [4,2]
0.bias: grad [4]
2.weight: grad [1,4]
2.bias: grad [1]
caught ShapeError: matmul: shapes [2,3] and [4,5] are not compatible (inner dimensions 3 != 4)
session done"

missing=0
while IFS= read -r line; do
  if ! grep -qxF -- "$line" "$out"; then
    echo "sample_repl: expected line missing: '$line'" >&2
    missing=$((missing + 1))
  fi
done <<<"$expected"
((missing == 0)) || fail "$missing expected line(s) missing from the output above"

# One Adam step on a seeded model: the values depend on the seed, but the loss must drop.
adam=$(grep -E '^loss before and after one Adam step: ' "$out") || fail "no Adam line in the output"
awk '{ before = $(NF - 1); after = $NF; exit !(after + 0 < before + 0 && after + 0 >= 0) }' <<<"$adam" ||
  fail "the loss did not drop after one Adam step: '$adam'"

echo "sample_repl: OK ($(wc -l <<<"$expected") expected lines found)"
