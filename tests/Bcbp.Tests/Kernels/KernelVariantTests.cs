using Bcbp.Kernels.Interop;

namespace Bcbp.Tests.Kernels;

/// <summary>The kernel variant list a GPU run leaves in its kernel cache (<c>bcbp kernels --compile</c> reads it): one
/// line per compiled variant, each once; a malformed line is named by file and line and skipped.</summary>
public class KernelVariantTests
{
    string _dir = "";

    [SetUp] public void Setup() => _dir = Directory.CreateTempSubdirectory("bcbp-variants").FullName;
    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void ALineRoundTripsAndTheDefinesOrderCounts()
    {
        var v = new KernelVariant("gather_gemm_sm90.cu", "a", new[] { "TR=64", "NC=64", "RES=1" });
        Assert.That(v.Line, Is.EqualTo("gather_gemm_sm90.cu\ta\tTR=64 NC=64 RES=1"));
        Assert.That(KernelVariant.Parse(v.Line, "x:1"), Is.EqualTo(v));
        Assert.That(KernelVariant.Parse("plan_ops.cu\t\tBF16=0", "x:1"), Is.EqualTo(new KernelVariant("plan_ops.cu", "", new[] { "BF16=0" })));
        Assert.That(new KernelVariant("a.cu", "", new[] { "X=1", "Y=2" }), Is.Not.EqualTo(new KernelVariant("a.cu", "", new[] { "Y=2", "X=1" })),
            "the options' order is part of the cubin's hash");
    }

    [TestCase("gather_gemm.cu BM=64")] [TestCase("gather_gemm.txt\t\tBM=64")] [TestCase("gather_gemm.cu\tb\tBM=64")] [TestCase("gather_gemm.cu\t\tBM")]
    public void AMalformedLineIsRefusedWithItsPlaceAndTheListGoesOn(string line)
    {
        Assert.That(() => KernelVariant.Parse(line, "list:7"), Throws.TypeOf<FormatException>().With.Message.StartsWith("list:7: "));
        string path = Path.Combine(_dir, "variants.txt");
        File.WriteAllLines(path, new[] { "plan_ops.cu\t\tBF16=0", line, "splitk_reduce.cu\t\tBF16=1" });
        var (variants, skipped) = KernelVariant.ReadAll(path);
        Assert.That(variants.Select(v => v.File), Is.EqualTo(new[] { "plan_ops.cu", "splitk_reduce.cu" }));
        Assert.That(skipped, Has.Count.EqualTo(1));
        Assert.That(skipped[0], Does.StartWith($"{path}:2: "));
    }

    [Test]
    public void RecordingListsEachVariantOnceAndTheListReadsBack()
    {
        var a = new KernelVariant("gather_gemm.cu", "", new[] { "BM=64", "BN=128" });
        var b = new KernelVariant("splitk_reduce.cu", "", new[] { "BF16=1" });
        KernelCache.Record(a, _dir);
        KernelCache.Record(b, _dir);
        KernelCache.Record(a, _dir);
        string path = Path.Combine(_dir, KernelCache.VariantsFile);
        File.AppendAllText(path, "\n" + a.Line + "\n");   // another process's duplicate and a blank line
        Assert.That(File.ReadAllLines(path).Count(l => l == a.Line), Is.EqualTo(2));
        Assert.That(KernelVariant.ReadAll(path).Variants, Is.EqualTo(new[] { a, b }));
    }

    [Test]
    public void AMissingListSaysWhereItComesFrom()
    {
        var e = Assert.Throws<FileNotFoundException>(() => KernelVariant.ReadAll(Path.Combine(_dir, "none.txt")));
        Assert.That(e!.Message, Does.Contain("variants.txt in the kernel cache folder"));
    }
}
