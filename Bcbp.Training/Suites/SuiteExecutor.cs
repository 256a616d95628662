using Bcbp.Models.IO;
using System.Text.Json.Nodes;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Suites;

/// <summary>
/// Runs what is missing of a suite, in grid order (each dense cell before the cells that start from it): a cell
/// with results.json is skipped (rerun from the start when its config changed since), one with a checkpoint is
/// resumed, others start. Each pruning cell gets
/// <c>model.pretrained</c> = its dense cell's final model. One failing cell does not stop the others; the cells
/// that need its model are reported as blocked.
/// </summary>
public sealed class SuiteExecutor
{
    readonly SuiteDefinition _suite;
    readonly ICellExecutor _executor;
    readonly Action<string> _log;

    public SuiteExecutor(SuiteDefinition suite, ICellExecutor executor, Action<string> log)
    {
        _suite = suite;
        _executor = executor;
        _log = log;
    }

    /// <summary>Folder of <paramref name="cell"/>'s run.</summary>
    public string RunDirOf(SuiteCell cell) => Path.Combine(_suite.OutputDir, cell.Name);

    /// <summary>Where the composed config of <paramref name="cell"/> is written (users can rerun it by hand).</summary>
    public string ConfigPathOf(SuiteCell cell) => Path.Combine(_suite.OutputDir, "_configs", cell.Name + ".json");

    /// <summary>Runs <paramref name="cells"/> (dense cells must come before their pruning cells, as
    /// <see cref="GridExpander"/> orders them).</summary>
    public IReadOnlyList<CellOutcome> Run(IReadOnlyList<SuiteCell> cells, IReadOnlyList<string> overrides)
    {
        var outcomes = new Dictionary<string, CellOutcome>();
        for (int i = 0; i < cells.Count; i++)
        {
            var cell = cells[i];
            var outcome = RunCell(cell, overrides, outcomes);
            outcomes[cell.Name] = outcome;
            string what = outcome.Status switch
            {
                CellStatus.Ran => $"finished: top-1 {outcome.Result!.Top1:F2}%" + (outcome.Result.AchievedSparsity is { } s ? $", sparsity {s:P1}" : "") + $", {outcome.Result.TrainSeconds:F0} s",
                CellStatus.Skipped => $"already finished (top-1 {outcome.Result!.Top1:F2}%)",
                CellStatus.Failed => $"FAILED: {outcome.Error}",
                _ => $"blocked: {outcome.Error}",
            };
            _log($"[{i + 1}/{cells.Count}] {cell.Name}: {what}");
        }
        return cells.Select(c => outcomes[c.Name]).ToList();
    }

    CellOutcome RunCell(SuiteCell cell, IReadOnlyList<string> overrides, IReadOnlyDictionary<string, CellOutcome> done)
    {
        var runDir = RunDirOf(cell);
        var config = (JsonObject)cell.Config.DeepClone();
        if (!cell.IsDense)
        {
            var dense = done.GetValueOrDefault(cell.DenseCell!);
            if (dense?.Result is null)
                return new CellOutcome(cell, CellStatus.Blocked, null, $"dense cell '{cell.DenseCell}' has no result");
            var denseDir = Path.Combine(_suite.OutputDir, cell.DenseCell!);
            JsonTree.Set(config, "model.pretrained", Path.Combine(denseDir, dense.Result.ModelFile));
        }
        overrides = cell.OverridesFor(overrides);
        var stamp = Stamp(config, overrides);

        var state = RunFolder.StateOf(runDir);
        bool stale = false;
        if (state == RunState.Finished)
        {
            var infoPath = Path.Combine(runDir, CellInfo.FileName);
            stale = File.Exists(infoPath) && OutputJson.Read<CellInfo>(infoPath).ConfigStamp != stamp;
            if (!stale) return new CellOutcome(cell, CellStatus.Skipped, RunResult.Read(Path.Combine(runDir, RunResult.FileName)), null);
            state = RunState.Missing; // the suite's own cell, changed since it finished: rerun it from the start
        }

        var configPath = ConfigPathOf(cell);
        AtomicFile.WriteAllText(configPath, JsonFile.Format(config));
        _log($"{cell.Name}: {(state == RunState.Partial ? "resuming" : stale ? "rerunning (its config changed since it finished)" : "starting")} ({configPath})");
        try
        {
            var result = _executor.Run(cell, configPath, overrides, resume: state == RunState.Partial);
            OutputJson.Write(Path.Combine(runDir, CellInfo.FileName), InfoOf(cell, stamp));
            return new CellOutcome(cell, CellStatus.Ran, result, null, stale);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new CellOutcome(cell, CellStatus.Failed, null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    CellInfo InfoOf(SuiteCell cell, string stamp) => new()
    {
        Suite = _suite.Name, Cell = cell.Name, Model = cell.Model, Dataset = cell.Dataset, Method = cell.Method,
        Sparsity = cell.Sparsity, TileRows = cell.TileRows, DenseCell = cell.DenseCell, ConfigStamp = stamp,
    };

    /// <summary>Hash of a cell's composed config and the overrides applied to it.</summary>
    public static string Stamp(JsonObject config, IReadOnlyList<string> overrides)
        => JsonTree.Hash(new JsonObject { ["config"] = config.DeepClone(), ["overrides"] = new JsonArray(overrides.Select(o => (JsonNode?)o).ToArray()) });
}
