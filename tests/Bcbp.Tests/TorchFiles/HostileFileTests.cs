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
        Assert.That(ReadError(HostileFiles.CraftedOsSystem(Dir)), Does.Contain("'os.system'"));
        Assert.That(File.Exists(HostileFiles.Marker(Dir)), Is.False);
    }

    [TestCase((byte)0x81, "NEWOBJ")]
    [TestCase((byte)'i', "INST")]
    [TestCase((byte)0x82, "EXT1")]
    public void OpcodesOutsideTheStateDictSetAreRefusedByName(byte opcode, string name)
    {
        Assert.That(ReadError(HostileFiles.Opcode(Dir, opcode)), Does.Contain(name).And.Contain("refused"));
    }

    [Test]
    public void DeeplyNestedPersistentIdIsRefusedWithoutExhaustingTheStack()
    {
        Assert.That(ReadError(HostileFiles.DeeplyNestedPersistentId(Dir)), Does.Contain("persistent id").And.Contain("(...)"));
    }

    [Test]
    public void StorageSmallerThanDeclaredIsRefused()
    {
        Assert.That(ReadError(HostileFiles.StorageSmallerThanDeclared(Dir)), Does.Contain("holds 40 bytes").And.Contain("400 bytes"));
    }

    [Test]
    public void ViewPastItsStorageIsRefused()
    {
        Assert.That(ReadError(HostileFiles.ViewPastItsStorage(Dir)), Does.Contain("'w'").And.Contain("needs 13 elements").And.Contain("holds 10"));
    }

    [Test]
    public void MissingStorageRecordIsRefused()
    {
        Assert.That(ReadError(HostileFiles.MissingStorageRecord(Dir)), Does.Contain("archive/data/7").And.Contain("missing"));
    }

    [Test]
    public void UnsupportedDTypeIsNamed()
    {
        Assert.That(ReadError(HostileFiles.UnsupportedDType(Dir)), Does.Contain("unsupported dtype torch.ComplexFloatStorage").And.Contain("BF16"));
    }

    [Test]
    public void WrongMagicIsNamed()
    {
        Assert.That(ReadError(HostileFiles.WrongMagic(Dir)), Does.Contain("not a PyTorch checkpoint").And.Contain("474946"));
    }

    [Test]
    public void LegacyNonZipFormatIsNamed()
    {
        Assert.That(ReadError(HostileFiles.LegacyNonZip(Dir)), Does.Contain("legacy").And.Contain("torch >= 1.6"));
    }

    [Test]
    public void TruncatedZipIsNamed()
    {
        Assert.That(ReadError(HostileFiles.TruncatedZip(Dir)), Does.Contain("truncated or corrupt"));
    }

    [Test]
    public void PickleWithoutStopIsNamed()
    {
        Assert.That(ReadError(HostileFiles.PickleWithoutStop(Dir)), Does.Contain("truncated"));
    }

    [Test]
    public void ZipWithoutPickleIsNamed()
    {
        Assert.That(ReadError(HostileFiles.ZipWithoutPickle(Dir)), Does.Contain("without data.pkl"));
    }

    [Test]
    public void SafeTensorsWithHugeHeaderLengthIsNamed()
        => Assert.That(ReadError(HostileFiles.SafeTensorsHugeHeader(Dir)), Does.Contain("header").And.Contain("truncated"));

    [TestCase("bad_dtype", "unsupported dtype F8_E4M3")]
    [TestCase("offsets_outside_data", "outside the 8 data bytes")]
    [TestCase("bytes_short_of_shape", "needs 16 bytes")]
    [TestCase("entry_without_offsets", "malformed header entry")]
    [TestCase("header_not_json", "not valid JSON")]
    public void MalformedSafeTensorsAreNamed(string name, string expected)
        => Assert.That(ReadError(HostileFiles.All["safetensors_" + name](Dir)), Does.Contain(expected));

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
