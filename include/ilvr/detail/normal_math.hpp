// Box-Muller from two 32-bit random words with polynomial log, sqrt and
// sin/cos: branch-free float code that vectorises on the CPU and runs unchanged
// on the GPU, so both backends turn the same words into the same normals (up to
// FMA contraction). Accuracy: log 2e-7 relative, sin/cos 1e-7 absolute, sqrt 2 ulp.
#pragma once

#include <ilvr/config.hpp>

#include <cstdint>
#include <cstring>

namespace ilvr::detail {

ILVR_HOST_DEVICE inline std::uint32_t float_bits(float x)
{
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
ILVR_HOST_DEVICE inline float bits_float(std::uint32_t u)
{
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

/// Uniform in (0, 1) from the top 24 bits: never 0 or 1.
ILVR_HOST_DEVICE inline float open_unit(std::uint32_t u)
{
    return (static_cast<float>(u >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/// Natural log of a positive normal float: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
/// log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, by its series to s^9.
ILVR_HOST_DEVICE inline float log_positive(float x)
{
    const std::uint32_t bits = float_bits(x);
    const std::int32_t e = static_cast<std::int32_t>(bits - 0x3f3504f3u) >> 23;  // 0x3f3504f3 = sqrt(1/2)
    const float m = bits_float(bits - (static_cast<std::uint32_t>(e) << 23));
    const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    const float series = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return static_cast<float>(e) * 0.693147180559945309f + 2.0f * s * series;
}

/// sqrt of a positive float: reciprocal-sqrt estimate, three Newton steps, times x.
ILVR_HOST_DEVICE inline float sqrt_positive(float x)
{
    float y = bits_float(0x5f375a86u - (float_bits(x) >> 1));
    for (int k = 0; k < 3; ++k) y = y * (1.5f - 0.5f * x * y * y);
    return x * y;
}

/// sin and cos of 2 pi u for u in [0, 1): reduce to the nearest quarter turn,
/// then Taylor polynomials on |x| <= pi/4.
ILVR_HOST_DEVICE inline void sincos_turns(float u, float& s, float& c)
{
    const int quarter = static_cast<int>(4.0f * u + 0.5f);
    const float x = 6.28318530717958647692f * (u - 0.25f * static_cast<float>(quarter)), x2 = x * x;
    const float sn = x * (1.0f + x2 * (-1.0f / 6 + x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 * (1.0f / 362880)))));
    const float cs = 1.0f + x2 * (-0.5f + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320))));
    const bool swap = (quarter & 1) != 0;
    const float a = swap ? cs : sn, b = swap ? sn : cs;
    s = (quarter & 2) != 0 ? -a : a;
    c = ((quarter + 1) & 2) != 0 ? -b : b;
}

/// Two independent standard normals from two random words (Box-Muller).
ILVR_HOST_DEVICE inline void box_muller(std::uint32_t a, std::uint32_t b, float& z0, float& z1)
{
    const float radius = sqrt_positive(-2.0f * log_positive(open_unit(a)));
    float s, c;
    sincos_turns(open_unit(b), s, c);
    z0 = radius * c;
    z1 = radius * s;
}

} // namespace ilvr::detail
