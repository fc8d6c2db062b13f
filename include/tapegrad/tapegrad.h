#pragma once
/// \file
/// The one header a user includes: `#include <tapegrad/tapegrad.h>`.

#include "core/dtype.h"
#include "core/error.h"
#include "core/function.h"
#include "core/gradcheck.h"
#include "core/random.h"
#include "core/shape.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "ops/broadcast.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/unary.h"
