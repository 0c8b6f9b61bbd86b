// A fixed image of standard normals (seed 1), the input every benchmark shares.
#pragma once

#include <ilvr/tensor.hpp>

#include <random>

namespace ilvr_bench {

inline ilvr::tensor random_image(ilvr::shape4 shape)
{
    std::mt19937 gen(1);
    std::normal_distribution<float> dist;
    ilvr::tensor t(shape);
    for (auto& v : t.values()) v = dist(gen);
    return t;
}

} // namespace ilvr_bench
