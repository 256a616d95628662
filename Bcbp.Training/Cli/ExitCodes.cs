namespace Bcbp.Training.Cli;

/// <summary>The exit codes of <c>bcbp</c> (README, docs/cli.md). Parse errors of System.CommandLine, which exits 1 on
/// its own, are mapped to <see cref="UsageError"/> by <see cref="BcbpCli"/>.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A check failed: <c>verify</c> or <c>sparse</c> found a mismatch, <c>shrink</c>'s outputs disagree, a suite cell failed.</summary>
    public const int CheckFailed = 1;
    /// <summary>Usage or input error: bad option, config, file.</summary>
    public const int UsageError = 2;
    /// <summary>Runtime or I/O fault: disk, CUDA, a native error.</summary>
    public const int RuntimeFault = 3;
    /// <summary>Interrupted (Ctrl+C, SIGINT): 128 + 2, as shells report it.</summary>
    public const int Interrupted = 130;
}
