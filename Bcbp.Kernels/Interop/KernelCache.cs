using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Bcbp.Kernels.Interop;

/// <summary>
/// Our CUDA sources (embedded <c>Cuda/*.cu</c>) compiled with NVRTC at first use for the GPU's arch, cached on disk
/// by hash(source + options) + arch under <c>BCBP_KERNEL_CACHE</c> or ~/.cache/bcbp/kernels, and loaded once per
/// process and device.
/// </summary>
public static class KernelCache
{
    static readonly ConcurrentDictionary<string, IntPtr> Functions = new();

    /// <summary>Folder of compiled cubins.</summary>
    public static string Folder => Environment.GetEnvironmentVariable("BCBP_KERNEL_CACHE")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "bcbp", "kernels");

    /// <summary>The embedded headers (<c>Cuda/*.cuh</c>) by include name, handed to NVRTC with every source.</summary>
    static readonly Lazy<IReadOnlyDictionary<string, string>> Headers = new(() =>
    {
        var asm = typeof(KernelCache).Assembly;
        return asm.GetManifestResourceNames().Where(n => n.EndsWith(".cuh", StringComparison.Ordinal))
            .ToDictionary(n => string.Join('.', n.Split('.')[^2..]), n => Read(n));
    });

    /// <summary>The text of an embedded source, e.g. "gather_gemm.cu".</summary>
    public static string Source(string file)
    {
        var asm = typeof(KernelCache).Assembly;
        var name = asm.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith("." + file, StringComparison.Ordinal))
                   ?? throw new FileNotFoundException($"CUDA source '{file}' is not embedded in Bcbp.Kernels (Cuda/**/*.cu).");
        return Read(name);
    }

    static string Read(string resource)
    {
        using var s = typeof(KernelCache).Assembly.GetManifestResourceStream(resource)!;
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>The loaded kernel <paramref name="kernel"/> of <paramref name="file"/> compiled with <paramref name="defines"/>
    /// for the device's arch; <paramref name="archSuffix"/> "a" builds the arch-specific target (sm_90a: wgmma), whose
    /// cubin runs on that compute capability only. Under <see cref="ProgrammaticLaunch"/> also with PDL=1, and the result
    /// says so: the one decision of whether a launch may carry the programmatic attribute.</summary>
    internal static CompiledKernel Function(string file, string kernel, IReadOnlyList<string> defines, int device, string archSuffix = "")
    {
        int arch = CudaDriver.ComputeCapability(device);
        bool programmatic = ProgrammaticLaunch.For(arch);
        var all = programmatic ? defines.Append("PDL=1").ToArray() : defines;
        string key = $"{device}|{file}|{kernel}|{archSuffix}|{string.Join(" ", all)}";
        var handle = Functions.GetOrAdd(key, _ =>
        {
            var source = Source(file);
            var options = new[] { $"--gpu-architecture=sm_{arch}{archSuffix}", "-std=c++17" }.Concat(all.Select(d => "-D" + d)).ToArray();
            var cubin = Cubin(source, file, options, $"{arch}{archSuffix}");
            CudaDriver.UseDevice(device);
            return CudaDriver.LoadFunction(cubin, kernel);
        });
        return new CompiledKernel(handle, programmatic);
    }

    static byte[] Cubin(string source, string file, string[] options, string arch)
    {
        var headers = Headers.Value;
        var text = source + "\n" + string.Join("\n", headers.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => h.Key + "\n" + h.Value));
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text + "\n" + string.Join(" ", options))))[..24].ToLowerInvariant();
        var path = Path.Combine(Folder, $"{Path.GetFileNameWithoutExtension(file)}-{hash}-sm{arch}.cubin");
        if (File.Exists(path)) return File.ReadAllBytes(path);
        var cubin = Nvrtc.CompileToCubin(source, file, options, headers);
        try
        {
            Directory.CreateDirectory(Folder);
            var tmp = path + "." + Environment.ProcessId + ".tmp";
            File.WriteAllBytes(tmp, cubin);
            File.Move(tmp, path, overwrite: true);
        }
        catch (IOException) { /* a read-only cache only costs a recompile next time */ }
        catch (UnauthorizedAccessException) { }
        return cubin;
    }
}

/// <summary>A loaded kernel, and whether it was compiled with PDL=1 (so that its launches carry the programmatic
/// attribute, <see cref="ProgrammaticLaunch"/>).</summary>
internal readonly record struct CompiledKernel(IntPtr Handle, bool Programmatic);
