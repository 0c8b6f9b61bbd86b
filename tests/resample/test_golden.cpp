// Every resize case of the reference reproduced: down, up, phi and the weight tables.
#include "support/golden.hpp"
#include "support/random.hpp"

#include <ilvr/low_pass.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>

namespace {

ilvr::tensor as_tensor(const ilvr_test::npy_array& a)
{
    REQUIRE(a.shape.size() == 4);
    return ilvr::tensor({a.shape[0], a.shape[1], a.shape[2], a.shape[3]}, a.floats());
}

// Dense [out, in] matrix of a weight table, so tables with different tap
// orderings (or dropped zero taps) compare equal when they act the same.
std::vector<double> dense(const std::vector<float>& w, const std::vector<std::int64_t>& idx, int out, int taps, int in)
{
    std::vector<double> m(static_cast<std::size_t>(out) * in, 0.0);
    for (int o = 0; o < out; ++o)
        for (int k = 0; k < taps; ++k)
            m[static_cast<std::size_t>(o) * in + static_cast<std::size_t>(idx[static_cast<std::size_t>(o * taps + k)])] +=
                w[static_cast<std::size_t>(o * taps + k)];
    return m;
}

void require_table(const ilvr::axis_weights& t, const std::string& weights_file, const std::string& fov_file)
{
    const auto gw = ilvr_test::golden(weights_file);
    const auto gf = ilvr_test::golden(fov_file);
    REQUIRE(gw.shape.size() == 2);
    const int out = static_cast<int>(gw.shape[0]), taps = static_cast<int>(gw.shape[1]);
    REQUIRE(out == t.out_length);
    const std::vector<std::int64_t> ours_idx(t.index.begin(), t.index.end());
    const auto a = dense(t.weight, ours_idx, t.out_length, t.taps, t.in_length);
    const auto b = dense(gw.floats(), gf.ints, out, taps, t.in_length);
    // Both tables are float32 roundings of the same double weights: equal to float precision.
    REQUIRE(ilvr_test::max_abs_diff(a, b) <= 1e-7);
}

} // namespace

TEST_CASE("every golden resize case is reproduced", "[resample][golden]")
{
    const auto root = ilvr_test::golden_dir() / "resize";
    const std::regex name(R"(r_(\d+)x(\d+)_c(\d+)_N(\d+)_(\w+))");
    int cases = 0;
    for (const auto& entry : std::filesystem::directory_iterator(root)) {
        const std::string id = entry.path().filename().string();
        std::smatch m;
        REQUIRE(std::regex_match(id, m, name));
        const int factor = std::stoi(m[4]);
        const auto kernel = ilvr::kernels::by_name(m[5].str());
        const std::string dir = "resize/" + id + "/";
        INFO("case " << id);

        const auto x = as_tensor(ilvr_test::golden(dir + "x"));
        const auto s = x.shape();
        ilvr::low_pass phi(static_cast<int>(s.h), static_cast<int>(s.w), factor, kernel);
        require_table(phi.down().rows(), dir + "down_weights_h", dir + "down_fov_h");
        require_table(phi.down().cols(), dir + "down_weights_w", dir + "down_fov_w");

        // 1e-5 absolute (README's tolerance): float32 sums over <= 48 taps of O(1) values.
        const auto want_down = as_tensor(ilvr_test::golden(dir + "down"));
        ilvr::tensor down(want_down.shape());
        phi.down().apply(x, down);
        REQUIRE(ilvr_test::max_abs_diff(down.values(), want_down.values()) <= 1e-5);

        if (std::filesystem::exists(root / id / "up.npy")) {  // box cannot enlarge in the reference
            require_table(phi.up().rows(), dir + "up_weights_h", dir + "up_fov_h");
            require_table(phi.up().cols(), dir + "up_weights_w", dir + "up_fov_w");
            const auto up_in = as_tensor(ilvr_test::golden(dir + "up_in"));
            const auto want_up = as_tensor(ilvr_test::golden(dir + "up"));
            ilvr::tensor up(want_up.shape());
            phi.up().apply(up_in, up);
            REQUIRE(ilvr_test::max_abs_diff(up.values(), want_up.values()) <= 1e-5);

            const auto want_phi = as_tensor(ilvr_test::golden(dir + "phi"));
            ilvr::tensor out(s);
            phi(x, out);
            REQUIRE(ilvr_test::max_abs_diff(out.values(), want_phi.values()) <= 1e-5);
        }
        ++cases;
    }
    REQUIRE(cases == 24);
}
