// SPDX-License-Identifier: MIT
// nn/: modules, layers, activations, losses and initialisers, built on the differentiable ops.
#pragma once
