// SPDX-License-Identifier: MIT
// optim/: every optimizer, schedule and gradient-clipping helper.
#pragma once
#include "adagrad.hpp"
#include "adam.hpp"
#include "adamw.hpp"
#include "clip_grad.hpp"
#include "lr_scheduler.hpp"
#include "optimizer.hpp"
#include "rmsprop.hpp"
#include "sgd.hpp"
