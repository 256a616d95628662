using System.Collections.Concurrent;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;

namespace Bcbp.Tests.Suites;

/// <summary><c>suite --shard I/N</c> (array jobs over a shared output folder) and <c>--gpus G</c> (G cells at once).</summary>
public class SuiteShardTests
{
    /// <summary>Thread-safe stand-in for the runner: records when each cell starts and ends, writes results.json.</summary>
    sealed class RecordingExecutor : ICellExecutor
    {
        public readonly ConcurrentQueue<(string Event, string Cell, string? Pretrained)> Events = new();
        int _running;
        public int MostAtOnce;
        /// <summary>Pruning cells not yet started (set by the test that counts concurrency; else 0: no waiting).</summary>
        public int PruningCellsToStart;

        public RunResult Run(SuiteCell cell, string configPath, IReadOnlyList<string> overrides, bool resume)
        {
            var config = JsonFile.ReadObject(configPath);
            Events.Enqueue(("start", cell.Name, JsonTree.Get(config, "model.pretrained")?.GetValue<string>()));
            int now = Interlocked.Increment(ref _running);
            lock (Events) MostAtOnce = Math.Max(MostAtOnce, now);
            // A pruning cell stays until another cell runs beside it (or no other is left to start): concurrency is then
            // observed however busy the machine is, instead of hoping a sleep is long enough. A serial executor never
            // gets a second cell, and the wait ends after 10 s.
            if (!cell.IsDense)
            {
                int left = Interlocked.Decrement(ref PruningCellsToStart);
                SpinWait.SpinUntil(() => Volatile.Read(ref _running) >= 2 || Volatile.Read(ref PruningCellsToStart) <= 0 && left <= 0, 10_000);
            }
            var runDir = Path.Combine(JsonTree.Get(config, "output_dir")!.GetValue<string>(), JsonTree.Get(config, "name")!.GetValue<string>());
            Directory.CreateDirectory(runDir);
            var result = new RunResult { Name = cell.Name, RunDir = runDir, Top1 = 90, Method = cell.Method, ModelFile = TrainingRun.ModelFile };
            result.Write(Path.Combine(runDir, RunResult.FileName));
            Interlocked.Decrement(ref _running);
            Events.Enqueue(("end", cell.Name, null));
            return result;
        }
    }

    string _dir = "";
    [SetUp] public void SetUp() => _dir = SuiteFixtures.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_dir, true);

    [Test]
    public void ShardsSplitTheCellsAndWaitForTheDenseModelOfAnother()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Select(GridExpander.Expand(suite), "resnet20_*");
        var plan = SuitePlan.Of(suite, cells, Array.Empty<string>());
        Assert.That(plan[0].Cell.IsDense && plan.Count >= 3, "the fixture's first cell is the dense one");
        var executors = new[] { new RecordingExecutor(), new RecordingExecutor() };
        var logs = new[] { new List<string>(), new List<string>() };
        // Shard 1 starts first and has to wait for shard 0's dense model.
        var shards = Enumerable.Range(0, 2).Reverse().Select(i => new Thread(() =>
        {
            var shard = new SuiteShard(i, 2) { Poll = TimeSpan.FromMilliseconds(20) };
            new SuiteExecutor(suite, executors[i], logs[i].Add, shard).Run(SuitePlan.Of(suite, cells, Array.Empty<string>()));
        })).ToList();
        shards.ForEach(t => t.Start());
        shards.ForEach(t => t.Join());

        var ran = executors.SelectMany(e => e.Events.Where(x => x.Event == "start").Select(x => x.Cell)).ToList();
        Assert.That(ran.Order(), Is.EqualTo(plan.Select(p => p.Cell.Name).Order()), "every cell ran once, by one shard");
        Assert.That(executors[0].Events.Where(x => x.Event == "start").Select(x => x.Cell), Is.EqualTo(plan.Where((_, i) => i % 2 == 0).Select(p => p.Cell.Name)));
        Assert.That(logs[1], Has.Some.Contains($"waiting for dense cell {plan[0].Cell.Name} (shard 0/2)"));
        string denseModel = Path.Combine(_dir, plan[0].Cell.Name, TrainingRun.ModelFile);
        Assert.That(executors[1].Events.Where(x => x.Event == "start").Select(x => x.Pretrained), Is.All.EqualTo(denseModel));
        // Run again: every shard finds its cells finished.
        var again = new SuiteExecutor(suite, new RecordingExecutor(), _ => { }, new SuiteShard(1, 2)).Run(SuitePlan.Of(suite, cells, Array.Empty<string>()));
        Assert.That(again.Select(o => o.Status), Is.All.EqualTo(CellStatus.Skipped));
    }

    [Test]
    public void GpusRunCellsAtOnceButNeverAPruningCellBeforeItsDenseModel()
    {
        var suite = SuiteFixtures.Suite(_dir);
        var cells = GridExpander.Expand(suite);
        var executor = new RecordingExecutor { PruningCellsToStart = cells.Count(c => !c.IsDense) };
        var outcomes = new SuiteExecutor(suite, executor, _ => { }, new SuiteShard(Parallel: 3)).Run(cells, Array.Empty<string>());
        Assert.That(outcomes.Select(o => o.Status), Is.All.EqualTo(CellStatus.Ran));
        Assert.That(executor.MostAtOnce, Is.InRange(2, 3));
        var events = executor.Events.ToList();
        foreach (var cell in cells.Where(c => !c.IsDense))
            Assert.That(events.FindIndex(e => e == ("end", cell.DenseCell!, null)), Is.LessThan(events.FindIndex(e => e.Event == "start" && e.Cell == cell.Name)),
                $"{cell.Name} started after {cell.DenseCell} ended");
    }

    [Test]
    public void ShardIsParsedAsIOverN()
    {
        Assert.That(SuiteShard.Parse("3/4"), Is.EqualTo((3, 4)));
        foreach (var bad in new[] { "4/4", "1", "-1/2", "a/b", "0/0" })
            Assert.That(Assert.Throws<ArgumentException>(() => SuiteShard.Parse(bad))!.Message, Does.StartWith("--shard expects I/N"), bad);
    }
}
