// Which reverse steps a conditioner refines, in the reference code's terms
// (respaced range_t) or the paper's (original timesteps "from 1000 to 200").
// Ref: docs/spec.md section 6.4; paper Sec. 4.2 and Fig. 5.
#pragma once

#include <ilvr/error.hpp>
#include <ilvr/respacing.hpp>

#include <charconv>
#include <string>
#include <string_view>

namespace ilvr {

/// The set of respaced steps i (with original timesteps tau[i]) to condition.
///
/// - all(): every step, i = K-1 .. 0 (the paper's Algorithm 1). The default.
/// - respaced(range_t): steps with i > range_t, as the reference code's
///   `range_t` flag; the last range_t + 1 steps run free. range_t = 0 is the
///   reference's default, range_t = -1 equals all().
/// - timesteps(from, to): steps whose original timestep satisfies
///   to <= tau[i] < from, with 0-based timesteps of the T-step process. The
///   paper's "from 1000 to 200" is timesteps(1000, 200): the 800 noisiest of the
///   1000 original steps are conditioned and tau = 199 .. 0 run free. On the
///   full process (no respacing) that is respaced(to - 1); after respacing it is
///   respaced(r - 1) with r the number of kept steps whose tau < to.
class conditioning_range {
public:
    static conditioning_range all() { return {-1, 0, -1}; }
    static conditioning_range respaced(int range_t)
    {
        detail::require(range_t >= -1, "conditioning range: range_t = " + std::to_string(range_t) + " must be >= -1");
        return {range_t, 0, -1};
    }
    static conditioning_range timesteps(int from, int to)
    {
        detail::require(to >= 0 && from > to, "conditioning range " + std::to_string(from) + ":" + std::to_string(to)
                                                  + " is empty or inverted (need from > to >= 0)");
        return {-2, from, to};
    }

    /// Parses "from:to" (original timesteps, as timesteps()) or "all".
    static conditioning_range parse(std::string_view text)
    {
        if (text == "all") return all();
        const auto colon = text.find(':');
        int from = 0, to = 0;
        auto number = [&](std::string_view s, int& v) {
            const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
        };
        detail::require(colon != std::string_view::npos && number(text.substr(0, colon), from)
                            && number(text.substr(colon + 1), to),
                        "conditioning range '" + std::string(text) + "' is not 'from:to' (e.g. 1000:200) or 'all'");
        return timesteps(from, to);
    }

    /// Whether respaced step i, of original timestep tau, is conditioned.
    bool contains(int i, int tau) const { return range_t_ != -2 ? i > range_t_ : (tau >= to_ && tau < from_); }

    /// Throws if no step of `process` would be conditioned or the range exceeds it.
    void check(const respaced_schedule& process) const
    {
        const auto k = static_cast<int>(process.timesteps.size());
        if (range_t_ != -2) {
            detail::require(range_t_ < k - 1, "conditioning range: range_t = " + std::to_string(range_t_)
                                                  + " leaves no step to condition among " + std::to_string(k));
            return;
        }
        int count = 0;
        for (int i = 0; i < k; ++i) count += contains(i, process.timesteps[static_cast<std::size_t>(i)]) ? 1 : 0;
        detail::require(count > 0, "conditioning range " + std::to_string(from_) + ":" + std::to_string(to_)
                                       + " contains none of the sampled timesteps");
    }

    /// Human-readable form, for logs.
    std::string to_string() const
    {
        if (range_t_ == -1) return "all steps";
        if (range_t_ >= 0) return "respaced steps i > " + std::to_string(range_t_);
        return "timesteps " + std::to_string(from_) + ":" + std::to_string(to_);
    }

private:
    conditioning_range(int range_t, int from, int to) : range_t_(range_t), from_(from), to_(to) {}
    int range_t_;  // >= -1: respaced form; -2: timestep form
    int from_, to_;
};

} // namespace ilvr
