using System.Diagnostics;
using Bcbp.Tests.Support;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>
/// Our simple CUDA kernels (Cuda/plan_ops.cu, Cuda/splitk_reduce.cu), their real source compiled for the host by g++
/// (HostCuda/cuda_host.h: one thread per CUDA thread, __syncthreads as a barrier; HostCuda/host_kernels.cpp: the
/// launcher), one build per precision, run over tensors written to files. What the GPU would compute, without a GPU.
/// </summary>
public sealed class HostKernels : IDisposable
{
    readonly string _dir;
    readonly Dictionary<bool, string> _exe = new();

    /// <summary>One argument of a launch: a tensor buffer (read back after it), null, or an int / long.</summary>
    public abstract record Arg;
    public sealed record Buffer(Tensor Value) : Arg;
    public sealed record Null : Arg;
    public sealed record Int(long Value) : Arg;
    public sealed record Long(long Value) : Arg;

    /// <summary>Builds the fp16 and bf16 runners (Assert.Ignore without g++).</summary>
    public HostKernels()
    {
        _dir = Path.Combine(Path.GetTempPath(), "bcbp-hostcuda-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        string host = Path.Combine(RepoPaths.Root, "tests", "Bcbp.Tests", "Kernels", "HostCuda");
        string cuda = Path.Combine(RepoPaths.Root, "Bcbp.Kernels", "Cuda");
        foreach (bool bf16 in new[] { false, true })
        {
            string exe = Path.Combine(_dir, bf16 ? "host_kernels_bf16" : "host_kernels_fp16");
            var (rc, output) = Run("g++", "-std=c++20", "-O1", "-pthread", "-DBCBP_HOST", $"-DBF16={(bf16 ? 1 : 0)}",
                "-include", Path.Combine(host, "cuda_host.h"), "-I", cuda, "-x", "c++",
                Path.Combine(cuda, "plan_ops.cu"), Path.Combine(cuda, "splitk_reduce.cu"), Path.Combine(host, "host_kernels.cpp"), "-o", exe);
            if (rc == -1) Assert.Ignore("g++ is not installed (apt-get install -y g++): the host build of the kernels is skipped");
            Assert.That(rc, Is.Zero, $"g++ failed:\n{output}");
            _exe[bf16] = exe;
        }
    }

    /// <summary>Runs <paramref name="kernel"/> over <paramref name="grid"/> x <paramref name="threads"/> with
    /// <paramref name="args"/>; returns every buffer argument as the kernel left it (in argument order).</summary>
    public IReadOnlyList<Tensor> Launch(string kernel, (uint X, uint Y, uint Z) grid, int threads, bool bf16, params Arg[] args)
    {
        var line = new List<string> { kernel, grid.X.ToString(), grid.Y.ToString(), grid.Z.ToString(), threads.ToString() };
        var files = new List<(string File, Tensor Like)>();
        foreach (var a in args)
            switch (a)
            {
                case Buffer b:
                    string file = Path.Combine(_dir, $"buf{files.Count}.bin");
                    File.WriteAllBytes(file, b.Value.contiguous().bytes.ToArray());
                    files.Add((file, b.Value));
                    line.Add("b:" + file);
                    break;
                case Null: line.Add("n:"); break;
                case Int i: line.Add($"i:{i.Value}"); break;
                case Long l: line.Add($"l:{l.Value}"); break;
            }
        var (rc, output) = Run(_exe[bf16], line.ToArray());
        Assert.That(rc, Is.Zero, output);
        return files.Select(f =>
        {
            var t = zeros(f.Like.shape, dtype: f.Like.dtype);
            t.bytes = File.ReadAllBytes(f.File);
            return t;
        }).ToArray();
    }

    static (int Rc, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { return (-1, $"{file} not found"); }
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    /// <summary>Removes the build folder.</summary>
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }
}
