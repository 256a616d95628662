using System.Runtime.InteropServices;
using TorchSharp;

namespace Bcbp.Training.Backend;

/// <summary>
/// Chooses and loads the native libtorch before anything else touches TorchSharp. CPU uses the libtorch that the
/// build shipped; CUDA uses an existing PyTorch install (<c>--libtorch DIR</c>, <c>BCBP_LIBTORCH</c>, or
/// <c>python3</c>'s torch), loaded in the order docs/gpu.md gives.
/// </summary>
public static class TorchBackend
{
    static readonly string[] LoadOrder = { "libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so" };
    static bool _loaded;

    /// <summary>The directory libtorch was loaded from, or null for the bundled one.</summary>
    public static string? LibTorchDir { get; private set; }

    /// <summary>
    /// Makes <paramref name="device"/> ("cpu", "cuda", "cuda:N", "auto") usable and returns the TorchSharp device.
    /// </summary>
    public static torch.Device Initialize(string device, string? libtorchDir = null)
    {
        bool wantsCuda = device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        bool auto = device.Equals("auto", StringComparison.OrdinalIgnoreCase);
        string? dir = libtorchDir ?? Environment.GetEnvironmentVariable("BCBP_LIBTORCH");
        if (!_loaded && string.IsNullOrEmpty(dir) && (wantsCuda || auto)) dir = DetectPythonTorch(out _);
        if (!_loaded && !string.IsNullOrEmpty(dir)) LoadExternal(dir!);
        _loaded = true;

        if (wantsCuda || auto)
        {
            bool ok = torch.cuda.is_available();
            if (!ok && wantsCuda)
            {
                DetectPythonTorch(out var tried);
                throw new InvalidOperationException(
                    $"device '{device}' was asked for but no CUDA libtorch could be loaded. Tried: " +
                    $"--libtorch/BCBP_LIBTORCH = '{libtorchDir ?? Environment.GetEnvironmentVariable("BCBP_LIBTORCH") ?? "(unset)"}'; {tried}. " +
                    "Fix: install PyTorch with CUDA for python3, or pass --libtorch /path/to/site-packages/torch/lib " +
                    "(or set BCBP_LIBTORCH), or set \"device\": \"cpu\".");
            }
            if (ok) return new torch.Device(wantsCuda ? device : "cuda");
        }
        return torch.CPU;
    }

    /// <summary>The most libtorch CPU threads <see cref="SetCpuThreads"/> accepts: 4 per core (more only makes OpenMP
    /// threads wait for each other; 10000 of them make a run crawl for minutes before its first step).</summary>
    public static int MaxCpuThreads => 4 * Environment.ProcessorCount;

    /// <summary>Refuses a <c>--threads</c> count outside 1..<see cref="MaxCpuThreads"/>; null (not given) passes.</summary>
    public static void CheckCpuThreads(int? threads)
    {
        if (threads is { } n && (n < 1 || n > MaxCpuThreads))
            throw new ArgumentException($"--threads must be between 1 and {MaxCpuThreads} (4 per core of this machine's " +
                                        $"{Environment.ProcessorCount}), got {n}; leave it out for libtorch's default.");
    }

    /// <summary>Sets libtorch's CPU threads (torch.set_num_threads) after <see cref="CheckCpuThreads"/>; null keeps the default.</summary>
    public static void SetCpuThreads(int? threads)
    {
        CheckCpuThreads(threads);
        if (threads is { } n) torch.set_num_threads(n);
    }

    /// <summary>
    /// Turns cuDNN's benchmark mode on or off (<c>torch.backends.cudnn.benchmark</c>): with it, the first convolution of
    /// each shape times the candidate algorithms and later ones use the fastest, which pays where the input shape is
    /// fixed (training at one batch size). TorchSharp has no setter; <see cref="NativeTorch"/> calls libtorch's
    /// <c>at::globalContext().setBenchmarkCuDNN</c>. The flag is process-wide and harmless on CPU.
    /// </summary>
    public static void SetCudnnBenchmark(bool on) => NativeTorch.SetBenchmarkCuDNN(on);

    /// <summary>cuDNN's benchmark mode as libtorch holds it (<c>at::globalContext().benchmarkCuDNN()</c>).</summary>
    public static bool CudnnBenchmark => NativeTorch.BenchmarkCuDNN();

    static void LoadExternal(string dir)
    {
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"libtorch directory '{dir}' (from --libtorch or BCBP_LIBTORCH) does not exist.");
        LibTorchDir = dir;
        foreach (var name in LoadOrder)
        {
            var path = Path.Combine(dir, name);
            if (!File.Exists(path)) continue; // a CPU-only PyTorch has no *_cuda libraries
            NativeLibrary.Load(path);
        }
        if (File.Exists(Path.Combine(dir, "libtorch_cuda.so")))
            torch.InitializeDeviceType(DeviceType.CUDA);
    }

    /// <summary>Asks python3 where its torch lives; null when there is none. <paramref name="tried"/> says what happened.</summary>
    public static string? DetectPythonTorch(out string tried)
    {
        try
        {
            var output = ProcessOutput.Read("python3", "-c \"import torch,os;print(os.path.dirname(torch.__file__)+'/lib')\"", 30_000);
            if (output is not null && Directory.Exists(output)) { tried = $"python3 torch at {output}"; return output; }
            tried = "python3 has no torch module";
        }
        catch (Exception e) { tried = $"python3 not runnable ({e.Message})"; }
        return null;
    }
}
