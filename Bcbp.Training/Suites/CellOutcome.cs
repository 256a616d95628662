using Bcbp.Training.Runs;

namespace Bcbp.Training.Suites;

/// <summary>What happened to a cell in one suite run.</summary>
public enum CellStatus
{
    /// <summary>Ran (from the start or resumed) and finished.</summary>
    Ran,
    /// <summary>Already finished before this suite run.</summary>
    Skipped,
    /// <summary>The run threw; <see cref="CellOutcome.Error"/> says why.</summary>
    Failed,
    /// <summary>Not run because its dense cell has no result.</summary>
    Blocked,
}

/// <summary>One cell's status and result after a suite run; <paramref name="Rerun"/>: it ran again because its folder
/// held a run of another config.</summary>
public sealed record CellOutcome(SuiteCell Cell, CellStatus Status, RunResult? Result, string? Error, bool Rerun = false);
