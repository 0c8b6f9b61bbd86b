// Builds against ilvr as a user would and checks one filter application.
#include <ilvr/ilvr.hpp>
#ifdef CONSUMER_EIGEN
#include <ilvr/eigen/tensor.hpp>
#endif
#ifdef CONSUMER_XTENSOR
#include <ilvr/xtensor/tensor.hpp>
#endif

#include <cmath>
#include <cstdio>

int main()
{
    ilvr::tensor x({1, 1, 8, 8});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f;
    ilvr::low_pass phi(8, 8, 2);
    phi(x, x);
    for (std::size_t i = 0; i < x.size(); ++i)
        if (std::abs(x[i] - 0.5f) > 1e-6f) return 1;
#ifdef CONSUMER_EIGEN
    ilvr::eigen::tensor4 e(1, 1, 8, 8);
    e.setConstant(0.5f);
    phi(e, e);
#endif
#ifdef CONSUMER_XTENSOR
    ilvr::xtensor::tensor4 t = ilvr::xtensor::tensor4::from_shape({1, 1, 8, 8});
    phi(t, t);
#endif
    std::puts("consumer ok");
    return 0;
}
