using System.CommandLine;
using System.Diagnostics;
using Bcbp.Kernels.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp kernels --compile FILE</c>: compiles every kernel variant a list names (a kernel cache folder's
/// variants.txt, which every run adds to) for this GPU into the kernel cache, several at a time, so that the first
/// run on a fresh machine loads its kernels instead of compiling them one by one (minutes for <c>verify</c>).
/// </summary>
public sealed class KernelsCommand : ICliCommand
{
    readonly Option<string?> _compile = new("--compile")
    {
        Description = $"a kernel variant list ({KernelCache.VariantsFile} of a kernel cache folder: BCBP_KERNEL_CACHE or ~/.cache/bcbp/kernels)",
        HelpName = "FILE", Required = true,
    };
    readonly Option<int> _jobs = CliOptions.Int("--jobs", Environment.ProcessorCount, "compiles at a time (default: the machine's cores)");
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("kernels", "compile the kernel variants a list names into this GPU's kernel cache, in parallel, before a first run")
        {
            _compile, _jobs,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        string file = p.GetValue(_compile)!;
        int jobs = p.GetValue(_jobs);
        var (variants, skipped) = KernelVariant.ReadAll(file);
        foreach (var line in skipped) Console.Error.WriteLine($"warning: skipped {line}");
        var device = _device.Initialize(p);
        if (device.type != DeviceType.CUDA)
            throw new ArgumentException("bcbp kernels compiles for a GPU's arch: give --device cuda (or cuda:N) on a machine with one");
        var clock = Stopwatch.StartNew();
        var r = KernelCache.Compile(variants, device.index < 0 ? 0 : device.index, jobs);
        Console.WriteLine($"kernels: {variants.Count} variants of {file}: {r.Compiled} compiled, {r.Cached} already cached, " +
                          $"{r.OtherArch} for another GPU, {r.Failed.Count} failed; {clock.Elapsed.TotalSeconds:F1} s, {jobs} at a time -> {KernelCache.Folder}");
        foreach (var (v, error) in r.Failed)
            Console.Error.WriteLine($"error: {v.Line.Replace('\t', ' ')}: {error.ReplaceLineEndings(" ")}");
        return r.Failed.Count == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
