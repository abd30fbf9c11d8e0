// Where threads run: the CPU of the calling thread, and keeping the calling thread off one CPU.
// A DataLoader worker uses them to stay off the training thread's core: there it would preempt
// the thread that drives every step, while on another core it takes time from an OpenMP thread
// that, between the step's parallel regions, only spins. Linux only; elsewhere currentCpu is -1
// and keepOffCpu leaves the thread where it is.
#include <sched.h>
#include <unistd.h>

#include "args.h"
#include "registry.h"

namespace turbine {
namespace {

Napi::Value CurrentCpu(const Napi::CallbackInfo& info) {
#ifdef __linux__
  return Napi::Number::New(info.Env(), sched_getcpu());
#else
  return Napi::Number::New(info.Env(), -1);
#endif
}

// keepOffCpu(cpu): the calling thread may run on every CPU the process may use except `cpu`;
// returns false, changing nothing, where that leaves no CPU (or on other systems).
Napi::Value KeepOffCpu(const Napi::CallbackInfo& info) {
  Args args(info, "keepOffCpu", 1);
  const int64_t cpu = args.integer(0, "cpu");
#ifdef __linux__
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  // The process's own mask (its main thread's), so a thread moved off one CPU can come back to it later.
  if (sched_getaffinity(getpid(), sizeof allowed, &allowed) != 0) return Napi::Boolean::New(info.Env(), false);
  if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_CLR(static_cast<int>(cpu), &allowed);
  if (CPU_COUNT(&allowed) == 0) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), sched_setaffinity(0, sizeof allowed, &allowed) == 0);
#else
  (void)cpu;
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

TURBINE_KERNEL(currentCpu, CurrentCpu);
TURBINE_KERNEL(keepOffCpu, KeepOffCpu);

}  // namespace turbine
