#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a user pays to build a hello-world: wall time of ONE g++ command that compiles and links
#   (a) tapeflow: <tapeflow/tapeflow.hpp>, a tensor, backward, print the gradient;
#   (b) LibTorch: <torch/torch.h>, the same program;
#   (c) xtensor + xtensor-blas: a 2x2 matrix product, for reference (no autograd).
# Median of RUNS runs each (default 3), runs interleaved a,b,c,a,b,c,... so that a burst of
# load on the machine hits every case alike. Each program is also run once (untimed) and its
# output checked, so a timing is never of a program that does not work.
#
# Usage: bench/compile_time.sh [BUILD_DIR]
#   BUILD_DIR given: tapeflow from the build tree (BUILD_DIR/include, BUILD_DIR/libtapeflow.so),
#                    exactly as samples and tests see it.
#   no argument:     tapeflow from `pkg-config --cflags --libs tapeflow` (an installed copy).
# Environment: CXX (g++), CXXFLAGS (-O2 -std=c++20), RUNS (3),
#   TORCH_INCLUDE (folder holding torch/torch.h; found from Debian's libtorch-dev by default).
set -u

CXX=${CXX:-g++}
CXXFLAGS=${CXXFLAGS:--O2 -std=c++20}
RUNS=${RUNS:-3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- how each case is built ---------------------------------------------------------------------
if [ $# -ge 1 ]; then
  build=$(cd "$1" && pwd) || { echo "compile_time: no build dir '$1'" >&2; exit 2; }
  if [ ! -e "$build/include/tapeflow/tapeflow.hpp" ] || [ ! -e "$build/libtapeflow.so" ]; then
    echo "compile_time: $build has no include/tapeflow/tapeflow.hpp or libtapeflow.so (run meson compile first)" >&2
    exit 2
  fi
  tapeflow_flags="-I$build/include -L$build -ltapeflow -Wl,-rpath,$build"
  tapeflow_from="build dir $build"
else
  if ! tapeflow_flags=$(pkg-config --cflags --libs tapeflow 2>"$work/pc.err"); then
    echo "compile_time: pkg-config cannot find tapeflow; pass a build dir instead:" >&2
    sed 's/^/    /' "$work/pc.err" >&2
    exit 2
  fi
  libdir=$(pkg-config --variable=libdir tapeflow)
  tapeflow_flags="$tapeflow_flags -Wl,-rpath,$libdir"
  tapeflow_from="pkg-config ($(pkg-config --variable=pcfiledir tapeflow)/tapeflow.pc)"
fi

torch_include=${TORCH_INCLUDE:-}
if [ -z "$torch_include" ]; then
  for d in /usr/include/torch/csrc/api/include \
           $(dpkg -L libtorch-dev 2>/dev/null | sed -n 's|/torch/torch\.h$||p'); do
    if [ -e "$d/torch/torch.h" ]; then torch_include=$d; break; fi
  done
fi
torch_skip=""
if [ -z "$torch_include" ] || [ ! -e "$torch_include/torch/torch.h" ]; then
  torch_skip="no torch/torch.h found (install Debian's libtorch-dev, or set TORCH_INCLUDE)"
elif [ ! -e /usr/lib/x86_64-linux-gnu/libtorch.so ] && ! "$CXX" -print-file-name=libtorch.so | grep -q /; then
  torch_skip="torch/torch.h found but no libtorch.so to link"
fi
# Debian's libtorch-dev puts ATen/c10 under /usr/include and the C++ API under torch/csrc/api/include.
torch_flags="-I$torch_include -ltorch -ltorch_cpu -lc10"

xtensor_skip=""
if [ ! -e /usr/include/xtensor/xarray.hpp ] || [ ! -e /usr/include/xtensor-blas/xlinalg.hpp ]; then
  xtensor_skip="xtensor or xtensor-blas headers missing (Debian: libxtensor-dev, libxtensor-blas-dev)"
fi
xtensor_flags="$(pkg-config --cflags --libs openblas 2>/dev/null || echo -lopenblas)"

# --- the three programs (each prints the same kind of line, checked below) ----------------------
cat >"$work/tapeflow.cpp" <<'EOF'
#include <tapeflow/tapeflow.hpp>
#include <iostream>
int main() {
  using namespace tapeflow;
  Tensor x = tensor({1.f, 2.f, 3.f}).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  for (float g : x.grad().to_vector<float>()) std::cout << g << ' ';
  std::cout << '\n';
}
EOF
cat >"$work/torch.cpp" <<'EOF'
#include <torch/torch.h>
#include <iostream>
int main() {
  torch::Tensor x = torch::tensor({1.f, 2.f, 3.f}, torch::requires_grad());
  torch::Tensor y = (x * x).sum();
  y.backward();
  torch::Tensor g = x.grad();
  for (int64_t i = 0; i < g.numel(); ++i) std::cout << g[i].item<float>() << ' ';
  std::cout << '\n';
}
EOF
cat >"$work/xtensor.cpp" <<'EOF'
#include <xtensor/xarray.hpp>
#include <xtensor-blas/xlinalg.hpp>
#include <iostream>
int main() {
  xt::xarray<double> a = {{1., 2.}, {3., 4.}};
  xt::xarray<double> b = {{5., 6.}, {7., 8.}};
  xt::xarray<double> c = xt::linalg::dot(a, b);
  for (double v : c) std::cout << v << ' ';
  std::cout << '\n';
}
EOF

cases=(tapeflow torch xtensor)
declare -A label=([tapeflow]="tapeflow" [torch]="LibTorch" [xtensor]="xtensor+xtensor-blas")
declare -A flags=([tapeflow]="$tapeflow_flags" [torch]="$torch_flags" [xtensor]="$xtensor_flags")
declare -A expect=([tapeflow]="2 4 6 " [torch]="2 4 6 " [xtensor]="19 22 43 50 ")
declare -A skip=([tapeflow]="" [torch]="$torch_skip" [xtensor]="$xtensor_skip")
declare -A times=()

compile() {  # compile <case> -> prints seconds, or fails
  local c=$1 start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086  # flags are word lists on purpose
  if ! "$CXX" $CXXFLAGS "$work/$c.cpp" -o "$work/$c" ${flags[$c]} >"$work/$c.log" 2>&1; then
    return 1
  fi
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

echo "compile_time: $CXX $CXXFLAGS <hello>.cpp -o hello <flags>   (compile + link, median of $RUNS)"
echo "  tapeflow from: $tapeflow_from"
echo "  torch include: ${torch_include:-none}"
echo "  machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "  compiler: $("$CXX" --version | head -1)"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((run = 1; run <= RUNS; run++)); do
  for c in "${cases[@]}"; do
    [ -n "${skip[$c]}" ] && continue
    if t=$(compile "$c"); then
      times[$c]="${times[$c]:-} $t"
    else
      skip[$c]="does not compile: $(grep -m1 -i 'error' "$work/$c.log" || head -1 "$work/$c.log")"
      echo "  ${label[$c]}: compile failed, full log:" >&2
      sed 's/^/    /' "$work/$c.log" | head -30 >&2
      continue
    fi
    if [ "$run" -eq 1 ]; then
      out=$(LD_LIBRARY_PATH="" "$work/$c" 2>&1)
      if [ "$out" != "${expect[$c]}" ]; then
        skip[$c]="built but printed '$out', expected '${expect[$c]}'"
        unset 'times[$c]'
      fi
    fi
  done
done
echo "  load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A med=()
echo
printf '%-22s %10s   %s\n' "hello world" "median s" "runs (s)"
printf '%-22s %10s   %s\n' "----------------------" "--------" "--------"
for c in "${cases[@]}"; do
  if [ -n "${skip[$c]}" ] || [ -z "${times[$c]:-}" ]; then
    printf '%-22s %10s   %s\n' "${label[$c]}" "-" "skipped: ${skip[$c]}"
    continue
  fi
  med[$c]=$(echo "${times[$c]}" | median)
  printf '%-22s %10.2f   %s\n' "${label[$c]}" "${med[$c]}" "${times[$c]# }"
done
echo
if [ -n "${med[tapeflow]:-}" ] && [ -n "${med[torch]:-}" ]; then
  awk -v a="${med[tapeflow]}" -v b="${med[torch]}" \
    'BEGIN { printf "ratio tapeflow/torch: %.3f  (LibTorch takes %.1fx as long)\n", a / b, b / a }'
else
  echo "ratio tapeflow/torch: not available (${skip[torch]:-${skip[tapeflow]}})"
fi
[ -n "${med[tapeflow]:-}" ]  # fail only when tapeflow itself could not be measured
