using System.Text.Json.Nodes;
using Bcbp.Training.Json;
using Bcbp.Training.Suites;

namespace Bcbp.Tests.Suites;

public class GridExpanderTests
{
    [Test]
    public void ExpandsDenseFirstThenEveryMethodAndSparsityPerModelAndDataset()
    {
        var cells = GridExpander.Expand(SuiteFixtures.Suite("runs/tiny"));

        Assert.That(cells.Select(c => c.Name), Is.EqualTo(new[]
        {
            "resnet20_fmnist_dense", "resnet20_fmnist_bcbp_s50", "resnet20_fmnist_bcbp_s75", "resnet20_fmnist_block_s50", "resnet20_fmnist_block_s75",
            "r32_fmnist_dense", "r32_fmnist_bcbp_s50", "r32_fmnist_bcbp_s75", "r32_fmnist_block_s50", "r32_fmnist_block_s75",
        }));
        Assert.That(cells.Where(c => !c.IsDense).Select(c => c.DenseCell).Distinct(), Is.EqualTo(new[] { "resnet20_fmnist_dense", "r32_fmnist_dense" }));
    }

    [Test]
    public void DenseCellTrainsWithoutPruningAndPruningCellOnlyFineTunes()
    {
        var cells = GridExpander.Expand(SuiteFixtures.Suite("runs/tiny"));
        var dense = cells.Single(c => c.Name == "r32_fmnist_dense").Config;
        var block = cells.Single(c => c.Name == "r32_fmnist_block_s75").Config;
        var bcbp = cells.Single(c => c.Name == "r32_fmnist_bcbp_s50").Config;

        Assert.Multiple(() =>
        {
            Assert.That(dense["prune"], Is.Null);
            Assert.That(JsonTree.Get(dense, "train.epochs")!.GetValue<int>(), Is.EqualTo(3));
            Assert.That(JsonTree.Get(dense, "model.arch")!.GetValue<string>(), Is.EqualTo("resnet32"));
            Assert.That(JsonTree.Get(dense, "data.num_train")!.GetValue<int>(), Is.EqualTo(1000));
            Assert.That(JsonTree.Get(dense, "name")!.GetValue<string>(), Is.EqualTo("r32_fmnist_dense"));
            Assert.That(JsonTree.Get(dense, "output_dir")!.GetValue<string>(), Is.EqualTo("runs/tiny"));

            Assert.That(JsonTree.Get(block, "train.epochs")!.GetValue<int>(), Is.EqualTo(0));
            Assert.That(JsonTree.Get(block, "train.lr")!.GetValue<double>(), Is.EqualTo(0.01));
            Assert.That(JsonTree.Get(block, "prune.method")!.GetValue<string>(), Is.EqualTo("block"));
            Assert.That(JsonTree.Get(block, "prune.sparsity")!.GetValue<double>(), Is.EqualTo(0.75));
            Assert.That(JsonTree.Get(block, "prune.block_rows")!.GetValue<int>(), Is.EqualTo(4));
            Assert.That(JsonTree.Get(block, "prune.tile_rows")!.GetValue<int>(), Is.EqualTo(16), "base prune keys survive the merge");
            Assert.That(JsonTree.Get(block, "prune.schedule.kind")!.GetValue<string>(), Is.EqualTo("cubic"));
            Assert.That(JsonTree.Get(bcbp, "prune.block_rows"), Is.Null, "method overrides apply to their method only");
            Assert.That(JsonTree.Get(bcbp, "model.pretrained"), Is.Null, "set by the runner from the dense run's result");
        });
    }

    [Test]
    public void TileAxisWithSeveralValuesNamesCellsByTile()
    {
        var json = SuiteFixtures.SuiteJson("runs/tiny");
        json["grid"]!["tile_rows"] = new JsonArray(16, 32);
        json["grid"]!["models"] = new JsonArray("resnet20");
        json["grid"]!["methods"] = new JsonArray("bcbp");
        json.Remove("method_overrides");
        var cells = GridExpander.Expand(SuiteLoader.Parse(json, ".", "test"));

        Assert.That(cells.Select(c => c.Name), Is.EqualTo(new[]
        {
            "resnet20_fmnist_dense", "resnet20_fmnist_bcbp_s50_t16", "resnet20_fmnist_bcbp_s50_t32", "resnet20_fmnist_bcbp_s75_t16", "resnet20_fmnist_bcbp_s75_t32",
        }));
        Assert.That(JsonTree.Get(cells[2].Config, "prune.tile_rows")!.GetValue<int>(), Is.EqualTo(32));
    }

    [Test]
    public void OnlyPatternKeepsMatchingCellsAndTheirDenseCell()
    {
        var cells = GridExpander.Expand(SuiteFixtures.Suite("runs/tiny"));
        var chosen = GridExpander.Select(cells, "r32_*_bcbp_s75");
        Assert.That(chosen.Select(c => c.Name), Is.EqualTo(new[] { "r32_fmnist_dense", "r32_fmnist_bcbp_s75" }));
        Assert.That(() => GridExpander.Select(cells, "vgg*"), Throws.ArgumentException.With.Message.Contains("matches no cell"));
    }

    [Test]
    public void SparsityNamesKeepFractionalPercent()
        => Assert.That(GridExpander.PruneCellName("m", "d", "bcbp", 0.875, null), Is.EqualTo("m_d_bcbp_s87.5"));
}
