using Bcbp.Training.Distributed;
using Bcbp.Training.Fitting;

namespace Bcbp.Training.Runs;

/// <summary>How <see cref="TrainingRun.Execute"/> runs a config (the CLI fills it from its options; a suite from code).</summary>
public sealed record RunOptions
{
    /// <summary>Continue from runs/NAME/checkpoint.bin (phase, epoch, weights, optimizer, schedule position).</summary>
    public bool Resume { get; init; }
    /// <summary>libtorch folder of a PyTorch install (--libtorch); null: BCBP_LIBTORCH, then python3's torch for cuda.</summary>
    public string? LibTorchDir { get; init; }
    /// <summary>Replace a run of another config in the run folder (without it such a run is refused); with
    /// <see cref="Resume"/>, a checkpoint of another config is discarded and the run starts afresh.</summary>
    public bool Force { get; init; }
    /// <summary>Show a progress bar (terminal) or progress lines (redirected output).</summary>
    public bool ShowProgress { get; init; } = true;
    /// <summary>No console logging (the run folder's run.log is still written).</summary>
    public bool Quiet { get; init; }
    /// <summary>CPU threads for libtorch (torch.set_num_threads, 1..TorchBackend.MaxCpuThreads); null: libtorch's default. One thread is faster than two
    /// on a machine whose cores are busy with other work (OpenMP threads wait for each other).</summary>
    public int? CpuThreads { get; init; }
    /// <summary>This process's place in a data-parallel job (<see cref="DistributedEnv.FromEnvironment()"/>; the CLI
    /// reads it from torchrun's or Slurm's variables); null or one rank: the plain trainer.</summary>
    public DistributedEnv? Distributed { get; init; }
    /// <summary>A collective to train through instead of joining <see cref="Distributed"/>'s job (the in-process
    /// ranks of tests); its rank decides who writes the run folder.</summary>
    public ICollective? Collective { get; init; }
    /// <summary>Hooks added to both phases, after the pruning hook.</summary>
    public IReadOnlyList<ITrainingHook> Hooks { get; init; } = Array.Empty<ITrainingHook>();
}
