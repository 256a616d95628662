using System.IO.Compression;
using System.Text;
using Bcbp.Models;
using Bcbp.Models.IO;

using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// The weight readers' own allocation account (<see cref="ReadBudget"/>): files that declare more data than they hold
/// (overflowing counts, deflate bombs, many copies of one storage, overlapping safetensors ranges) are refused before
/// allocating, a valid file stays within its budget, and names and shapes are checked before any storage is read.
/// </summary>
public class ReadBudgetTests : TempDirectoryTest
{
    private string PathOf(string name) => Path.Combine(Dir, name);

    [Test]
    public void StorageCountThatOverflowsBytesIsRefusedIn300Bytes()
    {
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: long.MaxValue / 2, offset: 0, size: new[] { 1 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("overflow.pt"), pickle, ("0", new byte[4]));
        Assert.That(new FileInfo(PathOf("overflow.pt")).Length, Is.LessThan(700));
        var e = Assert.Throws<InvalidDataException>(() => StateDictIO.Read(PathOf("overflow.pt")))!;
        Assert.That(e.Message, Does.Contain("overflow.pt").And.Contain("data/0").And.Contain("corrupt or hostile"));
    }

    [Test]
    public void DeflatedStorageLargerThanTheBudgetIsRefusedBeforeItIsRead()
    {
        const int numel = 4 << 20; // 16 MiB of zeros deflate to a few KiB
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: numel, offset: 0, size: new[] { numel }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("bomb.pt"), CompressionLevel.Optimal, pickle, ("0", new byte[4L * numel]));
        long fileBytes = new FileInfo(PathOf("bomb.pt")).Length;
        var budget = ReadBudget.ForFile(fileBytes);
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpointReader.Read(PathOf("bomb.pt"), new WeightReadOptions { Budget = budget }))!;
        Assert.That(e.Message, Does.Contain("storage archive/data/0").And.Contain("budget"));
        Assert.That(budget.Charged, Is.LessThanOrEqualTo(budget.Limit));
        Assert.That(budget.Charged, Is.LessThan(fileBytes * 2), "only the pickle was charged");
    }

    [Test]
    public void ManyStridedCopiesOfOneStorageAreRefusedByTheBudget()
    {
        const int numel = 64 << 10; // 256 KiB storage, 1000 half-size strided views = 128 MB of copies
        var p = CraftedPickle.Protocol2().OrderedDict();
        for (int i = 0; i < 1000; i++)
            p.Str($"w{i}").Tensor("FloatStorage", "0", numel, 0, new[] { numel / 2 }, new[] { 2 }).Op('s');
        CraftedZip.Write(PathOf("views.pt"), p.Op('.').ToArray(), ("0", new byte[4 * numel]));
        var budget = ReadBudget.ForFile(new FileInfo(PathOf("views.pt")).Length);
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpointReader.Read(PathOf("views.pt"), new WeightReadOptions { Budget = budget }))!;
        Assert.That(e.Message, Does.Contain("strided copy").And.Contain("budget"));
        Assert.That(budget.Charged, Is.LessThanOrEqualTo(budget.Limit));
    }

    [Test]
    public void AValidCheckpointStaysWithinTwiceItsSize()
    {
        using var model = ModelFactory.Create("resnet20", 10, 3);
        foreach (var file in new[] { "m.pt", "m.safetensors" })
        {
            StateDictIO.Save(model, PathOf(file));
            long bytes = new FileInfo(PathOf(file)).Length;
            var budget = ReadBudget.ForFile(bytes);
            var sd = StateDictIO.Read(PathOf(file), new WeightReadOptions { Budget = budget });
            Assert.That(sd.Count, Is.EqualTo(model.state_dict().Count), file);
            Assert.That(budget.Charged, Is.LessThanOrEqualTo(bytes), file);
            Assert.That(budget.Charged, Is.GreaterThan(bytes / 2), $"{file}: the tensors were charged");
            foreach (var t in sd.Values) t.Dispose();
        }
    }

    [Test]
    public void OverlappingSafeTensorsRangesAreRefused()
    {
        var header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
        WriteSafeTensors("overlap.safetensors", header, 24);
        Assert.That(ReadError("overlap.safetensors"), Does.Contain("'a' [0, 16)").And.Contain("'b' [8, 24)").And.Contain("overlap"));
    }

    [Test]
    public void DuplicateSafeTensorsNamesAreRefused()
    {
        var header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        WriteSafeTensors("dup.safetensors", header, 8);
        Assert.That(ReadError("dup.safetensors"), Does.Contain("'a' appears twice"));
    }

    [Test]
    public void DuplicateZipEntriesAreRefused()
    {
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 1, offset: 0, size: new[] { 1 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("dup.pt"), pickle, ("0", new byte[4]), ("0", new byte[4]));
        Assert.That(ReadError("dup.pt"), Does.Contain("'archive/data/0' twice"));
    }

    [Test]
    public void NonUtf8NamesAreRefusedNamingTheFile()
    {
        var name = new byte[] { (byte)'w', 0xff, 0xfe };
        var json = Encoding.UTF8.GetBytes("{\"w__\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        json[3] = name[1]; json[4] = name[2];
        var bytes = new byte[8 + json.Length + 4];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(PathOf("name.safetensors"), bytes);
        Assert.That(ReadError("name.safetensors"), Does.Contain("name.safetensors").And.Contain("not valid UTF-8"));

        var pickle = CraftedPickle.StateDict("w\u00e9", "FloatStorage", "0", numel: 1, offset: 0, size: new[] { 1 }, stride: new[] { 1 });
        int at = Array.IndexOf(pickle, (byte)0xc3); // the é's lead byte; a lone continuation byte is invalid UTF-8
        pickle[at] = 0xa9;
        CraftedZip.Write(PathOf("name.pt"), pickle, ("0", new byte[4]));
        Assert.That(ReadError("name.pt"), Does.Contain("name.pt").And.Contain("not valid UTF-8"));
    }

    [Test]
    public void NamesAndShapesAreCheckedBeforeAnyStorageIsRead()
    {
        // The storage record is missing: reading it would fail, so the mismatch must be found first.
        var pickle = CraftedPickle.StateDict("conv1.weight", "FloatStorage", "0", numel: 2, offset: 0, size: new[] { 2 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("other.pt"), pickle);
        using var model = ModelFactory.Create("resnet20", 10, 3);
        var e = Assert.Throws<StateDictMismatchException>(() => StateDictIO.Load(model, PathOf("other.pt")))!;
        Assert.That(e.Result.Mismatched.Single().Key, Is.EqualTo("conv1.weight"));
        Assert.That(e.Result.Missing, Is.Not.Empty);
    }

    [Test]
    public void NonFiniteWeightsAreRefusedByName()
    {
        using var model = ModelFactory.Create("resnet20", 10, 3);
        var sd = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        sd["layer1.0.conv1.weight"][0, 0, 0, 0] = TorchSharp.torch.tensor(float.NaN);
        StateDictIO.Write(PathOf("nan.safetensors"), sd);
        var e = Assert.Throws<InvalidDataException>(() => StateDictIO.Load(model, PathOf("nan.safetensors")))!;
        Assert.That(e.Message, Does.Contain("'layer1.0.conv1.weight' holds 1 NaN or infinite value"));
    }

    private void WriteSafeTensors(string name, string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(PathOf(name), bytes);
    }

    private string ReadError(string name) => Assert.Throws<InvalidDataException>(() => StateDictIO.Read(PathOf(name)))!.Message;
}
