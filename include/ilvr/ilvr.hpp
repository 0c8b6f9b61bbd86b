// Everything of ilvr that needs no optional dependency.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/config.hpp>
#include <ilvr/denoiser.hpp>
#include <ilvr/denoisers/dataset.hpp>
#include <ilvr/denoisers/gaussian_prior.hpp>
#include <ilvr/error.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/random.hpp>
#include <ilvr/resample/axis_weights.hpp>
#include <ilvr/resample/kernel.hpp>
#include <ilvr/resample/resizer.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sample.hpp>
#include <ilvr/sampler/ddim.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/sampler/dpm_solver.hpp>
#include <ilvr/sampler/heun.hpp>
#include <ilvr/sampler/solver.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/schedule.hpp>
#include <ilvr/tensor.hpp>
