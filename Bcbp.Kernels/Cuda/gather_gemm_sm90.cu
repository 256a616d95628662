// Hopper (sm_90a) gather-GEMM for BCBP (balanced) and block-sparse (unbalanced) weights, with a fused epilogue:
//   Y[M x N] = act(W_sparse * X + bias (+ Res)),   act = ReLU or identity.
//
// Orientation. wgmma's M is 64 per warpgroup, but a BCBP tile can be as short as 8 rows, so the kernel computes the
// transpose: Y^T[pixels x rows] = X[kept]^T * W'^T. The wgmma M side is 64 pixels (GEMM columns n) per instruction,
// its N side the block's TR output rows (one pruning tile, or a TR-row chunk of a taller one), so any tile height
// that is a multiple of 8 (8..256) runs on this path, and every row of a block shares the tile's index list.
//
// Packed weight format (PackedWeight, layout Wgmma), per tile t of `tile_rows` rows:
//  - the tile keeps cnt_t columns; they are padded to cnt64_t = ceil(cnt_t / 64) * 64; `colptr` holds the prefix sums
//    of cnt64 (T + 1 ints). BCBP tiles all keep the same count, so the balanced kernel reads only `kp64`.
//  - indices: idx[colptr[t] + j] = kept column j of tile t (ascending), -1 for padding (zero-filled, never read).
//    With ROWTAB (conv) they are pairs instead: (c * ldx + (dy * W + dx) * batch, dy << 16 | dx) for im2col row
//    k = (c, r, s), dy = r * dil_h, dx = s * dil_w, or (-1, 0): the producer then does no division per row.
//  - values: the tile's [tile_rows x cnt64_t] block starts at element colptr[t] * tile_rows. Inside it, row chunk c
//    (TR rows) and K block kb (64 columns) are one contiguous [TR x 64] piece at element
//    (c * cnt64_t + kb * 64) * TR ... i.e. ((c * nkb + kb) * TR * 64), nkb = cnt64_t / 64, stored exactly as the
//    kernel's shared memory wants it: row n is 128 bytes, its 16-byte chunk q sits at chunk position q ^ (n % 8)
//    (the 128-byte swizzle of wgmma's K-major layout). One cp.async.bulk copies it to shared memory as it is.
//    Zero weights pad the rows past M of a partial last tile and the columns past cnt_t.
//
// Pipeline. Warpgroup 0 produces, warpgroups 1..CONS consume. Per K block
// (STAGES-deep ring, full/empty mbarriers) the producer's thread 0 starts the bulk copy of the weight piece
// (complete_tx on the stage's full barrier) and all 128 producer threads gather the kept rows of X with 16-byte
// cp.async into the 128-byte-swizzled MN-major layout (64 pixels x 64 rows = 8 KB per 64-pixel block), then arrive
// on the same barrier when their copies land (cp.async.mbarrier.arrive.noinc). Each consumer warpgroup owns MW
// 64-pixel blocks; per K block it issues ceil(rows / 16) k16 steps of wgmma m64nNCk16 (fp32 accumulators, A = X^T
// MN-major, B = W' K-major, both from shared memory through descriptors), keeps one wgmma group in flight and
// releases a stage (one arrival per consumer warp) when the group that read it has retired.
//
// X fetch (FETCH): 0 gemm: X is [K x N] row-major (ldx, N multiples of 8); 1 conv: implicit GEMM on a CHWN input
// (channel stride ldx, batch innermost; batch a multiple of 8: 8 neighbouring columns are 8 images at one pixel, one
// aligned 16-byte cp.async, zero-filled in the padding); 2 any: the same convolution for any batch (and a GEMM with
// any N as batch = H = OH = R = S = 1), elements loaded to registers and stored to shared memory.
//
// Epilogue: each consumer stages its [TR x 64*MW] output through its own (now idle) shared memory in 32-row passes,
// adds the fp32 bias before rounding, then writes 16-byte pieces of Y (CHWN for a conv: [M x (OH, OW, B)]) after
// adding the residual Res (same layout as Y, or null) and applying ReLU when `relu` is set.
//
// Split K (splits > 1; for small N, where the blocks alone would not fill the GPU and each would run the whole K loop):
// block z of the grid takes K blocks [z * nkb / splits, (z + 1) * nkb / splits) of its tile and writes its fp32
// partial sums, no epilogue, to part[z][row][n] (dense [splits x M x N]); splitk_reduce.cu then sums them and applies
// the epilogue above. Column blocks then never continue in z (the host keeps grid.y <= 65535 for split launches).
//
// Compile-time parameters (NVRTC -D): TR (rows per block, multiple of 8, <= 256, divides tile_rows), NC (wgmma N, a
// power of two dividing TR, <= 256), MW (64-pixel blocks per consumer), CONS (consumer warpgroups), STAGES, BF16,
// FETCH, BALANCED, RES (residual). Needs --gpu-architecture=sm_90a (wgmma); no headers.

#ifndef TR
#define TR 64
#endif
#ifndef NC
#define NC 64
#endif
#ifndef MW
#define MW 2
#endif
#ifndef CONS
#define CONS 2
#endif
#ifndef STAGES
#define STAGES 4
#endif
#ifndef BF16
#define BF16 0
#endif
#ifndef FETCH
#define FETCH 1
#endif
#ifndef BALANCED
#define BALANCED 1
#endif
#ifndef MINB
#define MINB 1   // blocks per SM the register budget is cut for (__launch_bounds__)
#endif
#ifndef INFLIGHT
#define INFLIGHT 1  // wgmma groups left in flight across a stage boundary (0 or 1)
#endif
#ifndef RES
#define RES 0  // 1: the launch adds a residual (Res); 0: Res is ignored (the host compiles the variant the launch needs)
#endif
#ifndef ROWTAB
#define ROWTAB 0  // conv: idx holds precomputed (offset, dy << 16 | dx) pairs instead of im2col rows
#endif

#define BK 64
#define THREADS ((CONS + 1) * 128)
#define BP (64 * MW * CONS)               // GEMM columns (pixels) per block
#define X_STAGE (BK * BP * 2)             // bytes of gathered X per stage: BP/64 blocks of 64 rows x 128 B
#define W_STAGE (TR * BK * 2)             // bytes of weight per stage: TR rows x 128 B
#define STAGE_BYTES (X_STAGE + W_STAGE)   // a multiple of 1024 (TR is a multiple of 8): every stage stays swizzle-aligned
#define CHUNKS (BP / 8)                   // 16-byte chunks per gathered row
#define ROW_STEP (128 / CHUNKS)           // rows a producer pass covers
#define GATHERS (BK / ROW_STEP)           // chunks per producer thread per stage
#define EPI_ROWS 32                       // output rows per epilogue pass
#define EPI_LD (64 * MW + 8)              // epilogue staging pitch (elements): +16 bytes spreads the banks

#include "bcbp_common.cuh"

static_assert(TR % 8 == 0 && TR <= 256 && TR % NC == 0 && NC >= 8 && NC <= 256 && (NC & (NC - 1)) == 0, "bad TR/NC");
static_assert(CHUNKS <= 128 && 128 % CHUNKS == 0, "bad MW/CONS");
static_assert(EPI_ROWS * EPI_LD * 2 <= MW * 8192, "epilogue pass does not fit the consumer's stage-0 buffer");

// ---- mbarrier ----
__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
  u32 done = 0;
  while (!done)
    asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }\n"
                 : "=r"(done) : "r"(bar), "r"(parity) : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
  asm volatile("{ .reg .b64 st; mbarrier.arrive.shared::cta.b64 st, [%0]; }\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(u32 bar, u32 bytes) {
  asm volatile("{ .reg .b64 st; mbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1; }\n" ::"r"(bar), "r"(bytes) : "memory");
}

// ---- copies ----
__device__ __forceinline__ void bulk_g2s(u32 dst, const void* src, u32 bytes, u32 bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
               ::"r"(dst), "l"(src), "r"(bytes), "r"(bar) : "memory");
}
__device__ __forceinline__ void cp_async_arrive(u32 bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// ---- wgmma ----
__device__ __forceinline__ u64 desc(u32 addr, u32 lbo, u32 sbo) {  // 128-byte swizzle
  return (u64)((addr & 0x3FFFF) >> 4) | ((u64)(lbo >> 4) << 16) | ((u64)(sbo >> 4) << 32) | (1ull << 62);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
template <int N>
__device__ __forceinline__ void fence_acc(float* d) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#if BF16
#define WG_TYPES ".f32.bf16.bf16"
#else
#define WG_TYPES ".f32.f16.f16"
#endif
// D[64 x N] = A[64 x 16] * B[16 x N] (+ D when acc != 0): A MN-major (imm-trans-a 1), B K-major (imm-trans-b 0).
#define R4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define R16(i) R4(i), R4(i + 4), R4(i + 8), R4(i + 12)

template <int N> __device__ __forceinline__ void wgmma(float* d, u64 a, u64 b, int acc);
template <> __device__ __forceinline__ void wgmma<8>(float* d, u64 a, u64 b, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %6, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n8k16" WG_TYPES " {"
               "%0,%1,%2,%3"
               "}, %4, %5, p, 1, 1, 1, 0; }\n"
               : R4(0)
               : "l"(a), "l"(b), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma<16>(float* d, u64 a, u64 b, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %10, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n16k16" WG_TYPES " {"
               "%0,%1,%2,%3,%4,%5,%6,%7"
               "}, %8, %9, p, 1, 1, 1, 0; }\n"
               : R4(0), R4(4)
               : "l"(a), "l"(b), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma<32>(float* d, u64 a, u64 b, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %18, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n32k16" WG_TYPES " {"
               "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15"
               "}, %16, %17, p, 1, 1, 1, 0; }\n"
               : R16(0)
               : "l"(a), "l"(b), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma<64>(float* d, u64 a, u64 b, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16" WG_TYPES " {"
               "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
               "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
               "}, %32, %33, p, 1, 1, 1, 0; }\n"
               : R16(0), R16(16)
               : "l"(a), "l"(b), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma<128>(float* d, u64 a, u64 b, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %66, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k16" WG_TYPES " {"
               "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
               "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
               "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
               "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
               "}, %64, %65, p, 1, 1, 1, 0; }\n"
               : R16(0), R16(16), R16(32), R16(48)
               : "l"(a), "l"(b), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma<256>(float* d, u64 a, u64 b, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %130, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n256k16" WG_TYPES " {"
               "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
               "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
               "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
               "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,"
               "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,"
               "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,"
               "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,"
               "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"
               "}, %128, %129, p, 1, 1, 1, 0; }\n"
               : R16(0), R16(16), R16(32), R16(48), R16(64), R16(80), R16(96), R16(112)
               : "l"(a), "l"(b), "r"(acc));
}

struct Args {
  const u16* W; const int* idx; const int* colptr; int kp64;
  const u16* X; long long ldx;
  u16* Y; long long ldy; const float* bias; const u16* Res; int relu;
  int M, N, tile_rows;
  int batch, H, Wd, OH, OW, R, S, sh, sw, ph, pw, dh, dw;
  float* part; int splits;
};

// Where a producer thread's chunk column reads: the image offset of its receptive field's corner.
struct Column { int ih0, iw0, off; bool valid; };

__device__ __forceinline__ Column column(const Args& p, int n) {
  Column c;
  c.valid = n < p.N;
  int pix = n / p.batch, b = n - pix * p.batch, oh = pix / p.OW, ow = pix - oh * p.OW;
  c.ih0 = oh * p.sh - p.ph;
  c.iw0 = ow * p.sw - p.pw;
  c.off = (c.ih0 * p.Wd + c.iw0) * p.batch + b;
  return c;
}

__device__ __forceinline__ void produce(const Args& p, u32 sbase, u32 bars, const u16* Wt, const int* idx,
                                        int nkb, int p0) {
  const int tid = threadIdx.x;  // 0..127
  const int col = tid % CHUNKS, row0 = tid / CHUNKS;
  // The chunk's place in the swizzled stage: its 64-pixel block and its 16-byte chunk inside the 128-byte row.
  const u32 cblk = (col / 8) * 8192, cq = col % 8;
  const int n = p0 + col * 8;
  constexpr int NCOL = FETCH == 2 ? 8 : 1;
  Column cc[NCOL];
#pragma unroll
  for (int e = 0; e < NCOL; ++e) cc[e] = column(p, n + e);
  const int RS = p.R * p.S;
  for (int kb = 0; kb < nkb; ++kb) {
    const int s = kb % STAGES;
    const u32 full = bars + 8 * s, empty = bars + 8 * (STAGES + s);
    mbar_wait(empty, ((kb / STAGES) & 1) ^ 1);
    const u32 xs = sbase + s * STAGE_BYTES;
    if (tid == 0) {
      mbar_arrive_expect_tx(full, W_STAGE);
      bulk_g2s(xs + X_STAGE, Wt + (long long)kb * TR * BK, W_STAGE, full);
    }
#pragma unroll
    for (int i = 0; i < GATHERS; ++i) {
      const int r = row0 + i * ROW_STEP;
      const u32 dst = xs + cblk + r * 128 + ((cq ^ (r & 7)) << 4);
#if ROWTAB
      const int2 t = __ldg(reinterpret_cast<const int2*>(idx) + kb * BK + r);
      const int ih = cc[0].ih0 + (t.y >> 16), iw = cc[0].iw0 + (t.y & 0xFFFF);
      const bool valid = t.x >= 0 && cc[0].valid && (unsigned)ih < (unsigned)p.H && (unsigned)iw < (unsigned)p.Wd;
      cp_async16(dst, valid ? p.X + t.x + cc[0].off : p.X, valid);
#else
      const int k = __ldg(idx + kb * BK + r);
      if (FETCH == 0) {
        const bool valid = k >= 0 && cc[0].valid;
        cp_async16(dst, p.X + (valid ? (long long)k * p.ldx + n : 0), valid);
      } else {
        const int kk = k < 0 ? 0 : k;
        const int c = kk / RS, rs = kk - c * RS, fr = rs / p.S, fs = rs - fr * p.S;
        const int dy = fr * p.dh, dx = fs * p.dw;
        const u16* base = p.X + (long long)c * p.ldx + (dy * p.Wd + dx) * p.batch;
        if (FETCH == 1) {
          const int ih = cc[0].ih0 + dy, iw = cc[0].iw0 + dx;
          const bool valid = k >= 0 && cc[0].valid && (unsigned)ih < (unsigned)p.H && (unsigned)iw < (unsigned)p.Wd;
          cp_async16(dst, valid ? base + cc[0].off : p.X, valid);
        } else {
          u32 v[4];
#pragma unroll
          for (int e = 0; e < 8; e += 2) {
            u16 lo = 0, hi = 0;
            int ih = cc[e].ih0 + dy, iw = cc[e].iw0 + dx;
            if (k >= 0 && cc[e].valid && (unsigned)ih < (unsigned)p.H && (unsigned)iw < (unsigned)p.Wd) lo = __ldg(base + cc[e].off);
            ih = cc[e + 1].ih0 + dy; iw = cc[e + 1].iw0 + dx;
            if (k >= 0 && cc[e + 1].valid && (unsigned)ih < (unsigned)p.H && (unsigned)iw < (unsigned)p.Wd) hi = __ldg(base + cc[e + 1].off);
            v[e / 2] = (u32)lo | ((u32)hi << 16);
          }
          asm volatile("st.shared.v4.b32 [%0], {%1,%2,%3,%4};\n" ::"r"(dst), "r"(v[0]), "r"(v[1]), "r"(v[2]), "r"(v[3]) : "memory");
        }
      }
#endif
    }
    if (FETCH == 2) { fence_proxy_async(); mbar_arrive(full); }
    else cp_async_arrive(full);
  }
}

// This consumer thread's output piece i (8 elements) of the epilogue pass starting at block row e0: row r inside the
// pass, chunk ch of the warpgroup's 64 * MW columns; row and n in Y; `full`: inside the block and Y, a whole aligned
// 16-byte piece.
struct Piece { int r, ch, row, n; bool full; };
__device__ __forceinline__ Piece piece(const Args& p, int tid, int i, int e0, int m0, int px0) {
  Piece q;
  const int c = tid + i * 128;
  q.r = c / (8 * MW); q.ch = c - q.r * (8 * MW); q.row = m0 + e0 + q.r; q.n = px0 + q.ch * 8;
  q.full = e0 + q.r < TR && q.row < p.M && (p.ldy & 7) == 0 && q.n + 8 <= p.N;
  return q;
}

// Where accumulator value v of wgmma (a, b) lives in a consumer warpgroup's output (the m64nNC fp32 layout, transposed
// orientation): the output row inside the block and the pixel inside the warpgroup's 64 * MW columns.
__device__ __forceinline__ int acc_row(int b, int v, int t4) { return b * NC + 8 * (v >> 2) + 2 * t4 + (v & 1); }
__device__ __forceinline__ int acc_pixel(int a, int v, int warp, int g) { return a * 64 + 16 * warp + g + 8 * ((v >> 1) & 1); }

__device__ __forceinline__ void consume(const Args& p, u32 sbase, u32 bars, int cw, int nkb, int m0, int p0,
                                        unsigned char* smem, int split) {
  constexpr int NI = TR / NC, NV = NC / 2;
  // No zero-initialisation: the first k16 step overwrites (scale-d 0). ptxas serialises wgmmas whose accumulators
  // other instructions define inside the pipeline (C7515), so nothing but wgmma and empty fences touches them.
  float acc[MW][NI][NV];
  const int tid = threadIdx.x - 128 * (cw + 1);  // 0..127 inside the warpgroup
  for (int kb = 0; kb < nkb; ++kb) {
    const int s = kb % STAGES;
    mbar_wait(bars + 8 * s, (kb / STAGES) & 1);
    fence_proxy_async();  // the gathered rows were written by cp.async (generic proxy); wgmma reads by the async proxy
    const u32 xs = sbase + s * STAGE_BYTES, ws = xs + X_STAGE;
#pragma unroll
    for (int a = 0; a < MW; ++a)
#pragma unroll
      for (int b = 0; b < NI; ++b) fence_acc<NV>(acc[a][b]);
    wgmma_fence();
    // Always the stage's four k16 steps (a partial last block is zero-padded): no run-time count inside the pipeline.
#pragma unroll
    for (int st = 0; st < 4; ++st) {
#pragma unroll
      for (int a = 0; a < MW; ++a) {
        const u64 da = desc(xs + (cw * MW + a) * 8192 + st * 2048, 8192, 1024);
#pragma unroll
        for (int b = 0; b < NI; ++b)
          wgmma<NC>(acc[a][b], da, desc(ws + b * NC * 128 + st * 32, 16, 1024), kb > 0 || st > 0);
      }
    }
    wgmma_commit();
#pragma unroll
    for (int a = 0; a < MW; ++a)
#pragma unroll
      for (int b = 0; b < NI; ++b) fence_acc<NV>(acc[a][b]);
#if INFLIGHT
    // Keep this step's group in flight; the previous one has retired, so its stage can be refilled.
    wgmma_wait<1>();
    if (kb > 0 && (tid & 31) == 0) mbar_arrive(bars + 8 * (STAGES + (kb - 1) % STAGES));
#else
    wgmma_wait<0>();
    if ((tid & 31) == 0) mbar_arrive(bars + 8 * (STAGES + s));
#endif
  }
  wgmma_wait<0>();
#pragma unroll
  for (int a = 0; a < MW; ++a)
#pragma unroll
    for (int b = 0; b < NI; ++b) fence_acc<NV>(acc[a][b]);
#if INFLIGHT
  if (nkb > 0 && (tid & 31) == 0) mbar_arrive(bars + 8 * (STAGES + (nkb - 1) % STAGES));
#endif
  if (nkb == 0) {  // no K blocks here (a tile that keeps nothing, or an empty split): zeros; the bias comes after
#pragma unroll
    for (int a = 0; a < MW; ++a)
#pragma unroll
      for (int b = 0; b < NI; ++b)
#pragma unroll
        for (int v = 0; v < NV; ++v) acc[a][b][v] = 0.f;
  }

  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int px0 = p0 + cw * 64 * MW;
  if (p.splits > 1) {  // split K: this block's fp32 partial sums, straight from the accumulators
    float* out = p.part + (long long)split * p.M * p.N;
#pragma unroll
    for (int a = 0; a < MW; ++a)
#pragma unroll
      for (int b = 0; b < NI; ++b)
#pragma unroll
        for (int v = 0; v < NV; ++v) {
          const int row = m0 + acc_row(b, v, t4), n = px0 + acc_pixel(a, v, warp, g);
          if (row < p.M && n < p.N) out[(long long)row * p.N + n] = acc[a][b][v];
        }
    return;
  }

  pdl_launch_dependents();
  // Epilogue through this warpgroup's X buffer of stage 0 (only it reads that buffer, and nothing refills it now).
  // A pass's residual pieces are loaded before its staging, so they are in flight together and behind it (RES only:
  // their registers would cost the kernels without a residual an SM's second block).
  u16* cs = reinterpret_cast<u16*>(smem + (sbase - smem_addr(smem)) + cw * MW * 8192);
  const u16* res = RES ? p.Res : nullptr;
  constexpr int PIECES = EPI_ROWS * 8 * MW / 128;
  uint4 rv[PIECES];
#pragma unroll
  for (int e0 = 0; e0 < TR; e0 += EPI_ROWS) {
#pragma unroll
    for (int i = 0; i < PIECES; ++i) {
      const Piece q = piece(p, tid, i, e0, m0, px0);
      rv[i] = load_res8(res ? res + (long long)q.row * p.ldy + q.n : nullptr, q.full);
    }
    named_sync(1 + cw, 128);  // the previous pass has been read
#pragma unroll
    for (int a = 0; a < MW; ++a)
#pragma unroll
      for (int b = 0; b < NI; ++b)
#pragma unroll
        for (int v = 0; v < NV; ++v) {
          const int n8 = b * NC + 8 * (v >> 2);  // compile-time: which pass holds this value
          if (n8 < e0 || n8 >= e0 + EPI_ROWS) continue;
          const int n = acc_row(b, v, t4);       // output row inside the block
          const int m = acc_pixel(a, v, warp, g);  // pixel inside the warpgroup's columns
          const float bias = (p.bias && m0 + n < p.M) ? __ldg(p.bias + m0 + n) : 0.f;
          cs[(n - e0) * EPI_LD + m] = to_h(acc[a][b][v] + bias);
        }
    named_sync(1 + cw, 128);
#pragma unroll
    for (int i = 0; i < PIECES; ++i) {
      const Piece q = piece(p, tid, i, e0, m0, px0);
      if (e0 + q.r >= TR || q.row >= p.M || q.n >= p.N) continue;
      store8(p.Y + (long long)q.row * p.ldy + q.n, cs + q.r * EPI_LD + q.ch * 8, res ? res + (long long)q.row * p.ldy + q.n : nullptr,
             rv[i], p.relu, q.full, min(8, p.N - q.n));
    }
  }
}

__device__ __forceinline__ void gather_gemm_sm90(const Args& p) {
  extern __shared__ __align__(1024) unsigned char smem[];
  const u32 raw = smem_addr(smem);
  const u32 sbase = (raw + 1023) & ~1023u;               // 128-byte swizzle atoms are 1024-byte aligned
  const u32 bars = sbase + STAGES * STAGE_BYTES;          // full[STAGES], then empty[STAGES]

  // Column blocks beyond grid.y continue in z, except under split K, where z is the split.
  const int split = p.splits > 1 ? (int)blockIdx.z : 0;
  const int p0 = ((p.splits > 1 ? 0 : blockIdx.z) * gridDim.y + blockIdx.y) * BP;
  if (p0 >= p.N) return;
  const int m0 = blockIdx.x * TR, tile = m0 / p.tile_rows, chunk = (m0 - tile * p.tile_rows) / TR;
  const int ptr = BALANCED ? tile * p.kp64 : p.colptr[tile];
  const int cnt64 = BALANCED ? p.kp64 : p.colptr[tile + 1] - ptr;
  const int all = cnt64 / BK, kb0 = split * all / p.splits, nkb = (split + 1) * all / p.splits - kb0;

  const int wg = threadIdx.x / 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(bars + 8 * s, 129);           // 128 producer arrivals + thread 0's expect_tx arrival
      mbar_init(bars + 8 * (STAGES + s), 4 * CONS);  // one arrival per consumer warp, once its wgmma wait has passed
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  pdl_wait();  // the previous kernel's output (X, the residual) and this one's (Y, the partials) are safe from here on

  // No setmaxnreg: a consumer's accumulators (MW * TR / 2 <= 128 floats) fit the 168 registers that 384 threads
  // get anyway, and an increase that the register pool cannot cover would hang the block.
  if (wg == 0) {
    produce(p, sbase, bars, p.W + (long long)ptr * p.tile_rows + (long long)chunk * TR * cnt64 + (long long)kb0 * TR * BK,
            p.idx + (ROWTAB ? 2 : 1) * (ptr + kb0 * BK), nkb, p0);
  } else {
    consume(p, sbase, bars, wg - 1, nkb, m0, p0, smem, split);
  }
}

#define ENTRY(name)                                                                                           \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB) name(                                              \
      const u16* W, const int* idx, const int* colptr, int kp64, const u16* X,                                \
      long long ldx, u16* Y, long long ldy, const float* bias, const u16* Res, int relu, int M, int N,        \
      int tile_rows, int batch, int H, int Wd, int OH, int OW, int R, int S, int sh, int sw, int ph, int pw,  \
      int dh, int dw, float* part, int splits) {                                                              \
    Args p{W, idx, colptr, kp64, X, ldx, Y, ldy, bias, Res, relu, M, N, tile_rows,                            \
           batch, H, Wd, OH, OW, R, S, sh, sw, ph, pw, dh, dw, part, splits};                                 \
    gather_gemm_sm90(p);                                                                                      \
  }

ENTRY(gather_gemm_sm90)
