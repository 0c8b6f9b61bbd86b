// Sampling on the device: ilvr::sampler (sample.hpp), its solvers and its
// conditioners, run with device::run_options, so that their element work goes
// through device::exec (device/exec.hpp) and the samples stay in device memory.
// There is one loop: this header only gathers what a device run needs.
#pragma once

#include <ilvr/conditioner/colourise.hpp>
#include <ilvr/conditioner/compose.hpp>
#include <ilvr/conditioner/factor_schedule.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/conditioner/inpaint.hpp>
#include <ilvr/conditioner/region_ilvr.hpp>
#include <ilvr/device/exec.hpp>
#include <ilvr/device/noise.hpp>
#include <ilvr/device/tensor.hpp>
#include <ilvr/sample.hpp>
#include <ilvr/sampler/ddim.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/sampler/dpm_solver.hpp>
#include <ilvr/sampler/heun.hpp>
