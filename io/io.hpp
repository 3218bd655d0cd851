// SPDX-License-Identifier: MIT
// io/: data in (IDX files, datasets, loaders, .npy) and results out (safetensors checkpoints,
// TensorBoard events, training curves, graph pictures).
#pragma once
#include "char_dataset.hpp"
#include "checkpoint.hpp"
#include "curves.hpp"
#include "data_loader.hpp"
#include "dataset.hpp"
#include "dot.hpp"
#include "event_reader.hpp"
#include "idx.hpp"
#include "mnist.hpp"
#include "npy.hpp"
#include "summary_writer.hpp"
