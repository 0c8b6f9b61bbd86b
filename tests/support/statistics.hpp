// Sample statistics over a batch, for the Gaussian-prior exactness tests.
#pragma once

#include <cstddef>

namespace ilvr_test {

/// The sum over the d coordinates of a batch of n images (image b at x + b d) of
/// each coordinate's sample variance (the 1/n estimator).
inline double summed_variance(const float* x, int n, std::size_t d)
{
    double sum = 0;
    for (std::size_t j = 0; j < d; ++j) {
        double m1 = 0, m2 = 0;
        for (int b = 0; b < n; ++b) {
            const double v = x[static_cast<std::size_t>(b) * d + j];
            m1 += v, m2 += v * v;
        }
        m1 /= n;
        sum += m2 / n - m1 * m1;
    }
    return sum;
}

} // namespace ilvr_test
