using Bcbp.Training.Config;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary><c>bcbp train --config X [--set k=v]... [--resume] [--libtorch DIR] [--device cuda] [--no-progress] [--quiet]</c>;
/// also the default command (<c>bcbp --config X</c>).</summary>
public sealed class TrainCommand : ICliCommand
{
    public string Name => "train";
    public string Summary => "train (and prune) a model from a config: --config FILE [--set key=value]... [--resume] [--device cuda] [--libtorch DIR]";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp [train] --config FILE|NAME [--set key=value]... [--resume] [--device cpu|cuda|cuda:N|auto]\n" +
                              "                    [--libtorch DIR] [--threads N] [--no-progress] [--quiet]\n" +
                              "FILE or NAME is looked up in the working directory, then in configs/. Results go to output_dir/name/.");
            return 0;
        }
        string configPath = args.Get("config") ?? throw new ArgumentException("train needs --config FILE (for example --config configs/quick.json)");
        var overrides = new List<string>(args.Sets);
        // --device is a shorthand for --set device=...
        if (args.Get("device") is { } device) overrides.Add($"device={device}");
        var options = new RunOptions
        {
            Resume = args.Has("resume"), LibTorchDir = args.Get("libtorch"),
            ShowProgress = !args.Has("no-progress"), Quiet = args.Has("quiet"),
            CpuThreads = args.GetInt("threads", 0),
        };
        args.ThrowOnUnknown();
        var config = ConfigLoader.Load(configPath, overrides);
        var result = TrainingRun.Execute(config, options);
        Console.WriteLine($"{result.Name}: top-1 {result.Top1:F2}%, top-5 {result.Top5:F2}%" +
                          (result.DenseTop1 is { } d ? $" (dense {d:F2}%, sparsity {result.AchievedSparsity:F4})" : "") +
                          $" -> {Path.Combine(result.RunDir, "results.json")}");
        return 0;
    }
}
