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
/// A <see cref="SuiteShard"/> picks every N-th cell and how many run at once (each cell starts as soon as its dense
/// model exists; a dense model of another shard is waited for).
/// </summary>
public sealed class SuiteExecutor
{
    /// <summary>Folder under the suite's output folder where stale runs are moved before their cell reruns.</summary>
    public const string SupersededDir = "_superseded";

    readonly SuiteDefinition _suite;
    readonly ICellExecutor _executor;
    readonly Action<string> _log;
    readonly SuiteShard _shard;

    /// <param name="suite">The suite.</param>
    /// <param name="executor">Runs one cell; must be thread-safe when <paramref name="shard"/> runs several at once.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="shard">Which cells, how many at once; null: all, one at a time.</param>
    public SuiteExecutor(SuiteDefinition suite, ICellExecutor executor, Action<string> log, SuiteShard? shard = null)
    {
        _suite = suite;
        _executor = executor;
        var sync = new object();
        _log = line => { lock (sync) log(line); }; // cells running at once log from their threads
        _shard = shard ?? SuiteShard.All;
    }

    /// <summary>Where the composed config of <paramref name="cell"/> is written (users can rerun it by hand).</summary>
    public string ConfigPathOf(SuiteCell cell) => Path.Combine(_suite.OutputDir, "_configs", cell.Name + ".json");

    /// <summary>Plans and runs <paramref name="cells"/> (dense cells before their pruning cells, as
    /// <see cref="GridExpander"/> orders them).</summary>
    public IReadOnlyList<CellOutcome> Run(IReadOnlyList<SuiteCell> cells, IReadOnlyList<string> overrides)
        => Run(SuitePlan.Of(_suite, cells, overrides));

    /// <summary>Runs this shard's cells of <paramref name="plan"/>; returns their outcomes in plan order (the other
    /// shards' cells are not in it).</summary>
    public IReadOnlyList<CellOutcome> Run(IReadOnlyList<PlannedCell> plan)
    {
        var index = plan.Select((p, i) => (p.Cell.Name, i)).ToDictionary(x => x.Name, x => x.i);
        var mine = plan.Where((_, i) => _shard.Owns(i)).ToList();
        var outcomes = new Dictionary<string, CellOutcome>();
        var pending = new List<PlannedCell>(mine);
        var running = new List<(PlannedCell Cell, Task<CellOutcome> Task)>();
        var waitingSaid = new HashSet<string>();
        int finished = 0;
        while (pending.Count > 0 || running.Count > 0)
        {
            foreach (var planned in pending.ToList())
            {
                if (running.Count >= _shard.Parallel) break;
                if (!Ready(planned, plan, index, outcomes, waitingSaid, out var dense)) continue;
                pending.Remove(planned);
                running.Add((planned, Task.Run(() => RunCell(planned, dense))));
            }
            if (running.Count == 0)
            {
                Thread.Sleep(_shard.Poll); // every pending cell waits for another shard's dense model
                continue;
            }
            int done = Task.WaitAny(running.Select(r => (Task)r.Task).ToArray());
            var (cell, task) = running[done];
            running.RemoveAt(done);
            var outcome = task.Result;
            outcomes[cell.Cell.Name] = outcome;
            string what = outcome.Status switch
            {
                CellStatus.Ran => $"finished: top-1 {outcome.Result!.Top1:F2}%" + (outcome.Result.AchievedSparsity is { } s ? $", sparsity {s * 100:F1}%" : "") + $", {outcome.Result.TrainSeconds:F0} s",
                CellStatus.Skipped => $"already finished (top-1 {outcome.Result!.Top1:F2}%)",
                CellStatus.Failed => $"FAILED: {outcome.Error}",
                _ => $"blocked: {outcome.Error}",
            };
            _log($"[{++finished}/{mine.Count}] {cell.Cell.Name}: {what}");
        }
        return mine.Select(p => outcomes[p.Cell.Name]).ToList();
    }

    /// <summary>Whether <paramref name="planned"/> can start: a dense cell always; a pruning cell once its dense cell
    /// has an outcome here, or, when another shard owns it, once that run folder holds the dense cell's current run.
    /// <paramref name="dense"/>: the dense cell's outcome to start from (null for a dense cell).</summary>
    bool Ready(PlannedCell planned, IReadOnlyList<PlannedCell> plan, IReadOnlyDictionary<string, int> index,
               IReadOnlyDictionary<string, CellOutcome> outcomes, HashSet<string> waitingSaid, out CellOutcome? dense)
    {
        dense = null;
        if (planned.Cell.IsDense) return true;
        string name = planned.Cell.DenseCell!;
        if (outcomes.TryGetValue(name, out dense)) return true;
        int at = index[name];
        if (_shard.Owns(at)) return false; // ours, not finished yet
        var denseNow = SuitePlan.Of(_suite, new[] { plan[at].Cell }, plan[at].Overrides).Single();
        if (denseNow.IsCurrent && denseNow.Stamp == plan[at].Stamp)
        {
            dense = new CellOutcome(plan[at].Cell, CellStatus.Skipped, RunResult.Read(Path.Combine(denseNow.RunDir, RunResult.FileName)), null);
            return true;
        }
        if (waitingSaid.Add(name))
            _log($"{planned.Cell.Name}: waiting for dense cell {name} (shard {_shard.OwnerOf(at)}/{_shard.Count}) to finish; " +
                 $"looking every {_shard.Poll.TotalSeconds:F0} s");
        return false;
    }

    CellOutcome RunCell(PlannedCell planned, CellOutcome? dense)
    {
        var cell = planned.Cell;
        if (!cell.IsDense && dense?.Result is null)
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
