using System.Reflection;
using System.Runtime.InteropServices;

namespace Bcbp.Kernels.Interop;

/// <summary>
/// Finds libnvrtc and libcuda for the P/Invoke declarations: <c>BCBP_NVRTC</c> (a file) first, then the CUDA
/// toolkit (<c>CUDA_HOME</c>, /usr/local/cuda), then PyTorch's pip <c>nvidia</c> packages beside the libtorch in use
/// (<c>BCBP_LIBTORCH</c>), then the loader's search path.
/// </summary>
internal static class CudaLibraries
{
    internal const string Nvrtc = "bcbp-nvrtc";
    internal const string Driver = "bcbp-cuda";
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
            _ => Array.Empty<string>(),
        };
        foreach (var c in candidates)
            if ((!c.Contains('/') || File.Exists(c)) && NativeLibrary.TryLoad(c, out var h)) return h;
        if (candidates.Length > 0)
            throw new DllNotFoundException(name == Nvrtc
                ? $"libnvrtc was not found (tried {string.Join(", ", candidates)}). Fix: install the CUDA toolkit or PyTorch's nvidia-cuda-nvrtc wheel, or set BCBP_NVRTC=/path/to/libnvrtc.so."
                : "libcuda.so.1 (the NVIDIA driver) was not found: the GPU kernels need an NVIDIA driver.");
        return IntPtr.Zero;
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
