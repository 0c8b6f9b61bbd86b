// Respacing: sampling a T-step process with a subset of its timesteps.
// Ref: docs/spec.md section 2 (guided-diffusion's space_timesteps / SpacedDiffusion).
#pragma once

#include <ilvr/error.hpp>
#include <ilvr/schedule.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ilvr {

namespace detail {

[[noreturn]] inline void respacing_error(std::string_view spec, const std::string& why)
{
    throw error("respacing '" + std::string(spec) + "': " + why + " (docs/spec.md section 2)");
}

inline std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// A positive decimal integer, or an error naming the spec.
inline std::int64_t parse_count(std::string_view spec, std::string_view token)
{
    token = trim(token);
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (token.empty() || ec != std::errc{} || end != token.data() + token.size())
        respacing_error(spec, "'" + std::string(token) + "' is not an integer count");
    if (value <= 0) respacing_error(spec, "count " + std::to_string(value) + " must be positive");
    return value;
}

} // namespace detail

/// The original timesteps kept by a respacing spec, ascending (docs/spec.md section 2):
/// "ddimN" keeps range(0, T, s) for the first stride s giving N elements; a comma
/// list "n1,n2,..." cuts T into sections and keeps n_k evenly spaced steps of
/// section k, rounding the accumulated stride half-to-even. Throws ilvr::error
/// for anything impossible (empty, non-numeric, zero or too large counts).
inline std::vector<int> respace_timesteps(int steps, std::string_view spec)
{
    detail::require(steps >= 1, "respacing: T must be positive, got " + std::to_string(steps));
    const std::string_view body = detail::trim(spec);
    std::vector<int> kept;
    if (body.empty()) detail::respacing_error(spec, "the spec is empty (give a count, e.g. \"100\", or \"ddim50\")");
    if (body.starts_with("ddim")) {
        const std::int64_t count = detail::parse_count(spec, body.substr(4));
        for (int stride = 1; stride < steps; ++stride)
            if ((steps + stride - 1) / stride == count) {
                for (int t = 0; t < steps; t += stride) kept.push_back(t);
                return kept;
            }
        detail::respacing_error(spec, "no integer stride gives exactly " + std::to_string(count) + " of "
                                          + std::to_string(steps) + " steps");
    }
    std::vector<std::int64_t> counts;
    for (std::size_t pos = 0;;) {
        const std::size_t comma = body.find(',', pos);
        counts.push_back(detail::parse_count(spec, body.substr(pos, comma - pos)));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    const auto sections = static_cast<std::int64_t>(counts.size());
    const std::int64_t size_per = steps / sections, extra = steps % sections;
    std::int64_t start = 0;
    for (std::int64_t k = 0; k < sections; ++k) {
        const std::int64_t size = size_per + (k < extra ? 1 : 0), count = counts[static_cast<std::size_t>(k)];
        if (count > size)
            detail::respacing_error(spec, "section " + std::to_string(k) + " has " + std::to_string(size)
                                              + " steps, cannot keep " + std::to_string(count));
        const double stride = count <= 1 ? 1.0 : double(size - 1) / double(count - 1);
        double cur = 0.0;  // accumulated, not k * stride: the reference's rounding depends on it
        for (std::int64_t j = 0; j < count; ++j) {
            kept.push_back(static_cast<int>(start + static_cast<std::int64_t>(std::nearbyint(cur))));
            cur += stride;
        }
        start += size;
    }
    return kept;  // sections are disjoint and ascending, so this is sorted
}

/// A respaced process: the kept original timesteps tau[0] < ... < tau[K-1] and
/// the K-step schedule beta'[k] = 1 - abar[tau[k]] / abar[tau[k-1]] built on them.
struct respaced_schedule {
    std::vector<int> timesteps;  ///< tau: the original timestep the network sees at index k
    noise_schedule schedule;     ///< the respaced process, indexed by k = 0..K-1
};

/// Respaces `base` onto the given ascending original timesteps.
inline respaced_schedule respace(const noise_schedule& base, std::vector<int> timesteps)
{
    const auto& abar = base.alpha_bar();
    std::vector<double> betas;
    betas.reserve(timesteps.size());
    double last = 1.0;
    int previous = -1;
    for (int t : timesteps) {
        detail::require(t > previous && t < static_cast<int>(base.size()),
                        "respace: timesteps must ascend strictly within [0, " + std::to_string(base.size())
                            + "), got " + std::to_string(t) + " after " + std::to_string(previous));
        const double a = abar[static_cast<std::size_t>(t)];
        betas.push_back(1.0 - a / last);
        last = a;
        previous = t;
    }
    return {std::move(timesteps), noise_schedule(std::move(betas))};
}

/// Respaces `base` with a spec string ("ddim50", "100", "10,20,30"; docs/spec.md section 2).
inline respaced_schedule respace(const noise_schedule& base, std::string_view spec)
{
    return respace(base, respace_timesteps(static_cast<int>(base.size()), spec));
}

} // namespace ilvr
