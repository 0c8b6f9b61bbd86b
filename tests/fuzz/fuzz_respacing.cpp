// Fuzz target: the respacing spec parser and the respaced schedule (docs/spec.md section 2).
// Any input either throws ilvr::error or yields sorted, distinct steps in [0, T).
#include <ilvr/respacing.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) return 0;
    const int steps = 2 + (data[0] | (data[1] << 8)) % 2000;  // T in [2, 2001]
    const std::string spec(reinterpret_cast<const char*>(data + 2), size - 2);
    try {
        const auto kept = ilvr::respace_timesteps(steps, spec);
        for (std::size_t i = 0; i < kept.size(); ++i)
            if (kept[i] < 0 || kept[i] >= steps || (i > 0 && kept[i] <= kept[i - 1])) std::abort();
        if (kept.size() >= 2) {
            const auto r = ilvr::respace(ilvr::noise_schedule::linear(steps), kept);
            if (r.schedule.size() != kept.size()) std::abort();
        }
    } catch (const ilvr::error&) {
    }
    return 0;
}
