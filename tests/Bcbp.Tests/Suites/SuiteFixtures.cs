using System.Text.Json.Nodes;
using Bcbp.Training.Costs;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;

namespace Bcbp.Tests.Suites;

/// <summary>Small suites and run folders the experiment tests share.</summary>
static class SuiteFixtures
{
    /// <summary>Two models x one dataset x two methods x two sparsities, with a block override.</summary>
    public static JsonObject SuiteJson(string outputDir) => JsonNode.Parse($$"""
        {
          "name": "tiny",
          "output_dir": {{System.Text.Json.JsonSerializer.Serialize(outputDir)}},
          "base": { "seed": 1, "model": { "arch": "resnet20", "in_channels": 1 }, "data": { "dataset": "fashion_mnist" },
                    "train": { "epochs": 9, "lr": 0.1 }, "prune": { "tile_rows": 16, "exclude": ["conv1", "fc"] } },
          "dense": { "train": { "epochs": 3 } },
          "finetune": { "train": { "lr": 0.01 }, "prune": { "finetune_epochs": 2, "schedule": { "kind": "cubic", "end_epoch": 1 } } },
          "grid": {
            "models": [ "resnet20", { "name": "r32", "config": { "model": { "arch": "resnet32" } } } ],
            "datasets": [ { "name": "fmnist", "config": { "data": { "num_train": 1000 } } } ],
            "methods": [ "bcbp", "block" ],
            "sparsities": [ 0.5, 0.75 ]
          },
          "method_overrides": { "block": { "prune": { "block_rows": 4 } } }
        }
        """)!.AsObject();

    public static SuiteDefinition Suite(string outputDir) => SuiteLoader.Parse(SuiteJson(outputDir), outputDir, "test suite");

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "bcbp-exp-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Writes a run folder as the runner would: results.json (+ suite_cell.json, cost.json).</summary>
    public static void WriteRun(string dir, string cell, string model, string dataset, string? method, double? sparsity,
                                double top1, double? achieved = null, long macs = 1000, long keptMacs = 1000, double? wit = null,
                                string stamp = "x", string? denseCell = null, string? denseStamp = null, double? denseTop1 = null,
                                int? seed = null, long? testSamples = null)
    {
        var runDir = Path.Combine(dir, cell);
        Directory.CreateDirectory(runDir);
        new RunResult
        {
            Name = cell, RunDir = runDir, Top1 = top1, Top5 = 99, Method = method, TargetSparsity = sparsity,
            AchievedSparsity = achieved ?? sparsity, DenseTop1 = denseTop1, TestSamples = testSamples, Device = "cpu", Machine = "testbox", Commit = "abcdef1234567890",
            ConfigHash = "f00d" + cell.Length, TrainSeconds = 120, FinishedUtc = new DateTime(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc),
        }.Write(Path.Combine(runDir, RunResult.FileName));
        OutputJson.Write(Path.Combine(runDir, CellInfo.FileName), new CellInfo
        {
            Suite = "tiny", Cell = cell, Model = model, Dataset = dataset, Method = method, Sparsity = sparsity, ConfigStamp = stamp,
            DenseCell = denseCell, DenseStamp = denseStamp, Seed = seed,
        });
        OutputJson.Write(Path.Combine(runDir, ModelCost.FileName), new ModelCost
        {
            InputShape = new long[] { 1, 28, 28 },
            Layers = new[]
            {
                new LayerCost { Name = "conv", Kind = "conv2d", WeightShape = new long[] { 10, 1, 1, 10 }, OutputPositions = macs / 100,
                                Weights = 100, KeptWeights = keptMacs / (macs / 100), Bias = 0 },
            },
        });
        if (method is not null)
            File.WriteAllText(Path.Combine(runDir, "config.json"),
                              $$"""{ "prune": { "method": "{{method}}", "tile_rows": 16, "tile_cols": 0, "block_rows": 4, "block_cols": 4 } }""");
        if (wit is { } w)
            File.WriteAllText(Path.Combine(runDir, "prune_report.json"),
                              $$"""{ "method": "{{method}}", "layers": [ { "name": "a", "wit": 1.0 }, { "name": "b", "wit": {{w.ToString(System.Globalization.CultureInfo.InvariantCulture)}} } ] }""");
    }
}
