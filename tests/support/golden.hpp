// Where the golden vectors live, and a clean skip (ctest exit code 77) where they don't.
#pragma once

#include "npy.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#ifndef ILVR_GOLDEN_DIR
#define ILVR_GOLDEN_DIR ""
#endif

namespace ilvr_test {

/// Exit code that ctest reports as "skipped" (SKIP_RETURN_CODE of every test).
inline constexpr int skip_code = 77;

/// Ends the test process as skipped, with the reason on stderr.
[[noreturn]] inline void skip(const std::string& why)
{
    std::cerr << "SKIPPED: " << why << std::endl;
    std::exit(skip_code);
}

/// The golden folder: $ILVR_GOLDEN_DIR, else the CMake cache variable of the same
/// name. Skips the test with a clear message when the folder is absent.
inline std::filesystem::path golden_dir()
{
    const char* env = std::getenv("ILVR_GOLDEN_DIR");
    const std::filesystem::path dir = env && *env ? env : ILVR_GOLDEN_DIR;
    if (dir.empty() || !std::filesystem::exists(dir / "manifest.json"))
        skip("golden vectors not found at '" + dir.string()
             + "' (set ILVR_GOLDEN_DIR, as an environment or CMake cache variable, to the folder)");
    return dir;
}

/// Reads golden/<relative>.npy.
inline npy_array golden(const std::string& relative)
{
    return read_npy((golden_dir() / (relative + ".npy")).string());
}

} // namespace ilvr_test
