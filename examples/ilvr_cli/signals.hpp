// Interruption of the `ilvr` tool: SIGINT and SIGTERM end it in every phase.
//
// The handler records the signal. In the executable (exit_on_signal set by
// main), it also ends the process at once with 128 + the signal number, unless
// a file is being written: inside a write_section the exit waits for the end of
// the section, so a PNG, the manifest or any other file is either whole or
// absent. So a signal ends the tool within a second wherever it is blocked:
// parsing, reading a reference from a FIFO, LibTorch loading a model, a long
// network call. Tests that run cli_main in-process leave exit_on_signal off and
// see the flag instead: the sampling loop and the blocking reads check it and
// throw `interrupted`. Ref: docs/tool.md ("Interruption").
#pragma once

#include <atomic>
#include <csignal>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace ilvr_cli {

/// The signal that asked the tool to stop (0: none).
inline std::atomic<int> stop_signal{0};
/// Whether the handler may end the process itself (set by main(), not by tests).
inline std::atomic<bool> exit_on_signal{false};
/// Nesting depth of write_section: > 0 while a file is being written.
inline std::atomic<int> write_depth{0};

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

inline bool stop_requested() { return stop_signal.load() != 0; }

/// Ends the process for signal `signal`: one line on stderr, exit 128 + signal.
/// Only async-signal-safe calls.
inline void exit_for_signal(int signal)
{
    static const char interrupted_int[] =
        "ilvr: interrupted by signal 2; samples written so far are complete, --resume continues\n";
    static const char interrupted_term[] =
        "ilvr: interrupted by signal 15; samples written so far are complete, --resume continues\n";
    const char* text = signal == SIGINT ? interrupted_int : interrupted_term;
    const std::size_t size = signal == SIGINT ? sizeof interrupted_int - 1 : sizeof interrupted_term - 1;
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, text, size);
    ::_exit(128 + signal);
}

extern "C" inline void on_stop_signal(int signal)
{
    stop_signal.store(signal);
    if (exit_on_signal.load() && write_depth.load() == 0) exit_for_signal(signal);
}

/// Installs the handler for SIGINT and SIGTERM; with `exit_at_once`, a signal
/// ends the process outside write sections (the executable's mode).
inline void install_stop_handlers(bool exit_at_once)
{
    exit_on_signal.store(exit_at_once);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

/// Thrown when a signal stopped the job (in-process runs, and checks between steps).
struct interrupted : std::runtime_error {
    interrupted() : std::runtime_error("interrupted by signal " + std::to_string(stop_signal.load())) {}
};

/// While one exists, a signal does not end the process; the exit happens when
/// the outermost section ends. Entering after a signal arrived exits at once
/// (the handler stores the signal before it reads the depth, and the section
/// raises the depth before it reads the signal, so one of them always sees the
/// other: no file is begun after the handler decided not to wait).
class write_section {
public:
    write_section()
    {
        write_depth.fetch_add(1);
        if (exit_on_signal.load() && stop_requested()) exit_for_signal(stop_signal.load());
    }
    ~write_section()
    {
        if (write_depth.fetch_sub(1) == 1 && exit_on_signal.load() && stop_requested())
            exit_for_signal(stop_signal.load());
    }
    write_section(const write_section&) = delete;
    write_section& operator=(const write_section&) = delete;
};

} // namespace ilvr_cli
