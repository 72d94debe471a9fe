// Integer dot products of quant_dot_kquants.cpp against a plain double-precision reference on random blocks.
#include <gtest/gtest.h>

#include "kernels/cpu/quant_dot.h"
