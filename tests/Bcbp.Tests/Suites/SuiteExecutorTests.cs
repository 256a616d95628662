using Bcbp.Training.Json;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;

namespace Bcbp.Tests.Suites;

public class SuiteExecutorTests
{
    /// <summary>Stands in for the experiment runner: records each call and writes results.json where the runner would.</summary>
    sealed class FakeExecutor : ICellExecutor
    {
        public readonly List<(string Cell, bool Resume, string? Pretrained)> Calls = new();
        public string? FailOn;

        public RunResult Run(SuiteCell cell, string configPath, IReadOnlyList<string> overrides, bool resume)
        {
            var config = JsonFile.ReadObject(configPath);
            Calls.Add((cell.Name, resume, JsonTree.Get(config, "model.pretrained")?.GetValue<string>()));
            if (cell.Name == FailOn) throw new InvalidOperationException("boom");
            var runDir = Path.Combine(JsonTree.Get(config, "output_dir")!.GetValue<string>(), JsonTree.Get(config, "name")!.GetValue<string>());
            Directory.CreateDirectory(runDir);
            var result = new RunResult { Name = cell.Name, RunDir = runDir, Top1 = 90, Method = cell.Method, ModelFile = TrainingRun.ModelFile };
            result.Write(Path.Combine(runDir, RunResult.FileName));
            return result;
        }
    }

    string _dir = "";
    [SetUp] public void SetUp() => _dir = SuiteFixtures.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_dir, true);

    [Test]
    public void RunsDenseFirstAndStartsPruningCellsFromTheDenseModel()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*");
        var executor = new FakeExecutor();

        var outcomes = new SuiteExecutor(suite, executor, _ => { }).Run(cells, Array.Empty<string>());

        Assert.That(outcomes.All(o => o.Status == CellStatus.Ran));
        Assert.That(executor.Calls[0], Is.EqualTo(("resnet20_fmnist_dense", false, (string?)null)));
        var densModel = Path.Combine(_dir, "resnet20_fmnist_dense", TrainingRun.ModelFile);
        Assert.That(executor.Calls.Skip(1).Select(c => c.Pretrained), Is.All.EqualTo(densModel));
        Assert.That(File.Exists(Path.Combine(_dir, "resnet20_fmnist_bcbp_s75", CellInfo.FileName)));
        var info = OutputJson.Read<CellInfo>(Path.Combine(_dir, "resnet20_fmnist_bcbp_s75", CellInfo.FileName));
        Assert.That((info.Model, info.Dataset, info.Method, info.Sparsity), Is.EqualTo(("resnet20", "fmnist", "bcbp", (double?)0.75)));
    }

    [Test]
    public void SecondRunSkipsFinishedCellsAndResumesAStoppedOne()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*");
        new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, Array.Empty<string>());
        // A run killed mid-way: checkpoint written, no results.json.
        var stopped = Path.Combine(_dir, "resnet20_fmnist_block_s50");
        File.Delete(Path.Combine(stopped, RunResult.FileName));
        File.WriteAllText(Path.Combine(stopped, "checkpoint.bin"), "state");

        var executor = new FakeExecutor();
        var outcomes = new SuiteExecutor(suite, executor, _ => { }).Run(cells, Array.Empty<string>());

        Assert.That(executor.Calls.Select(c => (c.Cell, c.Resume)), Is.EqualTo(new[] { ("resnet20_fmnist_block_s50", true) }));
        Assert.That(outcomes.Count(o => o.Status == CellStatus.Skipped), Is.EqualTo(4));
        Assert.That(outcomes.Any(o => o.Rerun), Is.False);
    }

    [Test]
    public void ChangedOverridesRerunStaleCellsAndKeepTheOldRunsAside()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*_bcbp_s50");
        new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, Array.Empty<string>());
        var plan = SuitePlan.Of(suite, cells, new[] { "train.lr=0.5" });
        Assert.That(plan.Select(p => (p.Stale, p.Describe())), Is.All.EqualTo((true, "STALE: finished with another config; reruns")));
        var log = new List<string>();
        var executor = new FakeExecutor();

        var outcomes = new SuiteExecutor(suite, executor, log.Add).Run(cells, new[] { "train.lr=0.5" });

        Assert.That(outcomes.Select(o => (o.Status, o.Rerun)), Is.All.EqualTo((CellStatus.Ran, true)));
        Assert.That(executor.Calls.Select(c => c.Cell), Is.EqualTo(cells.Select(c => c.Name)));
        Assert.That(log, Has.Some.Contains("STALE"));
        var superseded = Path.Combine(_dir, SuiteExecutor.SupersededDir);
        Assert.That(Directory.GetDirectories(superseded).Select(Path.GetFileName).Order(),
                    Is.EqualTo(new[] { "resnet20_fmnist_bcbp_s50.1", "resnet20_fmnist_dense.1" }), "the old runs are kept, not overwritten");
        Assert.That(SuitePlan.Of(suite, cells, new[] { "train.lr=0.5" }).Select(p => p.IsCurrent), Is.All.True);
    }

    [Test]
    public void ARerunDenseCellMakesItsPruningCellsStaleToo()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*");
        new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, Array.Empty<string>());
        // Only the dense section changes: the pruning cells' own configs are the same, but their dense model is not.
        var json = SuiteFixtures.SuiteJson(_dir);
        json["dense"]!["train"]!["epochs"] = 4;
        var changed = SuiteLoader.Parse(json, _dir, "test suite");

        var plan = SuitePlan.Of(changed, GridExpander.Select(GridExpander.Expand(changed), "resnet20_*"), Array.Empty<string>());

        Assert.That(plan.Select(p => p.Stale), Is.All.True);
        Assert.That(plan.Where(p => !p.Cell.IsDense).Select(p => p.DenseStamp), Is.All.EqualTo(plan[0].Stamp));
    }

    [Test]
    public void FinishedFolderWithoutSuiteCellInfoIsStaleAndAStoppedRunOfAnotherConfigRestarts()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*_bcbp_s50");
        new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, Array.Empty<string>());
        File.Delete(Path.Combine(_dir, "resnet20_fmnist_dense", CellInfo.FileName)); // e.g. a hand-run `train` in the folder
        var stopped = Path.Combine(_dir, "resnet20_fmnist_bcbp_s50");
        File.Delete(Path.Combine(stopped, RunResult.FileName));
        File.WriteAllText(Path.Combine(stopped, "checkpoint.bin"), "state");
        var info = OutputJson.Read<CellInfo>(Path.Combine(stopped, CellInfo.FileName));
        OutputJson.Write(Path.Combine(stopped, CellInfo.FileName), info with { ConfigStamp = "another" });

        var plan = SuitePlan.Of(suite, cells, Array.Empty<string>());
        Assert.That(plan.Select(p => p.Describe()), Is.EqualTo(new[]
            { "STALE: finished with another config; reruns", "STALE: stopped with another config; restarts" }));
        var executor = new FakeExecutor();
        new SuiteExecutor(suite, executor, _ => { }).Run(plan);

        Assert.That(executor.Calls.Select(c => (c.Cell, c.Resume)), Is.EqualTo(new[] { ("resnet20_fmnist_dense", false), ("resnet20_fmnist_bcbp_s50", false) }));
    }

    [Test]
    public void CellsStampedByEarlierVersionsStayCurrentWhileTheirDenseCellIs()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*_bcbp_s50");
        new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, Array.Empty<string>());
        // Before dense stamps existed, a pruning cell's stamp hashed its config and overrides only.
        var planned = SuitePlan.Of(suite, cells, Array.Empty<string>())[1];
        var path = Path.Combine(planned.RunDir, CellInfo.FileName);
        var legacy = OutputJson.Read<CellInfo>(path) with { ConfigStamp = SuitePlan.Stamp(planned.Config, planned.Overrides, null), DenseStamp = null };
        OutputJson.Write(path, legacy);

        Assert.That(SuitePlan.Of(suite, cells, Array.Empty<string>()).Select(p => p.IsCurrent), Is.All.True);
        // Once the dense cell changes, the old stamp no longer vouches for the cell.
        Assert.That(SuitePlan.Of(suite, cells, new[] { "train.lr=0.3" })[1].Stale, Is.True);
    }

    [Test]
    public void SeedsAxisRepeatsEveryCellWithItsOwnDenseModel()
    {
        var json = SuiteFixtures.SuiteJson(_dir);
        json["grid"]!["seeds"] = new System.Text.Json.Nodes.JsonArray(0, 1);
        json["grid"]!["models"] = new System.Text.Json.Nodes.JsonArray("resnet20");
        var suite = SuiteLoader.Parse(json, _dir, "test suite");
        var cells = GridExpander.Select(GridExpander.Expand(suite), "*_bcbp_s50_*");
        Assert.That(cells.Select(c => (c.Name, c.Seed, JsonTree.Get(c.Config, "seed")!.GetValue<int>())), Is.EqualTo(new[]
        {
            ("resnet20_fmnist_dense_seed0", (int?)0, 0), ("resnet20_fmnist_bcbp_s50_seed0", 0, 0),
            ("resnet20_fmnist_dense_seed1", 1, 1), ("resnet20_fmnist_bcbp_s50_seed1", 1, 1),
        }));
        var executor = new FakeExecutor();
        new SuiteExecutor(suite, executor, _ => { }).Run(cells, Array.Empty<string>());
        Assert.That(executor.Calls.Where(c => c.Cell.StartsWith("resnet20_fmnist_bcbp")).Select(c => Path.GetFileName(Path.GetDirectoryName(c.Pretrained))),
                    Is.EqualTo(new[] { "resnet20_fmnist_dense_seed0", "resnet20_fmnist_dense_seed1" }));
    }

    [Test]
    public void FailedDenseCellBlocksItsPruningCellsOnly()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var executor = new FakeExecutor { FailOn = "r32_fmnist_dense" };

        var outcomes = new SuiteExecutor(suite, executor, _ => { }).Run(GridExpander.Expand(suite), Array.Empty<string>());

        Assert.That(outcomes.Where(o => o.Cell.Model == "resnet20").Select(o => o.Status), Is.All.EqualTo(CellStatus.Ran));
        Assert.That(outcomes.Single(o => o.Cell.Name == "r32_fmnist_dense").Error, Does.Contain("boom"));
        Assert.That(outcomes.Where(o => o.Cell.Model == "r32" && !o.Cell.IsDense).Select(o => o.Status), Is.All.EqualTo(CellStatus.Blocked));
        Assert.That(executor.Calls.Count, Is.EqualTo(6), "blocked cells are not started");
    }
}
