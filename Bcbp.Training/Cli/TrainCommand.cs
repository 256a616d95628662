using System.CommandLine;
using Bcbp.Training.Config;
using Bcbp.Training.Distributed;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary><c>bcbp train --config X [--set k=v]... [--resume]</c>, also the default command (<c>bcbp --config X</c>):
/// one experiment through <see cref="TrainingRun.Execute"/>. With <c>--gpus N</c> it starts N ranks of itself instead
/// (<see cref="ProcessLauncher"/>); a rank (torchrun's or Slurm's variables set) trains its part of a data-parallel job.</summary>
public sealed class TrainCommand : ICliCommand
{
    readonly Option<string?> _config = CliOptions.Path("--config", PathKind.Config,
        "the experiment config (.json/.yaml): a path, or a name in configs/ of the working directory or a parent", required: true);
    readonly Option<List<string>> _sets = CliOptions.Sets("override a config key, e.g. --set train.epochs=3 (repeatable)");
    readonly Option<bool> _resume = CliOptions.Flag("--resume", "continue the run from its checkpoint (output_dir/name/checkpoint.bin)");
    readonly Option<bool> _force = CliOptions.Flag("--force", "replace a run of another config in output_dir/name (without it such a run is refused)");
    readonly Option<bool> _noProgress = CliOptions.Flag("--no-progress", "no progress bar or progress lines");
    readonly Option<bool> _quiet = CliOptions.Flag("--quiet", "no console log (run.log is still written)");
    readonly DeviceOptions _device = new();
    readonly LaunchOptions _launch = new();

    public Command Build()
    {
        var command = new Command("train", "train (and prune) a model from a config; results go to output_dir/name/")
        {
            _config, _sets, _resume, _force, _noProgress, _quiet,
        };
        _device.AddTo(command);
        _launch.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        if (_launch.Launches(p)) return ProcessLauncher.Run(_launch.Spec(p), Console.Out, Console.Error);
        var overrides = new List<string>(p.GetValue(_sets) ?? new());
        // --device is a shorthand for --set device=... (so config.json records it).
        if (p.GetValue(_device.Device) is { } device) overrides.Add($"device={device}");
        var options = new RunOptions
        {
            Resume = p.GetValue(_resume), LibTorchDir = p.GetValue(_device.LibTorch), ShowProgress = !p.GetValue(_noProgress),
            Quiet = p.GetValue(_quiet), CpuThreads = p.GetValue(_device.Threads), Force = p.GetValue(_force),
            Distributed = DistributedEnv.FromEnvironment(),
        };
        var config = ConfigLoader.Load(p.GetValue(_config)!, overrides);
        var result = TrainingRun.Execute(config, options);
        if (options.Distributed.Rank > 0) return ExitCodes.Ok; // rank 0 prints the result
        Console.WriteLine($"{result.Name}: top-1 {result.Top1:F2}%, top-5 {result.Top5:F2}%" +
                          (result.DenseTop1 is { } d ? $" (dense {d:F2}%, sparsity {result.AchievedSparsity:F4})" : "") +
                          $" -> {Path.Combine(result.RunDir, "results.json")}");
        return ExitCodes.Ok;
    }
}
