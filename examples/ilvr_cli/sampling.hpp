// What the tool samples with, chosen once from the options for both paths: the
// solver (--sampler, --eta, --variance) and the conditioner (--factor, --mask,
// --repaint, --colourise, --factor-schedule, --range, --kernel, --noise-level).
// run.hpp (the CPU path, host compiler) and run_cuda.cu (the GPU path, nvcc) both
// call with_rule and with_conditioner, so every option reaches both. No LibTorch,
// CLI11 or CUDA types here.
#pragma once

#include <ilvr/conditioner/colourise.hpp>
#include <ilvr/conditioner/factor_schedule.hpp>
#include <ilvr/conditioner/final_projection.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/conditioner/inpaint.hpp>
#include <ilvr/error.hpp>
#include <ilvr/random.hpp>
#include <ilvr/sampler/ddim.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/sampler/dpm_solver.hpp>
#include <ilvr/sampler/dpm_solver_sde.hpp>
#include <ilvr/sampler/heun.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ilvr_cli {

/// The options the solver and the conditioner are made from.
struct sampling_spec {
    std::string sampler = "ddpm";  ///< ddpm, ddim, dpm++2m, dpm++2m-sde or heun
    double eta = 0.0;              ///< ddim's and dpm++2m-sde's eta
    ilvr::fixed_variance variance = ilvr::fixed_variance::small;
    enum class mode { ilvr, inpaint, colourise, schedule } conditioning = mode::ilvr;
    ilvr::conditioning_range range = ilvr::conditioning_range::all();
    ilvr::resampling_kernel kernel = ilvr::kernels::cubic;
    ilvr::reference_noise_level level = ilvr::reference_noise_level::paper;
    int repaint_jump = 1, repaint_count = 1;   ///< --repaint (count 1: none)
    std::vector<ilvr::factor_stage> schedule;  ///< --factor-schedule
    int final_projection = 0;                  ///< --final-projection rounds (ILVR at fixed factors; 0: none)
};

/// f(rule) with the solver of --sampler.
template <class F>
decltype(auto) with_rule(const sampling_spec& s, F&& f)
{
    if (s.sampler == "ddim") return f(ilvr::ddim{.eta = s.eta});
    if (s.sampler == "dpm++2m") return f(ilvr::dpmpp_2m{});
    if (s.sampler == "dpm++2m-sde") return f(ilvr::dpmpp_2m_sde{s.eta});
    if (s.sampler == "heun") return f(ilvr::heun{});
    return f(ilvr::ddpm{.variance = s.variance});
}

/// Runs `sample(conditioner)` with the conditioner --mask, --colourise,
/// --factor-schedule or --factor chose, for the batch's references `refs`
/// ([B, C, S, S]); `model` is the network RePaint's repeated steps call.
template <class Model, class Sample>
bool with_conditioner(const sampling_spec& s, Model& model, ilvr::tensor refs, const ilvr::tensor& mask, int factor,
                      Sample&& sample)
{
    switch (s.conditioning) {
    case sampling_spec::mode::inpaint: {
        ilvr::inpaint_conditioner inpaint(std::move(refs), mask, {.range = s.range, .level = s.level});
        if (s.repaint_count == 1) return sample(inpaint);
        ilvr::repaint_conditioner repaint(model, std::move(inpaint), {.jump = s.repaint_jump, .count = s.repaint_count});
        return sample(repaint);
    }
    case sampling_spec::mode::colourise: {
        ilvr::colourise_conditioner colourise(std::move(refs), {.range = s.range, .level = s.level});
        return sample(colourise);
    }
    case sampling_spec::mode::schedule: {
        ilvr::factor_schedule_conditioner schedule(refs, s.schedule, {.kernel = s.kernel, .level = s.level});
        return sample(schedule);
    }
    default: {
        ilvr::ilvr_conditioner conditioner(std::move(refs), {.factor = factor, .kernel = s.kernel, .range = s.range,
                                                             .level = s.level});
        if (s.final_projection == 0) return sample(conditioner);
        ilvr::final_projection<ilvr::ilvr_conditioner&> projected(conditioner, s.final_projection);
        return sample(projected);
    }
    }
}

/// A noise source whose batch position b draws for job sample indices[first + b]:
/// the images of a batch need not have consecutive indices, and each still gets
/// exactly the noise it would get alone.
struct indexed_noise {
    const ilvr::philox_noise& base;
    const std::vector<std::uint64_t>& indices;

    void operator()(ilvr::noise_purpose purpose, int step, std::uint64_t first, ilvr::tensor_view<float> out) const
    {
        for (std::int64_t b = 0; b < out.shape().n; ++b)
            base(purpose, step, indices[static_cast<std::size_t>(first) + static_cast<std::size_t>(b)], out.batch(b, 1));
    }
};

} // namespace ilvr_cli
