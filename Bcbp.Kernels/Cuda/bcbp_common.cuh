// Device helpers both gather-GEMM kernels share (gather_gemm.cu, gather_gemm_sm90.cu): types, shared-memory
// addresses, 16-byte cp.async, fp16/bf16 conversions (BF16 = 0 or 1, set by the including kernel's -D) and the fused
// epilogue's store of 8 output elements. Inline PTX only, so NVRTC needs no CUDA headers; KernelCache hands the
// embedded .cuh files to NVRTC as headers.
#pragma once

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#ifdef BCBP_HOST
// The tests' host build of the kernels (tests/Bcbp.Tests/Kernels/HostCuda: g++, one thread per CUDA thread): the
// conversions in C with the same rounding (round to nearest even); the shared-memory and cp.async helpers are
// device-only and left out.
__device__ __forceinline__ float to_f32(u16 h) {
#if BF16
  u32 bits = (u32)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
#else
  _Float16 v;
  memcpy(&v, &h, 2);
  return (float)v;
#endif
}

__device__ __forceinline__ u16 to_h(float f) {
#if BF16
  u32 bits;
  memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (u16)((bits >> 16) | 0x40);  // NaN stays NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (u16)(bits >> 16);
#else
  _Float16 v = (_Float16)f;
  u16 h;
  memcpy(&h, &v, 2);
  return h;
#endif
}

__device__ __forceinline__ void pdl_wait() {}
__device__ __forceinline__ void pdl_launch_dependents() {}

// add_relu2 (below) element by element in float, as the device's packed instructions round.
__device__ __forceinline__ u32 add_relu2(u32 s, u32 r, bool add, bool relu) {
  u32 out = 0;
  for (int e = 0; e < 2; ++e) {
    float y = to_f32((u16)(s >> (16 * e)));
    if (add) y += to_f32((u16)(r >> (16 * e)));
    if (relu) y = fmaxf(y, 0.f);
    out |= (u32)to_h(y) << (16 * e);
  }
  return out;
}
#else
__device__ __forceinline__ u32 smem_addr(const void* p) {
  u32 r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }\n" : "=r"(r) : "l"(p));
  return r;
}

__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool valid) {
  int bytes = valid ? 16 : 0;  // 0 source bytes = zero fill
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}

__device__ __forceinline__ float to_f32(u16 h) {
  float f;
#if BF16
  asm("cvt.f32.bf16 %0, %1;\n" : "=f"(f) : "h"(h));
#else
  asm("cvt.f32.f16 %0, %1;\n" : "=f"(f) : "h"(h));
#endif
  return f;
}

__device__ __forceinline__ u16 to_h(float f) {
  u16 h;
#if BF16
  asm("cvt.rn.bf16.f32 %0, %1;\n" : "=h"(h) : "f"(f));
#else
  asm("cvt.rn.f16.f32 %0, %1;\n" : "=h"(h) : "f"(f));
#endif
  return h;
}

// Programmatic dependent launch (PDL = 1, compiled in by KernelCache under BCBP_PDL=1 on sm_90+, whose launches then
// carry the attribute): a kernel may be scheduled while the one before it on the stream is finishing. pdl_wait() holds
// it until that kernel has completed and its writes are visible, so every kernel calls it before it reads or writes
// global memory another kernel touches (only index math and constant reads come before); a GEMM calls
// pdl_launch_dependents() as its epilogue starts, so the next kernel's blocks are resident when it ends. Without PDL
// both are nothing.
#ifndef PDL
#define PDL 0
#endif
__device__ __forceinline__ void pdl_wait() {
#if PDL && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch_dependents() {
#if PDL && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Two packed outputs s (rounded) plus the residual's r, then ReLU: round(s + r) in one packed instruction. It equals
// the float path's round(f32(s) + f32(r)) (splitk_reduce.cu, the host build): fp32 has 24 >= 2p + 2 bits for fp16's
// p = 11 and bf16's p = 8, so rounding the sum to fp32 first changes nothing; max with 0 commutes with rounding. bf16
// has no packed add before sm_90: fma with 1.0 rounds once, the same.
__device__ __forceinline__ u32 add_relu2(u32 s, u32 r, bool add, bool relu) {
#if BF16
  if (add) asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(s) : "r"(s), "r"(0x3f803f80u), "r"(r));
  if (relu) asm("max.bf16x2 %0, %1, %2;\n" : "=r"(s) : "r"(s), "r"(0u));
#else
  if (add) asm("add.rn.f16x2 %0, %1, %2;\n" : "=r"(s) : "r"(s), "r"(r));
  if (relu) asm("max.f16x2 %0, %1, %2;\n" : "=r"(s) : "r"(s), "r"(0u));
#endif
  return s;
}

#endif

// The 8 residual elements a later store8 adds at res (Y's layout), loaded ahead: an epilogue reads all of a thread's
// residual pieces before its first store, so several loads are in flight per thread (one load right before each store
// left one in flight, and the residual layers ran at a third of DRAM bandwidth). Zeros where store8 reads res itself.
__device__ __forceinline__ uint4 load_res8(const u16* res, bool full) {
  return (res && full) ? __ldg(reinterpret_cast<const uint4*>(res)) : make_uint4(0, 0, 0, 0);
}

// Writes 8 output elements src[0..8) (already biased and rounded, staged in shared memory) to dst, adding the residual
// (Y's layout, or res null) and applying ReLU on the way. `full`: all 8 are inside the row and 16-byte aligned, and rv
// holds res[0..8) (load_res8): one 16-byte load, four packed add_relu2, one 16-byte store (the element-wise float path
// was most of the 1x1 layers' instructions); otherwise only the first `valid` are written, one by one, reading res
// directly.
__device__ __forceinline__ void store8(u16* dst, const u16* src, const u16* res, uint4 rv, bool relu, bool full, int valid) {
  if (full) {
    uint4 v = *reinterpret_cast<const uint4*>(src);
    if (res || relu) {
      v.x = add_relu2(v.x, rv.x, res != nullptr, relu);
      v.y = add_relu2(v.y, rv.y, res != nullptr, relu);
      v.z = add_relu2(v.z, rv.z, res != nullptr, relu);
      v.w = add_relu2(v.w, rv.w, res != nullptr, relu);
    }
    *reinterpret_cast<uint4*>(dst) = v;
    return;
  }
  for (int e = 0; e < valid; ++e) {
    if (!res && !relu) { dst[e] = src[e]; continue; }
    float y = to_f32(src[e]);
    if (res) y += to_f32(res[e]);
    if (relu) y = fmaxf(y, 0.f);
    dst[e] = to_h(y);
  }
}
