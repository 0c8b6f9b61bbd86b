// Everything of ilvr that needs no optional dependency.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/error.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/resample/axis_weights.hpp>
#include <ilvr/resample/kernel.hpp>
#include <ilvr/resample/resizer.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/schedule.hpp>
#include <ilvr/tensor.hpp>
