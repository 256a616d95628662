using Bcbp.Models.IO;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Tests.Models;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// Checkpoints written by PyTorch 2.11 (checked in under tests/fixtures/torch2.11, see make_torch2_fixtures.py there)
/// load by name, plain or wrapped with optimizer state, and the hostile one is refused. Needs no Python.
/// </summary>
public class Torch2CheckpointTests
{
    private static string Fixture(string name) => Path.Combine(RepoPaths.FixturesDir, "torch2.11", name);

    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    [Test]
    public void PlainAndWrappedStateDictsLoadIntoTheSameModule()
    {
        using var plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4));
        using var wrapped = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4));
        Assert.That(StateDictIO.Load(plain, Fixture("torch2_plain.pt")).Loaded, Has.Count.EqualTo(7));
        Assert.That(StateDictIO.Load(wrapped, Fixture("torch2_wrapped.pt")).IsExact);
        var a = plain.state_dict();
        foreach (var (k, v) in wrapped.state_dict()) Assert.That(ReferenceData.ExactlyEqual(v, a[k]), Is.True, k);
        Assert.That(a["1.num_batches_tracked"].dtype, Is.EqualTo(ScalarType.Int64));
    }

    [Test]
    public void HostileCheckpointIsRefused()
        => Assert.That(Assert.Throws<InvalidDataException>(() => StateDictIO.Read(Fixture("torch2_hostile.pt")))!.Message,
            Does.Contain("'posix.system'").And.Contain("whitelist"));
}
