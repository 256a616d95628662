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
            var result = new RunResult { Name = cell.Name, RunDir = runDir, Top1 = 90, Method = cell.Method, ModelFile = "final.safetensors" };
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
        var densModel = Path.Combine(_dir, "resnet20_fmnist_dense", "final.safetensors");
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
        Assert.That(outcomes.Any(o => o.Stale), Is.False);
    }

    [Test]
    public void ChangedOverridesRerunFinishedCellsFromTheStart()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*_bcbp_s50");
        new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, Array.Empty<string>());
        var log = new List<string>();
        var executor = new FakeExecutor();

        var outcomes = new SuiteExecutor(suite, executor, log.Add).Run(cells, new[] { "train.lr=0.5" });

        Assert.That(outcomes.Select(o => (o.Status, o.Stale)), Is.All.EqualTo((CellStatus.Ran, true)));
        Assert.That(executor.Calls.Select(c => c.Resume), Is.EqualTo(Enumerable.Repeat(false, cells.Count)));
        Assert.That(log, Has.Some.Contains("rerunning (its config changed since it finished)"));
        var again = new SuiteExecutor(suite, new FakeExecutor(), _ => { }).Run(cells, new[] { "train.lr=0.5" });
        Assert.That(again.Select(o => o.Status), Is.All.EqualTo(CellStatus.Skipped));
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
