// Interpolation kernels for the resampler, evaluated in double when the weight
// tables are built. Ref: docs/spec.md section 5 (ilvr_adm's resizer.py kernels).
#pragma once

#include <ilvr/error.hpp>

#include <cmath>
#include <numbers>
#include <string>
#include <string_view>

namespace ilvr {

/// A resampling kernel: its value as a function of the distance in input pixels
/// and its support (the width of the interval where it may be non-zero). Users
/// may define their own; the library's are in ilvr::kernels.
struct resampling_kernel {
    std::string_view name;
    double support;
    double (*value)(double distance);
};

namespace kernels {

namespace detail {
inline double cubic(double x)
{
    const double a = std::abs(x), a2 = a * a, a3 = std::pow(a, 3);
    if (a <= 1.0) return 1.5 * a3 - 2.5 * a2 + 1.0;
    if (a <= 2.0) return -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0;
    return 0.0;
}
template <int A>
double lanczos(double x)
{
    // The float32 epsilon in numerator and denominator makes the value at 0 exactly 1,
    // as in the reference; it is part of the reference's numbers, so it stays.
    constexpr double eps = 1.1920928955078125e-07;
    constexpr double pi = std::numbers::pi;
    if (std::abs(x) >= A) return 0.0;
    return (std::sin(pi * x) * std::sin(pi * x / A) + eps) / ((pi * pi) * (x * x) / A + eps);
}
inline double linear(double x)
{
    if (x >= -1.0 && x < 0.0) return x + 1.0;
    if (x >= 0.0 && x <= 1.0) return 1.0 - x;
    return 0.0;
}
inline double box(double x) { return (x >= -0.5 && x < 0.5) ? 1.0 : 0.0; }
} // namespace detail

/// Keys cubic convolution, a = -0.5, support 4: the default, as in ILVR.
inline constexpr resampling_kernel cubic{"cubic", 4.0, detail::cubic};
/// Lanczos with a = 2, support 4.
inline constexpr resampling_kernel lanczos2{"lanczos2", 4.0, detail::lanczos<2>};
/// Lanczos with a = 3, support 6.
inline constexpr resampling_kernel lanczos3{"lanczos3", 6.0, detail::lanczos<3>};
/// Triangle (bilinear), support 2.
inline constexpr resampling_kernel linear{"linear", 2.0, detail::linear};
/// Box, 1 on [-0.5, 0.5), support 1: with N dividing the side, phi_N is the
/// orthogonal projection onto N x N block averages.
inline constexpr resampling_kernel box{"box", 1.0, detail::box};

/// The library's kernel with this name (cubic, lanczos2, lanczos3, linear, box).
inline resampling_kernel by_name(std::string_view name)
{
    for (const auto& k : {cubic, lanczos2, lanczos3, linear, box})
        if (k.name == name) return k;
    throw ilvr::error("unknown resampling kernel '" + std::string(name)
                      + "' (expected cubic, lanczos2, lanczos3, linear or box)");
}

} // namespace kernels
} // namespace ilvr
