namespace Bcbp.Training.Reports;

/// <summary>
/// One setting of a report (model x dataset x method x sparsity x tile) over the seeds it ran with: means, the
/// standard deviation of top-1 across seeds, and whether its differences from the dense model and from the best
/// method at the same sparsity are within noise. Noise = two standard errors of the difference, counting the
/// seed-to-seed spread (when a setting ran with two or more seeds) and the sampling error of the test set
/// (binomial, from the number of test images); a difference inside that band is not evidence either way.
/// </summary>
public sealed record ReportSummary
{
    public required string Model { get; init; }
    public required string Dataset { get; init; }
    public string? TrainedOn { get; init; }
    public required string Method { get; init; }
    public string Unit { get; init; } = "-";
    public int? TileRows { get; init; }
    public double TargetSparsity { get; init; }
    /// <summary>Runs (seeds) summarized.</summary>
    public int Runs { get; init; }
    public double AchievedSparsity { get; init; }
    public double Top1 { get; init; }
    /// <summary>Sample standard deviation of top-1 over the runs (null with one run).</summary>
    public double? Top1Std { get; init; }
    public double? DenseTop1 { get; init; }
    public double? Top1Delta { get; init; }
    /// <summary>Whether <see cref="Top1Delta"/> is within noise (null: the noise is unknown).</summary>
    public bool? DeltaWithinNoise { get; init; }
    /// <summary>Top-1 minus the best pruning method's at the same model, dataset and sparsity (0 for the best).</summary>
    public double? VsBest { get; init; }
    public bool? VsBestWithinNoise { get; init; }
    /// <summary>Test images per run (null: not recorded).</summary>
    public long? TestSamples { get; init; }
    public double? FlopsKept { get; init; }
    public long? KeptMacs { get; init; }
    public double? ParamsKept { get; init; }
    public long? KeptParams { get; init; }
    /// <summary>Largest WIT over the runs.</summary>
    public double? WitMax { get; init; }
    public double? Speedup { get; init; }
    /// <summary>Mean of <see cref="ReportRow.SpeedupOverBest"/> over the runs, and the baseline it is over.</summary>
    public double? SpeedupOverBest { get; init; }
    public string? BestDense { get; init; }
    /// <summary>The runs' measured paths against the per-image rule, summed (null: no run was evaluated on the GPU).</summary>
    public SparseRule? Rule { get; init; }

    public bool IsDense => Method == "dense";

    /// <summary>Summaries of <paramref name="rows"/> (already in report order; the order is kept).</summary>
    public static IReadOnlyList<ReportSummary> Of(IReadOnlyList<ReportRow> rows)
    {
        var summaries = rows.GroupBy(r => (r.Model, r.Dataset, r.Method, r.TileRows, Math.Round(r.TargetSparsity, 6)))
            .Select(g => Summarize(g.ToList())).ToList();
        var dense = summaries.Where(s => s.IsDense).GroupBy(s => (s.Model, s.Dataset)).ToDictionary(g => g.Key, g => g.First());
        return summaries.Select(s =>
        {
            if (s.IsDense) return s;
            var d = dense.GetValueOrDefault((s.Model, s.Dataset));
            var peers = summaries.Where(p => !p.IsDense && p.Model == s.Model && p.Dataset == s.Dataset
                                             && Math.Abs(p.TargetSparsity - s.TargetSparsity) < 1e-6).ToList();
            var best = peers.MaxBy(p => p.Top1)!;
            double? delta = d is null ? s.Top1Delta : s.Top1 - d.Top1;
            return s with
            {
                DenseTop1 = d?.Top1 ?? s.DenseTop1,
                Top1Delta = delta,
                DeltaWithinNoise = d is null || delta is null ? null : Within(delta.Value, Noise(s, d)),
                VsBest = peers.Count > 1 ? s.Top1 - best.Top1 : null,
                VsBestWithinNoise = peers.Count > 1 && !ReferenceEquals(s, best) ? Within(s.Top1 - best.Top1, Noise(s, best)) : null,
            };
        }).ToList();
    }

    static bool? Within(double difference, double? band) => band is { } b ? Math.Abs(difference) < b : null;

    /// <summary>Two standard errors of the difference of two settings' mean top-1 (percentage points); null when neither
    /// the seeds nor the test set size tell.</summary>
    public static double? Noise(ReportSummary a, ReportSummary b)
    {
        double? Variance(ReportSummary s)
        {
            double? seeds = s.Top1Std is { } sd ? sd * sd / s.Runs : null;
            double? test = s.TestSamples is > 0 ? s.Top1 * (100 - s.Top1) / s.TestSamples.Value / s.Runs : null;
            return seeds is null && test is null ? null : (seeds ?? 0) + (test ?? 0);
        }
        var (va, vb) = (Variance(a), Variance(b));
        return va is null || vb is null ? null : 2 * Math.Sqrt(va.Value + vb.Value);
    }

    static ReportSummary Summarize(IReadOnlyList<ReportRow> runs)
    {
        var first = runs[0];
        double mean = runs.Average(r => r.Top1);
        double? Mean(Func<ReportRow, double?> f) => runs.All(r => f(r) is not null) ? runs.Average(r => f(r)!.Value) : null;
        long? MeanLong(Func<ReportRow, long?> f) => runs.All(r => f(r) is not null) ? (long)Math.Round(runs.Average(r => (double)f(r)!.Value)) : null;
        return new ReportSummary
        {
            Model = first.Model, Dataset = first.Dataset, TrainedOn = first.TrainedOn, Method = first.Method, Unit = first.Unit,
            TileRows = first.TileRows, TargetSparsity = first.TargetSparsity, Runs = runs.Count,
            AchievedSparsity = runs.Average(r => r.AchievedSparsity),
            Top1 = mean,
            Top1Std = runs.Count > 1 ? Math.Sqrt(runs.Sum(r => (r.Top1 - mean) * (r.Top1 - mean)) / (runs.Count - 1)) : null,
            DenseTop1 = Mean(r => r.DenseTop1), Top1Delta = Mean(r => r.Top1Delta),
            TestSamples = runs.All(r => r.TestSamples == first.TestSamples) ? first.TestSamples : null,
            FlopsKept = Mean(r => r.FlopsKept), KeptMacs = MeanLong(r => r.KeptMacs),
            ParamsKept = Mean(r => r.ParamsKept), KeptParams = MeanLong(r => r.KeptParams),
            WitMax = runs.Any(r => r.WitMax is not null) ? runs.Max(r => r.WitMax ?? 0) : null,
            Speedup = Mean(r => r.Speedup),
            SpeedupOverBest = Mean(r => r.SpeedupOverBest),
            BestDense = runs.Select(r => r.BestDense).FirstOrDefault(b => b is not null),
            Rule = runs.Any(r => r.Rule is not null)
                ? new SparseRule(runs.Sum(r => r.Rule?.Failing ?? 0), runs.Sum(r => r.Rule?.Samples ?? 0)) : null,
        };
    }
}
