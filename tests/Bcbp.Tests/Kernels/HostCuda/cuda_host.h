// Just enough CUDA to compile our simple kernels (Cuda/plan_ops.cu) with g++ and run them on the host, one std::thread
// per CUDA thread, blocks one after the other, __syncthreads as a barrier: the tests run the real kernel source
// against TorchSharp ops (PlanOpsHostTests). Built with -DBCBP_HOST (bcbp_common.cuh's host conversions).
#pragma once
#include <barrier>
#include <math.h>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static  // one copy for the block's threads; blocks run one at a time

struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline thread_local std::barrier<>* bcbp_host_barrier = nullptr;
inline void __syncthreads() { bcbp_host_barrier->arrive_and_wait(); }

struct alignas(16) uint4 { unsigned x, y, z, w; };
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
template <class T> inline T __ldg(const T* p) { return *p; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }

// Runs `kernel` over grid x (threads, 1, 1), as cuLaunchKernel with a 1-D block does.
template <class Kernel> void bcbp_host_launch(dim3 grid, unsigned threads, Kernel kernel) {
  gridDim = grid;
  blockDim = dim3{threads, 1, 1};
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        std::barrier<> bar(threads);
        std::vector<std::thread> pool;
        pool.reserve(threads);
        for (unsigned t = 0; t < threads; ++t)
          pool.emplace_back([&, t] {
            blockIdx = dim3{x, y, z};
            threadIdx = dim3{t, 0, 0};
            bcbp_host_barrier = &bar;
            kernel();
          });
        for (auto& th : pool) th.join();
      }
}
