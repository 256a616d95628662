using System.Text;
using Bcbp.Models.IO;
using Bcbp.Tests.Models;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// Malformed, truncated and hostile weight files each give an <see cref="InvalidDataException"/> that names the
/// problem; none runs code or crashes the process.
/// </summary>
public class HostileFileTests : TempDirectoryTest
{
    private string PathOf(string name) => Path.Combine(Dir, name);

    private static string ReadError(string path)
        => Assert.Throws<InvalidDataException>(() => StateDictIO.Read(path))!.Message;

    [Test]
    public void TorchSaveFileAskingForOsSystemIsRefused()
    {
        // Written by real torch.save from an object whose __reduce__ returns (os.system, (...)).
        var message = ReadError(TorchvisionFixtures.WeightsFile("hostile_os_system.pt"));
        Assert.That(message, Does.Contain("posix.system").Or.Contain("os.system"));
        Assert.That(message, Does.Contain("whitelist").And.Contain("never runs code"));
    }

    [Test]
    public void CraftedOsSystemPickleIsRefusedWithoutRunningIt()
    {
        var marker = PathOf("pwned");
        var pickle = CraftedPickle.Protocol2().Global("os", "system").Str($"touch {marker}").Op(0x85).Op('R').Op('.').ToArray();
        CraftedZip.Write(PathOf("evil.pt"), pickle);
        Assert.That(ReadError(PathOf("evil.pt")), Does.Contain("'os.system'"));
        Assert.That(File.Exists(marker), Is.False);
    }

    [TestCase((byte)0x81, "NEWOBJ")]
    [TestCase((byte)'i', "INST")]
    [TestCase((byte)0x82, "EXT1")]
    public void OpcodesOutsideTheStateDictSetAreRefusedByName(byte opcode, string name)
    {
        var pickle = CraftedPickle.Protocol2().OrderedDict().Op(opcode).Op('.').ToArray();
        CraftedZip.Write(PathOf("op.pt"), pickle);
        Assert.That(ReadError(PathOf("op.pt")), Does.Contain(name).And.Contain("refused"));
    }

    [Test]
    public void DeeplyNestedPersistentIdIsRefusedWithoutExhaustingTheStack()
    {
        var pickle = CraftedPickle.Protocol2().Op(')');
        for (int i = 0; i < 1_000_000; i++) pickle.Op(0x85); // TUPLE1: ((((...),),),)
        CraftedZip.Write(PathOf("deep.pt"), pickle.Op('Q').Op('.').ToArray());
        Assert.That(ReadError(PathOf("deep.pt")), Does.Contain("persistent id").And.Contain("(...)"));
    }

    [Test]
    public void StorageSmallerThanDeclaredIsRefused()
    {
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 100, offset: 0, size: new[] { 100 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("short.pt"), pickle, ("0", new byte[40]));
        Assert.That(ReadError(PathOf("short.pt")), Does.Contain("holds 40 bytes").And.Contain("400 bytes"));
    }

    [Test]
    public void ViewPastItsStorageIsRefused()
    {
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 10, offset: 4, size: new[] { 3, 3 }, stride: new[] { 3, 1 });
        CraftedZip.Write(PathOf("oob.pt"), pickle, ("0", new byte[40]));
        Assert.That(ReadError(PathOf("oob.pt")), Does.Contain("'w'").And.Contain("needs 13 elements").And.Contain("holds 10"));
    }

    [Test]
    public void MissingStorageRecordIsRefused()
    {
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "7", numel: 2, offset: 0, size: new[] { 2 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("norecord.pt"), pickle);
        Assert.That(ReadError(PathOf("norecord.pt")), Does.Contain("archive/data/7").And.Contain("missing"));
    }

    [Test]
    public void UnsupportedDTypeIsNamed()
    {
        var pickle = CraftedPickle.StateDict("w", "ComplexFloatStorage", "0", numel: 1, offset: 0, size: new[] { 1 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("complex.pt"), pickle, ("0", new byte[8]));
        Assert.That(ReadError(PathOf("complex.pt")), Does.Contain("unsupported dtype torch.ComplexFloatStorage").And.Contain("BF16"));
    }

    [Test]
    public void WrongMagicIsNamed()
    {
        File.WriteAllBytes(PathOf("junk.pt"), Encoding.ASCII.GetBytes("GIF89a not a checkpoint"));
        Assert.That(ReadError(PathOf("junk.pt")), Does.Contain("not a PyTorch checkpoint").And.Contain("474946"));
    }

    [Test]
    public void LegacyNonZipFormatIsNamed()
    {
        File.WriteAllBytes(PathOf("legacy.pt"), new byte[] { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46 });
        Assert.That(ReadError(PathOf("legacy.pt")), Does.Contain("legacy").And.Contain("torch >= 1.6"));
    }

    [Test]
    public void TruncatedZipIsNamed()
    {
        var pickle = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 256, offset: 0, size: new[] { 256 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("full.pt"), pickle, ("0", new byte[1024]));
        var bytes = File.ReadAllBytes(PathOf("full.pt"));
        File.WriteAllBytes(PathOf("cut.pt"), bytes[..(bytes.Length / 2)]);
        Assert.That(ReadError(PathOf("cut.pt")), Does.Contain("truncated or corrupt"));
    }

    [Test]
    public void PickleWithoutStopIsNamed()
    {
        var full = CraftedPickle.StateDict("w", "FloatStorage", "0", numel: 1, offset: 0, size: new[] { 1 }, stride: new[] { 1 });
        CraftedZip.Write(PathOf("nostop.pt"), full[..^5], ("0", new byte[4]));
        Assert.That(ReadError(PathOf("nostop.pt")), Does.Contain("truncated"));
    }

    [Test]
    public void ZipWithoutPickleIsNamed()
    {
        using (var zip = new System.IO.Compression.ZipArchive(File.Create(PathOf("nopkl.pt")), System.IO.Compression.ZipArchiveMode.Create))
            zip.CreateEntry("archive/version");
        Assert.That(ReadError(PathOf("nopkl.pt")), Does.Contain("without data.pkl"));
    }

    [Test]
    public void SafeTensorsWithHugeHeaderLengthIsNamed()
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), ulong.MaxValue / 2);
        File.WriteAllBytes(PathOf("huge.safetensors"), bytes);
        Assert.That(ReadError(PathOf("huge.safetensors")), Does.Contain("header").And.Contain("truncated"));
    }

    [TestCase("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "unsupported dtype F8_E4M3")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside the 8 data bytes")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8, "needs 16 bytes")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, "malformed header entry")]
    [TestCase("{\"w\": [1, 2", 16, "not valid JSON")]
    public void MalformedSafeTensorsAreNamed(string header, int dataBytes, string expected)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(PathOf("bad.safetensors"), bytes);
        Assert.That(ReadError(PathOf("bad.safetensors")), Does.Contain(expected));
    }

    [Test]
    public void UnknownExtensionAndMissingFileAreNamed()
    {
        File.WriteAllText(PathOf("w.onnx"), "x");
        Assert.That(Assert.Throws<ArgumentException>(() => StateDictIO.Read(PathOf("w.onnx")))!.Message,
            Does.Contain(".pt/.pth").And.Contain(".safetensors"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => StateDictIO.Read(PathOf("none.pt")))!.Message,
            Does.Contain("none.pt"));
    }
}
