using Bcbp.Training.Config;
using Bcbp.Training.Costs;
using Bcbp.Training.Runs;


namespace Bcbp.Training.Suites;

/// <summary>Runs a suite cell through <see cref="TrainingRun"/> and counts its model's cost (cost.json).</summary>
public sealed class TrainingCellExecutor : ICellExecutor
{
    readonly RunOptions _options;

    public TrainingCellExecutor(RunOptions options) => _options = options;

    public RunResult Run(SuiteCell cell, string configPath, IReadOnlyList<string> overrides, bool resume)
    {
        var config = ConfigLoader.Load(configPath, overrides);
        // The suite owns its cells' folders: a cell whose config changed is rerun from the start (Force).
        var result = TrainingRun.Execute(config, _options with { Resume = resume, Force = true });
        ModelCostFile.Write(result.RunDir, config, result.ModelFile);
        return result;
    }
}
