// One ILVR step without the denoiser, as every step benchmark times it: draw
// the proposal noise z, apply the DDPM step to a fixed eps (a precomputed view,
// so no network is timed), then refine (reference noise, phi_N, update). The
// respaced index walks 50 .. 1 and wraps, so the coefficients change each call.
#pragma once

#include <ilvr/ilvr.hpp>

#include <cstddef>

namespace ilvr_bench {

class ilvr_step_fixture {
public:
    ilvr_step_fixture(ilvr::shape4 shape, ilvr::tensor reference, int factor, int threads)
        : process_(ilvr::respace(ilvr::noise_schedule::linear(1000), "100")), noise_(1), x_(shape), eps_(shape),
          z_(shape), x0_(shape), cond_(std::move(reference), {.factor = factor}), threads_(threads)
    {
        noise_(ilvr::noise_purpose::initial, 0, 0, x_.view());
        noise_(ilvr::noise_purpose::initial, 0, 1000, eps_.view());
        cond_.prepare(shape, process_, threads);
    }

    /// One step; returns the samples so the caller can keep them alive.
    const float* step()
    {
        const auto c = rule_.coefficients(process_.schedule, i_);
        noise_(ilvr::noise_purpose::proposal, i_, 0, z_.view());
        ilvr::apply_step(rule_, c, x_.view(), eps_.view(), ilvr::model_output::eps, z_.view(), x0_.view(), threads_);
        cond_.refine({i_, process_.timesteps[static_cast<std::size_t>(i_)], &process_, 0, threads_}, x_.view(), noise_);
        i_ = i_ == 1 ? 50 : i_ - 1;
        return x_.data();
    }

private:
    ilvr::respaced_schedule process_;
    ilvr::ddpm rule_{};
    ilvr::philox_noise noise_;
    ilvr::tensor x_, eps_, z_, x0_;
    ilvr::ilvr_conditioner cond_;
    int threads_;
    int i_ = 50;
};

} // namespace ilvr_bench
