#include "engine.h"

#include <vector>

namespace turbine_mpi {

// How long requests in flight may go untested before the background thread tests them. Any
// thread's test counts (DistributedDataParallel tests between the nodes of backward), so the
// thread mostly sleeps while the training thread keeps the link busy. Each wake-up preempts the
// computation the communication overlaps with: in paired runs of the overlap bench (two ranks
// on two cores, 1 Gbit/s) a 100 us interval without the training thread's tests hid 0.44-0.53
// of the communication, 300 us with them 0.43-0.64, 1 ms with them 0.51-0.66.
static constexpr auto kPollInterval = std::chrono::milliseconds(1);

std::string error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, len);
}

Engine& Engine::get() {
  static Engine* engine = new Engine();  // never destroyed: the thread may outlive static teardown
  return *engine;
}

Engine::Engine() : thread_([this] { background(); }) {}

int64_t Engine::start(const std::function<int(MPI_Request*)>& fn, Finish finish, bool background, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  Request r;
  int rc = fn(&r.handle);
  if (rc != MPI_SUCCESS) {
    *error = error_string(rc);
    return -1;
  }
  r.finish = std::move(finish);
  r.background = background;
  int64_t id = next_id_++;
  requests_.emplace(id, std::move(r));
  active_++;
  if (background && active_background_++ == 0) wake_.notify_all();
  return id;
}

void Engine::progress_locked() {
  for (auto& [id, r] : requests_) {
    if (r.state != State::Active) continue;
    int flag = 0;
    int rc = MPI_Test(&r.handle, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      r.state = State::Failed;
      r.error = error_string(rc);
    } else if (flag) {
      if (r.finish) r.finish();
      r.state = State::Done;
    } else {
      continue;
    }
    active_--;
    if (r.background) active_background_--;
  }
}

bool Engine::test(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  progress_locked();
  last_progress_ = std::chrono::steady_clock::now();
  auto it = requests_.find(id);
  return it == requests_.end() || it->second.state != State::Active;
}

bool Engine::wait(int64_t id, double timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<int64_t>(timeout_ms * 1000));
  // Spins like MPI_Wait with the lock held throughout (the background thread sleeps on it
  // meanwhile): releasing it, yielding or reading the clock on every test cost up to half the
  // bandwidth of a 1 MB all-reduce. The deadline is checked every 64 tests (microseconds).
  // The background thread is shut out meanwhile; it counts from the wait's end.
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t spin = 0;; spin++) {
    progress_locked();
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second.state != State::Active) {
      last_progress_ = std::chrono::steady_clock::now();
      return true;
    }
    if (spin % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return false;
  }
}

State Engine::take(int64_t id, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return State::Done;
  State s = it->second.state;
  if (s == State::Active) return s;
  *error = it->second.error;
  requests_.erase(it);
  return s;
}

int Engine::locked(const std::function<int()>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  return fn();
}

bool Engine::finalize() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_ > 0) return false;
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
  return MPI_Finalize() == MPI_SUCCESS;
}

void Engine::background() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (active_background_ == 0) {
      wake_.wait(lock);
      continue;
    }
    auto due = last_progress_ + kPollInterval;
    auto now = std::chrono::steady_clock::now();
    if (now >= due) {  // nobody tested them for a whole interval
      progress_locked();
      last_progress_ = now;
      due = now + kPollInterval;
    }
    lock.unlock();
    std::this_thread::sleep_until(due);
    lock.lock();
  }
}

}  // namespace turbine_mpi
