// The `ilvr` tool and self-describing models (examples/ilvr_cli/model_metadata.hpp):
// the metadata inside a TorchScript archive replaces the model flags, a flag that
// contradicts it is an error, a file without it behaves as before, and the
// bundled model carries it.
#include "model_metadata.hpp"
#include "run.hpp"

#include <ilvr/image/io.hpp>

#include "cli_support.hpp"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Catch::Contains;
using Catch::StartsWith;

using namespace cli_test;

namespace {

// eps and v for 3 channels: elementwise, so any size and batch runs.
const char* eps_v_forward = "def forward(self, x, t):\n"
                            "    return torch.cat([torch.tanh(x) * 0.3, torch.tanh(x) * 0.1], 1)\n";

const std::string adm_like = R"({"format": "ilvr-model-1", "image_size": 8, "channels": 3, "learn_sigma": true,
    "diffusion_steps": 1000, "noise_schedule": "linear", "timestep_input": "original",
    "rescale_timesteps": false, "timestep_respacing": "5", "class_label": null, "source": {"flags": "--x"}})";

} // namespace

TEST_CASE("model metadata: parsed, with the key at fault named", "[cli][metadata]")
{
    const auto m = ilvr_cli::parse_model_metadata(adm_like, "f.pt");
    CHECK(m.image_size == 8);
    CHECK(m.channels == 3);
    CHECK(m.learn_sigma);
    CHECK(m.diffusion_steps == 1000);
    CHECK(m.noise_schedule == "linear");
    CHECK(m.respacing == "5");
    CHECK_FALSE(m.class_label.has_value());
    CHECK(ilvr_cli::parse_model_metadata(R"({"image_size": 4, "channels": 1, "learn_sigma": false,
                                             "class_label": 207})", "f.pt").class_label == 207);

    auto error_of = [](const std::string& text) {
        try {
            ilvr_cli::parse_model_metadata(text, "f.pt");
        } catch (const ilvr::error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(error_of("{"), StartsWith("model 'f.pt': metadata ilvr.json: not valid JSON"));
    CHECK_THAT(error_of("[1]"), Contains("not a JSON object"));
    CHECK_THAT(error_of(R"({"channels": 3, "learn_sigma": true})"), Contains("'image_size' must be an integer"));
    CHECK_THAT(error_of(R"({"image_size": 0, "channels": 3, "learn_sigma": true})"), Contains("'image_size' 0 is out of range"));
    CHECK_THAT(error_of(R"({"image_size": 8, "channels": 2, "learn_sigma": true})"), Contains("'channels' must be 1 or 3"));
    CHECK_THAT(error_of(R"({"image_size": 8, "channels": 3, "learn_sigma": "yes"})"), Contains("'learn_sigma' must be true or false"));
    CHECK_THAT(error_of(R"({"format": "v9", "image_size": 8, "channels": 3, "learn_sigma": true})"),
               Contains("format \"v9\" is not supported"));
    CHECK_THAT(error_of(R"({"image_size": 8, "channels": 3, "learn_sigma": true, "timestep_input": "rescaled"})"),
               Contains("timestep_input 'rescaled' is not supported"));
    CHECK_THAT(error_of(R"({"image_size": 8, "channels": 3, "learn_sigma": true, "noise_schedule": 3})"),
               Contains("'noise_schedule' must be a string"));
}

TEST_CASE("model metadata: fills the model options not given; a given one must agree", "[cli][metadata]")
{
    const auto m = ilvr_cli::parse_model_metadata(adm_like, "f.pt");
    ilvr_cli::options o;
    ilvr_cli::apply_model_metadata(o, m, {});
    CHECK(o.image_size == 8);
    CHECK(o.channels == 3);
    CHECK(o.learn_sigma);
    CHECK(o.respacing == "5");  // the source's respacing is the default

    ilvr_cli::options agree;
    agree.image_size = 8, agree.channels = 3, agree.learn_sigma = true, agree.respacing = "ddim10";
    ilvr_cli::apply_model_metadata(agree, m, {.image_size = true, .channels = true, .learn_sigma = true,
                                              .timesteps = true, .schedule = true, .respacing = true});
    CHECK(agree.respacing == "ddim10");  // a given --respacing wins

    auto contradiction = [&](auto set, ilvr_cli::given_model_options given) {
        ilvr_cli::options bad;
        set(bad);
        try {
            ilvr_cli::apply_model_metadata(bad, m, given);
        } catch (const ilvr::error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(contradiction([](auto& o) { o.image_size = 16; }, {.image_size = true}),
               StartsWith("--image-size 16 contradicts the model's metadata (image_size 8)"));
    CHECK_THAT(contradiction([](auto& o) { o.channels = 1; }, {.channels = true}),
               StartsWith("--channels 1 contradicts the model's metadata (channels 3)"));
    CHECK_THAT(contradiction([](auto& o) { o.timesteps = 4000; }, {.timesteps = true}),
               StartsWith("--timesteps 4000 contradicts the model's metadata (diffusion_steps 1000)"));
    CHECK_THAT(contradiction([](auto& o) { o.schedule = "cosine"; }, {.schedule = true}),
               StartsWith("--schedule cosine contradicts the model's metadata (noise_schedule linear)"));
    const auto eps_only = ilvr_cli::parse_model_metadata(R"({"image_size": 8, "channels": 3, "learn_sigma": false})", "f.pt");
    ilvr_cli::options sigma;
    sigma.learn_sigma = true;
    CHECK_THROWS_WITH(ilvr_cli::apply_model_metadata(sigma, eps_only, {.learn_sigma = true}),
                      StartsWith("--learn-sigma contradicts the model's metadata (learn_sigma false"));
}

TEST_CASE("model metadata: `ilvr --model OUT.pt ref.png` needs no model flags", "[cli][metadata]")
{
    const ilvr_test::temp_folder dir("test-metadata");
    const fs::path model = dir.path / "adm.pt";
    save_module(model, eps_v_forward, adm_like);
    const fs::path ref = dir.path / "ref.png";
    ilvr::save_png(ref, ilvr::tensor({1, 3, 12, 12}));

    const auto r = run_cli({"--model", model.string(), ref.string(), "--samples", "1", "--factor", "2",
                             "--threads", "1", "--out", (dir.path / "out").string()});
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.err, Contains("5 steps"));  // the metadata's respacing
    const auto sample = ilvr::load_image(dir.path / "out" / "ref" / "N2" / "sample-0.png", 3);
    CHECK(sample.shape() == ilvr::shape4{1, 3, 8, 8});

    // A contradicting flag is one error line, before anything is sampled.
    const auto bad = run_cli({"--model", model.string(), ref.string(), "--image-size", "16",
                               "--out", (dir.path / "bad").string()});
    CHECK(bad.code == 2);
    CHECK_THAT(bad.err, StartsWith("ilvr: error: --image-size 16 contradicts the model's metadata (image_size 8)"));
    CHECK_FALSE(fs::exists(dir.path / "bad"));

    // Agreeing flags are accepted.
    const auto same = run_cli({"--model", model.string(), ref.string(), "--image-size", "8", "--channels", "3",
                                "--learn-sigma", "--respacing", "3", "--samples", "1", "--factor", "2", "-q",
                                "--threads", "1", "--out", (dir.path / "same").string()});
    CHECK(same.code == 0);
}

TEST_CASE("model metadata: a file without it behaves as before", "[cli][metadata]")
{
    const ilvr_test::temp_folder dir("test-metadata");
    const fs::path model = dir.path / "plain.pt";
    save_module(model, eps_v_forward, "");
    CHECK_FALSE(ilvr_cli::read_model_metadata(model).has_value());
    const fs::path ref = dir.path / "ref.png";
    ilvr::save_png(ref, ilvr::tensor({1, 3, 12, 12}));
    const auto r = run_cli({"--model", model.string(), ref.string(), "--image-size", "4", "--channels", "3",
                             "--learn-sigma", "--respacing", "3", "--samples", "1", "--factor", "2", "-q",
                             "--threads", "1", "--out", (dir.path / "out").string()});
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK(ilvr::load_image(dir.path / "out" / "ref" / "N2" / "sample-0.png", 3).shape() == ilvr::shape4{1, 3, 4, 4});
    // Not a TorchScript archive at all: no metadata, and loading reports it as before.
    const fs::path junk = dir.path / "junk.pt";
    { std::ofstream(junk) << "not a zip"; }
    CHECK_FALSE(ilvr_cli::read_model_metadata(junk).has_value());
}

TEST_CASE("model metadata: the bundled model describes itself", "[cli][metadata]")
{
    const auto m = ilvr_cli::read_model_metadata(ilvr_cli::default_model());
    REQUIRE(m.has_value());
    CHECK(m->image_size == 32);
    CHECK(m->channels == 1);
    CHECK_FALSE(m->learn_sigma);
    CHECK(m->diffusion_steps == 1000);
    CHECK(m->noise_schedule == "linear");
    CHECK(m->respacing.empty());
}
