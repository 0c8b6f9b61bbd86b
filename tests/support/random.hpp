// Deterministic test inputs.
#pragma once

#include <ilvr/tensor.hpp>

#include <random>

namespace ilvr_test {

/// A tensor of standard normal values from a fixed seed.
inline ilvr::tensor normal_tensor(ilvr::shape4 shape, unsigned seed)
{
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist;
    ilvr::tensor t(shape);
    for (auto& v : t.values()) v = dist(gen);
    return t;
}

/// Largest |a - b| over two equally long ranges.
template <class A, class B>
double max_abs_diff(const A& a, const B& b)
{
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    return worst;
}

} // namespace ilvr_test
