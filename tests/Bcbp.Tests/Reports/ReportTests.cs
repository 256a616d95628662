using System.Text.Json.Nodes;
using Bcbp.Tests.Suites;
using Bcbp.Training.Reports;

namespace Bcbp.Tests.Reports;

public class ReportTests
{
    string _dir = "";
    [SetUp] public void SetUp()
    {
        _dir = SuiteFixtures.TempDir();
        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_dense", "resnet20", "fmnist", null, null, 91.0);
        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_bcbp_s50", "resnet20", "fmnist", "bcbp", 0.5, 90.5, keptMacs: 500);
        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_bcbp_s75", "resnet20", "fmnist", "bcbp", 0.75, 89.25, achieved: 0.7499, keptMacs: 250, wit: 1.0);
        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_filter_s50", "resnet20", "fmnist", "filter", 0.5, 88.0, keptMacs: 500, wit: 2.5);
    }
    [TearDown] public void TearDown() => Directory.Delete(_dir, true);

    SuiteReport Build(SpeedupTable? speedups = null)
        => SuiteReport.Build("Suite tiny", _dir, RunCollector.Collect(_dir), speedups ?? SpeedupTable.Empty, new[] { "filter", "bcbp" });

    [Test]
    public void RowsComeDenseFirstThenInSuiteMethodOrderWithDropFromDense()
    {
        var rows = Build().Rows;
        Assert.That(rows.Select(r => r.Cell), Is.EqualTo(new[]
            { "resnet20_fmnist_dense", "resnet20_fmnist_filter_s50", "resnet20_fmnist_bcbp_s50", "resnet20_fmnist_bcbp_s75" }));
        Assert.That(rows.Select(r => r.Top1Delta), Is.EqualTo(new double?[] { 0, -3.0, -0.5, -1.75 }));
        Assert.That(rows[3].FlopsKept, Is.EqualTo(0.25));
    }

    [Test]
    public void MarkdownHasThePaperLayoutAndProvenance()
    {
        var md = ReportMarkdown.Render(Build());
        Assert.That(md, Does.Contain("## resnet20 on fmnist (dense top-1 91.00%)"));
        Assert.That(md, Does.Contain("| Method | Unit | Target sparsity | Achieved sparsity | Top-1 (%) | Δ top-1 | vs best | FLOPs kept | Params kept | WIT (max) | Speedup |"));
        Assert.That(md, Does.Contain("| dense | - | - | - | 91.00 | - | - | 1.0 K (100.0%) |"));
        Assert.That(md, Does.Contain("| bcbp | 16x1 | 75.0% | 75.0% | 89.25 | -1.75 | - | 250 (25.0%) | 25 (25.0%) | 1.000 | - |"));
        Assert.That(md, Does.Contain("| bcbp | 16x1 | 50.0% | 50.0% | 90.50 | -0.50 | best |"));
        Assert.That(md, Does.Contain("| filter | row | 50.0% | 50.0% | 88.00 | -3.00 | -2.50 | 500 (50.0%) | 50 (50.0%) | 2.500 | - |"));
        Assert.That(md, Does.Contain("| resnet20_fmnist_filter_s50 | - | 88.00 | abcdef123456 | testbox | cpu | 2026-11-23 10:00 | f00d26 | x | 2.0 min |"));
    }

    [TestCase("cuda", true, 2.0, 0L)]
    [TestCase("cuda", false, 2.0, 1L)]   // measured, and marked as over the rule (no count recorded: at least one image)
    [TestCase("cpu", true, null, null)]  // a CPU evaluation times the reference path: the kernel benchmark's figure
    public void SpeedupComesFromTheRunsOwnGpuSparseEvaluationWithItsRuleStanding(string device, bool passed, double? expected, long? failing)
    {
        File.WriteAllText(Path.Combine(_dir, "resnet20_fmnist_bcbp_s75", "sparse_eval.json"),
            $$"""{ "device": "{{device}}", "passed": {{(passed ? "true" : "false")}}, "samples": 2000, "dense_ms": 5.0, "sparse_ms": 2.5 }""");
        var bench = new SpeedupTable(new[] { new SpeedupTable.Entry(null, "bcbp", 0.75, null, 1.25) });
        var row = Build(bench).Rows.Single(r => r.Cell == "resnet20_fmnist_bcbp_s75");
        Assert.That(row.Speedup, Is.EqualTo(expected ?? 1.25), "else the kernel benchmark's figure");
        Assert.That(row.Rule?.Failing, Is.EqualTo(failing));
    }

    // The quoted path is one that passes the per-image rule before one that does not, then the faster; its speedup is
    // shown either way, with the rule's count beside it where it failed.
    [TestCase(false, 3, 2.0, 0, 2.5, 0)]        // layer-by-layer fails on 3 images, the plan on none: the plan's 5 / 2 ms
    [TestCase(false, 3, 3.0, 0, 5.0 / 3, 0)]    // ... even where the plan is slower
    [TestCase(true, 0, 2.0, 1, 2.0, 0)]         // the plan breaks the rule where layer-by-layer does not: layer-by-layer's 5 / 2.5
    [TestCase(true, 0, 3.0, 0, 2.0, 0)]         // both pass, the plan is slower: layer-by-layer
    [TestCase(false, 3, 2.0, 5, 2.5, 5)]        // both fail: the faster (the plan), with its 5 images over the rule
    public void SpeedupQuotesThePlanWhereItIsFasterAndNoLessCorrect(bool passed, int failing, double planMs, int planFailing, double expected, long ruleFailing)
    {
        File.WriteAllText(Path.Combine(_dir, "resnet20_fmnist_bcbp_s75", "sparse_eval.json"),
            $$"""{ "device": "cuda", "passed": {{(passed ? "true" : "false")}}, "samples": 2000, "failing_samples": {{failing}}, "dense_ms": 5.0, "sparse_ms": 2.5, "plan_ms": {{planMs}}, "plan_failing_samples": {{planFailing}} }""");
        var bench = new SpeedupTable(new[] { new SpeedupTable.Entry(null, "bcbp", 0.75, null, 1.25) });
        var report = Build(bench);
        var row = report.Rows.Single(r => r.Cell == "resnet20_fmnist_bcbp_s75");
        Assert.That(row.Speedup, Is.EqualTo(expected).Within(1e-12));
        Assert.That(row.Rule, Is.EqualTo(new SparseRule(ruleFailing, 2000)));
        var md = ReportMarkdown.Render(report);
        if (ruleFailing > 0) Assert.That(md, Does.Contain($"x (rule: {ruleFailing}/2000) |"));
        else Assert.That(md, Does.Not.Contain("x (rule: "));
    }

    // A filter run's physically shrunk model is a third path under the same rule: quoted where it passes and is the
    // fastest, passed over where it breaks the rule and another path does not.
    [TestCase(1.0, 0, 5.0)]        // shrunk plan 1 ms, passes: 5 / 1
    [TestCase(1.0, 4, 2.5)]        // shrunk plan breaks the rule, the plan (2 ms) passes: 5 / 2
    [TestCase(3.0, 0, 2.5)]        // shrunk plan slower than the plan: 5 / 2
    public void SpeedupQuotesTheShrunkModelsPlanUnderTheSameRule(double shrunkMs, int shrunkFailing, double expected)
    {
        File.WriteAllText(Path.Combine(_dir, "resnet20_fmnist_bcbp_s75", "sparse_eval.json"),
            $$"""{ "device": "cuda", "passed": true, "samples": 2000, "failing_samples": 0, "dense_ms": 5.0, "sparse_ms": 2.5, "plan_ms": 2.0, "plan_failing_samples": 0, "shrunk_plan_ms": {{shrunkMs}}, "shrunk_plan_failing_samples": {{shrunkFailing}} }""");
        var row = Build(new SpeedupTable(Array.Empty<SpeedupTable.Entry>())).Rows.Single(r => r.Cell == "resnet20_fmnist_bcbp_s75");
        Assert.That(row.Speedup, Is.EqualTo(expected).Within(1e-12));
        Assert.That(row.Rule, Is.EqualTo(new SparseRule(0, 2000)));
    }

    [Test]
    public void PyTorchBaselineIsTheRunsArchitectureNotTheGridsModelName()
    {
        // The grid calls the model "resnet20" here; the run's config says which architecture it is.
        var cell = Path.Combine(_dir, "resnet20_fmnist_bcbp_s75");
        File.WriteAllText(Path.Combine(cell, "config.json"),
            """{ "model": { "arch": "resnet20_wide" }, "prune": { "method": "bcbp", "tile_rows": 16, "tile_cols": 0 } }""");
        File.WriteAllText(Path.Combine(cell, "sparse_eval.json"),
            """{ "device": "cuda", "passed": true, "dense_ms": 10.0, "sparse_ms": 4.0, "input_shape": [256, 1, 28, 28] }""");
        var baselines = Path.Combine(_dir, "pytorch_baselines.json");
        File.WriteAllText(baselines, """
            { "device": "H200", "rows": [
              { "model": "resnet20", "batch": 256, "variant": "cuda_graph", "img_s": 64000 },
              { "model": "resnet20_wide", "batch": 256, "variant": "cuda_graph", "img_s": 16000 } ] }
            """);
        var row = Build(SpeedupTable.Load(new[] { baselines })).Rows.Single(r => r.Cell == "resnet20_fmnist_bcbp_s75");
        Assert.That(row.SpeedupOverBest, Is.EqualTo(4.0).Within(1e-12), "64,000 img/s over resnet20_wide's 16,000");
    }

    [TestCase("""{ "method": "bcbp", "tile_rows": 64, "tile_cols": 0 }""", "64x1")]
    [TestCase("""{ "method": "bcbp", "tile_rows": 32, "tile_cols": 128 }""", "32x1 (tile 32x128)")]
    [TestCase("""{ "method": "block", "block_rows": 8, "block_cols": 4 }""", "8x4")]
    [TestCase("""{ "method": "nm", "n": 2, "m": 4 }""", "2:4")]
    [TestCase("""{ "method": "unstructured" }""", "1x1")]
    [TestCase("null", "-")]
    public void PruneUnitNamesTheUnitOfEachMethod(string prune, string expected)
        => Assert.That(PruneUnit.Describe(JsonNode.Parse(prune) as JsonObject), Is.EqualTo(expected));

    [TestCase(42.4, "42 s")]
    [TestCase(210, "3.5 min")]
    [TestCase(9000, "2.50 h")]
    public void DurationsReadNaturally(double seconds, string expected) => Assert.That(ReportFormat.Duration(seconds), Is.EqualTo(expected));

    [Test]
    public void CsvHasOneLinePerRunAndEveryColumn()
    {
        var lines = ReportCsv.Render(Build()).TrimEnd().Split('\n');
        Assert.That(lines.Length, Is.EqualTo(5));
        Assert.That(lines[0].Split(','), Is.EqualTo(ReportCsv.Columns));
        var bcbp75 = lines[4].Split(',');
        Assert.That(bcbp75.Length, Is.EqualTo(ReportCsv.Columns.Length));
        string Field(string name) => bcbp75[Array.IndexOf(ReportCsv.Columns, name)];
        Assert.That((Field("method"), Field("target_sparsity"), Field("achieved_sparsity"), Field("top1"), Field("top1_delta"), Field("flops_kept")),
                    Is.EqualTo(("bcbp", "0.75", "0.7499", "89.25", "-1.75", "0.25")));
    }

    [Test]
    public void WriterProducesJsonCsvMarkdownAndAReadablePng()
    {
        var out_ = Path.Combine(_dir, "report");
        var files = ReportWriter.Write(Build(), out_);

        Assert.That(files.Select(Path.GetFileName), Is.EquivalentTo(new[] { "report.md", "report.csv", "report.json",
            "accuracy_vs_sparsity_resnet20_fmnist.png", "accuracy_vs_sparsity_resnet20_fmnist.svg" }));
        Assert.That(File.ReadAllText(Path.Combine(out_, "accuracy_vs_sparsity_resnet20_fmnist.svg")), Does.StartWith("<?xml").And.Contains("<svg"));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(out_, "report.json")))!;
        Assert.That(json["title"]!.GetValue<string>(), Is.EqualTo("Suite tiny"));
        Assert.That(json["rows"]!.AsArray().Count, Is.EqualTo(4));
        Assert.That(json["rows"]![2]!["top1_delta"]!.GetValue<double>(), Is.EqualTo(-0.5));
        var png = File.ReadAllBytes(Path.Combine(out_, "accuracy_vs_sparsity_resnet20_fmnist.png"));
        Assert.That(png.Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
        Assert.That(png.Length, Is.GreaterThan(10_000), "a plot with axes, lines and text, not an empty image");
    }

    [Test]
    public void SpeedupsComeFromTheBenchmarkAndGetTheirOwnPlot()
    {
        var bench = Path.Combine(_dir, "bench.json");
        File.WriteAllText(bench, """
            { "results": [
              { "method": "bcbp", "sparsity": 0.5, "layer": "l1", "dense_ms": 2.0, "sparse_ms": 1.0 },
              { "method": "bcbp", "sparsity": 0.5, "layer": "l2", "speedup": 8.0 },
              { "method": "bcbp", "sparsity": 0.75, "speedup": 2.5 },
              { "method": "bcbp", "sparsity": 0.75, "layer": "l1", "speedup": 9.0 },
              { "method": "filter", "sparsity": 0.5, "model": "vgg16", "speedup": 3.0 } ] }
            """);
        var report = Build(SpeedupTable.Load(new[] { bench }));

        Assert.That(report.Rows.Select(r => r.Speedup), Is.EqualTo(new double?[] { null, null, 4.0, 2.5 }),
                    "layers: geometric mean; a whole-model entry wins; another model's entry does not match");
        Assert.That(ReportMarkdown.Render(report), Does.Contain("| 4.00x |"));
        var files = ReportPlots.Write(report, Path.Combine(_dir, "plots"));
        Assert.That(files.Select(Path.GetFileName), Does.Contain("speedup_vs_sparsity.png").And.Contain("speedup_vs_sparsity.svg"));
    }

    [Test]
    public void MeasuredSparseSpeedIsSetAgainstTheFastestPyTorchDenseModelAndPlottedAgainstTop1()
    {
        // Each pruned run timed on our kernels at batch 256 (bcbp 50%: over the per-image rule on 7 of 2,000 images), and
        // PyTorch's dense baselines of that model.
        foreach (var (cell, ms, failing) in new[] { ("resnet20_fmnist_bcbp_s50", 8.0, 7), ("resnet20_fmnist_bcbp_s75", 4.0, 0), ("resnet20_fmnist_filter_s50", 5.0, 0) })
            File.WriteAllText(Path.Combine(_dir, cell, "sparse_eval.json"),
                $$"""{ "device": "cuda", "passed": {{(failing == 0 ? "true" : "false")}}, "samples": 2000, "failing_samples": {{failing}}, "dense_ms": 10.0, "sparse_ms": {{ms}}, "input_shape": [256, 1, 28, 28] }""");
        var baselines = Path.Combine(_dir, "pytorch_baselines.json");
        File.WriteAllText(baselines, """
            { "device": "H200", "rows": [
              { "model": "resnet20", "batch": 256, "variant": "eager", "img_s": 20000 },
              { "model": "resnet20", "batch": 256, "variant": "cuda_graph", "img_s": 32000 },
              { "model": "resnet20", "batch": 1, "variant": "cuda_graph", "img_s": 99000 },
              { "model": "resnet56", "batch": 256, "variant": "cuda_graph", "img_s": 1 } ] }
            """);
        var report = Build(SpeedupTable.Load(new[] { baselines }));

        // 256 images / 4 ms = 64,000 img/s over the best dense (the CUDA graph's 32,000 at the same batch) = 2x.
        var over = report.Rows.ToDictionary(r => r.Cell, r => r.SpeedupOverBest);
        Assert.That(over["resnet20_fmnist_bcbp_s75"], Is.EqualTo(2.0).Within(1e-12));
        Assert.That(over["resnet20_fmnist_bcbp_s50"], Is.EqualTo(1.0).Within(1e-12));
        Assert.That(over["resnet20_fmnist_dense"], Is.Null);
        Assert.That(report.Rows.Single(r => r.Cell == "resnet20_fmnist_bcbp_s75").BestDense, Is.EqualTo("PyTorch cuda_graph, batch 256"));
        Assert.That(ReportMarkdown.Render(report), Does.Contain("| 2.50x | 2.00x (PyTorch cuda_graph, batch 256) |"));
        Assert.That(ReportMarkdown.Render(report), Does.Contain("| 1.25x (rule: 7/2000) | 1.00x (PyTorch cuda_graph, batch 256) |"));
        Assert.That(ReportCsv.Columns, Does.Contain("speedup_over_best_pytorch"));
        var files = ReportPlots.Write(report, Path.Combine(_dir, "plots"));
        Assert.That(files.Select(Path.GetFileName), Does.Contain("accuracy_vs_speedup_resnet20_fmnist.png").And.Contain("accuracy_vs_speedup_resnet20_fmnist.svg"));
        Assert.That(File.ReadAllText(files.First(f => f.EndsWith("accuracy_vs_speedup_resnet20_fmnist.svg"))),
                    Does.Contain("fastest dense PyTorch model").And.Contain("over the per-image rule"),
                    "the axis says what the speedup is over; the legend says which points' outputs were over the rule");
    }

    [Test]
    public void ABaselineFileWithABadRowNamesTheFileAndTheField()
    {
        var baselines = Path.Combine(_dir, "bad.json");
        File.WriteAllText(baselines, """{ "rows": [ { "model": "resnet20", "variant": "eager", "img_s": 1 } ] }""");
        var e = Assert.Throws<InvalidDataException>(() => SpeedupTable.Load(new[] { baselines }));
        Assert.That(e!.Message, Does.Contain("bad.json").And.Contain("'batch'"));
    }

    [Test]
    public void APruningRunFromAnotherDenseModelIsRefusedNamingIt()
    {
        // A cell fine-tuned from an 11% dense model left beside a dense run of 91%: the report must not show "+78 points".
        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_bcbp_s90", "resnet20", "fmnist", "bcbp", 0.9, 89.0, denseTop1: 11.0);
        var e = Assert.Throws<InvalidDataException>(() => Build());
        Assert.That(e!.Message, Does.Contain("mix dense baselines").And.Contain("resnet20_fmnist_bcbp_s90").And.Contain("11.00%"));

        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_bcbp_s90", "resnet20", "fmnist", "bcbp", 0.9, 89.0, denseTop1: 91.0,
                               denseCell: "resnet20_fmnist_dense", denseStamp: "another-dense-config");
        Assert.That(Assert.Throws<InvalidDataException>(() => Build())!.Message, Does.Contain("another config of resnet20_fmnist_dense"));

        SuiteFixtures.WriteRun(_dir, "resnet20_fmnist_bcbp_s90", "resnet20", "fmnist", "bcbp", 0.9, 89.0, denseTop1: 91.0,
                               denseCell: "resnet20_fmnist_dense", denseStamp: "x");
        Assert.That(Build().Rows.Single(r => r.Cell == "resnet20_fmnist_bcbp_s90").Top1Delta, Is.EqualTo(-2.0).Within(1e-9));
    }

    [Test]
    public void SeedsAreSummarizedAsMeanAndStdAndSmallDifferencesMarkedAsNoise()
    {
        var dir = SuiteFixtures.TempDir();
        try
        {
            foreach (var (seed, dense, bcbp, block, filter) in new[] { (0, 91.0, 90.0, 89.9, 86.0), (1, 91.2, 90.4, 90.1, 86.4), (2, 90.8, 89.6, 89.7, 85.6) })
            {
                string d = $"resnet20_fmnist_dense_seed{seed}";
                SuiteFixtures.WriteRun(dir, d, "resnet20", "fmnist", null, null, dense, seed: seed, testSamples: 10000);
                foreach (var (method, top1) in new[] { ("bcbp", bcbp), ("block", block), ("filter", filter) })
                    SuiteFixtures.WriteRun(dir, $"resnet20_fmnist_{method}_s50_seed{seed}", "resnet20", "fmnist", method, 0.5, top1,
                                           seed: seed, denseCell: d, denseTop1: dense, testSamples: 10000);
            }
            var report = SuiteReport.Build("seeds", dir, RunCollector.Collect(dir), SpeedupTable.Empty, new[] { "bcbp", "block", "filter" });

            Assert.That(report.Rows.Count, Is.EqualTo(12));
            var s = report.Summaries.ToDictionary(x => x.Method);
            Assert.That((s["bcbp"].Runs, s["bcbp"].Top1, s["bcbp"].Top1Std!.Value), Is.EqualTo((3, 90.0, 0.4)).Using<(int, double, double)>(
                (a, b) => a.Item1 == b.Item1 && Math.Abs(a.Item2 - b.Item2) < 1e-9 && Math.Abs(a.Item3 - b.Item3) < 1e-9));
            Assert.That(s["bcbp"].Top1Delta, Is.EqualTo(-1.0).Within(1e-9), "each run's drop is from its own seed's dense model");
            Assert.That((s["bcbp"].VsBest, s["bcbp"].VsBestWithinNoise), Is.EqualTo(((double?)0.0, (bool?)null)), "bcbp is the best at 50%");
            Assert.That(s["block"].VsBestWithinNoise, Is.True, "0.1 point apart with a spread of 0.2-0.4: noise");
            Assert.That(s["filter"].VsBestWithinNoise, Is.False, "4 points apart: not noise");
            var md = ReportMarkdown.Render(report);
            Assert.That(md, Does.Contain("| bcbp | 16x1 | 50.0% | 50.0% | 90.00 ± 0.40 (n=3) | -1.00 | best |"));
            Assert.That(md, Does.Contain("| block | 4x4 | 50.0% | 50.0% | 89.90 ± 0.20 (n=3) |"));
            Assert.That(md, Does.Contain("| -0.10 ≈ |"));
            Assert.That(md, Does.Contain("| resnet20_fmnist_bcbp_s50_seed2 | 2 | 89.60 |"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void EmptyFolderIsAClearError()
    {
        var empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        Assert.That(() => RunCollector.Collect(empty), Throws.TypeOf<InvalidDataException>().With.Message.Contains("no finished runs"));
        Assert.That(() => RunCollector.Collect(Path.Combine(_dir, "nope")), Throws.TypeOf<DirectoryNotFoundException>());
    }

    [Test]
    public void PlotTextIsDrawnWithTheShippedFont()
    {
        Bcbp.Training.Plots.PlotTheme.UseShippedFont();
        Assert.That(ScottPlot.Fonts.Default, Is.EqualTo(Bcbp.Training.Plots.PlotTheme.FontName));
        Assert.That(File.Exists(Path.Combine(Bcbp.Training.Plots.PlotTheme.FontDir, "DejaVuSans.ttf")), "the build copies the font");
        // A title of glyphs and one of spaces take the same room: only drawn glyphs change pixels.
        byte[] Render(string title)
        {
            var plot = Bcbp.Training.Plots.PlotTheme.NewPlot();
            plot.Add.Scatter(new double[] { 1, 2 }, new double[] { 1, 2 });
            plot.Title(title);
            plot.Axes.SetLimits(0, 3, 0, 3);
            return plot.GetImage(300, 200).GetImageBytes();
        }
        Assert.That(Render("Wg"), Is.Not.EqualTo(Render("  ")), "same layout, only the glyphs differ");
        Assert.That(Bcbp.Training.Plots.PlotTheme.ColorOf("bcbp"), Is.EqualTo(Bcbp.Training.Plots.PlotTheme.ColorOf("bcbp")));
        Assert.That(new[] { "bcbp", "block", "filter", "unstructured", "nm", "dense" }.Select(m => Bcbp.Training.Plots.PlotTheme.ColorOf(m).ToHex()).Distinct().Count(),
                    Is.EqualTo(6), "one colour per method");
    }
}
