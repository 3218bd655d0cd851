// SPDX-License-Identifier: MIT
// optim/: every optimizer, schedule and gradient-clipping helper.
#pragma once
#include "optimizer.hpp"
#include "sgd.hpp"
