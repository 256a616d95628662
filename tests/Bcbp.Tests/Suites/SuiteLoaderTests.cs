using Bcbp.Training.Json;
using Bcbp.Training.Suites;


namespace Bcbp.Tests.Suites;

public class SuiteLoaderTests
{
    [Test]
    public void ReportsEveryProblemWithItsKey()
    {
        var json = SuiteFixtures.SuiteJson("runs/x");
        json["grid"]!["sparsities"] = new System.Text.Json.Nodes.JsonArray(0.5, 1.0);
        json["grid"]!["methods"] = new System.Text.Json.Nodes.JsonArray("bcbp", "block", "dense");
        json["grids"] = 1;
        json["method_overrides"]!["filter"] = new System.Text.Json.Nodes.JsonObject();

        var e = Assert.Throws<InvalidDataException>(() => SuiteLoader.Parse(json, ".", "suite 'x.json'"))!;
        Assert.That(e.Message, Does.Contain("suite 'x.json' has 4 problem(s)"));
        Assert.That(e.Message, Does.Contain("grid.sparsities[1]: 1 is outside [0, 1)"));
        Assert.That(e.Message, Does.Contain("grid.methods[2]: 'dense' is not a pruning method"));
        Assert.That(e.Message, Does.Contain("grids: unknown key"));
        Assert.That(e.Message, Does.Contain("method_overrides.filter: 'filter' is not in grid.methods"));
    }

    [Test]
    public void YamlSuiteEqualsJsonSuite()
    {
        var dir = SuiteFixtures.TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "s.yaml"), """
                name: tiny
                output_dir: runs/y
                base:
                  seed: 1
                  model: { arch: resnet20, in_channels: 1 }
                  train: { epochs: 9, lr: 0.1 }
                grid:
                  models: [resnet20]
                  datasets: [fashion_mnist]
                  methods: [bcbp, filter]
                  sparsities: [0.5, 0.75]
                """);
            var suite = SuiteLoader.Load(Path.Combine(dir, "s.yaml"));
            var cells = GridExpander.Expand(suite);
            Assert.That(cells.Count, Is.EqualTo(5));
            Assert.That(suite.Grid.Sparsities, Is.EqualTo(new[] { 0.5, 0.75 }));
            Assert.That(JsonTree.Get(cells[0].Config, "train.lr")!.GetValue<double>(), Is.EqualTo(0.1));
            Assert.That(JsonTree.Get(cells[0].Config, "data.dataset")!.GetValue<string>(), Is.EqualTo("fashion_mnist"));
            Assert.That(suite.ResultsDir, Is.EqualTo(Path.Combine("experiments", "results", "tiny")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void MissingFileNamesThePath()
        => Assert.That(() => SuiteLoader.Load("/nonexistent/suite.json"), Throws.TypeOf<FileNotFoundException>().With.Message.Contains("/nonexistent/suite.json"));
}
