using System.Text.Json.Nodes;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Suites;

/// <summary>One cell of a suite as it would run now: its composed config (with <c>model.pretrained</c> = its dense
/// cell's model), the <c>--set</c> overrides that apply to it, its stamp, and how its run folder compares.</summary>
/// <param name="Cell">The cell as the grid expands it.</param>
/// <param name="RunDir">Its run folder (output_dir/NAME).</param>
/// <param name="Config">Its composed experiment config, <c>model.pretrained</c> filled in for a pruning cell.</param>
/// <param name="Overrides">The <c>--set</c> overrides that apply to it.</param>
/// <param name="Stamp">Hash of config, overrides and dense stamp (<see cref="SuitePlan.Stamp"/>).</param>
/// <param name="DenseStamp">Its dense cell's stamp (null for a dense cell).</param>
/// <param name="Folder">How far its run folder got.</param>
/// <param name="Stale">The folder holds a run of another config (its <c>suite_cell.json</c> stamp differs, or a
/// finished run has none): the suite moves it aside and runs the cell again.</param>
/// <param name="LegacyStamp">For a pruning cell whose dense cell is current: the stamp earlier versions wrote (without
/// the dense stamp), accepted from a <c>suite_cell.json</c> that has no dense stamp.</param>
public sealed record PlannedCell(SuiteCell Cell, string RunDir, JsonObject Config, IReadOnlyList<string> Overrides,
                                 string Stamp, string? DenseStamp, RunState Folder, bool Stale, string? LegacyStamp = null)
{
    /// <summary>Whether a run folder's <c>suite_cell.json</c> says it ran this cell's current config.</summary>
    public bool Matches(CellInfo? info)
        => info is not null && (info.ConfigStamp == Stamp || info.DenseStamp is null && LegacyStamp is not null && info.ConfigStamp == LegacyStamp);

    /// <summary>Finished with the config the suite has now: skipped by a suite run, reported.</summary>
    public bool IsCurrent => Folder == RunState.Finished && !Stale;

    /// <summary>What a suite run does with the cell, for <c>--dry-run</c> and the report's notes.</summary>
    public string Describe() => (Folder, Stale) switch
    {
        (RunState.Finished, false) => "finished",
        (RunState.Finished, true) => "STALE: finished with another config; reruns",
        (RunState.Partial, false) => "stopped; resumes",
        (RunState.Partial, true) => "STALE: stopped with another config; restarts",
        _ => "to run",
    };
}

/// <summary>
/// Works out, without running anything, what each cell of a suite would run and whether its run folder already
/// holds that: the one place that composes a cell's final config and stamp (a hash of config + overrides, and for a
/// pruning cell its dense cell's stamp, so a changed dense model makes every cell fine-tuned from it stale).
/// </summary>
public static class SuitePlan
{
    /// <summary>Plans <paramref name="cells"/> (each dense cell before the cells that start from it, as
    /// <see cref="GridExpander"/> orders them).</summary>
    public static IReadOnlyList<PlannedCell> Of(SuiteDefinition suite, IReadOnlyList<SuiteCell> cells, IReadOnlyList<string> overrides)
    {
        var planned = new Dictionary<string, PlannedCell>();
        foreach (var cell in cells)
        {
            var config = (JsonObject)cell.Config.DeepClone();
            string? denseStamp = null, legacy = null;
            if (!cell.IsDense)
            {
                if (!planned.TryGetValue(cell.DenseCell!, out var dense))
                    throw new InvalidOperationException($"suite cell '{cell.Name}' comes before its dense cell '{cell.DenseCell}'");
                JsonTree.Set(config, "model.pretrained", Path.Combine(dense.RunDir, TrainingRun.ModelFile));
                denseStamp = dense.Stamp;
            }
            var applied = cell.OverridesFor(overrides);
            string stamp = Stamp(config, applied, denseStamp);
            if (!cell.IsDense && planned[cell.DenseCell!].IsCurrent) legacy = Stamp(config, applied, null);

            var runDir = Path.Combine(suite.OutputDir, cell.Name);
            var folder = RunFolder.StateOf(runDir);
            var info = ReadInfo(runDir);
            var plannedCell = new PlannedCell(cell, runDir, config, applied, stamp, denseStamp, folder, false, legacy);
            bool stale = folder switch
            {
                RunState.Finished => !plannedCell.Matches(info),
                // A stopped run of an older suite version has no suite_cell.json: resumed as before; a folder a run of
                // another stamp left without a checkpoint is set aside too, not mixed into.
                _ => info is not null && !plannedCell.Matches(info),
            };
            planned[cell.Name] = plannedCell with { Stale = stale };
        }
        return cells.Select(c => planned[c.Name]).ToList();
    }

    /// <summary>Hash of a cell's composed config, the overrides applied to it and its dense cell's stamp (none for a
    /// dense cell, whose stamp is then that of earlier versions).</summary>
    public static string Stamp(JsonObject config, IReadOnlyList<string> overrides, string? denseStamp)
    {
        var input = new JsonObject
        {
            ["config"] = config.DeepClone(),
            ["overrides"] = new JsonArray(overrides.Select(o => (JsonNode?)o).ToArray()),
        };
        if (denseStamp is not null) input["dense"] = denseStamp;
        return JsonTree.Hash(input);
    }

    /// <summary><c>suite_cell.json</c> of a run folder, or null without one.</summary>
    public static CellInfo? ReadInfo(string runDir)
    {
        var path = Path.Combine(runDir, CellInfo.FileName);
        return File.Exists(path) ? OutputJson.Read<CellInfo>(path) : null;
    }
}
