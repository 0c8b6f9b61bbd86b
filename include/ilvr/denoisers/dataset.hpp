// The exact denoiser of a finite data set {x_k}: E[x0 | x_t] is a softmax-weighted
// mean of the data points, so samples land on data points. Ref: docs/spec.md section 7.
#pragma once

#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/schedule.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace ilvr {

namespace detail {
/// Dot product with eight independent float accumulators, so it vectorises
/// without reassociation flags; the order is fixed, so results are reproducible.
inline double dot8(const float* a, const float* b, std::size_t n)
{
    float acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    double sum = 0;
    for (int j = 0; j < 8; ++j) sum += acc[j];
    for (; i < n; ++i) sum += double(a[i]) * b[i];
    return sum;
}
} // namespace detail

/// For data points x_k (each [C, H, W]), under the forward process
/// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps with x0 uniform over the data:
///   w_k = softmax_k(-|x_t - sqrt(abar) x_k|^2 / (2 (1 - abar))),
///   x0^ = sum_k w_k x_k,  eps = (x_t - sqrt(abar) x0^) / sqrt(1 - abar).
/// The logits are formed from dot products (|x_t|^2 cancels in the softmax) and
/// normalised in log-space, so no exponential overflows; weights below 1e-30 of
/// the largest are skipped in the mean, which changes nothing in float.
/// Returns a view of its own buffer, valid until the next call.
class dataset_denoiser {
public:
    /// data: [K, C, H, W] with K >= 1; process: the ORIGINAL schedule; the images
    /// of a batch are shared among `threads` threads (with OpenMP), with results
    /// independent of the thread count.
    dataset_denoiser(noise_schedule process, tensor data, int threads = 1)
        : process_(std::move(process)), data_(std::move(data)), threads_(threads)
    {
        detail::require(threads >= 1, "dataset_denoiser: threads must be >= 1");
        const shape4 s = data_.shape();
        detail::require(s.n >= 1 && s.image_size() > 0, "dataset_denoiser: the data set " + s.to_string() + " is empty");
        norms_.resize(static_cast<std::size_t>(s.n));
        const std::size_t d = s.image_size();
        for (std::int64_t k = 0; k < s.n; ++k) {
            const float* xk = data_.data() + static_cast<std::size_t>(k) * d;
            norms_[static_cast<std::size_t>(k)] = detail::dot8(xk, xk, d);
        }
        logits_.resize(static_cast<std::size_t>(s.n) * static_cast<std::size_t>(threads));
        mean_.resize(d * static_cast<std::size_t>(threads));
    }

    const tensor& data() const { return data_; }

    tensor_view<const float> operator()(tensor_view<const float> x, std::span<const std::int64_t> t)
    {
        const shape4 s = x.shape(), ds = data_.shape();
        detail::require(s.c == ds.c && s.h == ds.h && s.w == ds.w, [&] {
            return "dataset_denoiser: input " + s.to_string() + " does not fit data " + ds.to_string();
        });
        detail::require(t.size() == static_cast<std::size_t>(s.n), "dataset_denoiser: one timestep per image");
        if (!(out_.shape() == s)) out_ = tensor(s);
        const std::size_t d = s.image_size();
        for (const auto ts : t)
            detail::require(ts >= 0 && static_cast<std::size_t>(ts) < process_.size(),
                            [&] { return "dataset_denoiser: timestep " + std::to_string(ts) + " out of range"; });
        detail::parallel_for(s.n, threads_, [&](std::int64_t b, int thread) {
            const double ab = process_.alpha_bar()[static_cast<std::size_t>(t[static_cast<std::size_t>(b)])];
            const float* xb = x.data() + static_cast<std::size_t>(b) * d;
            double* mean = mean_.data() + d * static_cast<std::size_t>(thread);
            posterior_mean(xb, ab, logits_.data() + norms_.size() * static_cast<std::size_t>(thread), mean);
            const auto sa = static_cast<float>(std::sqrt(ab)), inv = static_cast<float>(1.0 / std::sqrt(1.0 - ab));
            float* eb = out_.data() + static_cast<std::size_t>(b) * d;
            for (std::size_t e = 0; e < d; ++e) eb[e] = (xb[e] - sa * static_cast<float>(mean[e])) * inv;
        });
        return out_.view();
    }

private:
    // mean = sum_k softmax_k(logit_k) x_k for one noisy image; `logits` and
    // `mean` are the calling thread's buffers.
    void posterior_mean(const float* x, double ab, double* logits, double* mean) const
    {
        const std::size_t d = data_.shape().image_size();
        const std::size_t count = norms_.size();
        const double sa = std::sqrt(ab), scale = 1.0 / (1.0 - ab);
        double top = -std::numeric_limits<double>::infinity();
        for (std::size_t k = 0; k < count; ++k) {
            // -|x - sa x_k|^2 / (2(1-ab)) up to a term constant in k.
            logits[k] = (sa * detail::dot8(x, data_.data() + k * d, d) - 0.5 * ab * norms_[k]) * scale;
            top = std::max(top, logits[k]);
        }
        double total = 0;
        for (std::size_t k = 0; k < count; ++k) total += (logits[k] = std::exp(logits[k] - top));
        std::fill(mean, mean + d, 0.0);
        for (std::size_t k = 0; k < count; ++k) {
            if (logits[k] < 1e-30) continue;
            const double w = logits[k] / total;
            const float* xk = data_.data() + k * d;
            for (std::size_t e = 0; e < d; ++e) mean[e] += w * xk[e];
        }
    }

    noise_schedule process_;
    tensor data_;
    int threads_;
    std::vector<double> norms_, logits_, mean_;
    tensor out_;
};

} // namespace ilvr
