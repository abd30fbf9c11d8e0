// turbine_mpi: the optional addon behind the mpi backend. Every collective starts a
// non-blocking MPI operation and returns a request id; test/wait/take finish it. Arguments are
// validated before MPI sees a pointer; errors name the operation and the bad value.
#include <napi.h>

#include <climits>
#include <string>
#include <vector>

#include "engine.h"
#include "reduce_ops.h"

namespace turbine_mpi {

static std::vector<MPI_Comm> comms;  // id -> communicator; 0 is MPI_COMM_WORLD
static bool initialized = false, finalized = false;

[[noreturn]] static void fail(Napi::Env env, const std::string& op, const std::string& what) {
  throw Napi::Error::New(env, "mpi " + op + ": " + what);
}

static MPI_Comm comm_arg(const Napi::CallbackInfo& info, const std::string& op) {
  if (!initialized || finalized) fail(info.Env(), op, "the mpi backend is not initialised (or was finalised)");
  int64_t id = info[0].As<Napi::Number>().Int64Value();
  if (id < 0 || id >= static_cast<int64_t>(comms.size()) || comms[id] == MPI_COMM_NULL)
    fail(info.Env(), op, "unknown or destroyed communicator " + std::to_string(id));
  return comms[id];
}

struct Buffer {
  void* data;
  int count;
};

// A typed array whose kind matches dtype (f32 Float32Array, bf16/f16 Uint16Array, i32 Int32Array).
static Buffer buffer_arg(const Napi::CallbackInfo& info, size_t i, int dtype, const std::string& op) {
  if (!info[i].IsTypedArray()) fail(info.Env(), op, "argument " + std::to_string(i) + " must be a typed array");
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  // The raw call works for SharedArrayBuffer-backed arrays too, and gives the offset-adjusted pointer.
  napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, &buffer, &offset);
  if (dtype < 0 || dtype > 3) fail(info.Env(), op, "unknown dtype code " + std::to_string(dtype));
  napi_typedarray_type want = dtype == 0 ? napi_float32_array : dtype == 3 ? napi_int32_array : napi_uint16_array;
  if (type != want) fail(info.Env(), op, "typed array kind does not match dtype code " + std::to_string(dtype));
  if (length > static_cast<size_t>(INT_MAX))
    fail(info.Env(), op, std::to_string(length) + " elements exceed MPI's count limit");
  return {data, static_cast<int>(length)};
}

static int int_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

static int comm_size(MPI_Comm c) {
  int n = 0;
  MPI_Comm_size(c, &n);
  return n;
}

static Reduce reduce_arg(const Napi::CallbackInfo& info, size_t i, int dtype, const std::string& op) {
  int r = int_arg(info, i);
  if (r < 0 || r > 2) fail(info.Env(), op, "unknown reduce op code " + std::to_string(r));
  if (r == 1 && dtype == 3) fail(info.Env(), op, "mean needs a floating dtype, got int32");
  return static_cast<Reduce>(r);
}

static int rank_arg(const Napi::CallbackInfo& info, size_t i, MPI_Comm c, const std::string& op, const char* what) {
  int r = int_arg(info, i), n = comm_size(c);
  if (r < 0 || r >= n)
    fail(info.Env(), op, std::string(what) + " " + std::to_string(r) + " is outside 0.." + std::to_string(n - 1));
  return r;
}

// Starts a request; the last argument of every collective says whether it is async (then the
// background thread progresses it while JavaScript computes).
static Napi::Value start(const Napi::CallbackInfo& info, const std::string& op,
                         const std::function<int(MPI_Request*)>& fn, Finish finish = nullptr) {
  Napi::Env env = info.Env();
  std::string error;
  Napi::Value last = info[info.Length() - 1];
  if (!last.IsBoolean()) fail(env, op, "the last argument must be the async flag (a boolean)");
  bool background = last.As<Napi::Boolean>().Value();
  int64_t id = Engine::get().start(fn, std::move(finish), background, &error);
  if (id < 0) fail(env, op, error);
  return Napi::Number::New(env, static_cast<double>(id));
}

static Finish mean_finish(Reduce r, Buffer b, int dtype, int n) {
  if (r != Reduce::Mean) return nullptr;
  return [=] { scale(b.data, b.count, dtype, n); };
}

static Napi::Value Init(const Napi::CallbackInfo& info) {
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
  MPI_Comm parent = comm_arg(info, "newGroup");
  int color = int_arg(info, 1), key = int_arg(info, 2);
  MPI_Comm c = MPI_COMM_NULL;
  int rc = Engine::get().locked([&] { return MPI_Comm_split(parent, color < 0 ? MPI_UNDEFINED : color, key, &c); });
  if (rc != MPI_SUCCESS) fail(info.Env(), "newGroup", error_string(rc));
  if (c == MPI_COMM_NULL) return Napi::Number::New(info.Env(), -1);
  MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  comms.push_back(c);
  return Napi::Number::New(info.Env(), static_cast<double>(comms.size() - 1));
}

static Napi::Value Free(const Napi::CallbackInfo& info) {
  MPI_Comm c = comm_arg(info, "destroy");
  int64_t id = info[0].As<Napi::Number>().Int64Value();
  if (id == 0) return info.Env().Undefined();  // the world outlives its groups
  Engine::get().locked([&] { return MPI_Comm_free(&c); });
  comms[id] = MPI_COMM_NULL;
  return info.Env().Undefined();
}

// allReduce(comm, data, dtype, op)
static Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  MPI_Comm c = comm_arg(info, "allReduce");
  int dtype = int_arg(info, 2);
  Buffer b = buffer_arg(info, 1, dtype, "allReduce");
  Reduce r = reduce_arg(info, 3, dtype, "allReduce");
  return start(
      info, "allReduce",
      [&](MPI_Request* q) {
        return MPI_Iallreduce(MPI_IN_PLACE, b.data, b.count, mpi_type(dtype), mpi_op(dtype, r), c, q);
      },
      mean_finish(r, b, dtype, comm_size(c)));
}

// reduceScatter(comm, output, input, dtype, op)
static Napi::Value ReduceScatter(const Napi::CallbackInfo& info) {
  MPI_Comm c = comm_arg(info, "reduceScatter");
  int dtype = int_arg(info, 3);
  Buffer out = buffer_arg(info, 1, dtype, "reduceScatter"), in = buffer_arg(info, 2, dtype, "reduceScatter");
  Reduce r = reduce_arg(info, 4, dtype, "reduceScatter");
  const int n = comm_size(c);
  if (static_cast<int64_t>(out.count) * n != in.count)
    fail(info.Env(), "reduceScatter",
         "input has " + std::to_string(in.count) + " elements; expected " + std::to_string(n) + " ranks x " +
             std::to_string(out.count) + " output elements");
  return start(
      info, "reduceScatter",
      [&](MPI_Request* q) {
        return MPI_Ireduce_scatter_block(in.data, out.data, out.count, mpi_type(dtype), mpi_op(dtype, r), c, q);
      },
      mean_finish(r, out, dtype, n));
}

// allGather(comm, output, input, dtype)
static Napi::Value AllGather(const Napi::CallbackInfo& info) {
  MPI_Comm c = comm_arg(info, "allGather");
  int dtype = int_arg(info, 3);
  Buffer out = buffer_arg(info, 1, dtype, "allGather"), in = buffer_arg(info, 2, dtype, "allGather");
  const int n = comm_size(c);
  if (static_cast<int64_t>(in.count) * n != out.count)
    fail(info.Env(), "allGather",
         "output has " + std::to_string(out.count) + " elements; expected " + std::to_string(n) + " ranks x " +
             std::to_string(in.count) + " input elements");
  return start(info, "allGather", [&](MPI_Request* q) {
    return MPI_Iallgather(in.data, in.count, mpi_type(dtype), out.data, in.count, mpi_type(dtype), c, q);
  });
}

// broadcast(comm, data, dtype, root)
static Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  MPI_Comm c = comm_arg(info, "broadcast");
  int dtype = int_arg(info, 2);
  Buffer b = buffer_arg(info, 1, dtype, "broadcast");
  int root = rank_arg(info, 3, c, "broadcast", "root");
  return start(info, "broadcast",
               [&](MPI_Request* q) { return MPI_Ibcast(b.data, b.count, mpi_type(dtype), root, c, q); });
}

// send(comm, data, dtype, peer, tag) and recv(...): point to point.
static Napi::Value PointToPoint(const Napi::CallbackInfo& info, bool send) {
  const std::string op = send ? "send" : "recv";
  MPI_Comm c = comm_arg(info, op);
  int dtype = int_arg(info, 2);
  Buffer b = buffer_arg(info, 1, dtype, op);
  int peer = rank_arg(info, 3, c, op, "peer");
  int tag = int_arg(info, 4), *ub = nullptr, flag = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
  if (tag < 0 || (flag && tag > *ub))
    fail(info.Env(), op, "tag " + std::to_string(tag) + " is outside 0.." + std::to_string(flag ? *ub : 32767));
  return start(info, op, [&](MPI_Request* q) {
    return send ? MPI_Isend(b.data, b.count, mpi_type(dtype), peer, tag, c, q)
                : MPI_Irecv(b.data, b.count, mpi_type(dtype), peer, tag, c, q);
  });
}
static Napi::Value Send(const Napi::CallbackInfo& info) { return PointToPoint(info, true); }
static Napi::Value Recv(const Napi::CallbackInfo& info) { return PointToPoint(info, false); }

static Napi::Value Barrier(const Napi::CallbackInfo& info) {
  MPI_Comm c = comm_arg(info, "barrier");
  return start(info, "barrier", [&](MPI_Request* q) { return MPI_Ibarrier(c, q); });
}

static int64_t id_arg(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int64Value(); }

static Napi::Value Test(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Engine::get().test(id_arg(info)));
}

// wait(id, timeoutMs): true once complete, false when the timeout passed first.
static Napi::Value Wait(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Engine::get().wait(id_arg(info), info[1].As<Napi::Number>().DoubleValue()));
}

// take(id): null for success, the MPI error text for a failed request; forgets the request.
static Napi::Value Take(const Napi::CallbackInfo& info) {
  std::string error;
  State s = Engine::get().take(id_arg(info), &error);
  if (s == State::Active) fail(info.Env(), "take", "request " + std::to_string(id_arg(info)) + " is still in flight");
  return s == State::Failed ? Napi::String::New(info.Env(), error) : info.Env().Null();
}

// finalize(): MPI_Finalize; skipped while a request is stuck in flight (it would never return).
static Napi::Value Finalize(const Napi::CallbackInfo& info) {
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
