using Bcbp.Training.Config;
using Bcbp.Training.Data;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>CIFAR-10/100 binary batches through <see cref="DatasetFactory"/>, and their errors.</summary>
public class CifarDatasetTests
{
    string _root = "";
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
    [SetUp] public void SetUp() => _root = DataTestFiles.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_root, true);

    void WriteCifar10()
    {
        for (int b = 0; b < 5; b++) DataTestFiles.WriteCifar(Path.Combine(_root, $"data_batch_{b + 1}.bin"), b * 4, 4, false);
        DataTestFiles.WriteCifar(Path.Combine(_root, "test_batch.bin"), 100, 3, false);
    }

    [Test]
    public void Cifar10ConcatenatesTheFiveBatchesInOrder()
    {
        WriteCifar10();
        var (train, test) = DatasetFactory.Create(new DataConfig { Dataset = "cifar10", Root = _root }, CPU, 0);
        Assert.That((train.Count, test.Count, train.Channels, train.ImageSize, train.NumClasses), Is.EqualTo((20, 3, 3, (32, 32), 10)));
        var images = ((TensorBatchSource)train).Images;
        var labels = ((TensorBatchSource)train).Labels.data<long>().ToArray();
        Assert.That(labels, Is.EqualTo(Enumerable.Range(0, 20).Select(k => (long)(k % 10))));
        for (int k = 0; k < 20; k += 7)
            for (int c = 0; c < 3; c++)
                Assert.That(images[k, c, 31, 0].item<byte>(), Is.EqualTo((byte)((k + 40 * c) % 256)), "channel-major planes");
        var (x, _) = test.Batches(3, false, false, 0).First();
        Assert.That(x[0, 2, 0, 0].item<float>(), Is.EqualTo(((100 + 80) / 255.0 - 0.4465) / 0.2616).Within(1e-5));
    }

    [Test]
    public void Cifar100UsesTheFineLabel()
    {
        DataTestFiles.WriteCifar(Path.Combine(_root, "train.bin"), 0, 150, true);
        DataTestFiles.WriteCifar(Path.Combine(_root, "test.bin"), 7, 5, true);
        var (train, test) = DatasetFactory.Create(new DataConfig { Dataset = "cifar100", Root = _root }, CPU, 0);
        Assert.That((train.Count, test.Count, train.NumClasses), Is.EqualTo((150, 5, 100)));
        Assert.That(((TensorBatchSource)train).Labels.data<long>().ToArray(), Is.EqualTo(Enumerable.Range(0, 150).Select(k => (long)(k % 100))));
        Assert.That(((TensorBatchSource)test).Images[4, 1, 5, 5].item<byte>(), Is.EqualTo((byte)(11 + 40)));
    }

    [Test]
    public void MissingFilesListTheExpectedNamesAndWhereToPutThem()
    {
        DataTestFiles.WriteCifar(Path.Combine(_root, "data_batch_1.bin"), 0, 1, false);
        var msg = Assert.Throws<FileNotFoundException>(() => DatasetFactory.Create(new DataConfig { Dataset = "cifar10", Root = _root }, CPU, 0))!.Message;
        Assert.That(msg, Does.Contain(Path.Combine(_root, "data_batch_2.bin")).And.Contain(Path.Combine(_root, "data_batch_5.bin"))
                             .And.Not.Contain(Path.Combine(_root, "data_batch_1.bin"))
                             .And.Contain("cifar-10-binary.tar.gz").And.Contain("set data.root"));
    }

    [Test]
    public void WrongRecordSizeSaysWhichDatasetTheFileLooksLike()
    {
        DataTestFiles.WriteCifar(Path.Combine(_root, "train.bin"), 0, 3, cifar100: false); // CIFAR-10 records in a CIFAR-100 name
        DataTestFiles.WriteCifar(Path.Combine(_root, "test.bin"), 0, 3, cifar100: true);
        var msg = Assert.Throws<InvalidDataException>(() => DatasetFactory.Create(new DataConfig { Dataset = "cifar100", Root = _root }, CPU, 0))!.Message;
        Assert.That(msg, Does.Contain($"'{Path.Combine(_root, "train.bin")}' has 9219 bytes, not a whole number of 3074-byte CIFAR-100 records")
                             .And.Contain("looks like a CIFAR-10 file"));
    }
}
