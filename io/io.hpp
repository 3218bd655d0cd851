// SPDX-License-Identifier: MIT
// io/: reading data (IDX files, datasets and loaders).
#pragma once
#include "char_dataset.hpp"
#include "data_loader.hpp"
#include "dataset.hpp"
#include "idx.hpp"
#include "mnist.hpp"
