using Bcbp.Models.IO;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Suites;

/// <summary>
/// Runs what is missing of a suite, in grid order (each dense cell before the cells that start from it), as
/// <see cref="SuitePlan"/> planned it: a cell finished with its current config is skipped, a stopped one resumed; a
/// cell whose folder holds a run of another config (stale) is moved to <c>_superseded/</c> and run again, so a
/// suite never reports it beside cells of the new config and loses nothing. Each pruning cell starts from its dense
/// cell's final model. One failing cell does not stop the others; the cells that need its model are blocked.
/// </summary>
public sealed class SuiteExecutor
{
    /// <summary>Folder under the suite's output folder where stale runs are moved before their cell reruns.</summary>
    public const string SupersededDir = "_superseded";

    readonly SuiteDefinition _suite;
    readonly ICellExecutor _executor;
    readonly Action<string> _log;

    public SuiteExecutor(SuiteDefinition suite, ICellExecutor executor, Action<string> log)
    {
        _suite = suite;
        _executor = executor;
        _log = log;
    }

    /// <summary>Where the composed config of <paramref name="cell"/> is written (users can rerun it by hand).</summary>
    public string ConfigPathOf(SuiteCell cell) => Path.Combine(_suite.OutputDir, "_configs", cell.Name + ".json");

    /// <summary>Plans and runs <paramref name="cells"/> (dense cells before their pruning cells, as
    /// <see cref="GridExpander"/> orders them).</summary>
    public IReadOnlyList<CellOutcome> Run(IReadOnlyList<SuiteCell> cells, IReadOnlyList<string> overrides)
        => Run(SuitePlan.Of(_suite, cells, overrides));

    public IReadOnlyList<CellOutcome> Run(IReadOnlyList<PlannedCell> plan)
    {
        var outcomes = new Dictionary<string, CellOutcome>();
        for (int i = 0; i < plan.Count; i++)
        {
            var cell = plan[i].Cell;
            var outcome = RunCell(plan[i], outcomes);
            outcomes[cell.Name] = outcome;
            string what = outcome.Status switch
            {
                CellStatus.Ran => $"finished: top-1 {outcome.Result!.Top1:F2}%" + (outcome.Result.AchievedSparsity is { } s ? $", sparsity {s * 100:F1}%" : "") + $", {outcome.Result.TrainSeconds:F0} s",
                CellStatus.Skipped => $"already finished (top-1 {outcome.Result!.Top1:F2}%)",
                CellStatus.Failed => $"FAILED: {outcome.Error}",
                _ => $"blocked: {outcome.Error}",
            };
            _log($"[{i + 1}/{plan.Count}] {cell.Name}: {what}");
        }
        return plan.Select(p => outcomes[p.Cell.Name]).ToList();
    }

    CellOutcome RunCell(PlannedCell planned, IReadOnlyDictionary<string, CellOutcome> done)
    {
        var cell = planned.Cell;
        if (!cell.IsDense && done.GetValueOrDefault(cell.DenseCell!)?.Result is null)
            return new CellOutcome(cell, CellStatus.Blocked, null, $"dense cell '{cell.DenseCell}' has no result");
        if (planned.IsCurrent)
            return new CellOutcome(cell, CellStatus.Skipped, RunResult.Read(Path.Combine(planned.RunDir, RunResult.FileName)), null);

        var folder = planned.Folder;
        if (planned.Stale)
        {
            var moved = Supersede(planned.RunDir);
            _log($"{cell.Name}: STALE: its folder holds a run of another config (moved to {moved}); running it again");
            folder = RunState.Missing;
        }
        var configPath = ConfigPathOf(cell);
        AtomicFile.WriteAllText(configPath, JsonFile.Format(planned.Config));
        Directory.CreateDirectory(planned.RunDir);
        OutputJson.Write(Path.Combine(planned.RunDir, CellInfo.FileName), InfoOf(planned));
        _log($"{cell.Name}: {(folder == RunState.Partial ? "resuming" : "starting")} ({configPath})");
        try
        {
            var result = _executor.Run(cell, configPath, planned.Overrides, resume: folder == RunState.Partial);
            // Again at the end: a fresh start of the run clears the folder's files (RunFolder.ClearForFreshStart).
            OutputJson.Write(Path.Combine(planned.RunDir, CellInfo.FileName), InfoOf(planned));
            return new CellOutcome(cell, CellStatus.Ran, result, null, planned.Stale);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new CellOutcome(cell, CellStatus.Failed, null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Moves a stale run folder to <c>_superseded/NAME.N</c> (the first free N); returns the new path.</summary>
    string Supersede(string runDir)
    {
        var root = Path.Combine(_suite.OutputDir, SupersededDir);
        Directory.CreateDirectory(root);
        string target;
        for (int n = 1; Directory.Exists(target = Path.Combine(root, $"{Path.GetFileName(runDir)}.{n}")); n++) { }
        Directory.Move(runDir, target);
        return target;
    }

    CellInfo InfoOf(PlannedCell p) => new()
    {
        Suite = _suite.Name, Cell = p.Cell.Name, Model = p.Cell.Model, Dataset = p.Cell.Dataset, Method = p.Cell.Method,
        Sparsity = p.Cell.Sparsity, TileRows = p.Cell.TileRows, Seed = p.Cell.Seed, DenseCell = p.Cell.DenseCell,
        ConfigStamp = p.Stamp, DenseStamp = p.DenseStamp,
    };
}
