using Bcbp.Training.Suites;


namespace Bcbp.Tests.Suites;

public class CellConfigsTests
{
    [Test]
    public void OverridesReachTheTypedConfig()
    {
        var cell = GridExpander.Expand(SuiteFixtures.Suite("runs/tiny")).Single(c => c.Name == "resnet20_fmnist_block_s75");
        var config = CellConfigs.Bind(cell, new[] { "prune.finetune_epochs=7", "data.num_train=500" });
        Assert.That((config.Prune!.FinetuneEpochs, config.Data.NumTrain, config.Prune.BlockRows, config.Train.Epochs), Is.EqualTo((7, 500, 4, 0)));
    }

    [Test]
    public void PruneOverridesSkipDenseCells()
    {
        var cells = GridExpander.Expand(SuiteFixtures.Suite("runs/tiny"));
        var sets = new[] { "prune.finetune_epochs=7", "train.lr=0.3" };
        var dense = CellConfigs.Bind(cells.First(c => c.IsDense), sets);
        var pruned = CellConfigs.Bind(cells.First(c => !c.IsDense), sets);
        Assert.That((dense.Prune, dense.Train.Lr), Is.EqualTo(((Bcbp.Training.Config.PruneConfig?)null, 0.3)));
        Assert.That((pruned.Prune!.FinetuneEpochs, pruned.Train.Lr), Is.EqualTo((7, 0.3)));
    }

    [Test]
    public void InvalidCellsAreAllReportedBeforeAnythingRuns()
    {
        var json = SuiteFixtures.SuiteJson("runs/tiny");
        json["grid"]!["methods"] = new System.Text.Json.Nodes.JsonArray("bcbp", "bogus");
        json.Remove("method_overrides");
        var cells = GridExpander.Expand(SuiteLoader.Parse(json, ".", "test"));

        var e = Assert.Throws<InvalidDataException>(() => CellConfigs.ValidateAll(cells, Array.Empty<string>()))!;
        Assert.That(e.Message, Does.StartWith("4 suite cell(s) have invalid configs"));
        Assert.That(e.Message, Does.Contain("suite cell 'r32_fmnist_bogus_s75'"));
        Assert.That(e.Message, Does.Contain("bogus"));
        Assert.That(e.Message, Does.Not.Contain("resnet20_fmnist_bcbp"));
    }
}
