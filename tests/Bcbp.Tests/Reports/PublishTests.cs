using Bcbp.Tests.Suites;
using Bcbp.Training.Json;
using Bcbp.Training.Reports;
using Bcbp.Training.Suites;

namespace Bcbp.Tests.Reports;

public class PublishTests
{
    string _dir = "";
    [SetUp] public void SetUp() => _dir = SuiteFixtures.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_dir, true);

    [Test]
    public void PublishCopiesOnlyCurrentCellsWithoutWeightsAndTheCopiesRegenerateTheSameReport()
    {
        var runs = Path.Combine(_dir, "runs");
        var results = Path.Combine(_dir, "results");
        var json = SuiteFixtures.SuiteJson(runs);
        json["results_dir"] = results;
        var suitePath = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(suitePath, JsonFile.Format(json));
        var suite = SuiteLoader.Load(suitePath);
        var stamps = SuitePlan.Of(suite, GridExpander.Expand(suite), Array.Empty<string>()).ToDictionary(p => p.Cell.Name, p => p.Stamp);
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_dense", "resnet20", "fmnist", null, null, 91.0, stamp: stamps["resnet20_fmnist_dense"]);
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_block_s50", "resnet20", "fmnist", "block", 0.5, 90.0, wit: 1.8, stamp: stamps["resnet20_fmnist_block_s50"]);
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_bcbp_s50", "resnet20", "fmnist", "bcbp", 0.5, 90.5, wit: 1.0, stamp: stamps["resnet20_fmnist_bcbp_s50"]);
        // A cell finished with an older config: neither reported nor published.
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_block_s75", "resnet20", "fmnist", "block", 0.75, 12.0, stamp: "older-config");
        foreach (var cell in new[] { "resnet20_fmnist_dense", "resnet20_fmnist_bcbp_s50" })
        {
            File.WriteAllText(Path.Combine(runs, cell, "model.safetensors"), "weights");
            File.WriteAllText(Path.Combine(runs, cell, "checkpoint.bin"), "state");
            File.WriteAllText(Path.Combine(runs, cell, "run.log"), "log");
        }
        // An unfinished cell is not published.
        Directory.CreateDirectory(Path.Combine(runs, "resnet20_fmnist_bcbp_s75"));
        File.WriteAllText(Path.Combine(runs, "resnet20_fmnist_bcbp_s75", "checkpoint.bin"), "state");
        // A published run of another config is removed; a stray file in a republished cell does not survive.
        SuiteFixtures.WriteRun(results, "r32_fmnist_bcbp_s50", "r32", "fmnist", "bcbp", 0.5, 50.0, stamp: "older-config");
        SuiteFixtures.WriteRun(results, "resnet20_fmnist_dense", "resnet20", "fmnist", null, null, 11.0, stamp: "older-config");
        File.WriteAllText(Path.Combine(results, "resnet20_fmnist_dense", "stray.txt"), "old");
        var log = new List<string>();

        var unpublished = SuiteReporting.ReportSuite(suitePath, suite, Array.Empty<string>(), publish: false, Array.Empty<string>(), log.Add);
        Assert.That(unpublished.Dir, Is.EqualTo(Path.Combine(runs, "report")));
        Assert.That(File.ReadAllText(Path.Combine(results, "resnet20_fmnist_dense", "stray.txt")), Is.EqualTo("old"), "no --publish: results untouched");
        Assert.That(log, Has.Some.Contains("not in the report: resnet20_fmnist_block_s75 (STALE"));

        var published = SuiteReporting.ReportSuite(suitePath, suite, Array.Empty<string>(), publish: true, Array.Empty<string>(), _ => { }).Report;

        Assert.That(Directory.GetDirectories(results).Select(Path.GetFileName).Order(),
                    Is.EqualTo(new[] { "resnet20_fmnist_bcbp_s50", "resnet20_fmnist_block_s50", "resnet20_fmnist_dense" }));
        var copied = Directory.GetFiles(Path.Combine(results, "resnet20_fmnist_dense")).Select(Path.GetFileName).Order();
        Assert.That(copied, Is.EqualTo(new[] { "cost.json", "results.json", "run.log", "suite_cell.json" }));
        Assert.That(File.Exists(Path.Combine(results, "suite.json")));
        Assert.That(published.Rows.Select(r => r.Method), Is.EqualTo(new[] { "dense", "bcbp", "block" }), "suite method order");
        Assert.That(ReportMarkdown.Render(published), Is.EqualTo(ReportMarkdown.Render(unpublished.Report).Replace(runs, results)));

        Directory.Delete(runs, true);
        var regenerated = SuiteReporting.Report(results, results, Array.Empty<string>(), _ => { });
        Assert.That(ReportMarkdown.Render(regenerated), Is.EqualTo(ReportMarkdown.Render(published)));
        Assert.That(File.ReadAllText(Path.Combine(results, "report.md")), Does.Contain("| block | 4x4 | 50.0% | 50.0% | 90.00 | -1.00 | -0.50 |"));
        // With runs/ gone, the committed copies still count as current: publishing again keeps them.
        Assert.That(SuiteReporting.ReportSuite(suitePath, suite, Array.Empty<string>(), true, Array.Empty<string>(), _ => { }).Report.Rows.Count, Is.EqualTo(3));
    }
}
