// Split-K reduction of the Hopper gather-GEMM (gather_gemm_sm90.cu launched with splits > 1, for small N): block z
// of that launch wrote the fp32 partial sums of its K range to part[z][row][n], a dense [splits x M x N] buffer. This
// kernel sums them in split order and applies the GEMM's epilogue as the kernel's own does:
//   y = round(sum + bias[row])                 (one rounding to the compute type, as the kernel's staging does),
//   y = round(act(y + Res[row * ldy + n]))     (residual and ReLU in fp32; act = ReLU when `relu`, else identity),
// written to Y[row * ldy + n] (CHWN for a conv: [M x (OH, OW, B)], ldy = N). bias and Res may be null.
// One thread per output element, grid-stride: any grid.x and 1-D block. BF16 (NVRTC -D) picks bf16 over fp16.
#ifndef BF16
#define BF16 0
#endif

#include "bcbp_common.cuh"

extern "C" __global__ void splitk_reduce(const float* part, int splits, int M, int N, const float* bias, const u16* Res,
                                         long long ldy, u16* Y, int relu) {
  pdl_wait();
  const long long total = (long long)M * N;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const int row = (int)(i / N), n = (int)(i - (long long)row * N);
    float s = 0.f;
    for (int z = 0; z < splits; ++z) s += part[z * total + i];
    if (bias) s += bias[row];
    float y = to_f32(to_h(s));
    if (Res) y += to_f32(Res[(long long)row * ldy + n]);
    if (relu) y = fmaxf(y, 0.f);
    Y[(long long)row * ldy + n] = to_h(y);
  }
}
