// Fuzz target: the ilvr tool's option parsing and validation (no sampling).
// Arguments are the input split at newlines.
#include "options.hpp"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::vector<std::string> args;
    std::string current;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == '\n') {
            args.push_back(current);
            current.clear();
        } else {
            current.push_back(static_cast<char>(data[i]));
        }
    }
    if (!current.empty()) args.push_back(current);
    ilvr_cli::options o;
    const auto app = ilvr_cli::make_app(o);
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend());
        app->parse(reversed);
        (void)ilvr_cli::validate(o);
    } catch (const CLI::Error&) {
    } catch (const ilvr::error&) {
    }
    return 0;
}
