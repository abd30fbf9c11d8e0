// SIGINT and SIGTERM during training. The training loop is synchronous, so Node's
// process.on("SIGINT") never runs while it trains: instead a signal handler records the signal
// in a flag that the loop polls at each step boundary (it then saves a checkpoint and exits).
// The same signal a second time means "now": the handler shows the cursor and turns line wrap back on (a
// progress bar hides them) on the terminals it was told of, then exits with 128 + signal.
// Only async-signal-safe calls (write, _exit) run in the handler.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "args.h"
#include "registry.h"

namespace turbine {

namespace {

std::atomic<int> received{0};
// Bit i set: file descriptor i is a terminal whose state the handler restores on a second signal.
std::atomic<unsigned> terminal_fds{0};

std::mutex install_mutex;
int installs = 0;
struct sigaction previous_int, previous_term;

void OnStopSignal(int signo) {
  int expected = 0;
  if (received.compare_exchange_strong(expected, signo)) return;
  // Only the same signal again means "now": mpirun turns a Ctrl-C it was sent into a SIGTERM
  // for ranks that the terminal's SIGINT may already have reached.
  if (expected != signo) return;
  static const char restore[] = "\x1b[?25h\x1b[?7h\n";
  const unsigned fds = terminal_fds.load();
  for (int fd = 0; fd < 32; fd++) {
    if (fds & (1u << fd)) {
      ssize_t ignored = write(fd, restore, sizeof restore - 1);
      (void)ignored;
    }
  }
  _exit(128 + signo);
}

// installStopSignals(terminalFds): from now on SIGINT and SIGTERM set the flag stopSignal()
// reads (the first) or exit at once (the second). Calls nest: each needs its uninstall.
Napi::Value InstallStopSignals(const Napi::CallbackInfo& info) {
  Args args(info, "installStopSignals", 1);
  args.require(info[0].IsArray(), "terminalFds must be an array of file descriptors");
  Napi::Array fds = info[0].As<Napi::Array>();
  unsigned mask = 0;
  for (uint32_t i = 0; i < fds.Length(); i++) {
    Napi::Value v = fds.Get(i);
    args.require(v.IsNumber(), "terminalFds[%u] is not a number", i);
    const int64_t fd = v.As<Napi::Number>().Int64Value();
    args.require(fd >= 0 && fd < 32, "terminalFds[%u] must be a file descriptor in 0..31, got %lld", i,
                 static_cast<long long>(fd));
    mask |= 1u << fd;
  }
  std::lock_guard<std::mutex> lock(install_mutex);
  terminal_fds.fetch_or(mask);
  if (installs++ == 0) {
    received.store(0);
    struct sigaction action = {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, &previous_int);
    sigaction(SIGTERM, &action, &previous_term);
  }
  return info.Env().Undefined();
}

// uninstallStopSignals(): the last of nested installs puts the previous handlers back.
Napi::Value UninstallStopSignals(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(install_mutex);
  if (installs > 0 && --installs == 0) {
    sigaction(SIGINT, &previous_int, nullptr);
    sigaction(SIGTERM, &previous_term, nullptr);
    terminal_fds.store(0);
  }
  return info.Env().Undefined();
}

// stopSignal(): the first SIGINT or SIGTERM received since the first install, else 0.
Napi::Value StopSignal(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), received.load()); }

}  // namespace

TURBINE_KERNEL(installStopSignals, InstallStopSignals);
TURBINE_KERNEL(uninstallStopSignals, UninstallStopSignals);
TURBINE_KERNEL(stopSignal, StopSignal);

}  // namespace turbine
