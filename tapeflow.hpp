// SPDX-License-Identifier: MIT
// The one header users include: `#include <tapeflow/tapeflow.hpp>`. Standard library only.
#pragma once
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/graph.hpp"
#include "autograd/tape.hpp"
#include "io/io.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "tensor/device.hpp"
#include "tensor/dtype.hpp"
#include "tensor/error.hpp"
#include "tensor/ops.hpp"
#include "tensor/shape.hpp"
#include "tensor/state_dict.hpp"
#include "tensor/tensor.hpp"
