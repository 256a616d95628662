using Bcbp.Models.IO;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Tests.Models;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// Every tensor flavour real torch.save writes: fp32/fp16/bf16/fp64, integer and bool dtypes, transposed and sliced
/// views, two views of one storage, a 0-d and an empty tensor, a Parameter, all inside a {"state_dict": ...,
/// "epoch": 3} wrapper. Written by Debian's torch 1.13 (misc.pt of make_torchvision_fixtures.py, generated per run)
/// and by torch 2.11 (tests/fixtures/torch2.11/torch2_misc.pt, checked in). Expected values are recomputed here.
/// </summary>
[TestFixture("torch1.13")]
[TestFixture("torch2.11")]
public class TorchCheckpointContentTests
{
    private readonly string writer;
    private Dictionary<string, Tensor> sd = null!;

    public TorchCheckpointContentTests(string writer) => this.writer = writer;

    [OneTimeSetUp]
    public void Load()
    {
        ModelTestSupport.InitCpu();
        var path = writer == "torch2.11"
            ? Path.Combine(RepoPaths.FixturesDir, "torch2.11", "torch2_misc.pt")
            : TorchvisionFixtures.WeightsFile("misc.pt");
        sd = StateDictIO.Read(path);
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        foreach (var t in sd?.Values ?? Enumerable.Empty<Tensor>()) t.Dispose();
    }

    private static Tensor Base() => torch.arange(24, ScalarType.Float32).reshape(4, 6) / 4;

    private void AssertEqual(string key, Tensor expected, ScalarType dtype)
    {
        var actual = sd[key];
        Assert.That(actual.dtype, Is.EqualTo(dtype), key);
        Assert.That(actual.shape, Is.EqualTo(expected.shape), key);
        Assert.That(ReferenceData.ExactlyEqual(actual.to(ScalarType.Float64), expected.to(ScalarType.Float64)), Is.True, key);
    }

    [Test]
    public void UnwrapsTheStateDictAndKeepsOrder()
        => Assert.That(sd.Keys, Is.EqualTo(new[] { "f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool",
            "transposed", "sliced", "shared_a", "shared_b", "scalar", "empty", "param" }));

    [Test]
    public void FloatDTypes()
    {
        AssertEqual("f32", Base(), ScalarType.Float32);
        AssertEqual("f16", Base(), ScalarType.Float16);   // multiples of 1/4 up to 5.75 are exact in fp16 and bf16
        AssertEqual("bf16", Base(), ScalarType.BFloat16);
        AssertEqual("f64", Base(), ScalarType.Float64);
    }

    [TestCase("i64", ScalarType.Int64)]
    [TestCase("i32", ScalarType.Int32)]
    [TestCase("i16", ScalarType.Int16)]
    [TestCase("i8", ScalarType.Int8)]
    public void SignedIntegerDTypes(string key, ScalarType dtype)
        => AssertEqual(key, torch.arange(6, ScalarType.Int64) - 3, dtype);

    [Test]
    public void ByteBoolScalarEmptyAndParameter()
    {
        AssertEqual("u8", torch.arange(6, ScalarType.Int64), ScalarType.Byte);
        AssertEqual("bool", torch.tensor(new[] { true, false, true }), ScalarType.Bool);
        AssertEqual("scalar", torch.tensor(7L), ScalarType.Int64);
        AssertEqual("empty", torch.zeros(0, 3), ScalarType.Float32);
        AssertEqual("param", Base()[0], ScalarType.Float32);
    }

    [Test]
    public void StridedViewsAndSharedStorages()
    {
        AssertEqual("transposed", Base().t(), ScalarType.Float32);
        AssertEqual("sliced", Base()[1..3, 2..5], ScalarType.Float32);
        var shared = torch.arange(10, ScalarType.Float32);
        AssertEqual("shared_a", shared[2..6], ScalarType.Float32);
        AssertEqual("shared_b", shared[5..], ScalarType.Float32);
    }
}
