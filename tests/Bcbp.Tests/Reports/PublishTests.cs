using Bcbp.Tests.Suites;
using Bcbp.Training.Json;
using Bcbp.Training.Reports;


namespace Bcbp.Tests.Reports;

public class PublishTests
{
    string _dir = "";
    [SetUp] public void SetUp() => _dir = SuiteFixtures.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_dir, true);

    [Test]
    public void PublishedResultsRegenerateTheSameReportWithoutWeights()
    {
        var runs = Path.Combine(_dir, "runs");
        var results = Path.Combine(_dir, "results");
        var json = SuiteFixtures.SuiteJson(runs);
        json["results_dir"] = results;
        var suitePath = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(suitePath, JsonFile.Format(json));
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_dense", "resnet20", "fmnist", null, null, 91.0);
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_block_s50", "resnet20", "fmnist", "block", 0.5, 90.0, wit: 1.8);
        SuiteFixtures.WriteRun(runs, "resnet20_fmnist_bcbp_s50", "resnet20", "fmnist", "bcbp", 0.5, 90.5, wit: 1.0);
        foreach (var cell in new[] { "resnet20_fmnist_dense", "resnet20_fmnist_bcbp_s50" })
        {
            File.WriteAllText(Path.Combine(runs, cell, "model.safetensors"), "weights");
            File.WriteAllText(Path.Combine(runs, cell, "checkpoint.bin"), "state");
            File.WriteAllText(Path.Combine(runs, cell, "run.log"), "log");
        }
        // An unfinished cell is not published.
        Directory.CreateDirectory(Path.Combine(runs, "resnet20_fmnist_bcbp_s75"));
        File.WriteAllText(Path.Combine(runs, "resnet20_fmnist_bcbp_s75", "checkpoint.bin"), "state");

        var published = SuiteReporting.PublishAndReport(suitePath, Array.Empty<string>(), _ => { });

        Assert.That(Directory.GetDirectories(results).Select(Path.GetFileName).Order(),
                    Is.EqualTo(new[] { "resnet20_fmnist_bcbp_s50", "resnet20_fmnist_block_s50", "resnet20_fmnist_dense" }));
        var copied = Directory.GetFiles(Path.Combine(results, "resnet20_fmnist_dense")).Select(Path.GetFileName).Order();
        Assert.That(copied, Is.EqualTo(new[] { "cost.json", "results.json", "run.log", "suite_cell.json" }));
        Assert.That(File.Exists(Path.Combine(results, "suite.json")));
        Assert.That(published.Rows.Select(r => r.Method), Is.EqualTo(new[] { "dense", "bcbp", "block" }), "suite method order");

        Directory.Delete(runs, true);
        var regenerated = SuiteReporting.Report(results, results, Array.Empty<string>(), _ => { });
        Assert.That(ReportMarkdown.Render(regenerated), Is.EqualTo(ReportMarkdown.Render(published)));
        Assert.That(File.ReadAllText(Path.Combine(results, "report.md")), Does.Contain("| block | 4x4 | 50.0% | 50.0% | 90.00 | -1.00 |"));
    }
}
