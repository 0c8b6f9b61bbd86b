// Fuzz target: the conditioning-range parser and its check against a process.
#include <ilvr/conditioner/conditioning_range.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const auto process = ilvr::respace(ilvr::noise_schedule::linear(1000), "25");
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto range = ilvr::conditioning_range::parse(text);
        range.check(process);
        bool any = false;
        for (int i = 0; i < 25; ++i) any |= range.contains(i, process.timesteps[static_cast<std::size_t>(i)]);
        if (!any) std::abort();  // check() promised a non-empty range
    } catch (const ilvr::error&) {
    }
    return 0;
}
