"""The CUDA C every generated module starts with: exact constants, numpy's integer and
float semantics (wrapping arithmetic, Python-style division, NaN-propagating max/min,
casts of NaN and out-of-range floats), and the block reductions of row kernels.

Compiled with ``GRAPHC_HOST`` defined, the same text is C++ for the host: one block of
64 host threads (two warps), with barriers, shared memory and warp shuffles emulated, so
``runtime/cuda/host.py`` runs the generated kernels, block reductions included, without a
GPU.
"""

BLOCK = 256          # threads per block, every kernel
WARPS = BLOCK // 32

PRELUDE = r"""
#ifdef GRAPHC_HOST
// One block of HOST_THREADS host threads (64: two warps; or 1): barriers, shared memory and
// warp shuffles are emulated (the threads and barriers: runtime/cuda/host.py's HOST_RUNTIME),
// so the block reductions run the same code as on a GPU.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
using namespace std;
#ifndef HOST_THREADS
#define HOST_THREADS 64
#endif
#define G_WARP_LANES (HOST_THREADS < 32 ? HOST_THREADS : 32)   // (1 or 32: HOST_THREADS is 1 or a multiple of 32)
struct graphc_dim3 { unsigned x, y, z; };
extern thread_local graphc_dim3 threadIdx;
extern "C" void g_block_sync();
extern "C" void g_warp_sync();
extern "C" void g_run_block(void (*kernel)(void **), void **args, unsigned threads);
static graphc_dim3 blockIdx = {0, 0, 0}, blockDim = {HOST_THREADS, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() g_block_sync()
#define __syncwarp() g_warp_sync()
static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
template <typename T> T g_shfl_down(T v, int off) {   // every lane of the warp calls it, as on a GPU
  static T slots[HOST_THREADS];
  const unsigned lane = threadIdx.x & 31;
  slots[threadIdx.x] = v;
  g_warp_sync();
  T out = lane + off < 32 && threadIdx.x + off < HOST_THREADS ? slots[threadIdx.x + off] : v;
  g_warp_sync();
  return out;
}
template <typename T> T g_shfl_first(T v) {   // lane 0's value, to every lane of the warp
  static T slots[HOST_THREADS];
  slots[threadIdx.x] = v;
  g_warp_sync();
  T out = slots[threadIdx.x - threadIdx.x % G_WARP_LANES];
  g_warp_sync();
  return out;
}
#define GRAPHC_EXPORT static
#define GRAPHC_LAUNCHER extern "C"
#else
#define GRAPHC_EXPORT extern "C" __global__
#define G_WARP_LANES 32
template <typename T> __device__ __forceinline__ T g_shfl_down(T v, int off) { return __shfl_down_sync(0xffffffffu, v, off); }
__device__ __forceinline__ bool g_shfl_down(bool v, int off) { return __shfl_down_sync(0xffffffffu, (int)v, off) != 0; }
template <typename T> __device__ __forceinline__ T g_shfl_first(T v) { return __shfl_sync(0xffffffffu, v, 0); }
__device__ __forceinline__ bool g_shfl_first(bool v) { return __shfl_sync(0xffffffffu, (int)v, 0) != 0; }
#endif
#define G_LANE (threadIdx.x % G_WARP_LANES)     // this thread's lane, its warp, the block's warps
#define G_WARP (threadIdx.x / G_WARP_LANES)
#define G_WARPS (blockDim.x / G_WARP_LANES)

typedef long long i64;
typedef unsigned long long u64;

// the elements an elementwise kernel moves per load and store, where the pointer is aligned
template <typename T, int N> struct alignas(sizeof(T) * N) g_vec { T v[N]; };
template <typename T> __device__ __forceinline__ bool g_aligned(const T *p, unsigned bytes) {
  return ((u64)(size_t)p & (bytes - 1)) == 0;
}

// integer arithmetic wraps, as numpy's does (signed overflow is undefined in C)
template <typename T> __device__ __forceinline__ T g_add(T a, T b) { return (T)((u64)a + (u64)b); }
template <typename T> __device__ __forceinline__ T g_sub(T a, T b) { return (T)((u64)a - (u64)b); }
template <typename T> __device__ __forceinline__ T g_mul(T a, T b) { return (T)((u64)a * (u64)b); }
template <typename T> __device__ __forceinline__ T g_neg(T a) { return (T)(0ull - (u64)a); }

// Python's (numpy's) floor division and modulo of integers; x // 0 and x % 0 give 0,
// INT_MIN // -1 wraps to INT_MIN
template <typename T> __device__ __forceinline__ T g_ifloordiv(T x, T y) {
  if (y == 0) return 0;
  if (y == -1) return g_neg(x);
  T q = x / y, r = x % y;
  return (r != 0 && ((r < 0) != (y < 0))) ? q - 1 : q;
}
template <typename T> __device__ __forceinline__ T g_imod(T x, T y) {
  if (y == 0 || y == -1) return 0;
  T r = x % y;
  return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

// numpy's npy_divmod for floats, step by step
template <typename T> __device__ __forceinline__ T g_fmod_py(T x, T y) {
  T mod = fmod(x, y);
  if (y == 0) return mod;
  if (mod != 0) return ((y < 0) != (mod < 0)) ? mod + y : mod;
  return copysign((T)0, y);
}
template <typename T> __device__ __forceinline__ T g_ffloordiv(T x, T y) {
  if (y == 0) return x / y;
  T mod = fmod(x, y);
  T div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1;
  if (div != 0) {
    T fl = floor(div);
    if (div - fl > (T)0.5) fl += 1;
    return fl;
  }
  return copysign((T)0, x / y);
}

// float maximum/minimum as numpy: NaN if either is NaN, else y unless x is strictly beyond it
template <typename T> __device__ __forceinline__ T g_fmaximum(T x, T y) { return (x > y || x != x) ? x : y; }
template <typename T> __device__ __forceinline__ T g_fminimum(T x, T y) { return (x < y || x != x) ? x : y; }
// reduction combiners of max/min (llvm.maximum/minimum on the CPU: NaN wins, +0 above -0)
template <typename T> __device__ __forceinline__ T g_rmax(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? b : a;
  return a > b ? a : b;
}
template <typename T> __device__ __forceinline__ T g_rmin(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? a : b;
  return a < b ? a : b;
}

// float -> signed int: toward zero; NaN, +-Inf and out-of-range give INT_MIN (numpy on x86-64)
template <typename T, typename F> __device__ __forceinline__ T g_ftoi(F x) {
  const F bound = (F)(sizeof(T) == 4 ? 2147483648.0 : 9223372036854775808.0);
  return (x >= -bound && x < bound) ? (T)x : (T)(1ull << (8 * sizeof(T) - 1));
}

template <typename T> __device__ __forceinline__ T g_sigmoid(T x) {   // stable in both tails
  T e = exp(-fabs(x));
  return x >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
}
template <typename T> __device__ __forceinline__ T g_softplus(T x) {  // max(x, 0) + log1p(exp(-|x|))
  return ((x > (T)0 || x != x) ? x : (T)0) + log1p(exp(-fabs(x)));
}

// argmax/argmin: does (v, i) replace (best, at)? The first extreme wins, the first NaN wins.
template <typename T> __device__ __forceinline__ bool g_argbetter(bool is_max, T v, i64 i, T best, i64 at) {
  bool vn = v != v, bn = best != best;
  if (vn || bn) return vn && (!bn || i < at);
  if (v == best) return i < at;
  return is_max ? v > best : v < best;
}

// gather's index: wrapped once when negative (numpy's take); out of range sets *err (the
// executor raises numpy's IndexError) and reads element 0 instead
__device__ __forceinline__ i64 g_take(i64 v, i64 n, int *err) {
  if (v < 0) v += n;
  if (v < 0 || v >= n) { *err = 1; return 0; }
  return v;
}
// scatter_add: threads may add at the same position (float sums then round in the order
// the additions arrive)
#ifdef GRAPHC_HOST
template <typename T> void g_atomic_add(T *p, T v) {
  if constexpr (std::is_integral<T>::value) {
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
  } else {
    T old, sum;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do { sum = old + v; } while (!__atomic_compare_exchange(p, &old, &sum, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  }
}
#else
template <typename T> __device__ __forceinline__ void g_atomic_add(T *p, T v) { atomicAdd(p, v); }
__device__ __forceinline__ void g_atomic_add(i64 *p, i64 v) { atomicAdd((u64 *)p, (u64)v); }
#endif

// gc.random: Philox4x32-10 (graphc/ops/random.py). Element i of a draw takes words
// [i*k, (i+1)*k) of the stream whose block b (counter (b mod 2^32, b div 2^32, 0, 0), key:
// the seed's low and high words) gives four words; k is 1 (uniform float32), 2 (uniform
// float64, normal float32) or 4 (normal float64). Box-Muller in float64, as the reference.
__device__ __forceinline__ void g_philox(u64 block, i64 seed, unsigned &c0, unsigned &c1, unsigned &c2, unsigned &c3) {
  unsigned k0 = (unsigned)(u64)seed, k1 = (unsigned)((u64)seed >> 32);
  c0 = (unsigned)block; c1 = (unsigned)(block >> 32); c2 = 0; c3 = 0;
  for (int r = 0; r < 10; ++r) {
    if (r) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
    const u64 p0 = (u64)c0 * 0xD2511F53u, p1 = (u64)c2 * 0xCD9E8D57u;
    const unsigned n0 = (unsigned)(p1 >> 32) ^ c1 ^ k0, n2 = (unsigned)(p0 >> 32) ^ c3 ^ k1;
    c1 = (unsigned)p1; c3 = (unsigned)p0; c0 = n0; c2 = n2;
  }
}
__device__ __forceinline__ double g_uniform53(unsigned hi, unsigned lo) {   // 27 + 26 bits
  return ((double)(hi >> 5) * 67108864.0 + (double)(lo >> 6)) * 1.1102230246251565e-16;
}
__device__ __forceinline__ double g_box_muller(double u1, double u2) {
  const double radius = sqrt(-2.0 * log(1.0 - u1) + 0.0);   // (+ 0.0: u1 = 0 gives +0.0)
  return radius * cos(__longlong_as_double(4618760256179416344LL) * u2);   // 2 pi, as the reference rounds it
}
__device__ __forceinline__ float g_uniform_f32(i64 seed, u64 i) {
  unsigned c0, c1, c2, c3;
  g_philox(i >> 2, seed, c0, c1, c2, c3);
  const unsigned lane = (unsigned)(i & 3), w = lane == 0 ? c0 : lane == 1 ? c1 : lane == 2 ? c2 : c3;
  return (float)(w >> 8) * 5.9604644775390625e-08f;   // 2^-24
}
__device__ __forceinline__ double g_uniform_f64(i64 seed, u64 i) {
  unsigned c0, c1, c2, c3;
  g_philox(i >> 1, seed, c0, c1, c2, c3);
  return (i & 1) ? g_uniform53(c2, c3) : g_uniform53(c0, c1);
}
__device__ __forceinline__ float g_normal_f32(i64 seed, u64 i) {
  unsigned c0, c1, c2, c3;
  g_philox(i >> 1, seed, c0, c1, c2, c3);
  const unsigned w0 = (i & 1) ? c2 : c0, w1 = (i & 1) ? c3 : c1;
  return (float)g_box_muller((double)w0 * 2.3283064365386963e-10, (double)w1 * 2.3283064365386963e-10);   // 2^-32
}
__device__ __forceinline__ double g_normal_f64(i64 seed, u64 i) {
  unsigned c0, c1, c2, c3;
  g_philox(i, seed, c0, c1, c2, c3);
  return g_box_muller(g_uniform53(c0, c1), g_uniform53(c2, c3));
}

// every thread of the block gets combine() over all threads' values (warp shuffles, then
// one value per warp through shared memory)
template <typename T, typename C> __device__ __forceinline__ T g_block_reduce(T v, C combine, T *smem) {
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int off = G_WARP_LANES / 2; off > 0; off >>= 1) v = combine(v, g_shfl_down(v, off));
  __syncthreads();                      // (smem may still be read from the last reduction)
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {               // the warps' values, in order (at most 8 of them)
    for (unsigned w = 1; w < (blockDim.x >> 5); ++w) v = combine(v, smem[w]);
    smem[0] = v;
  }
  __syncthreads();
  return smem[0];
}
// a block's 32 rows, a lane each, split among its warps: every thread gets combine() over its
// lane's values of all warps, in warp order (smem: one value per thread)
template <typename T, typename C> __device__ __forceinline__ T g_column_reduce(T v, C combine, T *smem) {
  __syncthreads();                      // (smem may still be read from the last reduction)
  smem[threadIdx.x] = v;
  __syncthreads();
  T acc = smem[G_LANE];
  for (unsigned w = 1; w < G_WARPS; ++w) acc = combine(acc, smem[w * G_WARP_LANES + G_LANE]);
  return acc;
}
template <typename T> __device__ __forceinline__ void g_column_argreduce(bool is_max, T &v, i64 &i, T *sv, i64 *si) {
  __syncthreads();
  sv[threadIdx.x] = v; si[threadIdx.x] = i;
  __syncthreads();
  v = sv[G_LANE]; i = si[G_LANE];
  for (unsigned w = 1; w < G_WARPS; ++w) {
    const unsigned t = w * G_WARP_LANES + G_LANE;
    if (g_argbetter(is_max, sv[t], si[t], v, i)) { v = sv[t]; i = si[t]; }
  }
}

// every lane of the warp gets combine() over the warp's values (a row per warp)
template <typename T, typename C> __device__ __forceinline__ T g_warp_reduce(T v, C combine) {
  for (int off = G_WARP_LANES / 2; off > 0; off >>= 1) v = combine(v, g_shfl_down(v, off));
  return g_shfl_first(v);
}
template <typename T> __device__ __forceinline__ void g_warp_argreduce(bool is_max, T &v, i64 &i) {
  for (int off = G_WARP_LANES / 2; off > 0; off >>= 1) {
    T ov = g_shfl_down(v, off); i64 oi = g_shfl_down(i, off);
    if (g_argbetter(is_max, ov, oi, v, i)) { v = ov; i = oi; }
  }
  v = g_shfl_first(v); i = g_shfl_first(i);
}
template <typename T> __device__ __forceinline__ void g_block_argreduce(bool is_max, T &v, i64 &i, T *sv, i64 *si) {
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int off = G_WARP_LANES / 2; off > 0; off >>= 1) {
    T ov = g_shfl_down(v, off); i64 oi = g_shfl_down(i, off);
    if (g_argbetter(is_max, ov, oi, v, i)) { v = ov; i = oi; }
  }
  __syncthreads();
  if (lane == 0) { sv[warp] = v; si[warp] = i; }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (unsigned w = 1; w < (blockDim.x >> 5); ++w)
      if (g_argbetter(is_max, sv[w], si[w], v, i)) { v = sv[w]; i = si[w]; }
    sv[0] = v; si[0] = i;
  }
  __syncthreads();
  v = sv[0]; i = si[0];
}
"""
