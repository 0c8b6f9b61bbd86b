// OpenCV's cv::resize as a peer of ilvr's phi_N: a 3 x H x W float image, plane
// by plane (CV_32FC1, one thread), down by N and back up to H x W.
//   area_cubic:  INTER_AREA down (block average when N divides the side), INTER_CUBIC up
//   cubic_cubic: INTER_CUBIC both ways (no antialiasing when shrinking)
// OpenCV's cubic is Keys with a = -0.75 (ilvr and the ILVR reference use a = -0.5)
// and it replicates the border pixel (BORDER_REPLICATE) where ilvr mirrors, so the
// outputs are not ilvr's phi_N; only the cost of a comparable operation is.
//
//   opencv_phi [benchmark flags]                      time both variants
//   opencv_phi --dump IN OUT_AREA OUT_CUBIC C H W N   write both outputs of a raw float32 image
#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

struct planes {
    int channels, height, width, factor;
    std::vector<float> in, low, out;

    planes(int c, int h, int w, int n)
        : channels(c), height(h), width(w), factor(n),
          in(static_cast<std::size_t>(c) * h * w), low(static_cast<std::size_t>(c) * low_h() * low_w()),
          out(in.size())
    {
    }
    int low_h() const { return (height + factor - 1) / factor; }
    int low_w() const { return (width + factor - 1) / factor; }

    void apply(int down, int up)
    {
        const std::size_t plane = static_cast<std::size_t>(height) * width;
        const std::size_t low_plane = static_cast<std::size_t>(low_h()) * low_w();
        for (int c = 0; c < channels; ++c) {
            const cv::Mat src(height, width, CV_32FC1, in.data() + c * plane);
            cv::Mat small(low_h(), low_w(), CV_32FC1, low.data() + c * low_plane);
            cv::Mat dst(height, width, CV_32FC1, out.data() + c * plane);
            cv::resize(src, small, small.size(), 0.0, 0.0, down);
            cv::resize(small, dst, dst.size(), 0.0, 0.0, up);
        }
    }
};

// args: side, factor
void run(benchmark::State& state, int down, int up)
{
    const auto side = static_cast<int>(state.range(0));
    planes p(3, side, side, static_cast<int>(state.range(1)));
    std::mt19937 gen(1);
    std::normal_distribution<float> dist;
    for (auto& v : p.in) v = dist(gen);
    for (auto _ : state) {
        p.apply(down, up);
        benchmark::DoNotOptimize(p.out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * p.in.size() * sizeof(float)));
}

void opencv_area_cubic(benchmark::State& state) { run(state, cv::INTER_AREA, cv::INTER_CUBIC); }
void opencv_cubic_cubic(benchmark::State& state) { run(state, cv::INTER_CUBIC, cv::INTER_CUBIC); }

int dump(char** argv)
{
    planes p(std::stoi(argv[5]), std::stoi(argv[6]), std::stoi(argv[7]), std::stoi(argv[8]));
    std::ifstream in(argv[2], std::ios::binary);
    in.read(reinterpret_cast<char*>(p.in.data()), static_cast<std::streamsize>(p.in.size() * sizeof(float)));
    if (!in) {
        std::cerr << "opencv_phi: cannot read " << argv[2] << '\n';
        return 1;
    }
    const std::pair<int, const char*> variants[] = {{cv::INTER_AREA, argv[3]}, {cv::INTER_CUBIC, argv[4]}};
    for (const auto& [down, path] : variants) {
        p.apply(down, cv::INTER_CUBIC);
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(p.out.data()), static_cast<std::streamsize>(p.out.size() * sizeof(float)));
        if (!out) {
            std::cerr << "opencv_phi: cannot write " << path << '\n';
            return 1;
        }
    }
    return 0;
}

} // namespace

BENCHMARK(opencv_area_cubic)->ArgNames({"side", "N"})->ArgsProduct({{256}, {2, 4, 8, 16, 32}})->Unit(benchmark::kMicrosecond);
BENCHMARK(opencv_cubic_cubic)->ArgNames({"side", "N"})->ArgsProduct({{256}, {2, 4, 8, 16, 32}})->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv)
{
    cv::setNumThreads(1);  // one thread, as every peer in scripts/perf/peers.py
    if (argc == 9 && std::strcmp(argv[1], "--dump") == 0) return dump(argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
