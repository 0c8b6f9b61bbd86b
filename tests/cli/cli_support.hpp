// What the tool's in-process tests share: running the tool, its one-line error
// contract, small TorchScript models, and the files a job leaves.
#pragma once

#include "manifest.hpp"
#include "run.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace cli_test {

namespace fs = std::filesystem;

/// What one run of the tool returned and printed.
struct result {
    int code;
    std::string out, err;
};

/// Runs the tool in-process, stderr not a terminal.
inline result run_cli(const std::vector<std::string>& args)
{
    std::ostringstream out, err;
    const int code = ilvr_cli::cli_main(args, out, err, false);
    return {code, out.str(), err.str()};
}

/// Checks the error contract: exit code 2 (or CLI11's non-zero code for usage
/// errors), exactly one line "ilvr: error: ..." on stderr, nothing on stdout.
inline void require_one_line_error(const result& r, const std::string& part, bool usage = false)
{
    INFO("stderr: " << r.err);
    if (usage) REQUIRE(r.code != 0);
    else REQUIRE(r.code == 2);
    REQUIRE(r.out.empty());
    REQUIRE_THAT(r.err, Catch::StartsWith("ilvr: error: "));
    REQUIRE(r.err.find('\n') == r.err.size() - 1);
    REQUIRE_THAT(r.err, Catch::Contains(part));
}

/// The bytes of a file.
inline std::string read_bytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The bytes of a job's file as two runs of the same job must share them: a
/// manifest without its "shards: K" line (the one thing a sharded run records
/// differently), any other file as it is.
inline std::string job_bytes(const fs::path& path)
{
    std::string bytes = read_bytes(path);
    if (path.filename() != ilvr_cli::manifest_name) return bytes;
    const auto at = bytes.find("\nshards: ");
    if (at != std::string::npos) bytes.erase(at + 1, bytes.find('\n', at + 1) - at);
    return bytes;
}

/// A file of the bundled model's folder.
inline fs::path bundled(const std::string& name)
{
    return fs::path(ILVR_CLI_SOURCE_DATA_DIR) / "fashion-mnist-ddpm" / name;
}

/// Saves a TorchScript module with the given forward(self, x, t) body, and
/// `metadata` as its ilvr.json unless empty.
inline void save_module(const fs::path& file, const std::string& forward, const std::string& metadata = "")
{
    torch::jit::Module m("x");
    m.define(forward);
    torch::jit::ExtraFilesMap extra;
    if (!metadata.empty()) extra["ilvr.json"] = metadata;
    m.save(file.string(), extra);
}

/// Elementwise in x, so its output for an image never depends on the batch the
/// image is in: the tool's pixels must then be bitwise independent of --batch.
inline const char* elementwise_eps = "def forward(self, x, t):\n"
                                     "    return torch.tanh(x) * 0.3 + x * 0.05 + (t.float() / 4000.0).view(-1, 1, 1, 1)\n";

/// The regular files under `root` (none if it does not exist), relative to it,
/// sorted; without the job's manifest and lock file unless `all`.
inline std::vector<fs::path> files_under(const fs::path& root, bool all = false)
{
    std::vector<fs::path> files;
    if (!fs::exists(root)) return files;
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file() && (all || (e.path().filename() != ilvr_cli::manifest_name &&
                                            e.path().filename() != ilvr_cli::lock_name)))
            files.push_back(fs::relative(e.path(), root));
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace cli_test
