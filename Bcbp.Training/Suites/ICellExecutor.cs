using Bcbp.Training.Runs;

namespace Bcbp.Training.Suites;

/// <summary>Runs one suite cell from its written config file. The CLI uses the experiment runner; tests use fakes.</summary>
public interface ICellExecutor
{
    /// <summary>Runs <paramref name="configPath"/> with <paramref name="overrides"/> (<c>--set</c>) applied;
    /// <paramref name="resume"/>: continue from the run folder's checkpoint.</summary>
    RunResult Run(SuiteCell cell, string configPath, IReadOnlyList<string> overrides, bool resume);
}
