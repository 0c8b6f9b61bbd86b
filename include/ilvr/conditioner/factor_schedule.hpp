// A per-step schedule of N: ILVR whose factor depends on the step, e.g. coarse to
// fine, N(t) from a list of ranges of original timesteps. docs/spec.md section 9.5.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/conditioner/reference.hpp>
#include <ilvr/error.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ilvr {

/// One stage of a factor schedule: the steps `range` are refined with factor N.
struct factor_stage {
    conditioning_range range;
    int factor;
};

/// Parses "FROM:TO=N,FROM:TO=N,..." (original timesteps, as conditioning_range::parse;
/// "all=N" for every step), e.g. "1000:500=16,500:200=8,200:0=4".
inline std::vector<factor_stage> parse_factor_schedule(std::string_view text)
{
    std::vector<factor_stage> stages;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string_view item = text.substr(start, comma - start);
        const std::size_t eq = item.find('=');
        int factor = 0;
        const std::string_view n = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
        const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), factor);
        detail::require(eq != std::string_view::npos && !n.empty() && ec == std::errc{} && end == n.data() + n.size(),
                        "factor schedule item '" + std::string(item)
                            + "' is not 'FROM:TO=N' (e.g. 1000:500=16,500:0=4)");
        stages.push_back({conditioning_range::parse(item.substr(0, eq)), factor});
        start = comma + 1;
    }
    return stages;
}

/// ILVR with a factor per stage: at step i the stage whose range contains i
/// refines with its factor; steps in no stage run free. The stages must not
/// overlap (checked at prepare). All stages draw from the one noise stream a lone
/// ILVR conditioner draws from, so a one-stage schedule is that conditioner, bit for bit.
class factor_schedule_conditioner {
public:
    /// The reference (any viewable container, copied once per stage) and the stages;
    /// `base` gives the kernel and the noise level (its factor and range are ignored).
    template <viewable Reference>
    factor_schedule_conditioner(const Reference& reference, std::vector<factor_stage> stages, ilvr_options base = {})
    {
        detail::require(!stages.empty(), "factor schedule: give at least one stage");
        tensor ref = detail::copy_reference(reference, "factor schedule");
        for (const factor_stage& s : stages) {
            ilvr_options o = base;
            o.factor = s.factor;
            o.range = s.range;
            stages_.emplace_back(ref, o);
        }
    }

    /// Prepares every stage and checks that no step belongs to two stages.
    template <class Exec>
    void prepare(const shape4& batch, const respaced_schedule& process, const Exec& exec)
    {
        for (auto& s : stages_) s.prepare(batch, process, exec);
        for (std::size_t i = 0; i < process.timesteps.size(); ++i) {
            int owners = 0;
            for (const auto& s : stages_) owners += s.options().range.contains(static_cast<int>(i), process.timesteps[i]);
            detail::require(owners <= 1, [&] {
                return "factor schedule: stages overlap at timestep " + std::to_string(process.timesteps[i])
                       + " (each step may have one factor)";
            });
        }
    }

    /// Refines with the stage that owns this step, if any.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
    {
        for (auto& s : stages_)
            if (s.options().range.contains(info.index, info.timestep)) return s.refine(info, proposal, noise, exec);
    }

    /// The factor of respaced step i (0 when it runs free).
    int factor_at(int i, int timestep) const
    {
        for (const auto& s : stages_)
            if (s.options().range.contains(i, timestep)) return s.options().factor;
        return 0;
    }

private:
    std::vector<ilvr_conditioner> stages_;
};

} // namespace ilvr
