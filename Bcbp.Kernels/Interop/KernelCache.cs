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
    /// says so: the one decision of whether a launch may carry the programmatic attribute. The first load of a variant
    /// in a process adds it to <see cref="VariantsFile"/>.</summary>
    internal static CompiledKernel Function(string file, string kernel, IReadOnlyList<string> defines, int device, string archSuffix = "")
    {
        int arch = CudaDriver.ComputeCapability(device);
        var variant = new KernelVariant(file, archSuffix, defines.ToArray());
        var options = Options(variant, arch);
        string key = $"{device}|{kernel}|{variant.File}|{string.Join(" ", options)}";
        var handle = Functions.GetOrAdd(key, _ =>
        {
            var cubin = Cubin(Source(file), file, options, $"{arch}{archSuffix}");
            Record(variant, Folder);   // only a variant that compiled
            CudaDriver.UseDevice(device);
            return CudaDriver.LoadFunction(cubin, kernel);
        });
        return new CompiledKernel(handle, ProgrammaticLaunch.For(arch));
    }

    /// <summary>The list of variants compiled into this folder (<see cref="KernelVariant.Line"/> each).</summary>
    public const string VariantsFile = "variants.txt";

    static readonly ConcurrentDictionary<string, bool> Recorded = new();

    /// <summary>Adds <paramref name="variant"/> to <paramref name="folder"/>'s <see cref="VariantsFile"/> unless it is there.</summary>
    internal static void Record(KernelVariant variant, string folder)
    {
        string path = Path.Combine(folder, VariantsFile);
        if (!Recorded.TryAdd(path + "\n" + variant.Line, true)) return;
        try
        {
            Directory.CreateDirectory(folder);
            lock (Recorded)
            {
                if (File.Exists(path) && File.ReadLines(path).Contains(variant.Line)) return;
                File.AppendAllText(path, variant.Line + "\n");
            }
        }
        catch (IOException) { /* the list only saves a later machine a compile */ }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>NVRTC options of a variant for <paramref name="arch"/> (90 = sm_90), PDL=1 added where
    /// <see cref="ProgrammaticLaunch"/> is on.</summary>
    static string[] Options(KernelVariant variant, int arch)
    {
        var defines = ProgrammaticLaunch.For(arch) ? variant.Defines.Append("PDL=1") : variant.Defines;
        return new[] { $"--gpu-architecture=sm_{arch}{variant.ArchSuffix}", "-std=c++17" }.Concat(defines.Select(d => "-D" + d)).ToArray();
    }

    /// <summary>What <see cref="Compile"/> did: variants compiled, already cached, not for this GPU (sm_90a ones
    /// elsewhere), and those that failed with NVRTC's message.</summary>
    public sealed record CompileResult(int Compiled, int Cached, int OtherArch, IReadOnlyList<(KernelVariant Variant, string Error)> Failed);

    /// <summary>Compiles <paramref name="variants"/> for device <paramref name="device"/>'s arch into the cache folder,
    /// <paramref name="jobs"/> at a time (NVRTC is CPU-bound and thread-safe); variants already there are counted as
    /// cached, arch-specific ones for another compute capability are left out, and a variant that fails is reported
    /// while the others go on.</summary>
    public static CompileResult Compile(IReadOnlyList<KernelVariant> variants, int device, int jobs)
    {
        if (jobs < 1) throw new ArgumentException($"jobs must be >= 1, got {jobs}");
        var sources = variants.Select(v => v.File).Distinct().ToDictionary(f => f, Source);   // an unknown file fails here, once
        int arch = CudaDriver.ComputeCapability(device);
        // "a" targets exist for the one compute capability they name (sm_90a: this code's only one).
        var mine = variants.Where(v => v.ArchSuffix == "" || arch == 90).ToList();
        int compiled = 0, cached = 0;
        var failed = new ConcurrentBag<(KernelVariant, string)>();
        Parallel.ForEach(mine, new ParallelOptions { MaxDegreeOfParallelism = jobs }, v =>
        {
            var options = Options(v, arch);
            bool hit = File.Exists(CubinPath(sources[v.File], v.File, options, $"{arch}{v.ArchSuffix}"));
            try { Cubin(sources[v.File], v.File, options, $"{arch}{v.ArchSuffix}"); }
            catch (CudaException e) { failed.Add((v, e.Message)); return; }
            Record(v, Folder);
            Interlocked.Increment(ref hit ? ref cached : ref compiled);
        });
        return new CompileResult(compiled, cached, variants.Count - mine.Count, failed.ToList());
    }

    /// <summary>Where the cubin of <paramref name="source"/> (with the headers) under <paramref name="options"/> is cached.</summary>
    static string CubinPath(string source, string file, string[] options, string arch)
    {
        var headers = Headers.Value;
        var text = source + "\n" + string.Join("\n", headers.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => h.Key + "\n" + h.Value));
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text + "\n" + string.Join(" ", options))))[..24].ToLowerInvariant();
        return Path.Combine(Folder, $"{Path.GetFileNameWithoutExtension(file)}-{hash}-sm{arch}.cubin");
    }

    static byte[] Cubin(string source, string file, string[] options, string arch)
    {
        var path = CubinPath(source, file, options, arch);
        if (File.Exists(path)) return File.ReadAllBytes(path);
        var cubin = Nvrtc.CompileToCubin(source, file, options, Headers.Value);
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
