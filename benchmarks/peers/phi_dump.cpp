// Writes ilvr's results for inputs given as raw float32 files (little endian,
// C order), so that scripts/perf/peers.py can hold them against its PyTorch
// implementation written from docs/spec.md:
//
//   phi_dump phi IN OUT C H W N [kernel]
//       OUT = phi_N(IN) for one image [1, C, H, W].
//   phi_dump loop DIR B C H W N STEPS STD
//       An ILVR sampling run (linear schedule of 1000 steps respaced to STEPS,
//       DDPM with fixed small variance and clipping, Gaussian-prior exact
//       denoiser with mu = 0 and s = STD, factor N on every step, the paper's
//       noise level) that replays the noise of DIR/x_T.raw [B, C, H, W] and
//       DIR/z.raw, DIR/e.raw [STEPS, B, C, H, W] (row i = respaced index i),
//       conditioned on DIR/ref.raw [1, C, H, W]; writes DIR/final_ilvr.raw.
#include <ilvr/ilvr.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::vector<float> read_raw(const std::string& path, std::size_t count)
{
    std::ifstream in(path, std::ios::binary);
    std::vector<float> v(count);
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(float)));
    if (!in || in.gcount() != static_cast<std::streamsize>(count * sizeof(float)))
        throw std::runtime_error("cannot read " + std::to_string(count) + " floats from " + path);
    return v;
}

void write_raw(const std::string& path, const float* data, std::size_t count)
{
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(float)));
    if (!out) throw std::runtime_error("cannot write " + path);
}

int to_int(const char* s) { return std::stoi(s); }

int run_phi(int argc, char** argv)
{
    if (argc < 8) throw std::runtime_error("usage: phi_dump phi IN OUT C H W N [kernel]");
    const ilvr::shape4 shape{1, to_int(argv[4]), to_int(argv[5]), to_int(argv[6])};
    const int factor = to_int(argv[7]);
    const auto kernel = ilvr::kernels::by_name(argc > 8 ? argv[8] : "cubic");
    const ilvr::tensor x(shape, read_raw(argv[2], shape.size()));
    ilvr::tensor out(shape);
    ilvr::low_pass phi(static_cast<int>(shape.h), static_cast<int>(shape.w), factor, kernel);
    phi(x, out);
    write_raw(argv[3], out.data(), out.size());
    return 0;
}

int run_loop(int argc, char** argv)
{
    if (argc < 10) throw std::runtime_error("usage: phi_dump loop DIR B C H W N STEPS STD");
    const std::string dir = argv[2];
    const ilvr::shape4 shape{to_int(argv[3]), to_int(argv[4]), to_int(argv[5]), to_int(argv[6])};
    const int factor = to_int(argv[7]), steps = to_int(argv[8]);
    const double std_dev = std::stod(argv[9]);
    const ilvr::shape4 one{1, shape.c, shape.h, shape.w};

    ilvr::tensor x_t(shape, read_raw(dir + "/x_T.raw", shape.size()));
    const auto z = read_raw(dir + "/z.raw", shape.size() * static_cast<std::size_t>(steps));
    const auto e = read_raw(dir + "/e.raw", shape.size() * static_cast<std::size_t>(steps));
    std::vector<ilvr::tensor> proposal, reference;
    for (int i = 0; i < steps; ++i) {
        const auto first = z.begin() + static_cast<std::ptrdiff_t>(shape.size() * static_cast<std::size_t>(i));
        const auto first_e = e.begin() + static_cast<std::ptrdiff_t>(shape.size() * static_cast<std::size_t>(i));
        const auto n = static_cast<std::ptrdiff_t>(shape.size());
        proposal.emplace_back(shape, std::vector<float>(first, first + n));
        reference.emplace_back(shape, std::vector<float>(first_e, first_e + n));
    }
    const ilvr::replay_noise noise(x_t, std::move(proposal), std::move(reference));

    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, std::to_string(steps)), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(base, std_dev);
    ilvr::ilvr_conditioner cond(ilvr::tensor(one, read_raw(dir + "/ref.raw", one.size())), {.factor = factor});
    ilvr::tensor x(shape);
    sampler.run(model, noise, x, cond);
    write_raw(dir + "/final_ilvr.raw", x.data(), x.size());
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "phi") return run_phi(argc, argv);
        if (mode == "loop") return run_loop(argc, argv);
        std::cerr << "usage: phi_dump phi IN OUT C H W N [kernel] | phi_dump loop DIR B C H W N STEPS STD\n";
        return 2;
    } catch (const std::exception& ex) {
        std::cerr << "phi_dump: " << ex.what() << '\n';
        return 1;
    }
}
