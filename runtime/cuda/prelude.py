"""The CUDA C every generated module starts with: exact constants, numpy's integer and
float semantics (wrapping arithmetic, Python-style division, NaN-propagating max/min,
casts of NaN and out-of-range floats), and the block reductions of row kernels.

Compiled with ``GRAPHC_HOST`` defined, the same text is plain C++ for the host (one
thread per block, one block): ``runtime/cuda/host.py`` runs the generated kernels that way
so their index arithmetic and scalar semantics are tested without a GPU.
"""

BLOCK = 256          # threads per block, every kernel
WARPS = BLOCK // 32

PRELUDE = r"""
#ifdef GRAPHC_HOST
#include <cmath>
#include <cstring>
#include <cstdint>
using namespace std;
struct graphc_dim3 { unsigned x, y, z; };
static graphc_dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
#define __syncthreads()
static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
#define GRAPHC_EXPORT extern "C"
#else
#define GRAPHC_EXPORT extern "C" __global__
#endif

typedef long long i64;
typedef unsigned long long u64;

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

#ifdef GRAPHC_HOST
template <typename T, typename C> __device__ __forceinline__ T g_block_reduce(T v, C combine, T *smem) { return v; }
template <typename T> __device__ __forceinline__ void g_block_argreduce(bool is_max, T &v, i64 &i, T *sv, i64 *si) {}
#else
template <typename T> __device__ __forceinline__ T g_shfl_down(T v, int off) { return __shfl_down_sync(0xffffffffu, v, off); }
__device__ __forceinline__ bool g_shfl_down(bool v, int off) { return __shfl_down_sync(0xffffffffu, (int)v, off) != 0; }

// every thread of the block gets combine() over all threads' values (warp shuffles, then
// one value per warp through shared memory)
template <typename T, typename C> __device__ __forceinline__ T g_block_reduce(T v, C combine, T *smem) {
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int off = 16; off > 0; off >>= 1) v = combine(v, g_shfl_down(v, off));
  __syncthreads();                      // (smem may still be read from the last reduction)
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x >> 5) ? smem[lane] : smem[0];
    for (int off = 16; off > 0; off >>= 1) v = combine(v, g_shfl_down(v, off));
    if (lane == 0) smem[0] = v;
  }
  __syncthreads();
  return smem[0];
}
template <typename T> __device__ __forceinline__ void g_block_argreduce(bool is_max, T &v, i64 &i, T *sv, i64 *si) {
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int off = 16; off > 0; off >>= 1) {
    T ov = g_shfl_down(v, off); i64 oi = g_shfl_down(i, off);
    if (g_argbetter(is_max, ov, oi, v, i)) { v = ov; i = oi; }
  }
  __syncthreads();
  if (lane == 0) { sv[warp] = v; si[warp] = i; }
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x >> 5) ? sv[lane] : sv[0]; i = lane < (blockDim.x >> 5) ? si[lane] : si[0];
    for (int off = 16; off > 0; off >>= 1) {
      T ov = g_shfl_down(v, off); i64 oi = g_shfl_down(i, off);
      if (g_argbetter(is_max, ov, oi, v, i)) { v = ov; i = oi; }
    }
    if (lane == 0) { sv[0] = v; si[0] = i; }
  }
  __syncthreads();
  v = sv[0]; i = si[0];
}
#endif
"""
