// SPDX-License-Identifier: MIT
// io/: reading data (IDX files, datasets and loaders).
#pragma once
