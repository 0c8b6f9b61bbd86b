// The same filter on raw buffers, Eigen tensors and xtensor containers: bitwise equal.
#include "support/random.hpp"

#include <ilvr/low_pass.hpp>
#ifdef ILVR_TEST_EIGEN
#include <ilvr/eigen/tensor.hpp>
#endif
#ifdef ILVR_TEST_XTENSOR
#include <ilvr/xtensor/tensor.hpp>
#endif

#include <catch2/catch.hpp>

#include <algorithm>

TEST_CASE("phi_N gives bitwise the same result on every backend", "[resample][backends]")
{
    const ilvr::shape4 s{2, 3, 20, 12};
    const auto x = ilvr_test::normal_tensor(s, 11);
    ilvr::low_pass phi(20, 12, 4);
    ilvr::tensor raw(s);
    phi(x, raw);

#ifdef ILVR_TEST_EIGEN
    SECTION("Eigen")
    {
        ilvr::eigen::tensor4 in(2, 3, 20, 12), out(2, 3, 20, 12);
        std::copy(x.values().begin(), x.values().end(), in.data());
        phi(in, out);
        REQUIRE(std::equal(raw.values().begin(), raw.values().end(), out.data()));
        // A map of the same memory works too, and maps back to an Eigen expression.
        ilvr::eigen::map4 map(out.data(), 2, 3, 20, 12);
        phi(in, map);
        REQUIRE(std::equal(raw.values().begin(), raw.values().end(), out.data()));
        REQUIRE(ilvr::eigen::map(raw.view())(1, 2, 3, 4) == raw.view()(1, 2, 3, 4));
    }
#else
    WARN("Eigen backend not built: libeigen3-dev not found");
#endif
#ifdef ILVR_TEST_XTENSOR
    SECTION("xtensor")
    {
        ilvr::xtensor::tensor4 in = ilvr::xtensor::tensor4::from_shape({2, 3, 20, 12});
        ilvr::xtensor::tensor4 out = ilvr::xtensor::tensor4::from_shape({2, 3, 20, 12});
        std::copy(x.values().begin(), x.values().end(), in.data());
        phi(in, out);
        REQUIRE(std::equal(raw.values().begin(), raw.values().end(), out.data()));
        xt::xarray<float> dyn = in;
        xt::xarray<float> dyn_out = xt::zeros<float>({2, 3, 20, 12});
        phi(dyn, dyn_out);
        REQUIRE(std::equal(raw.values().begin(), raw.values().end(), dyn_out.data()));
        REQUIRE(ilvr::xtensor::adapt(raw.view())(1, 2, 3, 4) == raw.view()(1, 2, 3, 4));
        xt::xarray<float> rank3 = xt::zeros<float>({3, 20, 12});
        REQUIRE_THROWS_AS(phi(rank3, dyn_out), ilvr::error);
    }
#else
    WARN("xtensor backend not built: libxtensor-dev not found");
#endif
}
