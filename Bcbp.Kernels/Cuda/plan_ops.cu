// Layout and pooling kernels of the whole-model plan (Plan/ModelPlan.cs). The plan keeps every activation in CHWN
// memory, [C x H x W x Bp]: channel-major, batch innermost, with the batch padded to Bp, a multiple of 8, so that 8
// neighbouring elements are 8 images at one pixel (one 16-byte load) and the gather-GEMM's cp.async gathers stay
// 16-byte aligned at any batch size. Padding columns b >= B hold whatever the layers compute from zero images; no
// kernel mixes columns, so they never reach the real ones. All tensors are fp16 or bf16 (BF16 = 0 or 1, -D), stored
// as u16; pooling computes in fp32. CPU reference: the layers they replace (TorchSharp's permute, max_pool2d,
// adaptive_avg_pool2d, CifarBasicBlock.Shortcut), compared end to end by `verify` and `sparse --run`.
#include "bcbp_common.cuh"

// x NCHW [B x F] (F = C*H*W) -> y [F x Bp] for b < B: a 32 x 32 tiled transpose through shared memory, so both the
// reads (along F) and the writes (along b) are coalesced. 256 threads (a 1-D block, seen as 32 x 8); grid
// (ceil(F/32), ceil(B/32)).
extern "C" __global__ void nchw_to_chwn(const u16* __restrict__ x, u16* __restrict__ y, int B, long long F, int Bp) {
  pdl_wait();
  __shared__ u16 tile[32][33];
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  long long f0 = (long long)blockIdx.x * 32;
  int b0 = blockIdx.y * 32;
  for (int j = ty; j < 32; j += 8) {
    int b = b0 + j;
    long long f = f0 + tx;
    if (b < B && f < F) tile[j][tx] = x[(long long)b * F + f];
  }
  __syncthreads();
  for (int j = ty; j < 32; j += 8) {
    long long f = f0 + j;
    int b = b0 + tx;
    if (b < B && f < F) y[f * Bp + b] = tile[tx][j];
  }
}

__device__ __forceinline__ void unpack8(uint4 v, float* out) {
  const u16* h = reinterpret_cast<const u16*>(&v);
#pragma unroll
  for (int e = 0; e < 8; ++e) out[e] = to_f32(h[e]);
}

__device__ __forceinline__ uint4 pack8(const float* in) {
  uint4 v;
  u16* h = reinterpret_cast<u16*>(&v);
#pragma unroll
  for (int e = 0; e < 8; ++e) h[e] = to_h(in[e]);
  return v;
}

// Output element group i of a CHWN [C x OH x OW x Bp] output, one per 8 images: its channel, row, column and group.
struct PixelGroup { int c, oh, ow, g; };
__device__ __forceinline__ PixelGroup pixel_group(long long i, int OH, int OW, int groups) {
  PixelGroup p;
  p.g = (int)(i % groups);
  long long t = i / groups;
  p.ow = (int)(t % OW); t /= OW;
  p.oh = (int)(t % OH);
  p.c = (int)(t / OH);
  return p;
}

// Max pooling CHWN -> CHWN, window k x k, stride s, padding p (out-of-image taps ignored, as PyTorch's -inf padding;
// OH/OW from the caller, so ceil mode is just a larger OH). One thread per (c, oh, ow, 8 images).
extern "C" __global__ void maxpool_chwn(const u16* __restrict__ x, u16* __restrict__ y, int C, int H, int W, int Bp, int OH,
                                        int OW, int k, int s, int p) {
  pdl_wait();
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  int groups = Bp / 8;
  if (i >= (long long)C * OH * OW * groups) return;
  const PixelGroup q = pixel_group(i, OH, OW, groups);
  const int c = q.c, oh = q.oh, ow = q.ow, g = q.g;
  float m[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) m[e] = -__int_as_float(0x7f800000);
  for (int dy = 0; dy < k; ++dy) {
    int ih = oh * s - p + dy;
    if (ih < 0 || ih >= H) continue;
    for (int dx = 0; dx < k; ++dx) {
      int iw = ow * s - p + dx;
      if (iw < 0 || iw >= W) continue;
      float v[8];
      unpack8(__ldg(reinterpret_cast<const uint4*>(x + (((long long)c * H + ih) * W + iw) * Bp + g * 8)), v);
#pragma unroll
      for (int e = 0; e < 8; ++e) m[e] = (v[e] > m[e] || v[e] != v[e]) ? v[e] : m[e];  // NaN wins, as in PyTorch
    }
  }
  *reinterpret_cast<uint4*>(y + (((long long)c * OH + oh) * OW + ow) * Bp + g * 8) = pack8(m);
}

// Global average pooling CHWN [C x HW x Bp] -> [C x Bp] (the next GEMM's K x N input). One thread per (c, 8 images).
extern "C" __global__ void avgpool_chwn(const u16* __restrict__ x, u16* __restrict__ y, int C, int HW, int Bp) {
  pdl_wait();
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  int groups = Bp / 8;
  if (i >= (long long)C * groups) return;
  int g = i % groups, c = i / groups;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const u16* base = x + (long long)c * HW * Bp + g * 8;
  for (int q = 0; q < HW; ++q) {
    float v[8];
    unpack8(__ldg(reinterpret_cast<const uint4*>(base + (long long)q * Bp)), v);
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] += v[e];
  }
  float inv = 1.f / HW;
#pragma unroll
  for (int e = 0; e < 8; ++e) acc[e] *= inv;
  *reinterpret_cast<uint4*>(y + (long long)c * Bp + g * 8) = pack8(acc);
}

// The CIFAR ResNet's option-A shortcut, CHWN -> CHWN: subsample by `s` and put the C input channels at
// [lo, lo + C) of Cout, zeros elsewhere (CifarBasicBlock.Shortcut). One thread per (c', oh, ow, 8 images).
extern "C" __global__ void shortcut_a_chwn(const u16* __restrict__ x, u16* __restrict__ y, int C, int H, int W, int Bp, int Cout,
                                           int OH, int OW, int s, int lo) {
  pdl_wait();
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  int groups = Bp / 8;
  if (i >= (long long)Cout * OH * OW * groups) return;
  const PixelGroup q = pixel_group(i, OH, OW, groups);
  const int co = q.c, oh = q.oh, ow = q.ow, g = q.g, c = co - lo;
  uint4 v = make_uint4(0, 0, 0, 0);
  if (c >= 0 && c < C) v = __ldg(reinterpret_cast<const uint4*>(x + (((long long)c * H + oh * s) * W + ow * s) * Bp + g * 8));
  *reinterpret_cast<uint4*>(y + (((long long)co * OH + oh) * OW + ow) * Bp + g * 8) = v;
}
