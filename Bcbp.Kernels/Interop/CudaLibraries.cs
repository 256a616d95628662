using System.Reflection;
using System.Runtime.InteropServices;

namespace Bcbp.Kernels.Interop;

/// <summary>
/// Finds libnvrtc and libcuda for the P/Invoke declarations: <c>BCBP_NVRTC</c> (a file) first, then the CUDA
/// toolkit (<c>CUDA_HOME</c>, /usr/local/cuda), then PyTorch's pip <c>nvidia</c> packages beside the libtorch in use
/// (<c>BCBP_LIBTORCH</c>), then the loader's search path. libnccl.so.2 likewise: <c>BCBP_NCCL</c> (a file), then
/// PyTorch's <c>nvidia/nccl/lib</c> beside the libtorch in use (<see cref="NcclNear"/>, <c>BCBP_LIBTORCH</c>), then the
/// loader's search path (<c>LD_LIBRARY_PATH</c>).
/// </summary>
internal static class CudaLibraries
{
    internal const string Nvrtc = "bcbp-nvrtc";
    internal const string Driver = "bcbp-cuda";
    internal const string Nccl = "bcbp-nccl";

    /// <summary>The libtorch folder (torch/lib) whose PyTorch install's NCCL to prefer; set before the first NCCL call.</summary>
    internal static string? NcclNear { get; set; }
    static int _registered;

    internal static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        var candidates = name switch
        {
            Nvrtc => NvrtcCandidates(),
            Driver => new[] { "libcuda.so.1", "libcuda.so", "nvcuda.dll" },
            Nccl => NcclCandidates(),
            _ => Array.Empty<string>(),
        };
        foreach (var c in candidates)
            if ((!c.Contains('/') || File.Exists(c)) && NativeLibrary.TryLoad(c, out var h)) return h;
        if (candidates.Length > 0)
            throw new DllNotFoundException(name == Nccl
                ? $"libnccl.so.2 was not found (tried {string.Join(", ", candidates)}). Fix: install PyTorch's nvidia-nccl wheel (pip install nvidia-nccl-cu12), set BCBP_NCCL=/path/to/libnccl.so.2, or add its folder to LD_LIBRARY_PATH."
                : name == Nvrtc
                ? $"libnvrtc was not found (tried {string.Join(", ", candidates)}). Fix: install the CUDA toolkit or PyTorch's nvidia-cuda-nvrtc wheel, or set BCBP_NVRTC=/path/to/libnvrtc.so."
                : "libcuda.so.1 (the NVIDIA driver) was not found: the GPU kernels need an NVIDIA driver.");
        return IntPtr.Zero;
    }

    static string[] NcclCandidates()
    {
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable("BCBP_NCCL");
        if (!string.IsNullOrEmpty(env)) list.Add(env);
        foreach (var torchLib in new[] { NcclNear, Environment.GetEnvironmentVariable("BCBP_LIBTORCH") }.Where(d => !string.IsNullOrEmpty(d)).Distinct())
            list.Add(Path.GetFullPath(Path.Combine(torchLib!, "..", "..", "nvidia", "nccl", "lib", "libnccl.so.2")));
        list.Add("libnccl.so.2");
        list.Add("libnccl.so");
        return list.ToArray();
    }

    static string[] NvrtcCandidates()
    {
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable("BCBP_NVRTC");
        if (!string.IsNullOrEmpty(env)) list.Add(env);
        var roots = new[] { Environment.GetEnvironmentVariable("CUDA_HOME"), "/usr/local/cuda" }.Where(r => !string.IsNullOrEmpty(r));
        foreach (var r in roots)
            foreach (var v in new[] { "", ".13", ".12" })
                list.Add(Path.Combine(r!, "lib64", "libnvrtc.so" + v));
        var torchLib = Environment.GetEnvironmentVariable("BCBP_LIBTORCH");
        if (!string.IsNullOrEmpty(torchLib))
        {
            var nvidia = Path.GetFullPath(Path.Combine(torchLib, "..", "..", "nvidia"));
            foreach (var sub in new[] { "cu13/lib", "cuda_nvrtc/lib" })
                foreach (var v in new[] { ".13", ".12", "" })
                    list.Add(Path.Combine(nvidia, sub, "libnvrtc.so" + v));
        }
        list.AddRange(new[] { "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12" });
        return list.ToArray();
    }
}
