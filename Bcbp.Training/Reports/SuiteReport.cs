using System.Text.Json.Serialization;

namespace Bcbp.Training.Reports;

/// <summary>The comparison report of a set of runs (results.json is the source; Markdown, CSV, JSON and plots are
/// views of it): per model x dataset, the dense row then every pruning row, method by method, sparsity ascending;
/// and the same rows summarized over seeds (<see cref="Summaries"/>).</summary>
public sealed record SuiteReport
{
    public required string Title { get; init; }
    public string Description { get; init; } = "";
    /// <summary>Folder the runs were read from.</summary>
    public required string Source { get; init; }
    public required IReadOnlyList<ReportRow> Rows { get; init; }
    /// <summary>One line per model x dataset x method x sparsity x tile: mean ± std over the seeds run.</summary>
    public required IReadOnlyList<ReportSummary> Summaries { get; init; }

    /// <summary>Rows grouped by (model, dataset), in row order.</summary>
    [JsonIgnore]
    public IEnumerable<IGrouping<(string Model, string Dataset), ReportRow>> Groups => Rows.GroupBy(r => (r.Model, r.Dataset));

    /// <summary>Builds the rows of <paramref name="records"/>. <paramref name="methodOrder"/> orders methods (others
    /// follow alphabetically). Runs without suite cell info are grouped under the model and dataset "-". Refuses
    /// (InvalidDataException naming the runs) to put a pruning run beside a dense run it was not fine-tuned from.</summary>
    public static SuiteReport Build(string title, string source, IEnumerable<RunRecord> records, SpeedupTable speedups,
                                    IReadOnlyList<string>? methodOrder = null, string description = "")
    {
        var list = records.ToList();
        var rows = list.Select(r => ToRow(r, speedups)).ToList();
        CheckDenseBaselines(list, rows);
        var denseByCell = rows.Where(r => r.IsDense).GroupBy(r => r.Cell).ToDictionary(g => g.Key, g => g.First());
        var denseByGroup = rows.Where(r => r.IsDense).GroupBy(r => (r.Model, r.Dataset)).ToDictionary(g => g.Key, g => g.ToList());
        rows = rows.Select(r =>
        {
            // Drop from dense: against the run's dense cell (or its group's only dense run), else the dense top-1 the
            // pruning run measured itself.
            var dense = DenseOf(r, denseByCell, denseByGroup);
            double? d = r.IsDense ? r.Top1 : dense?.Top1 ?? r.DenseTop1;
            return r with { DenseTop1 = d, Top1Delta = r.Top1 - d };
        }).ToList();

        int MethodRank(string m) => m == "dense" ? -1 : methodOrder?.ToList().IndexOf(m) is >= 0 and var i ? i : int.MaxValue;
        var ordered = rows
            .OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Dataset, StringComparer.Ordinal)
            .ThenBy(r => MethodRank(r.Method)).ThenBy(r => r.Method, StringComparer.Ordinal)
            .ThenBy(r => r.TargetSparsity).ThenBy(r => r.TileRows ?? 0).ThenBy(r => r.Seed ?? 0).ThenBy(r => r.Cell, StringComparer.Ordinal)
            .ToList();
        return new SuiteReport { Title = title, Source = source, Rows = ordered, Description = description, Summaries = ReportSummary.Of(ordered) };
    }

    static ReportRow? DenseOf(ReportRow r, IReadOnlyDictionary<string, ReportRow> byCell,
                              IReadOnlyDictionary<(string, string), List<ReportRow>> byGroup)
    {
        if (r.IsDense) return null;
        if (r.DenseCell is not null) return byCell.GetValueOrDefault(r.DenseCell);
        return byGroup.TryGetValue((r.Model, r.Dataset), out var d) && d.Count == 1 ? d[0] : null;
    }

    /// <summary>Each pruning run must come from the dense run it is reported beside: the dense cell's stamp it recorded
    /// when it started, and the dense top-1 it measured before pruning, must match that dense run.</summary>
    static void CheckDenseBaselines(IReadOnlyList<RunRecord> records, IReadOnlyList<ReportRow> rows)
    {
        var denseByCell = rows.Where(r => r.IsDense).GroupBy(r => r.Cell).ToDictionary(g => g.Key, g => g.First());
        var denseByGroup = rows.Where(r => r.IsDense).GroupBy(r => (r.Model, r.Dataset)).ToDictionary(g => g.Key, g => g.ToList());
        var problems = new List<string>();
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var dense = DenseOf(r, denseByCell, denseByGroup);
            if (dense is null) continue;
            var denseStamp = records[i].Info?.DenseStamp;
            if (denseStamp is not null && dense.CellStamp.Length > 0 && denseStamp != dense.CellStamp)
                problems.Add($"{r.Cell} was fine-tuned from another config of {dense.Cell} (dense stamp {Short(denseStamp)}, the reported dense run has {Short(dense.CellStamp)})");
            // One test image of slack: under mixed precision cuDNN may pick another algorithm in another process.
            else if (records[i].Result.DenseTop1 is { } measured && Math.Abs(measured - dense.Top1) > 0.005 + (dense.TestSamples is > 0 ? 100.0 / dense.TestSamples.Value : 0))
                problems.Add($"{r.Cell} was fine-tuned from a dense model of top-1 {measured:F2}%, not from {dense.Cell} ({dense.Top1:F2}%)");
        }
        if (problems.Count > 0)
            throw new InvalidDataException("report refused: it would mix dense baselines:\n  " + string.Join("\n  ", problems) +
                "\nRerun the suite (bcbp suite reruns the cells whose config changed) or report the runs of each dense model separately (bcbp compare --runs DIR).");
    }

    static string Short(string s) => s.Length > 12 ? s[..12] : s;

    static ReportRow ToRow(RunRecord record, SpeedupTable speedups)
    {
        var r = record.Result;
        var info = record.Info;
        string model = info?.Model ?? "-";
        string method = r.Method ?? info?.Method ?? "dense";
        double target = r.TargetSparsity ?? info?.Sparsity ?? 0;
        // Benchmarks and PyTorch's baselines name models by architecture (a grid's name, e.g. vgg16, may be vgg16_cifar).
        string arch = record.Arch ?? model;
        var best = record.Sparse is { } sp && method != "dense" ? speedups.BestDense(arch, sp.Batch) : null;
        return new ReportRow
        {
            Model = model,
            Dataset = info?.Dataset ?? "-",
            TrainedOn = record.TrainedOn,
            Cell = info?.Cell ?? Path.GetFileName(record.Dir),
            DenseCell = info?.DenseCell,
            Seed = info?.Seed,
            Method = method,
            TileRows = info?.TileRows,
            Unit = record.Unit,
            TargetSparsity = target,
            AchievedSparsity = r.AchievedSparsity ?? 0,
            Top1 = r.Top1,
            Top5 = r.Top5,
            TestSamples = r.TestSamples,
            DenseTop1 = r.DenseTop1,
            Macs = record.Cost?.Macs,
            KeptMacs = record.Cost?.KeptMacs,
            Params = record.Cost?.Params,
            KeptParams = record.Cost?.KeptParams,
            Speedup = method == "dense" ? null : record.MeasuredSpeedup ?? speedups.Find(arch, method, target),
            SpeedupOverBest = best is null ? null : record.Sparse!.ImagesPerSecond / best.ImagesPerSecond,
            BestDense = best is null ? null : $"PyTorch {best.Variant}, batch {best.Batch}",
            Rule = method == "dense" ? null : record.Rule,
            WitMax = record.WitMax,
            TrainSeconds = r.TrainSeconds,
            Device = r.Device,
            Machine = r.Machine,
            Commit = r.Commit,
            FinishedUtc = r.FinishedUtc,
            ConfigHash = r.ConfigHash,
            CellStamp = info?.ConfigStamp ?? "",
        };
    }
}
