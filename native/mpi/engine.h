// The mpi backend's request engine: every MPI call goes through one mutex (MPI_THREAD_SERIALIZED),
// and a background thread keeps testing requests in flight, so non-blocking collectives make
// progress while JavaScript computes (Open MPI progresses only inside MPI calls).
#pragma once
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace turbine_mpi {

// What happens to the output once a request completes (the mean's division by the group size).
using Finish = std::function<void()>;

enum class State { Active, Done, Failed };

struct Request {
  MPI_Request handle = MPI_REQUEST_NULL;
  State state = State::Active;
  std::string error;
  Finish finish;
  // Progressed by the background thread too (an async collective); a synchronous one is
  // progressed only by its own wait(), sparing a thread wake-up per call.
  bool background = false;
};

class Engine {
 public:
  static Engine& get();

  // Runs fn(lock held) and registers the request it starts; returns its id.
  int64_t start(const std::function<int(MPI_Request*)>& fn, Finish finish, bool background, std::string* error);
  // Progresses every request; true once `id` is no longer active.
  bool test(int64_t id);
  // Progresses until `id` completes or `timeout_ms` passes; false on timeout.
  bool wait(int64_t id, double timeout_ms);
  // The final state of a completed request (its error message on failure); forgets it.
  State take(int64_t id, std::string* error);
  // Runs fn with every other MPI call excluded (communicator set-up, finalize).
  int locked(const std::function<int()>& fn);
  // Stops the background thread and calls MPI_Finalize; false (and nothing done) while a
  // request is stuck in flight, since MPI_Finalize would then never return.
  bool finalize();

 private:
  Engine();
  void progress_locked();
  void background();

  std::mutex mu_;
  std::condition_variable wake_;
  std::unordered_map<int64_t, Request> requests_;
  int64_t next_id_ = 1;
  int active_ = 0;             // requests in flight
  int active_background_ = 0;  // of which the background thread progresses
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_progress_{};  // the last test or wait, by any thread
  std::thread thread_;
};

std::string error_string(int code);

}  // namespace turbine_mpi
