// turbine_mpi: the optional addon behind the mpi backend. Every collective starts a
// non-blocking MPI operation and returns a request id; test/wait/take finish it. Arguments are
// read with the main addon's checks (native/args.h: count, JavaScript type, typed array kind
// for the dtype) before MPI sees a pointer; errors name the operation and the bad value.
#include <napi.h>

#include <climits>
#include <string>
#include <vector>

#include "../args.h"
#include "engine.h"
#include "reduce_ops.h"

namespace turbine_mpi {

using turbine::Args;

static std::vector<MPI_Comm> comms;  // id -> communicator; 0 is MPI_COMM_WORLD
static bool initialized = false, finalized = false;

[[noreturn]] static void fail(Napi::Env env, const std::string& op, const std::string& what) {
  throw Napi::Error::New(env, "mpi " + op + ": " + what);
}

// The communicator of argument 0, read after the other arguments' types are checked.
static MPI_Comm comm_arg(const Args& args) {
  int64_t id = args.integer(0, "comm");
  args.require(initialized && !finalized, "the mpi backend is not initialised (or was finalised)");
  args.require(id >= 0 && id < static_cast<int64_t>(comms.size()) && comms[id] != MPI_COMM_NULL,
               "unknown or destroyed communicator %lld", static_cast<long long>(id));
  return comms[id];
}

struct Buffer {
  void* data;
  int count;
};

// A typed array whose kind matches dtype (f32 Float32Array, bf16/f16 Uint16Array, i32 Int32Array).
static Buffer buffer_arg(const Args& args, size_t i, const char* name, turbine::DType dtype) {
  turbine::View v = args.tensor_any(i, name, dtype);
  size_t count = v.bytes / turbine::dtype_size(dtype);
  args.require(count <= static_cast<size_t>(INT_MAX), "'%s' has %zu elements, over MPI's count limit", name, count);
  return {v.data, static_cast<int>(count)};
}

static int int_arg(const Args& args, size_t i, const char* name) {
  int64_t v = args.integer(i, name);
  args.require(v >= INT_MIN && v <= INT_MAX, "'%s' is outside the int range: %lld", name, static_cast<long long>(v));
  return static_cast<int>(v);
}

static int comm_size(MPI_Comm c) {
  int n = 0;
  MPI_Comm_size(c, &n);
  return n;
}

static Reduce reduce_arg(const Args& args, size_t i, turbine::DType dtype) {
  int r = int_arg(args, i, "op");
  args.require(r >= 0 && r <= 2, "unknown reduce op code %d", r);
  args.require(!(r == 1 && dtype == turbine::DType::I32), "mean needs a floating dtype, got int32");
  return static_cast<Reduce>(r);
}

static int rank_arg(const Args& args, int r, MPI_Comm c, const char* what) {
  int n = comm_size(c);
  args.require(r >= 0 && r < n, "%s %d is outside 0..%d", what, r, n - 1);
  return r;
}

// Starts a request; the last argument of every collective says whether it is async (then the
// background thread progresses it while JavaScript computes).
static Napi::Value start(const Args& args, bool background, const std::function<int(MPI_Request*)>& fn,
                         Finish finish = nullptr) {
  std::string error;
  int64_t id = Engine::get().start(fn, std::move(finish), background, &error);
  if (id < 0) args.fail(error);
  return Napi::Number::New(args.env(), static_cast<double>(id));
}

static Finish mean_finish(Reduce r, Buffer b, int dtype, int n) {
  if (r != Reduce::Mean) return nullptr;
  return [=] { scale(b.data, b.count, dtype, n); };
}

static Napi::Value Init(const Napi::CallbackInfo& info) {
  Args args(info, "mpi init", 0);
  Napi::Env env = info.Env();
  if (!initialized) {
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) fail(env, "init", error_string(rc));
    if (provided < MPI_THREAD_SERIALIZED) fail(env, "init", "Open MPI lacks MPI_THREAD_SERIALIZED support");
    // Errors come back as codes (turned into CollectiveError) instead of aborting the job.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    create_reduce_ops();
    comms.push_back(MPI_COMM_WORLD);
    initialized = true;
  }
  int rank = 0, size = 0, len = 0;
  char host[MPI_MAX_PROCESSOR_NAME];
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_processor_name(host, &len);
  auto out = Napi::Object::New(env);
  out.Set("rank", rank);
  out.Set("size", size);
  out.Set("host", std::string(host, len));
  return out;
}

// split(comm, color, key): MPI_Comm_split; returns the new id, or -1 where color is negative.
static Napi::Value Split(const Napi::CallbackInfo& info) {
  Args args(info, "mpi newGroup", 3);
  int color = int_arg(args, 1, "color"), key = int_arg(args, 2, "key");
  MPI_Comm parent = comm_arg(args);
  MPI_Comm c = MPI_COMM_NULL;
  int rc = Engine::get().locked([&] { return MPI_Comm_split(parent, color < 0 ? MPI_UNDEFINED : color, key, &c); });
  if (rc != MPI_SUCCESS) args.fail(error_string(rc));
  if (c == MPI_COMM_NULL) return Napi::Number::New(info.Env(), -1);
  MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  comms.push_back(c);
  return Napi::Number::New(info.Env(), static_cast<double>(comms.size() - 1));
}

// free(comm)
static Napi::Value Free(const Napi::CallbackInfo& info) {
  Args args(info, "mpi destroy", 1);
  MPI_Comm c = comm_arg(args);
  int64_t id = args.integer(0, "comm");
  if (id == 0) return info.Env().Undefined();  // the world outlives its groups
  Engine::get().locked([&] { return MPI_Comm_free(&c); });
  comms[id] = MPI_COMM_NULL;
  return info.Env().Undefined();
}

// allReduce(comm, data, dtype, op, async)
static Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Args args(info, "mpi allReduce", 5);
  turbine::DType dtype = args.dtype(2, "dtype");
  Buffer b = buffer_arg(args, 1, "data", dtype);
  Reduce r = reduce_arg(args, 3, dtype);
  bool background = args.boolean(4, "async");
  MPI_Comm c = comm_arg(args);
  int d = static_cast<int>(dtype);
  return start(
      args, background,
      [&](MPI_Request* q) { return MPI_Iallreduce(MPI_IN_PLACE, b.data, b.count, mpi_type(d), mpi_op(d, r), c, q); },
      mean_finish(r, b, d, comm_size(c)));
}

// reduceScatter(comm, output, input, dtype, op, async)
static Napi::Value ReduceScatter(const Napi::CallbackInfo& info) {
  Args args(info, "mpi reduceScatter", 6);
  turbine::DType dtype = args.dtype(3, "dtype");
  Buffer out = buffer_arg(args, 1, "output", dtype), in = buffer_arg(args, 2, "input", dtype);
  Reduce r = reduce_arg(args, 4, dtype);
  bool background = args.boolean(5, "async");
  MPI_Comm c = comm_arg(args);
  const int n = comm_size(c), d = static_cast<int>(dtype);
  args.require(static_cast<int64_t>(out.count) * n == in.count,
               "input has %d elements; expected %d ranks x %d output elements", in.count, n, out.count);
  return start(
      args, background,
      [&](MPI_Request* q) {
        return MPI_Ireduce_scatter_block(in.data, out.data, out.count, mpi_type(d), mpi_op(d, r), c, q);
      },
      mean_finish(r, out, d, n));
}

// allGather(comm, output, input, dtype, async)
static Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Args args(info, "mpi allGather", 5);
  turbine::DType dtype = args.dtype(3, "dtype");
  Buffer out = buffer_arg(args, 1, "output", dtype), in = buffer_arg(args, 2, "input", dtype);
  bool background = args.boolean(4, "async");
  MPI_Comm c = comm_arg(args);
  const int n = comm_size(c), d = static_cast<int>(dtype);
  args.require(static_cast<int64_t>(in.count) * n == out.count,
               "output has %d elements; expected %d ranks x %d input elements", out.count, n, in.count);
  return start(args, background, [&](MPI_Request* q) {
    return MPI_Iallgather(in.data, in.count, mpi_type(d), out.data, in.count, mpi_type(d), c, q);
  });
}

// broadcast(comm, data, dtype, root, async)
static Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Args args(info, "mpi broadcast", 5);
  turbine::DType dtype = args.dtype(2, "dtype");
  Buffer b = buffer_arg(args, 1, "data", dtype);
  int root = int_arg(args, 3, "root");
  bool background = args.boolean(4, "async");
  MPI_Comm c = comm_arg(args);
  rank_arg(args, root, c, "root");
  const int d = static_cast<int>(dtype);
  return start(args, background, [&](MPI_Request* q) { return MPI_Ibcast(b.data, b.count, mpi_type(d), root, c, q); });
}

// send(comm, data, dtype, peer, tag, async) and recv(...): point to point.
static Napi::Value PointToPoint(const Napi::CallbackInfo& info, bool send) {
  Args args(info, send ? "mpi send" : "mpi recv", 6);
  turbine::DType dtype = args.dtype(2, "dtype");
  Buffer b = buffer_arg(args, 1, "data", dtype);
  int peer = int_arg(args, 3, "peer"), tag = int_arg(args, 4, "tag");
  bool background = args.boolean(5, "async");
  MPI_Comm c = comm_arg(args);
  rank_arg(args, peer, c, "peer");
  int *ub = nullptr, flag = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
  args.require(tag >= 0 && (!flag || tag <= *ub), "tag %d is outside 0..%d", tag, flag ? *ub : 32767);
  const int d = static_cast<int>(dtype);
  return start(args, background, [&](MPI_Request* q) {
    return send ? MPI_Isend(b.data, b.count, mpi_type(d), peer, tag, c, q)
                : MPI_Irecv(b.data, b.count, mpi_type(d), peer, tag, c, q);
  });
}
static Napi::Value Send(const Napi::CallbackInfo& info) { return PointToPoint(info, true); }
static Napi::Value Recv(const Napi::CallbackInfo& info) { return PointToPoint(info, false); }

// barrier(comm, async)
static Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Args args(info, "mpi barrier", 2);
  bool background = args.boolean(1, "async");
  MPI_Comm c = comm_arg(args);
  return start(args, background, [&](MPI_Request* q) { return MPI_Ibarrier(c, q); });
}

// test(id)
static Napi::Value Test(const Napi::CallbackInfo& info) {
  Args args(info, "mpi test", 1);
  return Napi::Boolean::New(info.Env(), Engine::get().test(args.integer(0, "request")));
}

// wait(id, timeoutMs): true once complete, false when the timeout passed first.
static Napi::Value Wait(const Napi::CallbackInfo& info) {
  Args args(info, "mpi wait", 2);
  int64_t id = args.integer(0, "request");
  double timeout_ms = args.number(1, "timeoutMs");
  return Napi::Boolean::New(info.Env(), Engine::get().wait(id, timeout_ms));
}

// take(id): null for success, the MPI error text for a failed request; forgets the request.
static Napi::Value Take(const Napi::CallbackInfo& info) {
  Args args(info, "mpi take", 1);
  int64_t id = args.integer(0, "request");
  std::string error;
  State s = Engine::get().take(id, &error);
  args.require(s != State::Active, "request %lld is still in flight", static_cast<long long>(id));
  return s == State::Failed ? Napi::String::New(info.Env(), error) : info.Env().Null();
}

// finalize(): MPI_Finalize; skipped while a request is stuck in flight (it would never return).
static Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Args args(info, "mpi finalize", 0);
  if (!initialized || finalized) return Napi::Boolean::New(info.Env(), true);
  bool ok = Engine::get().finalize();
  finalized = ok;
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("split", Napi::Function::New(env, Split));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("allReduce", Napi::Function::New(env, AllReduce));
  exports.Set("reduceScatter", Napi::Function::New(env, ReduceScatter));
  exports.Set("allGather", Napi::Function::New(env, AllGather));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("send", Napi::Function::New(env, Send));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("test", Napi::Function::New(env, Test));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("take", Napi::Function::New(env, Take));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  return exports;
}

}  // namespace turbine_mpi

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return turbine_mpi::Module(env, exports); }

NODE_API_MODULE(turbine_mpi, InitModule)
