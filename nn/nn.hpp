// SPDX-License-Identifier: MIT
// nn/: modules, layers, activations, losses and initialisers, built on the differentiable ops.
// Functional forms live in nn::functional (LibTorch users write `namespace F = nn::functional`).
#pragma once
#include "activation.hpp"
#include "conv.hpp"
#include "dropout.hpp"
#include "embedding.hpp"
#include "init.hpp"
#include "linear.hpp"
#include "loss.hpp"
#include "module.hpp"
#include "normalization.hpp"
#include "pooling.hpp"
#include "recurrent.hpp"
#include "sequential.hpp"
