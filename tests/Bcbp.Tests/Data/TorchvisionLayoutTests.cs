using System.Text;
using Bcbp.Models.IO;
using Bcbp.Tests.Support;
using Bcbp.Tests.TorchFiles;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>
/// torchvision's dataset layouts: CIFAR's python pickles (written by Debian's Python from binary batches, and the
/// Python 2 form of the original download written byte by byte) give the same tensors as the binary batches, read
/// without running code; MNIST/Fashion-MNIST under <c>MNIST/raw</c> / <c>FashionMNIST/raw</c>; errors name the layouts.
/// </summary>
public class TorchvisionLayoutTests
{
    string _root = "";
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
    [SetUp] public void SetUp() => _root = DataTestFiles.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_root, true);

    static (IBatchSource Train, IBatchSource Test) Load(string dataset, string root)
        => DatasetFactory.Create(new DataConfig { Dataset = dataset, Root = root }, CPU, 0);

    static void AssertSame(IBatchSource a, IBatchSource b)
    {
        var (x, y) = ((TensorBatchSource)a, (TensorBatchSource)b);
        Assert.That(x.Images.shape.SequenceEqual(y.Images.shape) && x.Images.eq(y.Images).all().item<bool>() && x.Labels.eq(y.Labels).all().item<bool>() && x.Labels.numel() == y.Labels.numel(), "images and labels equal to the binary batches'");
    }

    [TestCase("cifar10", 2)]
    [TestCase("cifar10", 4)]
    [TestCase("cifar100", 2)]
    [TestCase("cifar100", 4)]
    public void CifarPicklesReadAsTheBinaryBatches(string dataset, int protocol)
    {
        bool cifar100 = dataset == "cifar100";
        string bin = Path.Combine(_root, cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin");
        string py = Path.Combine(_root, "tv", cifar100 ? "cifar-100-python" : "cifar-10-batches-py");
        Directory.CreateDirectory(bin);
        if (cifar100)
        {
            DataTestFiles.WriteCifar(Path.Combine(bin, "train.bin"), 0, 130, true);
            DataTestFiles.WriteCifar(Path.Combine(bin, "test.bin"), 5, 4, true);
        }
        else
        {
            for (int b = 0; b < 5; b++) DataTestFiles.WriteCifar(Path.Combine(bin, $"data_batch_{b + 1}.bin"), b * 3, 3, false);
            DataTestFiles.WriteCifar(Path.Combine(bin, "test_batch.bin"), 50, 4, false);
        }
        PythonTorch.RunFixtureScript("make_cifar_pickles.py", bin, py, dataset, protocol.ToString());

        var binary = Load(dataset, bin);
        var pickles = Load(dataset, Path.Combine(_root, "tv")); // the root= a torchvision user passes
        AssertSame(binary.Train, pickles.Train);
        AssertSame(binary.Test, pickles.Test);

        File.Copy(Path.Combine(py, "hostile"), Path.Combine(py, cifar100 ? "train" : "data_batch_1"), overwrite: true);
        var e = Assert.Throws<InvalidDataException>(() => Load(dataset, py))!;
        Assert.That(e.Message, Does.Contain("posix.system").Or.Contain("os.system"));
        Assert.That(File.Exists(Path.Combine(py, "pwned")), Is.False, "no code ran");
    }

    /// <summary>The original CIFAR-10 python download was written by Python 2's cPickle: byte-string keys and data,
    /// and INT for the array's fortran flag. This writes that form opcode by opcode.</summary>
    static byte[] Python2CifarBatch(byte[] pixels, byte[] labels)
    {
        var s = new MemoryStream();
        void Op(params byte[] b) => s.Write(b);
        void Str(string v) { if (v.Length < 256) { Op((byte)'U', (byte)v.Length); } else { Op((byte)'T'); s.Write(BitConverter.GetBytes(v.Length)); } s.Write(Encoding.Latin1.GetBytes(v)); }
        void Global(string m, string n) { Op((byte)'c'); s.Write(Encoding.ASCII.GetBytes($"{m}\n{n}\n")); }
        void Int(int v) { if (v < 256) Op((byte)'K', (byte)v); else { Op((byte)'M'); s.Write(BitConverter.GetBytes((ushort)v)); } }
        Op(0x80, 2, (byte)'}', (byte)'q', 1, (byte)'(');
        Str("data");
        Global("numpy.core.multiarray", "_reconstruct"); Global("numpy", "ndarray"); Int(0); Op(0x85); Str("b"); Op(0x87, (byte)'R');
        Op((byte)'('); Int(1); Int(labels.Length); Int(3072); Op(0x86);
        Global("numpy", "dtype"); Str("u1"); Int(0); Int(1); Op(0x87, (byte)'R');
        Op((byte)'('); Int(3); Str("|"); Op((byte)'N', (byte)'N', (byte)'N', (byte)'J', 0xff, 0xff, 0xff, 0xff, (byte)'J', 0xff, 0xff, 0xff, 0xff); Int(0); Op((byte)'t', (byte)'b');
        s.Write(Encoding.ASCII.GetBytes("I00\n"));
        Str(Encoding.Latin1.GetString(pixels));
        Op((byte)'t', (byte)'b');
        Str("labels"); Op((byte)']', (byte)'(');
        foreach (var l in labels) Int(l);
        Op((byte)'e');
        Str("batch_label"); Str("training batch 1 of 5");
        Op((byte)'u', (byte)'.');
        return s.ToArray();
    }

    [Test]
    public void Python2FormOfTheOriginalDownloadReads()
    {
        string bin = Path.Combine(_root, "cifar-10-batches-bin"), py = Path.Combine(_root, "cifar-10-batches-py");
        Directory.CreateDirectory(bin);
        Directory.CreateDirectory(py);
        foreach (var (name, first, n) in new[] { ("data_batch_1", 0, 2), ("data_batch_2", 2, 3), ("data_batch_3", 5, 1), ("data_batch_4", 6, 2), ("data_batch_5", 8, 1), ("test_batch", 30, 3) })
        {
            DataTestFiles.WriteCifar(Path.Combine(bin, name + ".bin"), first, n, false);
            var records = File.ReadAllBytes(Path.Combine(bin, name + ".bin"));
            var labels = Enumerable.Range(0, n).Select(i => records[i * 3073]).ToArray();
            var pixels = Enumerable.Range(0, n).SelectMany(i => records.Skip(i * 3073 + 1).Take(3072)).ToArray();
            File.WriteAllBytes(Path.Combine(py, name), Python2CifarBatch(pixels, labels));
        }
        var binary = Load("cifar10", bin);
        Directory.Move(bin, bin + "-away"); // only the pickles are left under _root
        var pickles = Load("cifar10", _root);
        AssertSame(binary.Train, pickles.Train);
        AssertSame(binary.Test, pickles.Test);
        Assert.That(RestrictedUnpickler.LoadData(File.ReadAllBytes(Path.Combine(py, "test_batch")), "t"), Is.InstanceOf<OrderedDictionary<object, object?>>());
        Assert.That(() => RestrictedUnpickler.Load(File.ReadAllBytes(Path.Combine(py, "test_batch")), "t"),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("numpy.core.multiarray._reconstruct"), "state-dict loading keeps its whitelist");
    }

    [TestCase("fashion_mnist", "FashionMNIST")]
    [TestCase("mnist", "MNIST")]
    public void MnistRawFoldersOfTorchvisionAreFound(string dataset, string folder)
    {
        string raw = Path.Combine(_root, folder, "raw");
        Directory.CreateDirectory(raw);
        DataTestFiles.WriteMnistSplit(raw, "train", 9, gzip: false);
        DataTestFiles.WriteMnistSplit(raw, "t10k", 4, gzip: true);
        var (train, test) = Load(dataset, _root);
        Assert.That((train.Count, test.Count), Is.EqualTo((9, 4)));
        var (direct, _) = Load(dataset, raw);
        AssertSame(direct, train);
    }

    [Test]
    public void MissingDataNamesEveryLayoutLookedFor()
    {
        var cifar = Assert.Throws<FileNotFoundException>(() => Load("cifar10", _root))!.Message;
        Assert.That(cifar, Does.Contain("data_batch_1.bin").And.Contain("torchvision's python pickles")
            .And.Contain(Path.Combine(_root, "cifar-10-batches-bin")).And.Contain(Path.Combine(_root, "cifar-10-batches-py")));
        var mnist = Assert.Throws<FileNotFoundException>(() => Load("mnist", _root))!.Message;
        Assert.That(mnist, Does.Contain(Path.Combine(_root, "MNIST/raw")).And.Contain("train-images-idx3-ubyte"));
        var fashion = Assert.Throws<FileNotFoundException>(() => Load("fashion_mnist", _root))!.Message;
        string raw = Path.Combine(_root, "FashionMNIST", "raw");
        Directory.CreateDirectory(raw);
        DataTestFiles.WriteMnistSplit(raw, "train", 3, gzip: true);
        File.Delete(Path.Combine(raw, "train-labels-idx1-ubyte.gz"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => Load("fashion_mnist", _root))!.Message,
            Does.Contain(Path.Combine(raw, "train-labels-idx1-ubyte.gz")).And.Contain("though the images file is in"));
        Assert.That(fashion, Does.Contain(Path.Combine(_root, "FashionMNIST/raw")).And.Contain("apt-get install dataset-fashion-mnist"));
    }
}
