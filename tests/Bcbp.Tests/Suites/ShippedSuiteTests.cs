using Bcbp.Tests.Support;
using Bcbp.Training.Config;
using Bcbp.Training.Suites;


namespace Bcbp.Tests.Suites;

/// <summary>The suites and the paper config shipped in the repository load, expand to the promised grid, and every
/// cell is a valid experiment config.</summary>
public class ShippedSuiteTests
{
    static string Repo(string relative) => Path.Combine(RepoPaths.Root, relative);

    [TestCase("experiments/quick.json", 7, new[] { "bcbp", "block", "filter" }, new[] { 0.5, 0.75 })]
    [TestCase("experiments/fashion_mnist.json", 7, new[] { "bcbp", "filter", "block" }, new[] { 0.5, 0.75 })]
    [TestCase("experiments/paper_cifar10.json", 32, new[] { "bcbp", "block", "filter" }, new[] { 0.5, 0.6, 0.7, 0.8, 0.9 })]
    [TestCase("experiments/paper_imagenet.json", 7, new[] { "bcbp", "block", "filter" }, new[] { 0.5, 0.7 })]
    public void SuiteExpandsAndEveryCellIsAValidConfig(string path, int cellCount, string[] methods, double[] sparsities)
    {
        var suite = SuiteLoader.Load(Repo(path));
        var cells = GridExpander.Expand(suite);
        Assert.That(cells.Count, Is.EqualTo(cellCount));
        Assert.That(suite.Grid.Methods, Is.EqualTo(methods));
        Assert.That(suite.Grid.Sparsities, Is.EqualTo(sparsities));

        foreach (var cell in cells)
        {
            var loaded = CellConfigs.Bind(cell, Array.Empty<string>());
            Assert.That(loaded.Name, Is.EqualTo(cell.Name));
            Assert.That(loaded.Prune?.Method, Is.EqualTo(cell.Method));
            if (!cell.IsDense)
            {
                Assert.That(loaded.Prune!.Sparsity, Is.EqualTo(cell.Sparsity));
                Assert.That(loaded.Prune.Schedule.Kind, Is.EqualTo("cubic"), "the paper's gradual schedule");
                Assert.That(loaded.Prune.Exclude, Is.EqualTo(new[] { "conv1", "fc" }).Or.EqualTo(new[] { "features.0", "classifier.6" }),
                            "first conv and classifier named explicitly (the paper keeps them dense)");
            }
        }
    }

    [Test]
    public void TheMainJobSuiteShowsBalanceAndWritesOnlyUnderRuns()
    {
        var suite = SuiteLoader.Load(Repo("experiments/quick.json"));
        Assert.That(suite.OutputDir, Does.StartWith("runs/"));
        Assert.That(suite.Next, Does.Contain("experiments/fashion_mnist.json").And.Contain("cuda"));
        foreach (var cell in GridExpander.Expand(suite).Where(c => !c.IsDense))
        {
            var prune = CellConfigs.Bind(cell, Array.Empty<string>()).Prune!;
            // ResNet-20's smallest prunable layers have 16 rows: 8-row tiles make two tiles, so WIT measures balance.
            Assert.That(16 / prune.TileRows, Is.GreaterThanOrEqualTo(2), cell.Name);
        }
    }

    [Test]
    public void TheAmpAccuracySuiteCrossesPrecisionWithDenseAndBcbp75OverThreeSeeds()
    {
        var suite = SuiteLoader.Load(Repo("experiments/amp_accuracy.json"));
        var cells = GridExpander.Expand(suite);
        Assert.That(cells, Has.Count.EqualTo(12), "2 precisions x 3 seeds x (dense + bcbp 75%)");
        Assert.That(suite.OutputDir, Does.StartWith("runs/"));
        var bound = cells.ToDictionary(c => c.Name, c => CellConfigs.Bind(c, Array.Empty<string>()));
        foreach (var (precision, amp) in new[] { ("fp32", AmpMode.Off), ("bf16", AmpMode.Bf16) })
        foreach (int seed in new[] { 0, 1, 2 })
        {
            var dense = bound[$"resnet20_{precision}_fmnist_dense_seed{seed}"];
            var pruned = bound[$"resnet20_{precision}_fmnist_bcbp_s75_seed{seed}"];
            Assert.That((dense.Train.Amp, pruned.Train.Amp), Is.EqualTo((amp, amp)), $"{precision} seed {seed}");
            Assert.That((dense.Seed, pruned.Seed), Is.EqualTo((seed, seed)));
            Assert.That((dense.Model.Arch, dense.Data.Dataset, dense.Prune), Is.EqualTo(("resnet20", "fashion_mnist", (PruneConfig?)null)));
            Assert.That((pruned.Prune!.Method, pruned.Prune.Sparsity, pruned.Prune.TileRows), Is.EqualTo(("bcbp", 0.75, 8)), "as quick.json prunes");
            Assert.That(cells.Single(c => c.Name == pruned.Name).DenseCell, Is.EqualTo(dense.Name), "bf16 fine-tunes from a bf16 dense model");
        }
    }

    [Test]
    public void Resnet50BcbpConfigIsThePapersImageNetRun()
    {
        var config = ConfigLoader.Load(Repo("configs/resnet50_bcbp.json"));
        Assert.That((config.Model.Arch, config.Model.NumClasses, config.Data.Dataset), Is.EqualTo(("resnet50", 1000, "image_folder")));
        Assert.That((config.Prune!.Method, config.Prune.Schedule.Kind), Is.EqualTo(("bcbp", "cubic")));
        Assert.That(config.Prune.Exclude, Is.EqualTo(new[] { "conv1", "fc" }));
    }
}
