// SPDX-License-Identifier: MIT
// The one header users include: `#include <tapeflow/tapeflow.hpp>`. Standard library only.
#pragma once
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/tape.hpp"
#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
#include "tensor/device.hpp"
#include "tensor/dtype.hpp"
#include "tensor/error.hpp"
#include "tensor/ops.hpp"
#include "tensor/shape.hpp"
#include "tensor/tensor.hpp"
