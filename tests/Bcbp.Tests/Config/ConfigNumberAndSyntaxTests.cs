using Bcbp.Training.Backend;
using Bcbp.Training.Config;

namespace Bcbp.Tests.Config;

/// <summary>Non-finite and out-of-range numbers, syntax errors and a folder given as the config are each named with
/// their key, line and column, or path.</summary>
public class ConfigNumberAndSyntaxTests
{
    string _dir = "";

    [SetUp] public void SetUp() => _dir = Directory.CreateTempSubdirectory("bcbp-config-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(_dir, recursive: true);

    string Write(string name, string text) { var p = Path.Combine(_dir, name); File.WriteAllText(p, text); return p; }

    [TestCase("train.lr=1e400", "train.lr: expected a finite number, got '1e400' (infinite)")]
    [TestCase("train.momentum=Infinity", "train.momentum: expected a finite number, got 'Infinity' (infinite)")]
    [TestCase("train.weight_decay=NaN", "train.weight_decay: expected a finite number, got 'NaN' (not a number)")]
    [TestCase("train.epochs=99999999999", "train.epochs: expected an integer, got '99999999999', out of range (at most 2147483647)")]
    public void NonFiniteAndOutOfRangeNumbersNameTheirKey(string set, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Write("c.json", "{}"), new[] { set }, _dir))!;
        Assert.That(e.Errors, Does.Contain(expected));
    }

    [Test]
    public void YamlInfinityAndNanNameTheirKey()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Write("c.yaml", "train:\n  lr: .inf\n  weight_decay: .nan\n"), null, _dir))!;
        Assert.That(e.Errors, Does.Contain("train.lr: expected a finite number, got '.inf' (infinite)"));
        Assert.That(e.Errors, Does.Contain("train.weight_decay: expected a finite number, got '.nan' (not a number)"));
    }

    [Test]
    public void NonFiniteNumberInTheFileNamesItsKey()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Write("c.json", "{\"train\": {\"lr\": 1e400}}"), null, _dir))!;
        Assert.That(e.Errors, Does.Contain("train.lr: expected a finite number, got '1e400' (infinite)"));
    }

    [TestCase("c.json", "{\"name\": \"x\",\n \"train\": {\"epochs\": 3,,}}", "not valid JSON: line 2, column 24:")]
    [TestCase("c.yaml", "name: x\ntrain:\n  epochs: [1\n  lr: 2\n", "not valid YAML: line 3, column 11:")]
    [TestCase("c.yml", "name: x\n  train: 3\n", "not valid YAML: line 2, column 8:")]
    public void SyntaxErrorsCarryLineAndColumn(string file, string text, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ConfigLoader.Load(Write(file, text), null, _dir))!;
        Assert.That(e.Message, Does.Contain(expected).And.Contain(file));
    }

    [Test]
    public void AFolderGivenAsTheConfigIsNamedWithItsFiles()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "configs_here")).FullName;
        File.WriteAllText(Path.Combine(folder, "a.json"), "{}");
        var e = Assert.Throws<ArgumentException>(() => ConfigLoader.Load("configs_here", null, _dir))!;
        Assert.That(e.Message, Does.Contain("is a folder").And.Contain("a.json"));
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(10000)]
    public void ThreadCountsOutsideTheMachineAreRefused(int threads)
        => Assert.That(Assert.Throws<ArgumentException>(() => TorchBackend.CheckCpuThreads(threads))!.Message,
            Does.Contain("--threads must be between 1 and").And.Contain($"got {threads}"));

    [Test]
    public void ThreadCountsWithinTheMachineAndNoneAreAccepted()
    {
        Assert.DoesNotThrow(() => TorchBackend.CheckCpuThreads(null));
        Assert.DoesNotThrow(() => TorchBackend.CheckCpuThreads(1));
        Assert.DoesNotThrow(() => TorchBackend.CheckCpuThreads(TorchBackend.MaxCpuThreads));
    }
}
