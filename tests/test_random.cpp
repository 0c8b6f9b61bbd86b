// The counter-based generator: Philox known answers, normal statistics, and
// independence from how draws are batched.
#include "support/random.hpp"

#include <ilvr/random.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

TEST_CASE("Philox4x32-10 gives the published known-answer vectors", "[random]")
{
    using ilvr::detail::philox4x32_10;
    // Salmon et al. (Random123) known-answer tests for philox4x32 with 10 rounds.
    auto a = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
    REQUIRE(a.v[0] == 0x6627e8d5u);
    REQUIRE(a.v[1] == 0xe169c58du);
    REQUIRE(a.v[2] == 0xbc57ac4cu);
    REQUIRE(a.v[3] == 0x9b00dbd8u);
    auto b = philox4x32_10({{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
    REQUIRE(b.v[0] == 0x408f276du);
    REQUIRE(b.v[1] == 0x41c83b0eu);
    REQUIRE(b.v[2] == 0xa20bc7c6u);
    REQUIRE(b.v[3] == 0x6d5451fdu);
    auto c = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
    REQUIRE(c.v[0] == 0xd16cfe09u);
    REQUIRE(c.v[1] == 0x94fdccebu);
    REQUIRE(c.v[2] == 0x5001e420u);
    REQUIRE(c.v[3] == 0x24126ea1u);
}

TEST_CASE("philox_noise draws standard normals", "[random]")
{
    const ilvr::philox_noise noise(12345);
    ilvr::tensor t({16, 3, 64, 64});
    noise(ilvr::noise_purpose::proposal, 7, 0, t.view());
    const double n = static_cast<double>(t.size());
    double sum = 0, sq = 0, fourth = 0;
    std::size_t beyond3 = 0;
    for (float v : t.values()) {
        sum += v, sq += double(v) * v, fourth += double(v) * v * v * v;
        beyond3 += std::abs(v) > 3.0f;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    // n = 196608 draws: sd(mean) = 1/sqrt(n) = 0.0023, sd(var) = sqrt(2/n) = 0.0032,
    // sd(E x^4) = sqrt(96/n) = 0.022; bounds are 6 sd, so a correct generator never fails.
    REQUIRE(std::abs(mean) < 6 / std::sqrt(n));
    REQUIRE(std::abs(var - 1) < 6 * std::sqrt(2 / n));
    REQUIRE(std::abs(fourth / n - 3) < 6 * std::sqrt(96 / n));
    // P(|z| > 3) = 0.0027: expect 531 +- 23.
    REQUIRE(std::abs(static_cast<double>(beyond3) - 0.0027 * n) < 6 * std::sqrt(0.0027 * n));
}

TEST_CASE("a draw depends only on (seed, sample, step, purpose, element)", "[random]")
{
    const ilvr::philox_noise noise(99);
    ilvr::tensor batch({4, 3, 5, 7}), single({1, 3, 5, 7});
    noise(ilvr::noise_purpose::reference, 3, 10, batch.view());
    noise(ilvr::noise_purpose::reference, 3, 12, single.view());  // image 12 = batch row 2
    for (std::size_t e = 0; e < single.size(); ++e) REQUIRE(single[e] == batch[2 * single.size() + e]);
    // The element function agrees with the bulk fill.
    const ilvr::noise_key key{99, 12, 3, ilvr::noise_purpose::reference};
    for (std::size_t e = 0; e < single.size(); ++e) REQUIRE(ilvr::philox_normal(key, e) == single[e]);
    // Purposes, steps, samples and seeds give different streams.
    ilvr::tensor other({1, 3, 5, 7});
    auto differs = [&](const ilvr::philox_noise& n, ilvr::noise_purpose p, int step, std::uint64_t sample) {
        n(p, step, sample, other.view());
        return other.values() != single.values();
    };
    REQUIRE(differs(noise, ilvr::noise_purpose::proposal, 3, 12));
    REQUIRE(differs(noise, ilvr::noise_purpose::reference, 4, 12));
    REQUIRE(differs(noise, ilvr::noise_purpose::reference, 3, 13));
    REQUIRE(differs(ilvr::philox_noise(100), ilvr::noise_purpose::reference, 3, 12));
}

TEST_CASE("replay_noise returns the recorded rows and rejects what it lacks", "[random][errors]")
{
    ilvr::tensor initial({3, 1, 2, 2});
    for (std::size_t e = 0; e < initial.size(); ++e) initial[e] = static_cast<float>(e);
    const ilvr::replay_noise replay(initial, {initial}, {});
    ilvr::tensor out({2, 1, 2, 2});
    replay(ilvr::noise_purpose::initial, 0, 1, out.view());
    REQUIRE(out[0] == 4.0f);
    REQUIRE(out[7] == 11.0f);
    REQUIRE_THROWS_AS(replay(ilvr::noise_purpose::reference, 0, 0, out.view()), ilvr::error);
    REQUIRE_THROWS_AS(replay(ilvr::noise_purpose::proposal, 0, 2, out.view()), ilvr::error);
    REQUIRE_THROWS_AS(ilvr::replay_noise(initial, {ilvr::tensor({1, 1, 2, 2})}, {}), ilvr::error);
}

TEST_CASE("the SIMD Philox path is bitwise the scalar one", "[random]")
{
    std::uint32_t v[4][4];
    for (std::uint32_t trial = 0; trial < 1000; ++trial) {
        for (std::uint32_t l = 0; l < 4; ++l)
            for (std::uint32_t w = 0; w < 4; ++w) v[w][l] = trial * 2654435761u + l * 40503u + w * 977u;
        std::uint32_t in[4][4];
        std::copy(&v[0][0], &v[0][0] + 16, &in[0][0]);
        const std::uint32_t k0 = trial * 7919u, k1 = ~trial;
        ilvr::detail::philox4x32_10_group(v, k0, k1);
        for (int l = 0; l < 4; ++l) {
            const auto b = ilvr::detail::philox4x32_10({{in[0][l], in[1][l], in[2][l], in[3][l]}}, k0, k1);
            for (int w = 0; w < 4; ++w) REQUIRE(v[w][l] == b.v[w]);
        }
    }
}

TEST_CASE("the AVX2 and portable fills are bitwise the scalar philox_normal, at every length", "[random]")
{
#ifdef ILVR_HAVE_LANE_SHUFFLES
    if (!ilvr::detail::cpu_has_avx2()) return;  // nothing to compare on this CPU
    for (const std::uint64_t sample : {0ull, 5ull, (1ull << 32) + 3}) {
        const ilvr::noise_key key{0x1234'5678'9abc'def0ull, sample, 17, ilvr::noise_purpose::proposal};
        const auto c3 = (key.step << 2) | static_cast<std::uint32_t>(key.purpose);
        for (std::size_t count = 1; count <= 100; ++count) {
            std::vector<float> out(count + 1, -7.0f);  // the extra element must stay untouched
            ilvr::detail::fill_normals_avx2(static_cast<std::uint32_t>(sample), static_cast<std::uint32_t>(sample >> 32),
                                            c3, 0x9abc'def0u, 0x1234'5678u, out.data(), count);
            std::vector<float> portable(count);
            ilvr::detail::fill_normals(static_cast<std::uint32_t>(sample), static_cast<std::uint32_t>(sample >> 32), c3,
                                       0x9abc'def0u, 0x1234'5678u, portable.data(), count);
            for (std::size_t e = 0; e < count; ++e) {
                REQUIRE(out[e] == ilvr::philox_normal(key, e));
                REQUIRE(out[e] == portable[e]);
            }
            REQUIRE(out[count] == -7.0f);
        }
    }
#else
    SUCCEED("no AVX2 noise path in this build (not GCC 12+ or Clang on x86-64)");
#endif
}

TEST_CASE("the polynomial log, sqrt and sin/cos are accurate over their whole domain", "[random]")
{
    double worst_log = 0, worst_sqrt = 0, worst_trig = 0;
    for (std::uint32_t i = 0; i < (1u << 24); i += 7) {
        const float u = ilvr::detail::open_unit(i << 8);
        const double l = std::log(double(u));
        worst_log = std::max(worst_log, std::abs(ilvr::detail::log_positive(u) - l) / std::max(1e-30, std::abs(l)));
        const double r = -2.0 * l;
        worst_sqrt = std::max(worst_sqrt, std::abs(ilvr::detail::sqrt_positive(float(r)) - std::sqrt(r)) / std::sqrt(r));
        float s, c;
        ilvr::detail::sincos_turns(u, s, c);
        const double a = 2 * 3.14159265358979323846 * double(u);
        worst_trig = std::max({worst_trig, std::abs(s - std::sin(a)), std::abs(c - std::cos(a))});
    }
    INFO("log " << worst_log << " sqrt " << worst_sqrt << " sin/cos " << worst_trig);
    REQUIRE(worst_log < 5e-7);   // a few float ulps relative
    REQUIRE(worst_sqrt < 5e-7);
    REQUIRE(worst_trig < 3e-7);  // absolute, |values| <= 1
}
