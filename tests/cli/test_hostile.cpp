// The `ilvr` tool under hostile or careless input (issue "hostile input and real
// clusters"): outputs that are not regular files, names that would escape the
// output folder, numbers that wrap, unbounded memory, signals in every phase,
// the network's own errors, resume integrity, the folder lock, sample-granular
// shards and --shard auto. Fast: an elementwise TorchScript model, a few steps.
#include "options.hpp"
#include "run.hpp"

#include <ilvr/image/io.hpp>

#include "cli_support.hpp"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using Catch::Contains;

using namespace cli_test;

namespace {

/// Every regular file under `root`, the manifest and lock included.
std::vector<fs::path> all_files_under(const fs::path& root) { return files_under(root, true); }

struct temp_folder : ilvr_test::temp_folder {
    temp_folder() : ilvr_test::temp_folder("test-hostile") {}
};

/// A small job on the elementwise model; `extra` appended.
struct small_job {
    temp_folder& tmp;
    fs::path model = tmp / "eps.pt";

    explicit small_job(temp_folder& t) : tmp(t) { save_module(model, elementwise_eps); }

    /// The job's arguments; an option in `extra` replaces the default one.
    std::vector<std::string> args(const fs::path& out, const std::vector<std::string>& extra) const
    {
        std::vector<std::string> a{"--model", model.string(), "--quiet", "--out", out.string(),
                                   bundled("references/t10k-0001-pullover.png").string()};
        for (const auto& [option, value] : {std::pair{"--respacing", "4"}, std::pair{"--samples", "3"},
                                            std::pair{"--batch", "2"}, std::pair{"--threads", "1"}})
            if (std::find(extra.begin(), extra.end(), option) == extra.end()) a.insert(a.end(), {option, value});
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    result run(const fs::path& out, const std::vector<std::string>& extra = {}) const { return run_cli(args(out, extra)); }
};

/// Makes a Unix socket file at `path` (left in place when the descriptor closes).
void make_socket(const fs::path& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string name = path.string();
    REQUIRE(name.size() < sizeof address.sun_path);
    std::copy(name.begin(), name.end(), address.sun_path);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
}

/// Runs the built `ilvr` executable in a child process, stderr to `err_file`.
pid_t spawn(const std::vector<std::string>& args, const fs::path& err_file)
{
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 2);
        ::dup2(fd, 1);
        std::vector<char*> argv{const_cast<char*>(ILVR_CLI_EXECUTABLE)};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(ILVR_CLI_EXECUTABLE, argv.data());
        ::_exit(127);
    }
    return pid;
}

/// The exit code of a child (128 + n if a signal n ended it without a handler: never expected).
int wait_exit(pid_t pid)
{
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

} // namespace

TEST_CASE("hostile: an output is never written over anything but a regular file", "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path out = tmp / "out";
    std::ofstream(tmp / "target.png") << "the link's target";
    fs::create_symlink(tmp / "target.png", tmp / "link.png");
    REQUIRE(::mkfifo((tmp / "fifo.png").c_str(), 0644) == 0);
    make_socket(tmp / "socket.png");
    fs::create_directories(tmp / "folder.png");
    std::ofstream(tmp / "file") << "a file";

    SECTION("--grid: a symbolic link, a FIFO, a socket, a folder, under a file")
    {
        require_one_line_error(job.run(out, {"--grid", (tmp / "link.png").string()}), "is a symbolic link");
        require_one_line_error(job.run(out, {"--grid", (tmp / "fifo.png").string()}), "is a FIFO, not a regular file");
        require_one_line_error(job.run(out, {"--grid", (tmp / "socket.png").string()}), "is a socket");
        require_one_line_error(job.run(out, {"--grid", (tmp / "folder.png").string()}), "is a folder");
        require_one_line_error(job.run(out, {"--grid", (tmp / "file" / "grid.png").string()}), "is a regular file, not a folder");
    }
    SECTION("--grid: one of the job's samples, its manifest, a reference, the model")
    {
        const std::string sample = (out / "t10k-0001-pullover" / "N4" / "sample-2.png").string();
        require_one_line_error(job.run(out, {"--grid", sample}), "is a sample of this job");
        require_one_line_error(job.run(out, {"--grid", (out / "t10k-0001-pullover").string()}), "sample folder");
        require_one_line_error(job.run(out, {"--grid", (out / "ilvr-job.txt").string()}), "ilvr-job.txt");
        require_one_line_error(job.run(out, {"--grid", bundled("references/t10k-0001-pullover.png").string()}), "is the reference");
        require_one_line_error(job.run(out, {"--grid", job.model.string()}), "is the model file");
    }
    SECTION("a sample's path holding a link, a FIFO or a folder")
    {
        const fs::path folder = out / "t10k-0001-pullover" / "N4";
        fs::create_directories(folder);
        fs::create_symlink(tmp / "target.png", folder / "sample-0.png");
        REQUIRE(::mkfifo((folder / "sample-1.png").c_str(), 0644) == 0);
        fs::create_directories(folder / "sample-2.png");
        require_one_line_error(job.run(out), "sample-");
        CHECK(fs::is_symlink(folder / "sample-0.png"));
        CHECK(fs::is_fifo(folder / "sample-1.png"));
        fs::remove(folder / "sample-0.png");
        fs::remove(folder / "sample-1.png");
        require_one_line_error(job.run(out), "sample-2.png' is a folder");
        fs::remove(folder / "sample-2.png");
        fs::remove_all(out);
        fs::create_directories(out);
        std::ofstream(out / "t10k-0001-pullover") << "a file where a sample folder goes";
        require_one_line_error(job.run(out), "exists and is not a folder");
        fs::remove_all(out);
    }
    SECTION("--out: the reference folder, or a folder holding it")
    {
        fs::create_directories(tmp / "refs");
        fs::copy_file(bundled("references/t10k-0002-trouser.png"), tmp / "refs" / "trouser.png");
        require_one_line_error(run_cli({"--model", job.model.string(), "--out", (tmp / "refs").string(), (tmp / "refs").string()}),
                      "holds the reference folder");
        require_one_line_error(run_cli({"--model", job.model.string(), "--out", tmp.path.string(), (tmp / "refs").string()}),
                      "holds the reference folder");
    }
    // Nothing was replaced or written.
    CHECK(fs::is_symlink(tmp / "link.png"));
    CHECK(read_bytes(tmp / "target.png") == "the link's target");
    CHECK(fs::is_fifo(tmp / "fifo.png"));
    CHECK(fs::is_socket(tmp / "socket.png"));
    CHECK(fs::is_directory(tmp / "folder.png"));
    CHECK_FALSE(fs::exists(out / "grid.png"));

    SECTION("an --out that is a symbolic link to a folder is used")
    {
        fs::create_directories(tmp / "real");
        fs::create_directory_symlink(tmp / "real", tmp / "linked");
        REQUIRE(job.run(tmp / "linked").code == 0);
        CHECK(fs::is_regular_file(tmp / "real" / "grid.png"));
    }
}

TEST_CASE("hostile: names made from references stay inside the output folder", "[cli][hostile]")
{
    CHECK(ilvr_cli::safe_name("..") == "__");
    CHECK(ilvr_cli::safe_name(".") == "_");
    CHECK(ilvr_cli::safe_name(".hidden") == "_hidden");
    CHECK(ilvr_cli::safe_name("") == "_");
    CHECK(ilvr_cli::safe_name("a/b\\c\nd") == "a_b_c_d");
    CHECK(ilvr_cli::safe_name("grid.png") == "_grid.png");
    CHECK(ilvr_cli::safe_name("GRID.PNG") == "_GRID.PNG");
    CHECK(ilvr_cli::safe_name("unconditional") == "_unconditional");
    CHECK(ilvr_cli::safe_name("ilvr-job.txt") == "_ilvr-job.txt");
    CHECK(ilvr_cli::safe_name("t10k-0000") == "t10k-0000");
    CHECK(ilvr_cli::safe_name(std::string(300, 'x')).size() == 200);
    CHECK(ilvr_cli::safe_name(std::string(199, 'x') + "\xc3\xa9").size() == 199);  // not inside a character

    temp_folder tmp;
    const small_job job(tmp);
    fs::create_directories(tmp / "refs");
    for (const char* name : {"...png", "grid.png.png", "unconditional.png"})
        fs::copy_file(bundled("references/t10k-0002-trouser.png"), tmp / "refs" / name);
    const fs::path out = tmp / "out";
    const auto r = run_cli({"--model", job.model.string(), "--respacing", "3", "--samples", "1", "--threads", "1",
                            "--quiet", "--out", out.string(), (tmp / "refs").string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(all_files_under(out) == std::vector<fs::path>{".ilvr-lock", "__/N4/sample-0.png", "_grid.png/N4/sample-0.png",
                                                    "_unconditional/N4/sample-0.png", "grid.png", "ilvr-job.txt"});
    CHECK(all_files_under(tmp / "refs").size() == 3);  // nothing landed beside the references
}

TEST_CASE("hostile: numbers are parsed exactly", "[cli][hostile]")
{
    temp_folder tmp;
    const std::string out = (tmp / "out").string();
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.end(), {"--out", out, "--quiet"});
        return run_cli(args);
    };
    require_one_line_error(run({"--seed", "-1"}), "--seed '-1': not an integer in 0 .. 18446744073709551615");
    require_one_line_error(run({"--seed", "18446744073709551616"}), "--seed '18446744073709551616'");
    require_one_line_error(run({"--seed", "99999999999999999999999"}), "not an integer");
    require_one_line_error(run({"--seed", "1e3"}), "--seed '1e3'");
    require_one_line_error(run({"--seed", " 7"}), "--seed ' 7'");
    require_one_line_error(run({"--samples", "99999999999"}), "--samples '99999999999': not an integer in -2147483648");
    require_one_line_error(run({"--image-size", "32.5"}), "--image-size '32.5'");
    require_one_line_error(run({"--sampler", "ddim", "--eta", "inf"}), "--eta 'inf': not a finite number");
    require_one_line_error(run({"--sampler", "ddim", "--eta", "nan"}), "--eta 'nan': not a finite number");
    require_one_line_error(run({"--sampler", "ddim", "--eta", "1e999"}), "--eta '1e999': not a finite number");
    require_one_line_error(run({"--sampler", "ddim", "--eta", "-0.5"}), "must be finite and >= 0");
    require_one_line_error(run({"--factor", "2,"}), "--factor '2,': an empty item");
    require_one_line_error(run({"--factor", ",2"}), "an empty item");
    require_one_line_error(run({"--factor", "2,,4"}), "an empty item");
    require_one_line_error(run({"--factor", ""}), "--factor '': an empty value");
    // (validated directly: the bundled model's metadata names its own T)
    CHECK_THROWS_WITH(ilvr_cli::validate(ilvr_cli::parse({"--timesteps", "2147483647"})),
                      Contains("--timesteps 2147483647: must be between 2 and 100000"));
    require_one_line_error(run({"--max-memory", "lots"}), "--max-memory 'lots'");
    require_one_line_error(run({"--max-memory", "-1G"}), "--max-memory '-1G'");
    CHECK_FALSE(fs::exists(out));

    const auto top = ilvr_cli::validate(ilvr_cli::parse({"--seed", "18446744073709551615", "--max-memory", "1.5G"}));
    CHECK(top.seed == 18446744073709551615ull);
    CHECK(top.max_memory == 1610612736ull);
    CHECK(ilvr_cli::parse_size("512M") == 536870912ull);
    CHECK(ilvr_cli::parse_size("4KiB") == 4096ull);
    CHECK(ilvr_cli::parse_size("1000") == 1000ull);
    CHECK_FALSE(ilvr_cli::parse_size("inf"));
    CHECK_FALSE(ilvr_cli::parse_size("0"));

    // More threads than cores: capped, with a warning (docs/tool.md).
    const int cores = ilvr_cli::detail::available_cores();
    const auto many = ilvr_cli::validate(ilvr_cli::parse({"--threads", std::to_string(cores + 1000)}));
    CHECK(many.threads == cores);
    REQUIRE(many.warnings.size() == 1);
    CHECK_THAT(many.warnings[0], Contains("exceeds the " + std::to_string(cores) + " available cores"));
    CHECK(ilvr_cli::validate(ilvr_cli::parse({"--threads", "1"})).warnings.empty());
}

TEST_CASE("hostile: memory is estimated before it is allocated", "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path out = tmp / "out";
    // A limit below what the process holds already: refused before the model loads.
    const auto small = job.run(out, {"--max-memory", "1M"});
    require_one_line_error(small, "the job needs about ");
    CHECK_THAT(small.err, Contains("more than the 1.0 MiB available (--max-memory)"));
    // Samples by the billion: the sample list alone exceeds any machine here.
    require_one_line_error(job.run(out, {"--samples", "2000000000", "--max-memory", "64G"}), "sample list");
    // A batch whose network activations (measured at batch 1) exceed the limit:
    // refused after the check call, before sampling.
    save_module(tmp / "hungry.pt", "def forward(self, x, t):\n"
                                   "    y = x.repeat(1, 4096, 1, 1)\n"  // 16 MiB an image at 32 x 32
                                   "    return y[:, :1] * 0.0 + y.mean() * 0.0 + x * 0.1\n");
    const auto base = static_cast<double>(ilvr_cli::resident_bytes());
    const std::string limit = std::to_string(static_cast<long long>((base + 300.0 * 1048576.0) / 1048576.0)) + "M";
    require_one_line_error(run_cli({"--model", (tmp / "hungry.pt").string(), "--samples", "64", "--batch", "64", "--respacing",
                           "2", "--threads", "1", "--quiet", "--max-memory", limit, "--out", out.string()}),
                  "network (");
    CHECK_FALSE(fs::exists(out));
    // A reference file larger than the limit is refused by its size, unread.
    {
        std::ofstream big(tmp / "big.png", std::ios::binary);
        big.seekp(static_cast<std::streamoff>(ilvr_cli::max_reference_bytes));
        big.put('x');
    }
    require_one_line_error(job.run(out, {(tmp / "big.png").string()}), "more than the 128 MiB limit");
}

TEST_CASE("hostile: a reference read from a FIFO, and a signal while it waits", "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path fifo = tmp / "ref.png";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    const std::string png = read_bytes(bundled("references/t10k-0001-pullover.png"));

    SECTION("a writer that comes later is waited for")
    {
        std::thread writer([&] {
            const int fd = ::open(fifo.c_str(), O_WRONLY);  // blocks until the tool opens it
            REQUIRE(::write(fd, png.data(), png.size()) == static_cast<ssize_t>(png.size()));
            ::close(fd);
        });
        const auto r = run_cli({"--model", job.model.string(), "--respacing", "3", "--samples", "1", "--threads", "1",
                                "--quiet", "--out", (tmp / "out").string(), fifo.string()});
        writer.join();
        INFO(r.err);
        CHECK(r.code == 0);
    }
    SECTION("SIGTERM and SIGINT end the executable while it waits: exit 143 and 130, nothing written")
    {
        for (const int signal : {SIGTERM, SIGINT}) {
            const fs::path out = tmp / ("out" + std::to_string(signal));
            const pid_t pid = spawn(job.args(out, {fifo.string()}), tmp / "stderr.txt");
            // Wait (without a clock) until the tool has the FIFO open: a non-blocking
            // open for writing succeeds once a reader exists.
            int fd = -1;
            for (int tries = 0; fd < 0 && tries < 30000; ++tries) {
                fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
                if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            REQUIRE(fd >= 0);
            ::kill(pid, signal);
            CHECK(wait_exit(pid) == 128 + signal);
            ::close(fd);
            CHECK_THAT(read_bytes(tmp / "stderr.txt"), Contains("interrupted by signal " + std::to_string(signal)));
            CHECK_FALSE(fs::exists(out));
        }
    }
}

TEST_CASE("hostile: a signal while sampling leaves only whole samples, and --resume completes the job",
          "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path out = tmp / "out", whole = tmp / "whole";
    const std::vector<std::string> long_job{"--samples", "24", "--batch", "1", "--respacing", "500"};
    const auto args = job.args(out, long_job);
    const pid_t pid = spawn(args, tmp / "stderr.txt");
    const fs::path first = out / "t10k-0001-pullover" / "N4" / "sample-0.png";
    for (int tries = 0; !fs::exists(first) && tries < 60000; ++tries)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ::kill(pid, SIGTERM);
    REQUIRE(wait_exit(pid) == 143);
    const auto files = all_files_under(out);
    std::size_t samples = 0;
    for (const auto& f : files) {
        INFO(f);
        CHECK(f.string().find(".tmp-") == std::string::npos);
        if (f.extension() == ".png") {
            ++samples;
            CHECK(ilvr::load_image(out / f, 1).shape() == ilvr::shape4{1, 1, 32, 32});
        }
    }
    CHECK(samples >= 1);
    CHECK(samples < 24);  // stopped in the middle

    // --resume draws the rest; every file equals an uninterrupted run's.
    auto resume = args;
    resume.push_back("--resume");
    REQUIRE(run_cli(resume).code == 0);
    REQUIRE(run_cli(job.args(whole, long_job)).code == 0);
    REQUIRE(all_files_under(out) == all_files_under(whole));
    for (const auto& f : all_files_under(whole)) {
        INFO(f);
        CHECK(read_bytes(out / f) == read_bytes(whole / f));
    }
}

TEST_CASE("hostile: the network's own error, its step, and outputs that are not float32", "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path out = tmp / "out";
    auto run = [&](const std::string& forward) {
        save_module(tmp / "m.pt", forward);
        return run_cli({"--model", (tmp / "m.pt").string(), "--respacing", "4", "--samples", "2", "--batch", "2",
                        "--threads", "1", "--quiet", "--out", out.string()});
    };
    const auto boom = run("def forward(self, x, t):\n"
                          "    assert bool((t >= 500).all()), 'boom at t < 500'\n"
                          "    return x * 0.1\n");
    require_one_line_error(boom, "boom at t < 500 (");
    CHECK_THAT(boom.err, Contains("timestep 333") && Contains("line ") &&
                             !Contains("The following operation failed"));
    require_one_line_error(run("def forward(self, x, t):\n    return (x * 0.0).long()\n"), "returns Long, expected float32");
    require_one_line_error(run("def forward(self, x, t):\n    return (x * 0.0).double()\n"), "returns Double, expected float32");
    // Fine at batch 1 (the check call), broken at batch 2; and NaN: the error
    // names the step, and no empty folder is left behind.
    require_one_line_error(run("def forward(self, x, t):\n    return x.view(1, 1, 32, 32) * 0.1\n"), "timestep 999");
    CHECK_FALSE(fs::exists(out));
    const auto nan = run("def forward(self, x, t):\n"
                         "    return x * 0.0 + torch.log(t.float() - 500.0).view(-1, 1, 1, 1)\n");
    require_one_line_error(nan, "returned NaN or Inf");
    CHECK_THAT(nan.err, Contains("timestep 333"));
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("hostile: --resume continues only its own job, redraws damaged samples, removes stale temporaries",
          "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path out = tmp / "out", whole = tmp / "whole";
    REQUIRE(job.run(whole).code == 0);
    REQUIRE(job.run(out).code == 0);
    const auto files = all_files_under(whole);
    REQUIRE(files.size() == 3 + 3);  // 3 samples, grid, manifest, lock
    const std::string manifest = read_bytes(out / "ilvr-job.txt");
    CHECK_THAT(manifest, Contains("seed: 0") && Contains("samples: 3") && Contains("model: ") &&
                             Contains("library: ") && Contains("reference: "));

    // Another job's options, or another model: refused, nothing touched.
    require_one_line_error(job.run(out, {"--resume", "--seed", "5"}), "holds another job (seed was 0, now 5)");
    require_one_line_error(job.run(out, {"--resume", "--samples", "4"}), "samples was 3, now 4");
    require_one_line_error(job.run(out, {"--resume", "--factor", "8"}), "factors was 4, now 8");
    save_module(tmp / "other.pt", "def forward(self, x, t):\n    return x * 0.2\n");
    require_one_line_error(run_cli({"--model", (tmp / "other.pt").string(), "--respacing", "4", "--samples", "3", "--quiet",
                           "--resume", "--out", out.string(), bundled("references/t10k-0001-pullover.png").string()}),
                  "model was");
    CHECK(read_bytes(out / "ilvr-job.txt") == manifest);

    // Damaged samples (empty, not a PNG, a PNG of another size) and stale
    // temporaries of a killed process: redrawn and removed.
    const fs::path folder = out / "t10k-0001-pullover" / "N4";
    std::ofstream(folder / "sample-0.png").close();
    std::ofstream(folder / "sample-1.png") << "not a png";
    ilvr::save_png(folder / "sample-2.png", ilvr::tensor({1, 1, 8, 8}));
    std::ofstream(folder / "sample-0.png.tmp-999999-0") << "partial";
    std::ofstream(out / "grid.png.tmp-999999-1") << "partial";
    const auto r = job.run(out, {"--resume"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    REQUIRE(all_files_under(out) == files);
    for (const auto& f : files) {
        INFO(f);
        CHECK(read_bytes(out / f) == read_bytes(whole / f));
    }

    // Samples without a manifest are of unknown origin: --resume refuses them.
    fs::remove(out / "ilvr-job.txt");
    require_one_line_error(job.run(out, {"--resume"}), "holds samples but no job manifest");
    // A fresh run (no --resume) takes the folder over: the old samples go first,
    // so an interrupted fresh run never leaves them to a later --resume.
    REQUIRE(job.run(out, {"--seed", "9"}).code == 0);
    CHECK_THAT(read_bytes(out / "ilvr-job.txt"), Contains("seed: 9"));
    CHECK(read_bytes(out / "t10k-0001-pullover" / "N4" / "sample-0.png") !=
          read_bytes(whole / "t10k-0001-pullover" / "N4" / "sample-0.png"));
}

TEST_CASE("hostile: a second job in a folder is refused, shards of one job share it", "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path out = tmp / "out";
    fs::create_directories(out);
    {
        const ilvr_cli::folder_lock other(out, 0, 1);  // a whole job holds the folder
        require_one_line_error(job.run(out), "another ilvr job is writing");
        require_one_line_error(job.run(out, {"--resume"}), "another ilvr job is writing");
    }
    {
        const ilvr_cli::folder_lock other(out, 0, 2);  // shard 0/2 of a job runs
        require_one_line_error(job.run(out), "another ilvr job is writing");
        require_one_line_error(job.run(out, {"--shard", "0/2"}), "shard 0/2 is already running");
        const auto r = job.run(out, {"--shard", "1/2"});
        INFO(r.err);
        CHECK(r.code == 0);
    }
    CHECK(job.run(out, {"--shard", "0/2"}).code == 0);
    const auto last = job.run(out);  // nothing holds it any more
    INFO(last.err);
    CHECK(last.code == 0);
}

TEST_CASE("hostile: shards split one reference's samples; --assemble writes the grid", "[cli][hostile]")
{
    temp_folder tmp;
    const small_job job(tmp);
    const fs::path whole = tmp / "whole", sharded = tmp / "sharded";
    REQUIRE(job.run(whole).code == 0);
    REQUIRE(job.run(sharded, {"--shard", "0/2"}).code == 0);
    CHECK(all_files_under(sharded) == std::vector<fs::path>{".ilvr-lock", "ilvr-job.txt",
                                                        "t10k-0001-pullover/N4/sample-0.png",
                                                        "t10k-0001-pullover/N4/sample-2.png"});
    require_one_line_error(run_cli({"--assemble", "--out", sharded.string()}), "sample-1.png' is missing or damaged");
    REQUIRE(job.run(sharded, {"--shard", "1/2"}).code == 0);
    require_one_line_error(run_cli({"--assemble", "--out", sharded.string(), "--seed", "3"}), "--assemble takes only");
    const auto r = run_cli({"--assemble", "--out", sharded.string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out == "grid: " + (sharded / "grid.png").string() + "\n");
    REQUIRE(all_files_under(sharded) == all_files_under(whole));
    for (const auto& f : all_files_under(whole)) {
        INFO(f);
        CHECK(job_bytes(sharded / f) == job_bytes(whole / f));
    }
    CHECK_THAT(read_bytes(sharded / "ilvr-job.txt"), Contains("\nshards: 2\n"));
    require_one_line_error(run_cli({"--assemble", "--out", (tmp / "nothing").string()}), "holds no job manifest");
    // A shard given other options (a resubmitted task with a typo) never takes the folder over.
    require_one_line_error(job.run(sharded, {"--shard", "0/2", "--seed", "4"}), "a shard does not replace it");
    CHECK(job_bytes(sharded / "ilvr-job.txt") == job_bytes(whole / "ilvr-job.txt"));
}

TEST_CASE("hostile: --shard auto reads Slurm and MPI launchers' variables", "[cli][hostile]")
{
    using env = std::map<std::string, std::string>;
    auto shard = [](const env& vars) {
        return ilvr_cli::detail::shard_from_environment([&](const char* name) -> const char* {
            const auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        });
    };
    using pair = std::pair<int, int>;
    CHECK(shard({{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}) == pair{3, 4});
    CHECK(shard({{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}) ==
          pair{3, 4});
    CHECK(shard({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"SLURM_PROCID", "0"},
                 {"SLURM_NTASKS", "1"}}) == pair{1, 2});
    CHECK(shard({{"PMI_RANK", "5"}, {"PMI_SIZE", "8"}}) == pair{5, 8});
    CHECK(shard({{"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "3"}}) == pair{2, 3});
    CHECK_THROWS_WITH(shard({}), Contains("--shard auto: no Slurm array, MPI or Slurm task variables"));
    CHECK_THROWS_WITH(shard({{"PMI_RANK", "x"}, {"PMI_SIZE", "2"}}), Contains("PMI_RANK='x' is not an integer"));
    CHECK_THROWS_WITH(shard({{"PMI_RANK", "2"}, {"PMI_SIZE", "2"}}), Contains("gives shard 2 of 2"));
    CHECK_THROWS_WITH(shard({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "2"},
                             {"SLURM_ARRAY_TASK_STEP", "2"}}),
                      Contains("SLURM_ARRAY_TASK_STEP"));
}
