using Bcbp.Training.Config;
using Bcbp.Training.Runner;

namespace Bcbp.Training.Experiments;

/// <summary>Runs a suite cell through <see cref="ExperimentRunner"/> and counts its model's cost (cost.json).</summary>
public sealed class RunnerCellExecutor : ICellExecutor
{
    readonly RunOptions _options;

    public RunnerCellExecutor(RunOptions options) => _options = options;

    public RunResult Run(SuiteCell cell, string configPath, IReadOnlyList<string> overrides, bool resume)
    {
        var config = ConfigLoader.Load(configPath, overrides);
        var result = ExperimentRunner.Run(config, _options with { Resume = resume });
        ModelCostFile.Write(result.RunDir, config, result.ModelFile);
        return result;
    }
}
