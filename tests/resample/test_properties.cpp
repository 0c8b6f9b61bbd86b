// Properties of the resampler and phi_N that hold for any size, factor and kernel.
#include "support/alloc_counter.hpp"
#include "support/random.hpp"

#include <ilvr/low_pass.hpp>

#include <catch2/catch.hpp>

#include <numeric>

using ilvr::low_pass;
using ilvr::shape4;
using ilvr::tensor;
namespace kernels = ilvr::kernels;

namespace {

tensor apply(low_pass& phi, const tensor& x)
{
    tensor out(x.shape());
    phi(x, out);
    return out;
}

double dot(const tensor& a, const tensor& b)
{
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
    return s;
}

const ilvr::resampling_kernel all_kernels[] = {kernels::cubic, kernels::lanczos2, kernels::lanczos3, kernels::linear,
                                                kernels::box};

} // namespace

TEST_CASE("cubic N = 2 weights have the closed form of docs/spec.md section 5", "[resample]")
{
    low_pass phi(32, 32, 2);
    const auto& down = phi.down().rows();
    REQUIRE(down.out_length == 16);
    const double down_w[] = {-3, -9, 29, 111, 111, 29, -9, -3};
    for (int o = 2; o < 14; ++o) {  // interior outputs: no mirrored taps
        std::vector<double> row(32, 0.0);
        for (int m = 0; m < down.taps; ++m)
            row[static_cast<std::size_t>(down.index[static_cast<std::size_t>(o * down.taps + m)])] +=
                down.weight[static_cast<std::size_t>(o * down.taps + m)];
        for (int k = 0; k < 8; ++k) REQUIRE(row[static_cast<std::size_t>(2 * o - 3 + k)] == Approx(down_w[k] / 256).margin(1e-7));
        REQUIRE(std::accumulate(row.begin(), row.end(), 0.0) == Approx(1.0).margin(1e-6));
    }
    const auto& up = phi.up().rows();
    const double even[] = {-3, 29, 111, -9}, odd[] = {-9, 111, 29, -3};
    for (int o = 4; o < 28; ++o) {
        std::vector<double> row(16, 0.0);
        for (int m = 0; m < up.taps; ++m)
            row[static_cast<std::size_t>(up.index[static_cast<std::size_t>(o * up.taps + m)])] +=
                up.weight[static_cast<std::size_t>(o * up.taps + m)];
        const int k0 = o % 2 == 0 ? o / 2 - 2 : o / 2 - 1;
        for (int k = 0; k < 4; ++k)
            REQUIRE(row[static_cast<std::size_t>(k0 + k)] == Approx((o % 2 == 0 ? even : odd)[k] / 128).margin(1e-7));
    }
}

TEST_CASE("phi_N is linear and keeps constants, for every kernel and size", "[resample]")
{
    const auto x = ilvr_test::normal_tensor({2, 3, 37, 23}, 1);
    const auto y = ilvr_test::normal_tensor({2, 3, 37, 23}, 2);
    for (const auto& kernel : all_kernels)
        for (int factor : {1, 2, 3, 4, 5, 8, 23}) {
            INFO(kernel.name << " N=" << factor);
            low_pass phi(37, 23, factor, kernel);
            tensor combo(x.shape());
            for (std::size_t i = 0; i < x.size(); ++i) combo[i] = 2.0f * x[i] - 0.5f * y[i];
            const auto px = apply(phi, x), py = apply(phi, y), pc = apply(phi, combo);
            double worst = 0;
            for (std::size_t i = 0; i < x.size(); ++i)
                worst = std::max(worst, std::abs(pc[i] - (2.0 * px[i] - 0.5 * py[i])));
            // float32 rounding of sums of O(1) terms, a few ulps of values up to ~10.
            REQUIRE(worst <= 1e-5);

            // Weights sum to one, so a constant image is preserved (mean preservation).
            tensor c(x.shape());
            std::fill(c.values().begin(), c.values().end(), 0.75f);
            const auto pc_const = apply(phi, c);
            for (float v : pc_const.values()) REQUIRE(v == Approx(0.75f).margin(1e-6));
        }
}

TEST_CASE("N = 1 is exactly the identity", "[resample]")
{
    const auto x = ilvr_test::normal_tensor({1, 3, 9, 14}, 3);
    for (const auto& kernel : all_kernels) {
        low_pass phi(9, 14, 1, kernel);
        REQUIRE(apply(phi, x).values() == x.values());
    }
}

TEST_CASE("box phi_N with N dividing the side is an orthogonal projection onto block means", "[resample]")
{
    const auto x = ilvr_test::normal_tensor({1, 2, 24, 16}, 4);
    const auto y = ilvr_test::normal_tensor({1, 2, 24, 16}, 5);
    for (int factor : {2, 4, 8}) {
        INFO("N=" << factor);
        low_pass phi(24, 16, factor, kernels::box);
        const auto px = apply(phi, x), ppx = apply(phi, px), py = apply(phi, y);
        REQUIRE(ilvr_test::max_abs_diff(ppx.values(), px.values()) <= 1e-6);  // idempotent
        REQUIRE(std::abs(dot(px, y) - dot(x, py)) <= 1e-6 * static_cast<double>(x.size()));        // symmetric
        // and it is the N x N block mean.
        for (int c = 0; c < 2; ++c)
            for (int h = 0; h < 24; ++h)
                for (int w = 0; w < 16; ++w) {
                    double mean = 0;
                    for (int i = 0; i < factor; ++i)
                        for (int j = 0; j < factor; ++j)
                            mean += x.view()(0, c, h / factor * factor + i, w / factor * factor + j);
                    REQUIRE(px.view()(0, c, h, w) == Approx(mean / (factor * factor)).margin(1e-6));
                }
        // The global mean is preserved.
        REQUIRE(std::accumulate(px.values().begin(), px.values().end(), 0.0)
                == Approx(std::accumulate(x.values().begin(), x.values().end(), 0.0)).margin(1e-3));
    }
}

TEST_CASE("non-dividing sizes: ceil(L/N) low-res pixels on a centred grid, back to exactly L", "[resample]")
{
    // The rule: down gives ceil(L/N) pixels whose grid is centred on the image
    // (overhanging by (N ceil(L/N) - L)/2 pixels on each side, read by mirroring);
    // up uses the same geometry in reverse, so its output is exactly L pixels.
    const auto x = ilvr_test::normal_tensor({1, 1, 37, 23}, 6);
    for (const auto& kernel : all_kernels)
        for (int factor : {3, 4, 5, 7}) {
            // The box kernel is half-open, [-0.5, 0.5), so a tap exactly on a cell
            // edge goes one way only and flipping is not exact for it.
            if (kernel.name == "box") continue;
            INFO(kernel.name << " N=" << factor);
            low_pass phi(37, 23, factor, kernel);
            REQUIRE(phi.down().out_height() == (37 + factor - 1) / factor);
            REQUIRE(phi.down().out_width() == (23 + factor - 1) / factor);
            REQUIRE(phi.up().out_height() == 37);
            REQUIRE(phi.up().out_width() == 23);
            // A centred grid commutes with flipping the image.
            tensor flipped(x.shape());
            for (int h = 0; h < 37; ++h)
                for (int w = 0; w < 23; ++w) flipped.view()(0, 0, 36 - h, 22 - w) = x.view()(0, 0, h, w);
            const auto a = apply(phi, x), b = apply(phi, flipped);
            for (int h = 0; h < 37; ++h)
                for (int w = 0; w < 23; ++w) REQUIRE(b.view()(0, 0, 36 - h, 22 - w) == Approx(a.view()(0, 0, h, w)).margin(1e-5));
        }
    // Box with a non-dividing side: 5 pixels, N = 2 -> 3 low-res pixels centred on
    // inputs 0, 2 and 4, each averaging the 2-pixel window [c - 1, c + 1); the
    // half-open kernel keeps the right edge, and 5 mirrors to 4: (0,1), (2,3), (4,4).
    low_pass box(5, 5, 2, kernels::box);
    ilvr::tensor ramp({1, 1, 5, 5});
    for (int h = 0; h < 5; ++h)
        for (int w = 0; w < 5; ++w) ramp.view()(0, 0, h, w) = static_cast<float>(h);
    ilvr::tensor low({1, 1, 3, 3});
    box.down().apply(ramp, low);
    REQUIRE(low.view()(0, 0, 0, 0) == Approx(0.5));
    REQUIRE(low.view()(0, 0, 1, 0) == Approx(2.5));
    REQUIRE(low.view()(0, 0, 2, 0) == Approx(4.0));
}

TEST_CASE("phi_N allocates nothing once built and may run in place", "[resample]")
{
    auto x = ilvr_test::normal_tensor({4, 3, 64, 48}, 7);
    low_pass phi(64, 48, 4);
    tensor out(x.shape());
    const auto before = ilvr_test::allocations();
    phi(x, out);
    phi(x.view(), out.view());
    if (ilvr_test::counting()) REQUIRE(ilvr_test::allocations() == before);
    else WARN("allocations are not counted in this build (ThreadSanitizer)");
    phi(x, x);
    REQUIRE(x.values() == out.values());
}

TEST_CASE("phi_N rejects impossible factors and shapes", "[resample][errors]")
{
    using Catch::Contains;
    REQUIRE_THROWS_WITH(low_pass(16, 16, 0), Contains("must be >= 1"));
    REQUIRE_THROWS_WITH(low_pass(16, 16, -2), Contains("must be >= 1"));
    REQUIRE_THROWS_WITH(low_pass(16, 8, 9), Contains("larger than a side"));
    REQUIRE_THROWS_WITH(low_pass(0, 8, 1), Contains("must be positive"));
    REQUIRE_NOTHROW(low_pass(16, 8, 8));  // one low-res pixel across is allowed
    low_pass phi(16, 16, 2);
    tensor a({1, 3, 16, 16}), b({1, 3, 16, 8}), c({1, 1, 16, 16});
    REQUIRE_THROWS_WITH(phi(a, b), Contains("built for 16x16"));
    REQUIRE_THROWS_WITH(phi(a, c), Contains("built for 16x16"));
    REQUIRE_THROWS_WITH(ilvr::kernels::by_name("bicubic"), Contains("unknown resampling kernel 'bicubic'"));
}

TEST_CASE("a window of a weight table is those rows of the full table", "[resample]")
{
    // make_axis_weights(first, count) gives outputs first .. first+count-1 of the
    // full resize with the same taps (zero taps may be trimmed differently).
    for (const double scale : {0.37, 1.0, 2.5}) {
        const int in = 23, out = static_cast<int>(23 * scale + 0.5);
        const auto full = ilvr::make_axis_weights(in, out, scale, ilvr::kernels::cubic);
        const int first = out / 3, count = out / 2;
        const auto part = ilvr::make_axis_weights(in, out, scale, ilvr::kernels::cubic, first, count);
        REQUIRE(part.out_length == count);
        for (int o = 0; o < count; ++o) {
            std::vector<double> a(in, 0.0), b(in, 0.0);  // each row as a dense row over the input
            for (int m = 0; m < full.taps; ++m)
                a[full.index[(first + o) * full.taps + m]] += full.weight[(first + o) * full.taps + m];
            for (int m = 0; m < part.taps; ++m) b[part.index[o * part.taps + m]] += part.weight[o * part.taps + m];
            REQUIRE(a == b);
        }
    }
    CHECK_THROWS_WITH(ilvr::make_axis_weights(10, 20, 2.0, ilvr::kernels::cubic, 15, 6), Catch::Contains("window"));
    CHECK_THROWS_WITH(ilvr::make_axis_weights(10, 20, 2.0, ilvr::kernels::cubic, -1, 2), Catch::Contains("window"));
}

TEST_CASE("both builds of the row pass are bitwise tap_sum, at every block boundary", "[resample]")
{
    // The AVX2 build sums 64-, then 8-column blocks, then a tail; the portable one
    // 16-column blocks. Widths around each boundary check every branch against the
    // one definition of the arithmetic, tap_sum.
    for (const int cols : {1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 71, 72, 73, 128, 137, 200}) {
        const auto t = ilvr::make_axis_weights(37, 11, 11.0 / 37.0, kernels::cubic);
        const tensor in = ilvr_test::normal_tensor({1, 1, 37, cols}, static_cast<unsigned>(cols));
        std::vector<float> expected(static_cast<std::size_t>(t.out_length) * cols);
        for (int o = 0; o < t.out_length; ++o)
            for (int x = 0; x < cols; ++x)
                expected[static_cast<std::size_t>(o) * cols + x] = ilvr::detail::tap_sum(
                    &t.weight[static_cast<std::size_t>(o) * t.taps], &t.index[static_cast<std::size_t>(o) * t.taps],
                    t.taps, in.data() + x, cols);
        std::vector<float> portable(expected.size()), dispatched(expected.size());
        ilvr::detail::resize_rows_portable(in.data(), cols, t, portable.data());
        ilvr::detail::resize_rows(in.data(), cols, t, dispatched.data());
        INFO("cols = " << cols);
        CHECK(portable == expected);
        CHECK(dispatched == expected);
#ifdef ILVR_HAVE_AVX2_PATH
        if (ilvr::detail::cpu_has_avx2()) {
            std::vector<float> avx2(expected.size());
            ilvr::detail::resize_rows_avx2(in.data(), cols, t, avx2.data());
            CHECK(avx2 == expected);
        }
#endif
    }
}

TEST_CASE("the width pass in transposed strips is bitwise the direct gather, at every strip boundary", "[resample]")
{
    // resize_cols_transposed turns transposed_strip rows at a time; plane heights
    // around multiples of it check the partial last strip against resize_cols,
    // which applies tap_sum along each row directly.
    constexpr int strip = ilvr::detail::transposed_strip;
    for (const auto& [in_length, out_length, scale] : {std::tuple{37, 11, 11.0 / 37.0}, std::tuple{11, 37, 37.0 / 11.0}})
        for (const int rows : {1, 5, strip - 1, strip, strip + 1, 2 * strip + 3}) {
            const auto t = ilvr::make_axis_weights(in_length, out_length, scale, kernels::cubic);
            const tensor in = ilvr_test::normal_tensor({1, 1, rows, in_length}, static_cast<unsigned>(rows));
            std::vector<float> direct(static_cast<std::size_t>(rows) * out_length), turned(direct.size());
            std::vector<float> scratch(static_cast<std::size_t>(std::min(rows, strip)) * (in_length + out_length));
            ilvr::detail::resize_cols(in.data(), rows, t, direct.data());
            ilvr::detail::resize_cols_transposed(in.data(), rows, t, turned.data(), scratch.data());
            INFO("rows = " << rows << ", " << in_length << " -> " << out_length);
            CHECK(turned == direct);
        }
}
