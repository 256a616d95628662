// Gather-GEMM for BCBP (balanced) and block-sparse (unbalanced) weights: Y[M x N] = act(W_sparse * X + bias (+ Res)),
// act = ReLU when `relu` is set (the fused epilogue; Res is an optional residual in Y's layout).
//
// The weight is cut into row tiles of `tile_rows` rows. Tile t keeps `cnt_t` columns of K (indices idx[ptr_t ..
// ptr_t + cnt_t)) and stores its values densely as [tile_rows x cnt_t], row-major, at W + ptr_t * tile_rows. Counts
// are padded to a multiple of BK with zero weights (index 0), so every K step is full. BCBP tiles all have the same
// count (`kp`, ptr_t = t * kp); block tiles read ptr from `colptr` (cnt_t = colptr[t+1] - colptr[t]).
//
// Each thread block computes a BM x BN piece of Y inside one row tile, so all its rows share one index list: per K
// step it copies the dense weight slice and gathers the kept rows of X into shared memory (a STAGES-deep pipeline),
// then runs tensor-core mma.sync m16n8k16 (fp16 or bf16 in, fp32 accumulate). Written in inline PTX so that NVRTC
// needs no headers.
//
// Three ways to fetch X, chosen by the entry point:
//  - *_gemm: X is a row-major [K x N] matrix (row stride ldx); rows are fetched with 16-byte cp.async. Needs N, ldx
//    multiples of 8 and a 16-byte aligned X.
//  - *_conv: implicit GEMM over a convolution input in CHWN layout (channel stride ldx, then height, width, batch
//    innermost): row k = c*R*S + r*S + s of the im2col matrix, column n = (oh, ow, b), zero outside the image. With the
//    batch innermost, 8 neighbouring columns are 8 images at one pixel: one aligned 16-byte cp.async (zero-filled in
//    the padding). Needs batch, ldx multiples of 8.
//  - *_conv_any: the same convolution for any batch: elements are loaded to registers before the MMAs of the current
//    step and stored to shared memory after them. A plain GEMM with any N is batch = H = OH = R = S = 1, W = OW = N.
// The output Y is [M x N] with row stride ldy: for a convolution, CHWN again, so layers chain without transposes.
// The epilogue stages the tile through shared memory (bias added before rounding) so that Y is written in full 16-byte
// pieces, adding the residual and applying ReLU on the way out.
//
// Compile-time parameters (NVRTC -D): BK in {32, 64} (the K step; counts are padded to it), BM in {32, 64, 128},
// BN in {64, 128, 256}, WARPS_M x WARPS_N warps (each
// warp computes (BM/WARPS_M) x (BN/WARPS_N), a multiple of 16 x 16), STAGES >= 2, BF16 (0 or 1), RES (residual: the
// residual pieces' registers would cost the layers without one an SM's block), RES_SMEM (with RES: the residual tile
// copied to shared memory at the block's start), MINB (blocks per SM ptxas budgets the registers for).

#ifndef BM
#define BM 128
#endif
#ifndef BN
#define BN 128
#endif
#ifndef STAGES
#define STAGES 4
#endif
#ifndef BF16
#define BF16 0
#endif

#ifndef RES
#define RES 0  // 1: the launch adds a residual (Res); 0: Res is ignored (the host compiles the variant the launch needs)
#endif

#ifndef RES_SMEM
#define RES_SMEM 0  // with RES: the residual tile is copied to shared memory at the block's start (short-K layers)
#endif

#ifndef WARPS_M
#define WARPS_M 2
#endif
#ifndef WARPS_N
#define WARPS_N 4
#endif

#ifndef BK
#define BK 32
#endif
#ifndef MINB
#define MINB 1  // blocks per SM the registers are budgeted for (__launch_bounds__' second argument)
#endif
#define THREADS (WARPS_M * WARPS_N * 32)
#define WM (BM / WARPS_M)
#define WN (BN / WARPS_N)
#define MI (WM / 16)
#define NI (WN / 8)
#define A_LD (BK + 8)  // shared row pitch in elements: +16 bytes breaks ldmatrix bank conflicts
#define B_LD (BN + 8)
#define A_STAGE (BM * A_LD)
#define B_STAGE (BK * B_LD)
#define B_CHUNKS_PER_ROW (BN / 8)
#define B_CHUNKS ((BK * BN / 8 + THREADS - 1) / THREADS)
#define C_LD (BN + 8)  // output staging pitch; BM * C_LD fits in the pipeline's shared memory
#define EPI_ITERS ((BM * (BN / 8) + THREADS - 1) / THREADS)  // 8-element output pieces per thread
// RES_SMEM's residual tile [BM x BN] sits after the pipeline and the output staging, which reuse each other's memory.
#define RES_OFFSET (STAGES * (A_STAGE + B_STAGE) > BM * C_LD ? STAGES * (A_STAGE + B_STAGE) : BM * C_LD)

#include "bcbp_common.cuh"

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

__device__ __forceinline__ void mma16816(float* c, const u32* a, const u32* b) {
#if BF16
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
#else
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
#endif
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ u32 pack2(float lo, float hi) {
  u32 r;
#if BF16
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
#else
  asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
#endif
  return r;
}

struct Args {
  const u16* W; const int* idx; const int* colptr; int kp;
  const u16* X; long long ldx;
  u16* Y; long long ldy; const float* bias; const u16* Res; int relu;
  int M, N, tile_rows;
  int batch, H, Wd, OH, OW, R, S, sh, sw, ph, pw, dh, dw;
};

enum Fetch { kGemm = 0, kConv = 1, kConvAny = 2 };

// Where the conv path reads: per column element, the image offset of the receptive field's corner.
struct Column { int ih0, iw0, off; bool valid; };

// This thread's output piece i (8 elements) of the block's [BM x BN] tile, as the epilogue and the residual copy see
// it: row r and column cc in the tile, m and n in Y; `in`: one of the tile's pieces (EPI_ITERS rounds up); `full`: also
// inside Y and a whole aligned 16-byte piece.
struct Piece { int r, cc, m, n; bool in, full; };
__device__ __forceinline__ Piece piece(const Args& p, int m0, int n0, int i) {
  Piece q;
  const int c = threadIdx.x + i * THREADS;
  q.in = c < BM * (BN / 8);
  q.r = c / (BN / 8); q.cc = (c % (BN / 8)) * 8; q.m = m0 + q.r; q.n = n0 + q.cc;
  q.full = q.in && q.m < p.M && (p.ldy & 7) == 0 && q.n + 8 <= p.N;
  return q;
}

template <bool BALANCED, int FETCH>
__device__ __forceinline__ void gather_gemm(const Args& p) {
  extern __shared__ __align__(16) u16 smem[];
  u16* As = smem;
  u16* Bs = smem + STAGES * A_STAGE;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm0 = (warp / WARPS_N) * WM, wn0 = (warp % WARPS_N) * WN;
  // Column blocks may exceed gridDim.y's 65535: they continue in z.
  const int m0 = blockIdx.x * BM, n0 = (blockIdx.z * gridDim.y + blockIdx.y) * BN;
  if (n0 >= p.N) return;
  const int tile = m0 / p.tile_rows, row_in_tile = m0 - tile * p.tile_rows;
  const int ptr = BALANCED ? tile * p.kp : p.colptr[tile];
  const int cnt = BALANCED ? p.kp : p.colptr[tile + 1] - ptr;
  const u16* Wt = p.W + (long long)ptr * p.tile_rows + (long long)row_in_tile * cnt;
  const int* idx = p.idx + ptr;
  const int ktiles = cnt / BK;

  // This thread's B chunk column is fixed (THREADS is a multiple of BN/8); its rows step by THREADS/(BN/8).
  const int bcol = (tid % B_CHUNKS_PER_ROW) * 8, brow0 = tid / B_CHUNKS_PER_ROW;
  const int brow_step = THREADS / B_CHUNKS_PER_ROW;

  // Column n = (oh, ow, b): where its receptive field starts. kConv needs one entry (8 images, one pixel).
  constexpr int NCOL = FETCH == kConvAny ? 8 : 1;
  Column col[NCOL];
  if (FETCH != kGemm) {
#pragma unroll
    for (int e = 0; e < NCOL; ++e) {
      int n = n0 + bcol + e;
      col[e].valid = n < p.N;
      int pix = n / p.batch, b = n - pix * p.batch, oh = pix / p.OW, ow = pix - oh * p.OW;
      col[e].ih0 = oh * p.sh - p.ph;
      col[e].iw0 = ow * p.sw - p.pw;
      col[e].off = (col[e].ih0 * p.Wd + col[e].iw0) * p.batch + b;
    }
  }
  u32 breg[B_CHUNKS][4];

  auto load_a = [&](int kt, int slot) {
    u16* dst = As + slot * A_STAGE;
    for (int c = tid; c < BM * (BK / 8); c += THREADS) {
      int r = c / (BK / 8), k = (c % (BK / 8)) * 8;
      cp_async16(smem_addr(dst + r * A_LD + k), Wt + (long long)r * cnt + kt * BK + k, true);
    }
  };
  // Kept-row indices of the step to load next, read one step ahead so their latency hides behind the MMAs.
  int kidx[B_CHUNKS];
  auto fetch_idx = [&](int kt) {
#pragma unroll
    for (int i = 0; i < B_CHUNKS; ++i) {
      int r = brow0 + i * brow_step;
      kidx[i] = (r < BK && kt < ktiles) ? __ldg(idx + kt * BK + r) : 0;
    }
  };
  auto load_b_async = [&](int kt, int slot) {
    u16* dst = Bs + slot * B_STAGE;
#pragma unroll
    for (int i = 0; i < B_CHUNKS; ++i) {
      int r = brow0 + i * brow_step;
      if (r < BK) {
        int k = kidx[i];
        bool valid = n0 + bcol < p.N;
        const u16* src = p.X + (long long)k * p.ldx + (valid ? n0 + bcol : 0);
        cp_async16(smem_addr(dst + r * B_LD + bcol), src, valid);
      }
    }
  };
  auto load_b_conv = [&](int kt, int slot) {
    u16* dst = Bs + slot * B_STAGE;
    const int RS = p.R * p.S;
#pragma unroll
    for (int i = 0; i < B_CHUNKS; ++i) {
      int r = brow0 + i * brow_step;
      if (r < BK) {
        int k = kidx[i];
        int c = k / RS, rs = k - c * RS, fr = rs / p.S, fs = rs - fr * p.S;
        int ih = col[0].ih0 + fr * p.dh, iw = col[0].iw0 + fs * p.dw;
        bool valid = col[0].valid && (unsigned)ih < (unsigned)p.H && (unsigned)iw < (unsigned)p.Wd;
        const u16* src = p.X + (long long)c * p.ldx + (valid ? col[0].off + (fr * p.dh * p.Wd + fs * p.dw) * p.batch : 0);
        cp_async16(smem_addr(dst + r * B_LD + bcol), src, valid);
      }
    }
  };
  auto load_b_regs = [&](int kt) {
    const int RS = p.R * p.S;
#pragma unroll
    for (int i = 0; i < B_CHUNKS; ++i) {
      int r = brow0 + i * brow_step;
      u16 v[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = 0;
      if (r < BK) {
        int k = kidx[i];
        int c = k / RS, rs = k - c * RS, fr = rs / p.S, fs = rs - fr * p.S;
        int dy = fr * p.dh, dx = fs * p.dw;
        const u16* base = p.X + (long long)c * p.ldx + (dy * p.Wd + dx) * p.batch;
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          int ih = col[e].ih0 + dy, iw = col[e].iw0 + dx;
          if (col[e].valid && (unsigned)ih < (unsigned)p.H && (unsigned)iw < (unsigned)p.Wd)
            v[e] = __ldg(base + col[e].off);
        }
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) breg[i][e] = (u32)v[2 * e] | ((u32)v[2 * e + 1] << 16);
    }
  };
  auto store_b_regs = [&](int slot) {
    u16* dst = Bs + slot * B_STAGE;
#pragma unroll
    for (int i = 0; i < B_CHUNKS; ++i) {
      int r = brow0 + i * brow_step;
      if (r < BK) *reinterpret_cast<uint4*>(dst + r * B_LD + bcol) = make_uint4(breg[i][0], breg[i][1], breg[i][2], breg[i][3]);
    }
  };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

#if PDL
  // Under programmatic launch the prologue's weight slices (constant) are requested before the wait, so their
  // latency overlaps the previous kernel's end; they join the first cp.async group committed below.
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s)
    if (s < ktiles) load_a(s, s);
#endif
  pdl_wait();  // the previous kernel's output (X, the residual) and this one's (Y) are safe from here on

#if RES && RES_SMEM
  // The block's residual tile is copied to its own shared memory first (one cp.async group, the oldest, so the first
  // wait of the pipeline finishes it), its latency overlapping the gather's: a short-K layer is otherwise two round
  // trips to DRAM in a row (the gather, then the residual in the epilogue). Partial pieces stay zero; store8 reads
  // those itself. RES implies a residual (the host compiles RES only for one), so p.Res is a valid dummy address.
  u16* Rs = smem + RES_OFFSET;
#pragma unroll
  for (int i = 0; i < EPI_ITERS; ++i) {
    const Piece q = piece(p, m0, n0, i);
    if (q.in) cp_async16(smem_addr(Rs + q.r * BN + q.cc), q.full ? p.Res + (long long)q.m * p.ldy + q.n : p.Res, q.full);
  }
  cp_async_commit();
#endif

  // Prologue: fill STAGES-1 slots.
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) {
      fetch_idx(s);
      if (!PDL) load_a(s, s);
      if (FETCH == kConvAny) { load_b_regs(s); store_b_regs(s); }
      else if (FETCH == kConv) load_b_conv(s, s);
      else load_b_async(s, s);
    }
    cp_async_commit();
  }

  fetch_idx(STAGES - 1);
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int next = kt + STAGES - 1, next_slot = next % STAGES;
    const bool has_next = next < ktiles;
    if (has_next) {
      load_a(next, next_slot);
      if (FETCH == kConvAny) load_b_regs(next);
      else if (FETCH == kConv) load_b_conv(next, next_slot);
      else load_b_async(next, next_slot);
      fetch_idx(next + 1);
    }
    cp_async_commit();

    const u16* a_s = As + (kt % STAGES) * A_STAGE;
    const u16* b_s = Bs + (kt % STAGES) * B_STAGE;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      u32 af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const u16* p_a = a_s + (wm0 + i * 16 + (lane & 15)) * A_LD + kk + (lane >> 4) * 8;
        ldmatrix_x4(af[i][0], af[i][1], af[i][2], af[i][3], smem_addr(p_a));
      }
#pragma unroll
      for (int j = 0; j < NI / 2; ++j) {
        const u16* p_b = b_s + (kk + (lane & 7) + ((lane >> 3) & 1) * 8) * B_LD + wn0 + j * 16 + (lane >> 4) * 8;
        ldmatrix_x4_trans(bf[2 * j][0], bf[2 * j][1], bf[2 * j + 1][0], bf[2 * j + 1][1], smem_addr(p_b));
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma16816(acc[i][j], af[i], bf[j]);
    }
    if (FETCH == kConvAny && has_next) store_b_regs(next_slot);
  }
  cp_async_wait<0>();
  __syncthreads();  // the pipeline's shared memory is reused for the output tile
  pdl_launch_dependents();

  // Epilogue: bias, round to the input type into a shared [BM x BN] tile, then 16-byte coalesced stores. The residual
  // pieces this thread adds are loaded first, so their latency overlaps the staging and each other.
  const u16* res = RES ? p.Res : nullptr;
  uint4 rv[EPI_ITERS];
#pragma unroll
  for (int i = 0; i < EPI_ITERS; ++i) {
    const Piece q = piece(p, m0, n0, i);
#if RES && RES_SMEM
    rv[i] = q.in ? *reinterpret_cast<const uint4*>(Rs + q.r * BN + q.cc) : make_uint4(0, 0, 0, 0);
#else
    rv[i] = load_res8(res ? res + (long long)q.m * p.ldy + q.n : nullptr, q.full);
#endif
  }
  u16* Cs = smem;
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int i = 0; i < MI; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int r = wm0 + i * 16 + g + h * 8;
      float bias = (p.bias && m0 + r < p.M) ? p.bias[m0 + r] : 0.f;
#pragma unroll
      for (int j = 0; j < NI; ++j)
        *reinterpret_cast<u32*>(Cs + r * C_LD + wn0 + j * 8 + t4 * 2) =
            pack2(acc[i][j][2 * h] + bias, acc[i][j][2 * h + 1] + bias);
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < EPI_ITERS; ++i) {
    const Piece q = piece(p, m0, n0, i);
    if (!q.in || q.m >= p.M || q.n >= p.N) continue;
    store8(p.Y + (long long)q.m * p.ldy + q.n, Cs + q.r * C_LD + q.cc, res ? res + (long long)q.m * p.ldy + q.n : nullptr, rv[i],
           p.relu, q.full, min(8, p.N - q.n));
  }
}

#define ENTRY(name, balanced, fetch)                                                                         \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB) name(                                                \
      const u16* W, const int* idx, const int* colptr, int kp, const u16* X, long long ldx, u16* Y,          \
      long long ldy, const float* bias, const u16* Res, int relu, int M, int N, int tile_rows, int batch,     \
      int H, int Wd, int OH, int OW, int R, int S, int sh, int sw, int ph, int pw, int dh, int dw) {          \
    Args p{W, idx, colptr, kp, X, ldx, Y, ldy, bias, Res, relu, M, N, tile_rows, batch, H, Wd, OH, OW, R, S,  \
           sh, sw, ph, pw, dh, dw};                                                                          \
    gather_gemm<balanced, fetch>(p);                                                                         \
  }

ENTRY(bcbp_gemm, true, kGemm)
ENTRY(block_gemm, false, kGemm)
ENTRY(bcbp_conv, true, kConv)
ENTRY(block_conv, false, kConv)
ENTRY(bcbp_conv_any, true, kConvAny)
ENTRY(block_conv_any, false, kConvAny)
