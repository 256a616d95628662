using System.Text.Json.Nodes;
using Bcbp.Training.Json;
using Bcbp.Training.Reports;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;

namespace Bcbp.Tests.Suites;

/// <summary>A whole (tiny) suite through the real experiment runner: dense, then bcbp and filter from it; report.</summary>
public class SuiteEndToEndTests
{
    [Test]
    public void TinySuiteRunsReportsAndSkipsOnSecondRun()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        var dir = SuiteFixtures.TempDir();
        try
        {
            var json = JsonNode.Parse($$"""
                {
                  "name": "e2e",
                  "output_dir": {{System.Text.Json.JsonSerializer.Serialize(Path.Combine(dir, "runs"))}},
                  "results_dir": {{System.Text.Json.JsonSerializer.Serialize(Path.Combine(dir, "results"))}},
                  "base": { "seed": 3, "device": "cpu", "model": { "arch": "resnet20", "num_classes": 4, "in_channels": 1 },
                            "data": { "dataset": "synthetic", "num_classes": 4, "channels": 1, "image_size": 8, "num_train": 32,
                                      "num_test": 16, "batch_size": 16, "eval_batch_size": 16, "augment": false },
                            "train": { "epochs": 1, "lr": 0.05 } },
                  "finetune": { "prune": { "tile_rows": 16, "finetune_epochs": 2,
                                           "schedule": { "kind": "cubic", "start_epoch": 0, "end_epoch": 1, "frequency": 1 } } },
                  "grid": { "models": ["resnet20"], "datasets": ["synthetic"], "methods": ["bcbp", "filter"], "sparsities": [0.5] }
                }
                """)!.AsObject();
            var suitePath = Path.Combine(dir, "e2e.json");
            File.WriteAllText(suitePath, JsonFile.Format(json));
            var suite = SuiteLoader.Load(suitePath);
            var cells = GridExpander.Expand(suite);
            var executor = new TrainingCellExecutor(new RunOptions { ShowProgress = false, Quiet = true, CpuThreads = 1 });

            var outcomes = new SuiteExecutor(suite, executor, _ => { }).Run(cells, Array.Empty<string>());
            Assert.That(outcomes.Select(o => o.Status), Is.All.EqualTo(CellStatus.Ran), string.Join("; ", outcomes.Select(o => o.Error)));
            // One TensorBoard folder per cell (tensorboard --logdir runs/ compares them); fine-tuning starts at step 1.
            foreach (var cell in cells)
            {
                var scalars = Bcbp.Training.Logging.EventFile.ReadScalars(Path.Combine(suite.OutputDir, cell.Name, Bcbp.Training.Logging.TensorBoardLog.Folder));
                Assert.That(scalars.Where(p => p.Tag == "loss/test").Select(p => p.Step), Is.EqualTo(cell.IsDense ? new long[] { 2 } : new long[] { 2, 4 }), cell.Name);
                if (!cell.IsDense)
                    Assert.That(scalars.Where(p => p.Tag == "sparsity/overall").Last().Value, Is.EqualTo(0.5).Within(0.02), cell.Name);
            }

            var (report, reportDir) = SuiteReporting.ReportSuite(suitePath, suite, Array.Empty<string>(), publish: false, Array.Empty<string>(), _ => { });
            Assert.That(reportDir, Is.EqualTo(Path.Combine(suite.OutputDir, "report")));
            Assert.That(Directory.Exists(Path.Combine(dir, "results")), Is.False, "only --publish writes the results folder");
            report = SuiteReporting.ReportSuite(suitePath, suite, Array.Empty<string>(), publish: true, Array.Empty<string>(), _ => { }).Report;
            Assert.That(report.Rows.Select(r => r.Method), Is.EqualTo(new[] { "dense", "bcbp", "filter" }));
            var dense = report.Rows[0];
            Assert.That(dense.KeptMacs, Is.EqualTo(dense.Macs).And.GreaterThan(0));
            foreach (var r in report.Rows.Skip(1))
            {
                Assert.That(r.DenseTop1, Is.EqualTo(dense.Top1));
                Assert.That(r.AchievedSparsity, Is.EqualTo(0.5).Within(0.02));
                Assert.That(r.FlopsKept, Is.LessThan(0.75), "pruned MACs are removed");
                Assert.That(r.WitMax, Is.Not.Null);
            }
            Assert.That(report.Rows[1].WitMax, Is.EqualTo(1.0).Within(1e-9), "bcbp tiles are balanced");
            Assert.That(File.Exists(Path.Combine(dir, "results", "resnet20_synthetic_bcbp_s50", "prune_report.json")));
            Assert.That(Directory.GetFiles(Path.Combine(dir, "results"), "*.safetensors", SearchOption.AllDirectories), Is.Empty);

            // --sparse-eval: each pruning cell converted and compared on its test set (the CPU reference here, so the
            // report shows no kernel speedup); a second call finds the reports and evaluates nothing again.
            Assert.That(SuiteSparseEvaluation.EvaluateFinished(suite.OutputDir, cells, Array.Empty<string>(), null, Console.WriteLine, Console.Error.WriteLine), Is.Zero);
            foreach (var cell in new[] { "resnet20_synthetic_bcbp_s50", "resnet20_synthetic_filter_s50" })
            {
                var eval = JsonNode.Parse(File.ReadAllText(Path.Combine(suite.OutputDir, cell, "sparse_eval.json")))!;
                Assert.That((eval["passed"]!.GetValue<bool>(), eval["samples"]!.GetValue<long>(), eval["device"]!.GetValue<string>()),
                            Is.EqualTo((true, 16L, "cpu")), cell);
            }
            var stamp = File.GetLastWriteTimeUtc(Path.Combine(suite.OutputDir, "resnet20_synthetic_bcbp_s50", "sparse_eval.json"));
            Assert.That(SuiteSparseEvaluation.EvaluateFinished(suite.OutputDir, cells, Array.Empty<string>(), null, Console.WriteLine, Console.Error.WriteLine), Is.Zero);
            Assert.That(File.GetLastWriteTimeUtc(Path.Combine(suite.OutputDir, "resnet20_synthetic_bcbp_s50", "sparse_eval.json")), Is.EqualTo(stamp));
            Assert.That(SuiteReporting.ReportSuite(suitePath, suite, Array.Empty<string>(), false, Array.Empty<string>(), _ => { }).Report.Rows.Select(r => r.Speedup), Is.All.Null,
                        "a CPU evaluation times the reference path, not the kernels");

            var again = new SuiteExecutor(suite, executor, _ => { }).Run(cells, Array.Empty<string>());
            Assert.That(again.Select(o => (o.Status, o.Rerun)), Is.All.EqualTo((CellStatus.Skipped, false)));
        }
        finally { Directory.Delete(dir, true); }
    }
}
