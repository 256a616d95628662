// Host runner of the simple kernels (Cuda/plan_ops.cu, Cuda/splitk_reduce.cu) for the tests:
//   host_kernels KERNEL GRID_X GRID_Y GRID_Z THREADS ARG...
// with ARG b:FILE (a buffer read from FILE and written back after the launch: u16 or float, as the kernel takes it),
// n: (a null pointer), i:N (int) or l:N (long long), in the kernel's parameter order (Bcbp.Kernels/Plan/PlanOps.Describe
// and Bcbp.Kernels/Ops/SplitK.Reduce give them).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

typedef unsigned short u16;
extern "C" void nchw_to_chwn(const u16* x, u16* y, int B, long long F, int Bp);
extern "C" void maxpool_chwn(const u16* x, u16* y, int C, int H, int W, int Bp, int OH, int OW, int k, int s, int p);
extern "C" void avgpool_chwn(const u16* x, u16* y, int C, int HW, int Bp);
extern "C" void shortcut_a_chwn(const u16* x, u16* y, int C, int H, int W, int Bp, int Cout, int OH, int OW, int s, int lo);
extern "C" void splitk_reduce(const float* part, int splits, int M, int N, const float* bias, const u16* Res, long long ldy,
                              u16* Y, int relu);

int main(int argc, char** argv) {
  if (argc < 6) { std::fprintf(stderr, "usage: host_kernels KERNEL GX GY GZ THREADS ARG...\n"); return 2; }
  std::string kernel = argv[1];
  dim3 grid{(unsigned)std::atol(argv[2]), (unsigned)std::atol(argv[3]), (unsigned)std::atol(argv[4])};
  unsigned threads = (unsigned)std::atol(argv[5]);
  std::vector<std::vector<float>> buffers;  // float storage: aligned for both u16 and float views
  std::vector<size_t> sizes;
  std::vector<std::string> files;
  std::vector<long long> values;  // per argument: a buffer index (-1: null) or the integer
  for (int a = 6; a < argc; ++a) {
    std::string arg = argv[a];
    if (arg.rfind("b:", 0) == 0) {
      std::ifstream in(arg.substr(2), std::ios::binary);
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
      buffers.emplace_back((bytes.size() + 3) / 4);
      std::memcpy(buffers.back().data(), bytes.data(), bytes.size());
      sizes.push_back(bytes.size());
      files.push_back(arg.substr(2));
      values.push_back((long long)buffers.size() - 1);
    } else if (arg == "n:") values.push_back(-1);
    else values.push_back(std::atoll(arg.c_str() + 2));
  }
  auto B = [&](int i) { return values[i] < 0 ? nullptr : reinterpret_cast<u16*>(buffers[values[i]].data()); };
  auto F = [&](int i) { return values[i] < 0 ? nullptr : buffers[values[i]].data(); };
  auto I = [&](int i) { return (int)values[i]; };
  if (kernel == "nchw_to_chwn")
    bcbp_host_launch(grid, threads, [&] { nchw_to_chwn(B(0), B(1), I(2), values[3], I(4)); });
  else if (kernel == "maxpool_chwn")
    bcbp_host_launch(grid, threads, [&] { maxpool_chwn(B(0), B(1), I(2), I(3), I(4), I(5), I(6), I(7), I(8), I(9), I(10)); });
  else if (kernel == "avgpool_chwn")
    bcbp_host_launch(grid, threads, [&] { avgpool_chwn(B(0), B(1), I(2), I(3), I(4)); });
  else if (kernel == "shortcut_a_chwn")
    bcbp_host_launch(grid, threads, [&] { shortcut_a_chwn(B(0), B(1), I(2), I(3), I(4), I(5), I(6), I(7), I(8), I(9), I(10)); });
  else if (kernel == "splitk_reduce")
    bcbp_host_launch(grid, threads, [&] { splitk_reduce(F(0), I(1), I(2), I(3), F(4), B(5), values[6], B(7), I(8)); });
  else { std::fprintf(stderr, "unknown kernel %s\n", kernel.c_str()); return 2; }
  for (size_t i = 0; i < buffers.size(); ++i) {
    std::ofstream out(files[i], std::ios::binary | std::ios::trunc);
    out.write((const char*)buffers[i].data(), (std::streamsize)sizes[i]);
  }
  return 0;
}
